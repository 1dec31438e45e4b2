//! A zero curve: continuously compounded zero rates at pillar times, the
//! discount factor log-linear between pillars (piecewise-flat forward
//! rates), the zero rate flat before the first pillar and after the last.
//! Discount curves and dividend-yield curves are both of this kind.

/// Pillars in year fractions (strictly increasing, positive) and their
/// zero rates.
#[derive(Clone, Debug, PartialEq)]
pub struct ZeroCurve {
    times: Vec<f64>,
    rates: Vec<f64>,
}

impl ZeroCurve {
    /// A curve from its pillars; the caller has checked them (increasing
    /// positive times, finite rates, as many of each, at least one).
    pub fn new(times: Vec<f64>, rates: Vec<f64>) -> ZeroCurve {
        ZeroCurve { times, rates }
    }

    /// A flat curve.
    pub fn flat(rate: f64) -> ZeroCurve {
        ZeroCurve {
            times: vec![1.0],
            rates: vec![rate],
        }
    }

    /// The largest zero rate of a pillar, in magnitude.
    pub fn max_abs_rate(&self) -> f64 {
        self.rates.iter().fold(0.0f64, |m, r| m.max(r.abs()))
    }

    /// `-ln DF(t)`: the integral of the forward rate from 0 to `t`.
    pub fn log_discount(&self, t: f64) -> f64 {
        let (ts, rs) = (&self.times, &self.rates);
        let n = ts.len();
        if t <= ts[0] {
            return rs[0] * t;
        }
        if t >= ts[n - 1] {
            return rs[n - 1] * t;
        }
        // The pillar interval holding t: -ln DF linear in t.
        let i = ts.partition_point(|&p| p <= t);
        let (t0, t1) = (ts[i - 1], ts[i]);
        let (y0, y1) = (rs[i - 1] * t0, rs[i] * t1);
        y0 + (y1 - y0) * (t - t0) / (t1 - t0)
    }

    /// The discount factor to `t`.
    pub fn discount(&self, t: f64) -> f64 {
        (-self.log_discount(t)).exp()
    }

    /// The zero rate to `t` (the first pillar's at 0).
    pub fn zero_rate(&self, t: f64) -> f64 {
        if t <= 0.0 {
            self.rates[0]
        } else {
            self.log_discount(t) / t
        }
    }

    /// The same curve with every zero rate shifted by `dr` (a scenario's
    /// `rate` move): every zero rate, so every forward, moves by `dr`.
    pub fn shifted(&self, dr: f64) -> ZeroCurve {
        ZeroCurve {
            times: self.times.clone(),
            rates: self.rates.iter().map(|r| r + dr).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_linear_between_pillars_and_flat_zero_rates_outside() {
        let c = ZeroCurve::new(vec![0.5, 1.0, 5.0], vec![0.04, 0.03, 0.035]);
        assert!((c.zero_rate(0.25) - 0.04).abs() < 1e-15);
        assert!((c.zero_rate(10.0) - 0.035).abs() < 1e-15);
        assert!((c.discount(1.0) - (-0.03f64).exp()).abs() < 1e-15);
        // Halfway between 1 and 5: -ln DF halfway between 0.03 and 0.175.
        assert!((c.log_discount(3.0) - 0.1025).abs() < 1e-15);
        // A parallel shift moves -ln DF(t) by dr t.
        let s = c.shifted(0.01);
        for t in [0.1, 0.7, 3.0, 9.0] {
            assert!((s.log_discount(t) - c.log_discount(t) - 0.01 * t).abs() < 1e-14);
        }
    }
}
