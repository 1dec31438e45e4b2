//! An American basket put on two correlated assets against a
//! two-dimensional binomial lattice written here (Boyle, Evnine and
//! Gibbs, 1989: four branches a step, the correlation carried by the
//! branch probabilities), exercised on the trade's own grid.

use crate::common::{gbm, price_one, trade};
use riskpool_kernels::correlation::Correlation;
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::multi::{Extension, GbmAsset, MultiAsset, MultiModel, MultiPayoff};
use riskpool_kernels::payoff::{European, OptionType, PayoffSpec};
use riskpool_kernels::{Precision, PricingRequest};

/// Two GBM assets and a put on `w1 S1 + w2 S2`.
#[derive(Clone, Copy, Debug)]
struct BasketPut {
    spots: [f64; 2],
    vols: [f64; 2],
    dividends: [f64; 2],
    rho: f64,
    rate: f64,
    weights: [f64; 2],
    strike: f64,
    maturity: f64,
    /// The trade's grid: exercise at the end of every one of its steps.
    steps: u32,
}

impl BasketPut {
    fn intrinsic(&self, s1: f64, s2: f64) -> f64 {
        (self.strike - self.weights[0] * s1 - self.weights[1] * s2).max(0.0)
    }

    /// The lattice's value with `per_step` tree steps per grid step, and
    /// exercise only at the grid's dates (`american`: the end of every
    /// grid step), or at maturity alone when `early` is false.
    fn lattice(&self, per_step: u32, early: bool) -> f64 {
        let n = (self.steps * per_step) as usize;
        let dt = self.maturity / n as f64;
        let sq = dt.sqrt();
        let [v1, v2] = self.vols;
        let nu1 = self.rate - self.dividends[0] - 0.5 * v1 * v1;
        let nu2 = self.rate - self.dividends[1] - 0.5 * v2 * v2;
        let (a, b) = (nu1 / v1 * sq, nu2 / v2 * sq);
        let p_uu = 0.25 * (1.0 + self.rho + a + b);
        let p_ud = 0.25 * (1.0 - self.rho + a - b);
        let p_du = 0.25 * (1.0 - self.rho - a + b);
        let p_dd = 0.25 * (1.0 + self.rho - a - b);
        assert!(p_uu.min(p_ud).min(p_du).min(p_dd) >= 0.0, "negative branch");
        let disc = (-self.rate * dt).exp();
        // Asset i after `j` up-moves of `level` moves.
        let spot = |i: usize, j: usize, level: usize| -> f64 {
            self.spots[i] * (self.vols[i] * sq * (2.0 * j as f64 - level as f64)).exp()
        };
        // values[j1 * (level + 1) + j2]: j1, j2 up-moves of each asset.
        let mut values: Vec<f64> = (0..(n + 1) * (n + 1))
            .map(|idx| {
                let (j1, j2) = (idx / (n + 1), idx % (n + 1));
                self.intrinsic(spot(0, j1, n), spot(1, j2, n))
            })
            .collect();
        for level in (0..n).rev() {
            let w = level + 1;
            let mut next = vec![0.0; w * w];
            let exercise = early && level > 0 && level % per_step as usize == 0;
            for j1 in 0..w {
                for j2 in 0..w {
                    let at = |u1: usize, u2: usize| values[(j1 + u1) * (w + 1) + j2 + u2];
                    let hold = disc
                        * (p_uu * at(1, 1) + p_ud * at(1, 0) + p_du * at(0, 1) + p_dd * at(0, 0));
                    next[j1 * w + j2] = if exercise {
                        hold.max(self.intrinsic(spot(0, j1, level), spot(1, j2, level)))
                    } else {
                        hold
                    };
                }
            }
            values = next;
        }
        values[0]
    }
}

/// The American basket put within 4 SE plus allowances of the lattice:
/// below it by at most the policy's low bias (1% of the price: the basis
/// is quadratic in the assets, the lattice's boundary is not) and the
/// lattice's own error (the change from 30 to 60 tree steps a date), and
/// never above it by more than 4 SE plus the lattice error. The early
/// exercise premium over the European lattice is there and seen.
/// The standard normal distribution function (Abramowitz and Stegun
/// 7.1.26, error below 1.5e-7: far inside what it checks).
fn cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// The lattice checks itself first: with all the weight on one asset, its
/// European value is Black-Scholes's put, whatever the other asset does.
#[test]
fn the_lattice_on_one_asset_is_black_scholes() {
    for (rho, weights) in [(0.4, [1.0, 0.0]), (-0.7, [0.0, 1.0])] {
        let case = BasketPut {
            spots: [100.0, 95.0],
            vols: [0.2, 0.3],
            dividends: [0.0, 0.02],
            rho,
            rate: 0.06,
            weights,
            strike: 100.0,
            maturity: 1.0,
            steps: 10,
        };
        let i = if weights[0] > 0.0 { 0 } else { 1 };
        let (s, v, q, r, k, t) = (
            case.spots[i],
            case.vols[i],
            case.dividends[i],
            case.rate,
            case.strike,
            case.maturity,
        );
        let d1 = ((s / k).ln() + (r - q + 0.5 * v * v) * t) / (v * t.sqrt());
        let d2 = d1 - v * t.sqrt();
        let bs = k * (-r * t).exp() * cdf(-d2) - s * (-q * t).exp() * cdf(-d1);
        let lattice = case.lattice(60, false);
        assert!(
            (lattice - bs).abs() < 0.02,
            "asset {i}: lattice {lattice} against Black-Scholes {bs}"
        );
    }
}

#[test]
fn an_american_basket_put_matches_a_two_dimensional_lattice() {
    let case = BasketPut {
        spots: [100.0, 95.0],
        vols: [0.2, 0.3],
        dividends: [0.0, 0.02],
        rho: 0.4,
        rate: 0.06,
        weights: [0.5, 0.5],
        strike: 105.0,
        maturity: 1.0,
        steps: 10,
    };
    let coarse = case.lattice(30, true);
    let lattice = case.lattice(60, true);
    let european = case.lattice(60, false);
    let lattice_error = (lattice - coarse).abs();

    let mut t = trade(
        "american-basket",
        gbm(100.0, case.rate, 0.0, 0.2),
        PayoffSpec::European(European {
            option: OptionType::Put,
            strike: case.strike,
        }),
        case.maturity,
        case.steps,
        40_000,
    );
    let assets = (0..2)
        .map(|i| GbmAsset {
            spot: case.spots[i],
            vol: case.vols[i],
            dividend: case.dividends[i],
        })
        .collect();
    let correlation =
        Correlation::new(&[vec![1.0, case.rho], vec![case.rho, 1.0]], 2).expect("valid");
    t.extension = Some(Box::new(Extension {
        multi: Some(MultiAsset {
            model: MultiModel::GbmMulti {
                rate: case.rate,
                assets,
                correlation,
            },
            payoff: MultiPayoff::Basket {
                option: OptionType::Put,
                strike: case.strike,
                weights: case.weights.to_vec(),
            },
        }),
        exercise: Exercise::American,
    }));
    let req = PricingRequest {
        precision: Precision::F64,
        ..PricingRequest::default()
    };
    let r = price_one(&t, &req);
    let (price, se) = (r.pv.value, r.pv.stderr);
    let allowance = 0.01 * lattice;
    eprintln!(
        "American basket put: LSM {price:.4} (SE {se:.4}); lattice {lattice:.4} (30 a date: {coarse:.4}); European lattice {european:.4}"
    );
    assert!(
        price >= lattice - 4.0 * se - allowance - lattice_error,
        "LSM {price} (SE {se}) too far below the lattice's {lattice}"
    );
    assert!(
        price <= lattice + 4.0 * se + lattice_error,
        "LSM {price} (SE {se}) above the lattice's {lattice}"
    );
    assert!(
        lattice > european + 0.05 && price > european + 4.0 * se,
        "no early-exercise premium: LSM {price}, lattice {lattice}, European {european}"
    );
}
