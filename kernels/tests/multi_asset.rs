//! Several assets and early exercise on the CPU engine, against references
//! computed here: a binomial lattice for one-asset American and Bermudan
//! options, Stulz's closed form for two-asset rainbows, an exact terminal
//! simulation (with its own Cholesky factor and random numbers) for
//! baskets and their per-asset deltas, and the one-asset `heston` model for
//! `heston_multi` on one asset.

use crate::common::{gbm, lattice, price_one, trade};
use riskpool_kernels::correlation::Correlation;
use riskpool_kernels::engine::check_batch;
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::model::{Heston, ModelSpec};
use riskpool_kernels::multi::{
    Extension, GbmAsset, HestonAsset, MultiAsset, MultiModel, MultiPayoff, RainbowKind,
};
use riskpool_kernels::payoff::{European, OptionType, PayoffSpec};
use riskpool_kernels::rng::normals_f64;
use riskpool_kernels::{Engine, Greek, GreekSet, Precision, PricingRequest, Trade};

fn req(greeks: &[Greek]) -> PricingRequest {
    PricingRequest {
        greeks: GreekSet(greeks.to_vec()),
        precision: Precision::F64,
        ..PricingRequest::default()
    }
}

fn with_exercise(mut t: Trade, exercise: Exercise) -> Trade {
    t.extension = Some(Box::new(Extension {
        multi: None,
        exercise,
    }));
    t
}

/// A trade on several assets (the one-asset fields hold names only).
fn multi_trade(
    id: &str,
    model: MultiModel,
    payoff: MultiPayoff,
    maturity: f64,
    steps: u32,
    paths: u64,
    exercise: Exercise,
) -> Trade {
    let mut t = trade(
        id,
        gbm(100.0, model.rate(), 0.0, 0.2),
        PayoffSpec::European(European {
            option: OptionType::Call,
            strike: 100.0,
        }),
        maturity,
        steps,
        paths,
    );
    t.extension = Some(Box::new(Extension {
        multi: Some(MultiAsset { model, payoff }),
        exercise,
    }));
    t
}

/// One-asset American and Bermudan puts and calls (with and without
/// dividends; Longstaff and Schwartz's first put first) through the CPU
/// engine: within 4 SE plus a low-bias allowance of 0.5% of the lattice's
/// price below it (the policy's suboptimality), and within 4 SE above.
/// The LS put's delta is held to the lattice's bumped delta too.
#[test]
fn one_asset_early_exercise_matches_the_lattice() {
    // (spot, strike, rate, dividend, vol, maturity, steps, put, exercise)
    let cases = [
        (
            36.0,
            40.0,
            0.06,
            0.0,
            0.2,
            1.0,
            50,
            true,
            Exercise::American,
        ),
        (
            110.0,
            100.0,
            0.03,
            0.08,
            0.25,
            1.0,
            25,
            false,
            Exercise::American,
        ),
        (
            90.0,
            100.0,
            0.05,
            0.02,
            0.3,
            0.5,
            20,
            true,
            Exercise::American,
        ),
        (
            36.0,
            40.0,
            0.06,
            0.0,
            0.2,
            1.0,
            12,
            true,
            Exercise::Bermudan {
                steps: vec![3, 6, 9, 12],
            },
        ),
    ];
    for (i, (s, k, r, q, vol, mat, steps, put, ex)) in cases.into_iter().enumerate() {
        let option = if put {
            OptionType::Put
        } else {
            OptionType::Call
        };
        let t = with_exercise(
            trade(
                &format!("early-{i}"),
                gbm(s, r, q, vol),
                PayoffSpec::European(European { option, strike: k }),
                mat,
                steps,
                40_000,
            ),
            ex.clone(),
        );
        let greeks: &[Greek] = if i == 0 {
            &[Greek::Delta, Greek::Gamma]
        } else {
            &[]
        };
        let res = price_one(&t, &req(greeks));
        let dates = ex.dates(steps).unwrap();
        let tree = |spot: f64| lattice(spot, k, r, q, vol, mat, steps, put, &dates, 40);
        let reference = tree(s);
        let european = lattice(s, k, r, q, vol, mat, steps, put, &[steps], 40);
        let (price, se) = (res.pv.value, res.pv.stderr);
        eprintln!(
            "case {i}: LSM {price:.4} (SE {se:.4}), lattice {reference:.4}, European {european:.4}"
        );
        let allowance = 0.005 * reference;
        assert!(
            price >= reference - 4.0 * se - allowance && price <= reference + 4.0 * se,
            "case {i}: LSM {price} (SE {se}) against the lattice's {reference}"
        );
        assert!(price > european + 4.0 * se, "case {i}: no early premium");
        if i == 0 {
            let d = res.greek(Greek::Delta).unwrap();
            let h = 0.01 * s;
            let tree_delta = (tree(s + h) - tree(s - h)) / (2.0 * h);
            eprintln!(
                "LS put delta {:.4} (SE {:.4}), lattice {tree_delta:.4}",
                d.value, d.stderr
            );
            assert!(
                (d.value - tree_delta).abs() <= 4.0 * d.stderr + 0.02 * tree_delta.abs(),
                "delta {} (SE {}) against the lattice's {tree_delta}",
                d.value,
                d.stderr
            );
            let g = res.greek(Greek::Gamma).unwrap();
            let tree_gamma = (tree(s + h) - 2.0 * reference + tree(s - h)) / (h * h);
            eprintln!(
                "LS put gamma {:.4} (SE {:.4}), lattice {tree_gamma:.4}",
                g.value, g.stderr
            );
            assert!(
                (g.value - tree_gamma).abs() <= 4.0 * g.stderr + 0.1 * tree_gamma.abs(),
                "gamma {} (SE {}) against the lattice's {tree_gamma}",
                g.value,
                g.stderr
            );
        }
    }
}

/// The standard normal CDF (Numerical Recipes' erfc, relative error
/// below 1.2e-7).
fn cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let erfc = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// The bivariate standard normal CDF `M(a, b; rho)`: Simpson's rule on
/// `int_{-inf}^{a} phi(x) N((b - rho x) / sqrt(1 - rho^2)) dx`.
fn bivariate(a: f64, b: f64, rho: f64) -> f64 {
    let lo = -10.0f64;
    let hi = a.min(10.0);
    if hi <= lo {
        return 0.0;
    }
    let n = 4000;
    let h = (hi - lo) / n as f64;
    let sr = (1.0 - rho * rho).sqrt();
    let f = |x: f64| {
        (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt() * cdf((b - rho * x) / sr)
    };
    let mut s = f(lo) + f(hi);
    for i in 1..n {
        s += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

/// Stulz (1982): calls on the max and on the min of two assets.
#[allow(clippy::too_many_arguments)]
fn stulz(
    s1: f64,
    s2: f64,
    k: f64,
    r: f64,
    q1: f64,
    q2: f64,
    v1: f64,
    v2: f64,
    rho: f64,
    t: f64,
) -> (f64, f64) {
    let sig = (v1 * v1 + v2 * v2 - 2.0 * rho * v1 * v2).sqrt();
    let st = sig * t.sqrt();
    let d = ((s1 / s2).ln() + (q2 - q1 + 0.5 * sig * sig) * t) / st;
    let y1 = ((s1 / k).ln() + (r - q1 + 0.5 * v1 * v1) * t) / (v1 * t.sqrt());
    let y2 = ((s2 / k).ln() + (r - q2 + 0.5 * v2 * v2) * t) / (v2 * t.sqrt());
    let rho1 = (v1 - rho * v2) / sig;
    let rho2 = (v2 - rho * v1) / sig;
    let (f1, f2, dk) = (
        s1 * (-q1 * t).exp(),
        s2 * (-q2 * t).exp(),
        k * (-r * t).exp(),
    );
    let max = f1 * bivariate(y1, d, rho1) + f2 * bivariate(y2, -d + st, rho2)
        - dk * (1.0 - bivariate(-y1 + v1 * t.sqrt(), -y2 + v2 * t.sqrt(), rho));
    let min = f1 * bivariate(y1, -d, -rho1) + f2 * bivariate(y2, d - st, -rho2)
        - dk * bivariate(y1 - v1 * t.sqrt(), y2 - v2 * t.sqrt(), rho);
    (max, min)
}

fn black_scholes_call(s: f64, k: f64, r: f64, q: f64, v: f64, t: f64) -> f64 {
    let d1 = ((s / k).ln() + (r - q + 0.5 * v * v) * t) / (v * t.sqrt());
    s * (-q * t).exp() * cdf(d1) - k * (-r * t).exp() * cdf(d1 - v * t.sqrt())
}

#[allow(clippy::too_many_arguments)]
fn two_assets(
    s1: f64,
    s2: f64,
    v1: f64,
    v2: f64,
    q1: f64,
    q2: f64,
    rho: f64,
    r: f64,
) -> MultiModel {
    MultiModel::GbmMulti {
        rate: r,
        assets: vec![
            GbmAsset {
                spot: s1,
                vol: v1,
                dividend: q1,
            },
            GbmAsset {
                spot: s2,
                vol: v2,
                dividend: q2,
            },
        ],
        correlation: Correlation::new(&[vec![1.0, rho], vec![rho, 1.0]], 2).unwrap(),
    }
}

/// Rainbow max call and min put on two correlated assets against Stulz's
/// closed form (the min put by parity: `P_min(K) = K e^{-rT} - E[min] +
/// C_min(K)`, with `E[min]` from `C_min(0+)`), within 4 SE. The formula
/// checks itself first: `C_max + C_min = C_1 + C_2`.
#[test]
fn rainbows_match_stulz() {
    let (s1, s2, k, r, q1, q2, v1, v2, rho, t) =
        (100.0, 95.0, 100.0, 0.05, 0.01, 0.02, 0.25, 0.35, 0.4, 1.0);
    let (cmax, cmin) = stulz(s1, s2, k, r, q1, q2, v1, v2, rho, t);
    let c1 = black_scholes_call(s1, k, r, q1, v1, t);
    let c2 = black_scholes_call(s2, k, r, q2, v2, t);
    assert!(
        (cmax + cmin - c1 - c2).abs() < 1e-5,
        "{cmax} + {cmin} vs {c1} + {c2}"
    );
    let (_, cmin0) = stulz(s1, s2, 1e-8, r, q1, q2, v1, v2, rho, t);
    let pmin = k * (-r * t).exp() - cmin0 + cmin;
    for (kind, option, reference) in [
        (RainbowKind::Max, OptionType::Call, cmax),
        (RainbowKind::Min, OptionType::Put, pmin),
    ] {
        let tr = multi_trade(
            &format!("rainbow-{kind:?}"),
            two_assets(s1, s2, v1, v2, q1, q2, rho, r),
            MultiPayoff::Rainbow {
                option,
                strike: k,
                kind,
            },
            t,
            2,
            200_000,
            Exercise::European,
        );
        let res = price_one(&tr, &req(&[]));
        eprintln!(
            "rainbow {kind:?} {option:?}: MC {:.4} (SE {:.4}), Stulz {reference:.4}",
            res.pv.value, res.pv.stderr
        );
        assert!(
            (res.pv.value - reference).abs() <= 4.0 * res.pv.stderr,
            "{kind:?}: {} (SE {}) against {reference}",
            res.pv.value,
            res.pv.stderr
        );
    }
}

/// Basket calls on three and on five correlated assets, and their
/// per-asset deltas, against an exact terminal simulation written here
/// (its own Cholesky factor, its own stream, 300,000 paths, spot bumps of
/// 1% on common random numbers): within 4 combined SE.
#[test]
fn baskets_and_their_deltas_match_an_exact_terminal_simulation() {
    basket_case(
        &[100.0, 90.0, 110.0],
        &[0.2, 0.3, 0.25],
        &[0.0, 0.01, 0.02],
        &[0.5, 0.3, 0.2],
        &[
            vec![1.0, 0.5, 0.3],
            vec![0.5, 1.0, 0.2],
            vec![0.3, 0.2, 1.0],
        ],
    );
    let c5: Vec<Vec<f64>> = (0..5)
        .map(|i| {
            (0..5)
                .map(|j: usize| {
                    if i == j {
                        1.0
                    } else {
                        0.6 - 0.1 * i.abs_diff(j) as f64
                    }
                })
                .collect()
        })
        .collect();
    basket_case(
        &[100.0, 95.0, 105.0, 90.0, 110.0],
        &[0.2, 0.25, 0.3, 0.35, 0.15],
        &[0.0, 0.01, 0.0, 0.02, 0.01],
        &[0.2; 5],
        &c5,
    );
}

fn basket_case(spots: &[f64], vols: &[f64], divs: &[f64], w: &[f64], c: &[Vec<f64>]) {
    let n = spots.len();
    let (r, t, k) = (0.03, 1.0, 100.0);
    let model = MultiModel::GbmMulti {
        rate: r,
        assets: (0..n)
            .map(|i| GbmAsset {
                spot: spots[i],
                vol: vols[i],
                dividend: divs[i],
            })
            .collect(),
        correlation: Correlation::new(c, n).unwrap(),
    };
    let tr = multi_trade(
        &format!("basket{n}"),
        model,
        MultiPayoff::Basket {
            option: OptionType::Call,
            strike: k,
            weights: w.to_vec(),
        },
        t,
        4,
        100_000,
        Exercise::European,
    );
    let res = price_one(&tr, &req(&[Greek::Delta]));
    // Cholesky of c, here.
    let mut l = vec![vec![0.0f64; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
            l[i][j] = if i == j {
                (c[i][i] - s).sqrt()
            } else {
                (c[i][j] - s) / l[j][j]
            };
        }
    }
    let paths = 300_000u32;
    let h = 0.01;
    let disc = (-r * t).exp();
    let payoff = |s: &[f64]| (w.iter().zip(s).map(|(w, s)| w * s).sum::<f64>() - k).max(0.0) * disc;
    // pv and the delta estimators per path: sums and squares.
    let mut sum = vec![0.0f64; 1 + n];
    let mut sq = vec![0.0f64; 1 + n];
    let mut e = vec![0.0; n];
    let mut s = vec![0.0; n];
    let mut x = vec![0.0; 1 + n];
    for p in 0..paths {
        for (b, chunk) in e.chunks_mut(4).enumerate() {
            let z = normals_f64(99, 12345 + n as u64, p, b as u32);
            chunk.copy_from_slice(&z[..chunk.len()]);
        }
        for i in 0..n {
            let z: f64 = (0..=i).map(|m| l[i][m] * e[m]).sum();
            s[i] = spots[i]
                * ((r - divs[i] - 0.5 * vols[i] * vols[i]) * t + vols[i] * t.sqrt() * z).exp();
        }
        x[0] = payoff(&s);
        for i in 0..n {
            let (mut u, mut d) = (s.clone(), s.clone());
            u[i] *= 1.0 + h;
            d[i] *= 1.0 - h;
            x[1 + i] = (payoff(&u) - payoff(&d)) / (2.0 * h * spots[i]);
        }
        for q in 0..=n {
            sum[q] += x[q];
            sq[q] += x[q] * x[q];
        }
    }
    let nn = paths as f64;
    let est = |q: usize| {
        let m = sum[q] / nn;
        (m, ((sq[q] / nn - m * m) / (nn - 1.0)).sqrt())
    };
    let (ref_pv, ref_se) = est(0);
    eprintln!(
        "basket of {n}: engine {:.4} (SE {:.4}), exact terminal {ref_pv:.4} (SE {ref_se:.4})",
        res.pv.value, res.pv.stderr
    );
    let tol = 4.0 * (res.pv.stderr.powi(2) + ref_se.powi(2)).sqrt();
    assert!((res.pv.value - ref_pv).abs() <= tol);
    assert_eq!(res.per_asset.len(), n);
    let mut total = 0.0;
    for i in 0..n {
        let d = res.per_asset[i].delta.unwrap();
        let (rd, rse) = est(1 + i);
        eprintln!(
            "  delta_{}: engine {:.5} (SE {:.5}), reference {rd:.5} (SE {rse:.5})",
            i + 1,
            d.value,
            d.stderr
        );
        assert!((d.value - rd).abs() <= 4.0 * (d.stderr.powi(2) + rse.powi(2)).sqrt());
        total += d.value;
    }
    let sum_delta = res.greek(Greek::Delta).unwrap().value;
    assert!((sum_delta - total).abs() <= 1e-9 * total.abs());
}

/// `heston_multi` on one asset is the `heston` model: the same stream
/// layout (spot driver, then variance driver, each step) and the same f64
/// step, so the same price to rounding.
#[test]
fn heston_multi_with_one_asset_is_heston() {
    let h = Heston {
        spot: 100.0,
        rate: 0.02,
        dividend: 0.01,
        v0: 0.04,
        kappa: 1.5,
        theta: 0.05,
        xi: 0.5,
        rho: -0.7,
    };
    let one = trade(
        "heston-one",
        ModelSpec::Heston(h.clone()),
        PayoffSpec::European(European {
            option: OptionType::Put,
            strike: 95.0,
        }),
        1.0,
        32,
        20_000,
    );
    let multi = multi_trade(
        "heston-one",
        MultiModel::HestonMulti {
            rate: h.rate,
            assets: vec![HestonAsset {
                spot: h.spot,
                dividend: h.dividend,
                v0: h.v0,
                kappa: h.kappa,
                theta: h.theta,
                xi: h.xi,
                rho: h.rho,
            }],
            correlation: Correlation::identity(1).unwrap(),
        },
        MultiPayoff::Basket {
            option: OptionType::Put,
            strike: 95.0,
            weights: vec![1.0],
        },
        1.0,
        32,
        20_000,
        Exercise::European,
    );
    let a = price_one(&one, &req(&[]));
    let b = price_one(&multi, &req(&[]));
    eprintln!(
        "heston {:.10} (SE {:.4}), heston_multi {:.10}",
        a.pv.value, a.pv.stderr, b.pv.value
    );
    assert!(
        (a.pv.value - b.pv.value).abs() <= 1e-9 * a.pv.value.abs(),
        "{} vs {}",
        a.pv.value,
        b.pv.value
    );
}

/// Every engine takes several assets and early exercise (the GPU kernels'
/// conformance: kernels/tests/wgpu_conformance.rs, kernels/tests/cuda_engine.rs).
#[test]
fn every_engine_takes_early_exercise() {
    let t = with_exercise(
        trade(
            "am",
            gbm(36.0, 0.06, 0.0, 0.2),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 40.0,
            }),
            1.0,
            10,
            1000,
        ),
        Exercise::American,
    );
    for engine in ["cpu", "wgpu", "cuda", "cuda-on-cpu"] {
        assert!(check_batch(engine, std::slice::from_ref(&t), &req(&[]), u64::MAX).is_ok());
    }
}

/// W5's shape at a small size: `heston_multi` on five assets, a rainbow
/// min put, American against European on the same paths: no worse than
/// 3 SE below the European (at this size the policy, fitted on 4,096
/// regression paths with 12 terms at 49 dates, is a poor one: the test
/// holds only what a poor policy must keep; at 50,000 paths the American
/// prices 15.97 against the European's 15.64, SE 0.07, by the CLI),
/// every Greek comes per asset, and the price does not depend on the
/// thread count.
#[test]
fn an_american_rainbow_on_five_heston_assets_prices_with_per_asset_greeks() {
    let Some(w5) = riskpool_kernels::workloads::workload("W5", 0.16) else {
        panic!("W5 is a standard workload");
    };
    let mut american = w5.trades[0].clone();
    american.steps = 50;
    let mut european = american.clone();
    if let Some(ext) = european.extension.as_mut() {
        ext.exercise = Exercise::European;
    }
    let r = &w5.request;
    let am = price_one(&american, r);
    let eu = price_one(&european, r);
    eprintln!(
        "W5 shape, 50 steps, {} paths: American {:.4} (SE {:.4}), European {:.4} (SE {:.4})",
        american.paths, am.pv.value, am.pv.stderr, eu.pv.value, eu.pv.stderr
    );
    assert!(am.pv.value >= eu.pv.value - 3.0 * am.pv.stderr);
    assert_eq!(am.per_asset.len(), 5);
    for a in &am.per_asset {
        for g in [a.delta, a.gamma, a.vega] {
            assert!(g.is_some_and(|e| e.value.is_finite()));
        }
        assert!(a.delta.is_some_and(|d| d.value <= 0.0), "{a:?}");
    }
    assert!(am.greek(Greek::Rho).is_some());
    let one = riskpool_kernels::CpuEngine::new(Some(1))
        .unwrap()
        .price(std::slice::from_ref(&american), r)
        .unwrap();
    assert_eq!(one[0].pv, am.pv);
    assert_eq!(one[0].per_asset, am.per_asset);
}
