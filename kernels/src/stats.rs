//! Per-trade statistics: f64 sums over paths, merged in a fixed order so
//! results do not depend on thread count or scheduling.

use crate::greeks::OUTPUTS;

/// Sums over a run of consecutive paths (or antithetic pairs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    pub n: u64,
    pub sum: [f64; OUTPUTS],
    pub sum_sq: [f64; OUTPUTS],
}

impl Sums {
    #[inline(always)]
    pub fn add(&mut self, sample: &[f64; OUTPUTS]) {
        self.n += 1;
        for q in 0..OUTPUTS {
            self.sum[q] += sample[q];
            self.sum_sq[q] += sample[q] * sample[q];
        }
    }
}

/// Mean and sum of squared deviations (Chan et al.'s pairwise form), so
/// chunks merge without the cancellation of raw second moments.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: [f64; OUTPUTS],
    pub m2: [f64; OUTPUTS],
}

impl From<&Sums> for Moments {
    fn from(s: &Sums) -> Self {
        let mut m = Moments {
            n: s.n,
            ..Default::default()
        };
        if s.n > 0 {
            let n = s.n as f64;
            for q in 0..OUTPUTS {
                m.mean[q] = s.sum[q] / n;
                // Rounding may leave a hair below 0; a sum of squares that
                // overflowed (inf - inf) stays NaN, so the error is seen
                // as not finite rather than read as 0 (`f64::max` would
                // take the 0).
                let m2 = s.sum_sq[q] - s.sum[q] * m.mean[q];
                m.m2[q] = if m2.is_nan() { m2 } else { m2.max(0.0) };
            }
        }
        m
    }
}

impl Moments {
    /// Appends `o` (the next chunk in path order).
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        for q in 0..OUTPUTS {
            let d = o.mean[q] - self.mean[q];
            self.mean[q] += d * nb / n;
            self.m2[q] += o.m2[q] + d * d * na * nb / n;
        }
        self.n += o.n;
    }

    /// The estimate of output `q`: mean and standard error of the mean.
    pub fn estimate(&self, q: usize) -> Estimate {
        let n = self.n as f64;
        let stderr = if self.n > 1 {
            (self.m2[q] / (n - 1.0) / n).sqrt()
        } else {
            f64::NAN
        };
        Estimate {
            value: self.mean[q],
            stderr,
        }
    }
}

/// A Monte Carlo estimate with its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub stderr: f64,
}

impl Estimate {
    /// Exactly 0 (an unmoved scenario's P&L).
    pub const ZERO: Estimate = Estimate {
        value: 0.0,
        stderr: 0.0,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflowed_sum_of_squares_gives_no_finite_error() {
        let mut s = Sums::default();
        for _ in 0..10 {
            s.add(&[1e155; OUTPUTS]);
        }
        let e = Moments::from(&s).estimate(0);
        assert!(e.value.is_finite() && !e.stderr.is_finite(), "{e:?}");
    }

    #[test]
    fn merged_moments_match_direct() {
        let xs: Vec<f64> = (0..1000).map(|i| 1e6 + ((i * 37) % 101) as f64).collect();
        let mut all = Moments::default();
        for c in xs.chunks(77) {
            let mut s = Sums::default();
            for &x in c {
                s.add(&[x; OUTPUTS]);
            }
            all.merge(&Moments::from(&s));
        }
        let mean = xs.iter().sum::<f64>() / 1000.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 999.0;
        let e = all.estimate(0);
        assert!((e.value - mean).abs() < 1e-9);
        assert!((e.stderr - (var / 1000.0).sqrt()).abs() < 1e-9);
    }
}
