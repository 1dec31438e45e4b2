//! azfinsim trades priced by riskpool against an independent
//! reimplementation of the model as docs/azfinsim.md describes it
//! (multiplicative f64 updates, its own random numbers), and the variance
//! of riskpool's common-random-number deltavega against azfinsim's
//! independent revaluations.

use crate::common::price;
use riskpool_kernels::azfinsim::AzfinsimTrade;
use riskpool_kernels::payoff::SETTLEMENT_FACTOR;
use riskpool_kernels::{Bumps, Greek, GreekSet, PricingRequest};

/// A small independent generator (SplitMix64 + polar Box-Muller, libm).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal_pair(&mut self) -> (f64, f64) {
        loop {
            let a = 2.0 * self.uniform() - 1.0;
            let b = 2.0 * self.uniform() - 1.0;
            let s = a * a + b * b;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                return (a * m, b * m);
            }
        }
    }
}

/// azfinsim's pricing of one trade, as its description reads: mean and SE.
fn azfinsim_pv(t: &AzfinsimTrade, paths: u64, seed: u64) -> (f64, f64) {
    let mut rng = Rng(seed);
    let dt = t.maturity / t.t_steps as f64;
    let (mut sum, mut sum2) = (0.0, 0.0);
    for _ in 0..paths {
        let mut s = t.fx1;
        let mut sigma = t.sigma1;
        let mut alive = s >= t.strike;
        for _ in 0..t.t_steps {
            let (z1, z2) = rng.normal_pair();
            sigma *= (-0.5 * t.v * t.v * dt
                + t.v * (t.ro * z1 + (1.0 - t.ro * t.ro).sqrt() * z2) * dt.sqrt())
            .exp();
            s *= ((t.drift - 0.5 * sigma * sigma) * dt + sigma * z1 * dt.sqrt()).exp();
            alive &= s >= t.strike;
        }
        let payoff = if alive {
            t.warrants_no * t.notional_per_warr * (s / t.strike - 1.0).max(0.0) / s
                * SETTLEMENT_FACTOR
        } else {
            0.0
        };
        sum += payoff;
        sum2 += payoff * payoff;
    }
    let n = paths as f64;
    let mean = sum / n;
    (mean, ((sum2 / n - mean * mean) / (n - 1.0)).sqrt())
}

#[test]
fn azfinsim_trades_match_an_independent_reimplementation() {
    let paths = 20_000;
    for n in 0..8u64 {
        let az = AzfinsimTrade::generate(99, n);
        let mut tr = az.to_trade();
        tr.paths = paths;
        let ours = price(&[tr], &Default::default()).remove(0).pv;
        let (theirs, se) = azfinsim_pv(&az, paths, 1000 + n);
        let joint = (ours.stderr.powi(2) + se.powi(2)).sqrt();
        eprintln!(
            "trade {n}: riskpool {} +- {}, reimplementation {theirs} +- {se}",
            ours.value, ours.stderr
        );
        assert!(
            (ours.value - theirs).abs() < 4.0 * joint,
            "trade {n}: {ours:?} vs {theirs} +- {se}"
        );
    }
}

/// One trade's CRN Greeks and the standard errors of azfinsim's
/// independent revaluations at the same path count.
struct Comparison {
    delta_se: f64,
    vega_se: f64,
    independent_delta_se: f64,
    independent_vega_se: f64,
    knock_out_distance: f64,
}

fn compare(seed: u64, n: u64, paths: u64) -> Comparison {
    let deltavega = PricingRequest {
        greeks: GreekSet(vec![Greek::Delta, Greek::Vega]),
        bumps: Bumps::AZFINSIM,
        ..Default::default()
    };
    let mut base = AzfinsimTrade::generate(seed, n);
    base.trials = paths;
    let crn = price(&[base.to_trade()], &deltavega).remove(0);
    // azfinsim's way: each bumped revaluation on fresh random numbers.
    let revalue = |f: &dyn Fn(&mut AzfinsimTrade), stream: u64| {
        let mut b = base.clone();
        f(&mut b);
        let mut t = b.to_trade();
        t.stream = stream;
        price(&[t], &Default::default()).remove(0).pv
    };
    let h = 0.01;
    let (p, s) = (base.fx1, base.sigma1);
    let up = revalue(&|t| t.fx1 = p * (1.0 + h), 1_000_000 + 2 * n);
    let dn = revalue(&|t| t.fx1 = p * (1.0 - h), 1_000_001 + 2 * n);
    let vu = revalue(&|t| t.sigma1 = s * (1.0 + h), 2_000_000 + 2 * n);
    let vd = revalue(&|t| t.sigma1 = s * (1.0 - h), 2_000_001 + 2 * n);
    let independent_delta = (up.value - dn.value) / (2.0 * h * p) / 1e4;
    let c = Comparison {
        delta_se: crn.greek(Greek::Delta).unwrap().stderr,
        vega_se: crn.greek(Greek::Vega).unwrap().stderr,
        independent_delta_se: (up.stderr.powi(2) + dn.stderr.powi(2)).sqrt() / (2.0 * h * p) / 1e4,
        independent_vega_se: (vu.stderr.powi(2) + vd.stderr.powi(2)).sqrt() / (2.0 * h * s) / 1e4,
        knock_out_distance: (p / base.strike).ln() / (s * base.maturity.sqrt()),
    };
    // Both estimate the same delta.
    let delta = crn.greek(Greek::Delta).unwrap().value;
    assert!(
        (delta - independent_delta).abs()
            < 4.0 * (c.independent_delta_se.powi(2) + c.delta_se.powi(2)).sqrt()
    );
    c
}

/// The book's delta and vega (the sum over its trades) carry at least 10x
/// less noise with common random numbers than with azfinsim's independent
/// revaluations. Per trade the gain is 30-200x far from the knock-out
/// level; a trade whose spot sits within about one standard deviation of
/// its knock-out level gains less on delta (paths that touch the level in
/// one bumped scenario and not the other), so per trade the test asks 4x.
#[test]
fn crn_deltavega_is_far_less_noisy_than_independent_revaluation() {
    let (mut crn_d, mut crn_v, mut ind_d, mut ind_v) = (0.0, 0.0, 0.0, 0.0);
    for n in 0..12u64 {
        let c = compare(5, n, 10_000);
        eprintln!(
            "trade {n}: {:.2} sd from knock-out; delta SE {:.3} vs {:.3} ({:.1}x); vega SE {:.3} vs {:.3} ({:.1}x)",
            c.knock_out_distance,
            c.delta_se,
            c.independent_delta_se,
            c.independent_delta_se / c.delta_se,
            c.vega_se,
            c.independent_vega_se,
            c.independent_vega_se / c.vega_se
        );
        assert!(
            c.delta_se * 4.0 < c.independent_delta_se,
            "trade {n}: delta"
        );
        assert!(c.vega_se * 4.0 < c.independent_vega_se, "trade {n}: vega");
        crn_d += c.delta_se.powi(2);
        crn_v += c.vega_se.powi(2);
        ind_d += c.independent_delta_se.powi(2);
        ind_v += c.independent_vega_se.powi(2);
    }
    let (rd, rv) = ((ind_d / crn_d).sqrt(), (ind_v / crn_v).sqrt());
    eprintln!("book: delta SE {rd:.1}x smaller, vega SE {rv:.1}x smaller");
    assert!(
        rd >= 10.0 && rv >= 10.0,
        "book delta {rd:.1}x, vega {rv:.1}x"
    );
}
