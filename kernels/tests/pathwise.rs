//! One-pass Greeks (`GreeksMethod::Pathwise`) on the CPU engine against
//! references the tests compute, and against bumping on the same paths.
//!
//! - Black-Scholes delta, gamma, vega and rho of calls and puts (pathwise)
//!   and of digitals (likelihood ratio), the geometric Asian's and the
//!   continuous barriers' (their closed-form prices differentiated), and
//!   Heston's delta and vega (the semi-analytic price differentiated):
//!   each within 4 SE plus the stated allowance.
//! - Every model x payoff: pathwise within the two estimators' combined
//!   error of bumping, the PV the same bits, and each Greek's ratio of
//!   standard errors printed.
//!
//! Gamma's reference is the central difference of the exact deltas at the
//! estimator's own `h` (1% of spot), the quantity it estimates without
//! bias; it differs from the exact gamma by `O(h^2)`.

use crate::common::*;
use crate::reference_prices::{geometric_asian_call, knock_out_call};
use riskpool_kernels::greeks::{Estimator, GreeksMethod};
use riskpool_kernels::model::{Heston, ModelSpec};
use riskpool_kernels::payoff::*;
use riskpool_kernels::{Estimate, Greek, GreekSet, Precision, PricingRequest, Trade, TradeResult};

const S: f64 = 100.0;
const R: f64 = 0.03;
const Q: f64 = 0.01;
const VOL: f64 = 0.25;

fn req(method: GreeksMethod, precision: Precision) -> PricingRequest {
    PricingRequest {
        greeks: GreekSet(Greek::ALL.to_vec()),
        greeks_method: method,
        precision,
        ..Default::default()
    }
}

/// The four Greeks of a price function `f(spot, vol, rate)` by central
/// differences in f64 (gamma at the estimators' `h` = 1% of spot).
fn greeks_of(f: impl Fn(f64, f64, f64) -> f64, s: f64, vol: f64, r: f64) -> [f64; 4] {
    let (hs, hv, hr) = (1e-4 * s, 1e-5, 1e-6);
    let delta = |s: f64| (f(s + hs, vol, r) - f(s - hs, vol, r)) / (2.0 * hs);
    let g = 0.01 * s;
    [
        delta(s),
        (delta(s + g) - delta(s - g)) / (2.0 * g),
        (f(s, vol + hv, r) - f(s, vol - hv, r)) / (2.0 * hv),
        (f(s, vol, r + hr) - f(s, vol, r - hr)) / (2.0 * hr),
    ]
}

/// Asserts each Greek of `r` within 4 SE (plus `allowance[g]`) of `reference`
/// and that it was estimated by `estimators`.
#[track_caller]
fn assert_greeks(
    what: &str,
    r: &TradeResult,
    reference: [f64; 4],
    allowance: [f64; 4],
    estimators: [Estimator; 4],
) {
    for g in Greek::ALL {
        let est = r.greek(g).expect("asked for");
        assert_eq!(
            r.estimators[g as usize],
            Some(estimators[g as usize]),
            "{what} {}",
            g.name()
        );
        assert_within(
            &format!("{what} {} ({})", g.name(), estimators[g as usize].name()),
            est,
            reference[g as usize],
            4.0,
            allowance[g as usize],
        );
    }
}

const PW: [Estimator; 4] = [
    Estimator::Pathwise,
    Estimator::PathwiseDifference,
    Estimator::Pathwise,
    Estimator::Pathwise,
];
const LR: [Estimator; 4] = [Estimator::LikelihoodRatio; 4];

#[test]
fn black_scholes_greeks_of_calls_puts_and_digitals() {
    let req = req(GreeksMethod::Pathwise, Precision::F64);
    for (i, (payoff, estimators)) in [
        (
            PayoffSpec::European(European {
                option: OptionType::Call,
                strike: 105.0,
            }),
            PW,
        ),
        (
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 95.0,
            }),
            PW,
        ),
        (
            PayoffSpec::Digital(Digital {
                option: OptionType::Call,
                strike: 100.0,
                cash: 10.0,
            }),
            LR,
        ),
        (
            PayoffSpec::Digital(Digital {
                option: OptionType::Put,
                strike: 110.0,
                cash: 10.0,
            }),
            LR,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let t = 1.0;
        let price = |s: f64, vol: f64, r: f64| match &payoff {
            PayoffSpec::European(e) => bs(e.option == OptionType::Call, s, e.strike, r, Q, vol, t),
            PayoffSpec::Digital(d) => {
                let d2 = bs_d1(s, d.strike, r, Q, vol, t) - vol * t.sqrt();
                let sign = if d.option == OptionType::Call {
                    1.0
                } else {
                    -1.0
                };
                d.cash * (-r * t).exp() * ncdf(sign * d2)
            }
            _ => unreachable!(),
        };
        let tr = trade(
            &format!("bs-{i}"),
            gbm(S, R, Q, VOL),
            payoff.clone(),
            t,
            8,
            200_000,
        );
        let r = price_one(&tr, &req);
        assert_within("pv", r.pv, price(S, VOL, R), 4.0, 0.0);
        assert_greeks(
            &format!("{} {i}", payoff.name()),
            &r,
            greeks_of(price, S, VOL, R),
            [0.0; 4],
            estimators,
        );
    }
}

#[test]
fn geometric_asian_and_continuous_barrier_greeks_match_their_closed_forms() {
    let req = req(GreeksMethod::Pathwise, Precision::F64);
    let t = 1.0;
    let geo = trade(
        "pw-geo",
        gbm(S, R, Q, VOL),
        PayoffSpec::Asian(Asian {
            option: OptionType::Call,
            strike: 100.0,
            average: Average::Geometric,
        }),
        t,
        52,
        200_000,
    );
    assert_greeks(
        "geometric asian",
        &price_one(&geo, &req),
        greeks_of(
            |s, v, r| geometric_asian_call(s, 100.0, r, Q, v, t, 52),
            S,
            VOL,
            R,
        ),
        [0.0; 4],
        PW,
    );
    for (id, down, k, h) in [("pw-do", true, 100.0, 85.0), ("pw-uo", false, 100.0, 130.0)] {
        let dir = if down { Direction::Down } else { Direction::Up };
        let tr = trade(
            id,
            gbm(S, R, Q, VOL),
            PayoffSpec::Barrier(Barrier {
                option: OptionType::Call,
                strike: k,
                barrier: h,
                direction: dir,
                knock: Knock::Out,
                monitoring: Monitoring::Continuous,
                rebate: 0.0,
            }),
            t,
            64,
            200_000,
        );
        assert_greeks(
            id,
            &price_one(&tr, &req),
            greeks_of(
                |s, v, r| knock_out_call(down, s, k, h, r, Q, v, t),
                S,
                VOL,
                R,
            ),
            [0.0; 4],
            PW,
        );
    }
}

#[test]
fn heston_delta_and_vega_match_the_semi_analytic_price_differentiated() {
    let h = HestonRef {
        s: 100.0,
        r: 0.03,
        q: 0.0,
        v0: 0.04,
        kappa: 1.5,
        theta: 0.04,
        xi: 0.5,
        rho: -0.7,
    };
    let k = 100.0;
    let call = |s: f64, p: f64| HestonRef { s, v0: p * p, ..h }.call(k, 1.0);
    let p = h.v0.sqrt();
    let delta = (call(h.s * 1.0001, p) - call(h.s * 0.9999, p)) / (2e-4 * h.s);
    let vega = (call(h.s, p * 1.0001) - call(h.s, p * 0.9999)) / (2e-4 * p);
    let m = ModelSpec::Heston(Heston {
        spot: h.s,
        rate: h.r,
        dividend: h.q,
        v0: h.v0,
        kappa: h.kappa,
        theta: h.theta,
        xi: h.xi,
        rho: h.rho,
    });
    let tr = trade(
        "pw-heston",
        m,
        PayoffSpec::European(European {
            option: OptionType::Call,
            strike: k,
        }),
        1.0,
        200,
        100_000,
    );
    let r = price_one(&tr, &req(GreeksMethod::Pathwise, Precision::F64));
    // Full truncation's bias at 200 steps (reference_prices allows 0.5% of
    // the price): allowed as 1% of each Greek.
    assert_within(
        "heston delta (pathwise)",
        r.greek(Greek::Delta).unwrap(),
        delta,
        4.0,
        0.01 * delta,
    );
    assert_within(
        "heston vega (pathwise)",
        r.greek(Greek::Vega).unwrap(),
        vega,
        4.0,
        0.01 * vega,
    );
    assert_eq!(
        r.estimators[Greek::Delta as usize],
        Some(Estimator::Pathwise)
    );
}

/// `|a - b| <= 4 sqrt(se_a^2 + se_b^2) + allowance`, or why not.
fn agree(what: &str, a: Estimate, b: Estimate, allowance: f64) -> Option<String> {
    let combined = (a.stderr * a.stderr + b.stderr * b.stderr).sqrt();
    let dev = (a.value - b.value).abs();
    (!(dev <= 4.0 * combined + allowance)).then(|| {
        format!(
            "{what}: one pass {} +- {} vs bump {} +- {}: {:.2} combined SE (allowance {allowance})",
            a.value,
            a.stderr,
            b.value,
            b.stderr,
            dev / combined
        )
    })
}

#[test]
fn one_pass_greeks_agree_with_bumps_on_every_model_and_payoff() {
    for precision in [Precision::F64, Precision::F32] {
        // The fixed-strike lookback put struck at the spot is moved to 98:
        // its running minimum starts at the spot, so a path that never
        // falls below it pays max(K - S_0, 0) exactly, an atom that puts a
        // kink in the price at S_0 = K, where delta has no value (a bump
        // then reads O(h) of the kink, and gamma is infinite).
        let trades: Vec<Trade> = every_model_and_payoff(20_000)
            .into_iter()
            .map(|mut t| {
                if let PayoffSpec::Lookback(l) = &mut t.payoff {
                    if l.strike_type == StrikeType::Fixed && l.strike == t.model.spot() {
                        l.strike = 98.0;
                    }
                }
                t
            })
            .collect();
        let pw = price(&trades, &req(GreeksMethod::Pathwise, precision));
        let bump = price(&trades, &req(GreeksMethod::Bump, precision));
        eprintln!(
            "{precision:?}: trade, greek, estimator, one pass, bump, SE ratio (bump / one pass)"
        );
        let mut failures = Vec::new();
        for ((t, a), b) in trades.iter().zip(&pw).zip(&bump) {
            // The PV is the same arithmetic in either kernel.
            assert_eq!(a.pv.value.to_bits(), b.pv.value.to_bits(), "{} pv", t.id);
            for g in Greek::ALL {
                let (x, y) = (a.greek(g).unwrap(), b.greek(g).unwrap());
                let est = a.estimators[g as usize].unwrap();
                eprintln!(
                    "{} {} {}: {:.6} +- {:.6} | {:.6} +- {:.6} | {:.2}",
                    t.id,
                    g.name(),
                    est.name(),
                    x.value,
                    x.stderr,
                    y.value,
                    y.stderr,
                    y.stderr / x.stderr
                );
                // f32's rounding of a bumped revaluation, amplified by
                // the difference's coefficients (gamma's 1 / h^2 S^2).
                let rounding = match precision {
                    Precision::F64 => 0.0,
                    Precision::F32 => 1e-4 * (1.0 + y.value.abs()),
                };
                failures.extend(agree(
                    &format!("{precision:?} {} {}", t.id, g.name()),
                    x,
                    y,
                    rounding,
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// An American put's one-pass delta and gamma against the lattice's (its
/// bumped differences at 40 tree steps a date): within 4 SE plus the
/// policy's low bias (2% of delta, 10% of gamma, as the bumped Greeks'
/// test in multi_asset.rs allows), each path exercising where the fitted
/// policy says.
#[test]
fn an_american_put_s_one_pass_delta_and_gamma_match_a_lattice() {
    use riskpool_kernels::exercise::Exercise;
    let (s, k, r, vol, mat, steps) = (36.0, 40.0, 0.06, 0.2, 1.0, 50);
    let t = extended(
        "pw-american",
        trade(
            "pw-american",
            gbm(s, r, 0.0, vol),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: k,
            }),
            mat,
            steps,
            40_000,
        ),
        None,
        Exercise::American,
    );
    let res = price_one(&t, &req(GreeksMethod::Pathwise, Precision::F64));
    let dates = Exercise::American.dates(steps).unwrap();
    let tree = |spot: f64| lattice(spot, k, r, 0.0, vol, mat, steps, true, &dates, 40);
    let h = 0.01 * s;
    let delta = (tree(s + h) - tree(s - h)) / (2.0 * h);
    let gamma = (tree(s + h) - 2.0 * tree(s) + tree(s - h)) / (h * h);
    assert_within(
        "american delta (pathwise)",
        res.greek(Greek::Delta).unwrap(),
        delta,
        4.0,
        0.02 * delta.abs(),
    );
    assert_within(
        "american gamma (pathwise difference)",
        res.greek(Greek::Gamma).unwrap(),
        gamma,
        4.0,
        0.1 * gamma.abs(),
    );
    assert_eq!(
        res.estimators[Greek::Delta as usize],
        Some(Estimator::Pathwise)
    );
    assert_eq!(
        res.estimators[Greek::Gamma as usize],
        Some(Estimator::PathwiseDifference)
    );
}

/// A basket's per-asset one-pass deltas against bumped deltas at ten
/// times the paths.
#[test]
fn a_basket_s_per_asset_deltas_match_a_high_path_bumped_reference() {
    use riskpool_kernels::exercise::Exercise;
    let basket = every_multi_and_exercise(20_000)
        .into_iter()
        .find(|t| {
            t.extension.as_ref().is_some_and(|e| {
                e.exercise == Exercise::European
                    && matches!(
                        e.multi.as_ref().map(|m| &m.payoff),
                        Some(riskpool_kernels::multi::MultiPayoff::Basket { .. })
                    )
            })
        })
        .expect("a European basket among the conformance trades");
    let pw = price_one(&basket, &req(GreeksMethod::Pathwise, Precision::F64));
    let mut high = basket.clone();
    high.paths = 200_000;
    let bump = price_one(&high, &req(GreeksMethod::Bump, Precision::F64));
    assert!(pw.per_asset.len() > 1, "{}: per-asset Greeks", basket.id);
    for (j, (a, b)) in pw.per_asset.iter().zip(&bump.per_asset).enumerate() {
        let (x, y) = (a.delta.unwrap(), b.delta.unwrap());
        let combined = (x.stderr * x.stderr + y.stderr * y.stderr).sqrt();
        eprintln!(
            "{} asset {j} delta: one pass {:.5} +- {:.5}, bumped (10x paths) {:.5} +- {:.5}",
            basket.id, x.value, x.stderr, y.value, y.stderr
        );
        assert!((x.value - y.value).abs() <= 4.0 * combined, "asset {j}");
    }
}

#[test]
fn one_pass_greeks_agree_with_bumps_on_several_assets_and_early_exercise() {
    let trades = every_multi_and_exercise(8_000);
    for precision in [Precision::F64, Precision::F32] {
        let pw = price(&trades, &req(GreeksMethod::Pathwise, precision));
        let bump = price(&trades, &req(GreeksMethod::Bump, precision));
        let mut failures = Vec::new();
        for ((t, a), b) in trades.iter().zip(&pw).zip(&bump) {
            assert_eq!(a.pv.value.to_bits(), b.pv.value.to_bits(), "{} pv", t.id);
            let mut pairs: Vec<(String, Estimate, Estimate)> = Greek::ALL
                .iter()
                .map(|g| {
                    (
                        g.name().to_string(),
                        a.greek(*g).unwrap(),
                        b.greek(*g).unwrap(),
                    )
                })
                .collect();
            for (j, (x, y)) in a.per_asset.iter().zip(&b.per_asset).enumerate() {
                for g in [Greek::Delta, Greek::Gamma, Greek::Vega] {
                    pairs.push((
                        format!("{}_{}", g.name(), j + 1),
                        x.greek(g).unwrap(),
                        y.greek(g).unwrap(),
                    ));
                }
            }
            for (name, x, y) in pairs {
                eprintln!(
                    "{precision:?} {} {name}: {:.5} +- {:.5} | bump {:.5} +- {:.5} | SE ratio {:.2}",
                    t.id, x.value, x.stderr, y.value, y.stderr, y.stderr / x.stderr
                );
                let rounding = match precision {
                    Precision::F64 => 0.0,
                    Precision::F32 => 1e-4 * (1.0 + y.value.abs()),
                };
                failures.extend(agree(
                    &format!("{precision:?} {} {name}", t.id),
                    x,
                    y,
                    rounding,
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// What a hostile pass found, kept: a continuous barrier on heston (zero
/// variance steps make its knock hard) bumps; a lookback struck exactly at
/// spot x (1 - h) has gamma 0 (the price is linear above the strike), as
/// a bumped gamma says; scores that would divide by a vanishing deviation
/// (a vol of 1e-25 in f32, a v0 of 1e-50, sv_fx's vol path under a volvol
/// of 3 over 5 years, a correlation of 0.999999) bump rather than turn
/// NaN; a one-step FX warrant (continuous) is pathwise.
#[test]
fn one_pass_greeks_bump_where_their_estimator_would_fail() {
    let f32_req = req(GreeksMethod::Pathwise, Precision::F32);
    let f64_req = req(GreeksMethod::Pathwise, Precision::F64);
    let heston = |v0: f64, rho: f64| {
        ModelSpec::Heston(Heston {
            spot: 100.0,
            rate: 0.03,
            dividend: 0.0,
            v0,
            kappa: 1.5,
            theta: 0.05,
            xi: 0.6,
            rho,
        })
    };
    let sv = |volvol: f64, rho: f64| {
        ModelSpec::SvFx(riskpool_kernels::model::SvFx {
            spot: 100.0,
            drift: 0.02,
            sigma: 0.15,
            volvol,
            rho,
        })
    };
    let digital = PayoffSpec::Digital(Digital {
        option: OptionType::Call,
        strike: 100.0,
        cash: 10.0,
    });
    let up_out = PayoffSpec::Barrier(Barrier {
        option: OptionType::Call,
        strike: 100.0,
        barrier: 125.0,
        direction: Direction::Up,
        knock: Knock::Out,
        monitoring: Monitoring::Continuous,
        rebate: 2.0,
    });
    let cases = [
        (
            "heston-up-out",
            heston(0.04, -0.7),
            up_out,
            1.0,
            12,
            [Estimator::Bump; 4],
        ),
        (
            "tiny-vol-digital",
            gbm(100.0, 0.03, 0.0, 1e-25),
            digital.clone(),
            1.0,
            8,
            [Estimator::Bump; 4],
        ),
        (
            "tiny-v0-digital",
            heston(1e-50, -0.7),
            digital.clone(),
            1.0,
            1,
            [Estimator::Bump; 4],
        ),
        (
            "wild-sv-digital",
            sv(3.0, 0.2),
            digital.clone(),
            5.0,
            50,
            [Estimator::Bump; 4],
        ),
        (
            "near-one-rho-digital",
            sv(0.3, 0.999999),
            digital,
            1.0,
            1,
            [Estimator::Bump; 4],
        ),
        (
            "one-step-warrant",
            sv(0.3, 0.2),
            PayoffSpec::FxWarrant(FxWarrant {
                strike: 95.0,
                warrants: 10.0,
                notional_per_warrant: 100.0,
            }),
            0.5,
            1,
            PW,
        ),
    ];
    for (id, model, payoff, mat, steps, want) in cases {
        let t = trade(id, model, payoff, mat, steps, 20_000);
        for r in [&f32_req, &f64_req] {
            let a = price_one(&t, r);
            let b = price_one(
                &t,
                &PricingRequest {
                    greeks_method: GreeksMethod::Bump,
                    ..r.clone()
                },
            );
            for g in Greek::ALL {
                let (x, y) = (a.greek(g).unwrap(), b.greek(g).unwrap());
                assert_eq!(
                    a.estimators[g as usize],
                    Some(want[g as usize]),
                    "{id} {}",
                    g.name()
                );
                assert!(x.value.is_finite(), "{id} {}: {x:?}", g.name());
                if want[g as usize] == Estimator::Bump {
                    assert_eq!(x, y, "{id} {}: a bump is the bump's bits", g.name());
                }
            }
        }
    }
    // Struck at spot x (1 - h): every path pays its maximum less the
    // strike at any spot from the strike up, so gamma is 0.
    for steps in [1, 12] {
        let t = trade(
            "lookback-99",
            gbm(100.0, 0.03, 0.01, 0.25),
            PayoffSpec::Lookback(Lookback {
                option: OptionType::Call,
                strike_type: StrikeType::Fixed,
                strike: 99.0,
            }),
            1.0,
            steps,
            50_000,
        );
        let g = price_one(&t, &f64_req).greek(Greek::Gamma).unwrap();
        assert!(g.value.abs() <= 1e-9, "{steps} steps: gamma {g:?}");
    }
}

/// A second hostile pass, kept: a gbm vol of 1e-30 on one asset (its
/// pathwise vega would read W back from a log-spot whose rounding it
/// divides by the vol) bumps vega; an asset with a spot of 1e-30 has a
/// gamma of rounding, not 1e15; two assets tied for a rainbow's maximum
/// (correlation 1) share its delta, as bumps do.
#[test]
fn several_assets_at_the_edges_of_their_range() {
    use riskpool_kernels::correlation::Correlation;
    use riskpool_kernels::exercise::Exercise;
    use riskpool_kernels::multi::*;
    let basket_or = |id: &str, assets: Vec<GbmAsset>, rho: f64, payoff: MultiPayoff| {
        let n = assets.len();
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 1.0 } else { rho }).collect())
            .collect();
        let model = MultiModel::GbmMulti {
            rate: 0.037,
            assets,
            correlation: Correlation::new(&rows, n).unwrap(),
        };
        let base = trade(
            id,
            gbm(100.0, 0.03, 0.0, 0.2),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 95.0,
            }),
            0.73,
            7,
            20_000,
        );
        extended(
            id,
            base,
            Some(MultiAsset { model, payoff }),
            Exercise::European,
        )
    };
    let asset = |spot: f64, vol: f64| GbmAsset {
        spot,
        vol,
        dividend: 0.011,
    };
    let put = MultiPayoff::Basket {
        option: OptionType::Put,
        strike: 95.0,
        weights: vec![0.6, 0.4],
    };
    let pw = req(GreeksMethod::Pathwise, Precision::F64);
    let bump = req(GreeksMethod::Bump, Precision::F64);

    let tiny_vol = basket_or(
        "tiny-vol",
        vec![asset(100.0, 0.2), asset(90.0, 1e-30)],
        0.5,
        put.clone(),
    );
    let (a, b) = (price_one(&tiny_vol, &pw), price_one(&tiny_vol, &bump));
    assert_eq!(a.estimators[Greek::Vega as usize], Some(Estimator::Bump));
    assert_eq!(a.per_asset[1].vega, b.per_asset[1].vega);

    let tiny_spot = basket_or(
        "tiny-spot",
        vec![asset(1e-30, 0.2), asset(90.0, 0.3)],
        0.5,
        put,
    );
    let g = price_one(&tiny_spot, &pw).per_asset[0].gamma.unwrap();
    assert!(g.value.abs() < 1.0, "gamma of a 1e-30 spot: {g:?}");

    let max_call = MultiPayoff::Rainbow {
        option: OptionType::Call,
        strike: 100.0,
        kind: RainbowKind::Max,
    };
    let tied = basket_or(
        "tied",
        vec![asset(100.0, 0.2), asset(100.0, 0.2)],
        1.0,
        max_call,
    );
    let (a, b) = (price_one(&tied, &pw), price_one(&tied, &bump));
    for j in 0..2 {
        let (x, y) = (a.per_asset[j].delta.unwrap(), b.per_asset[j].delta.unwrap());
        eprintln!("tied asset {j} delta: one pass {x:?}, bump {y:?}");
        assert!(
            agree(&format!("tied delta_{j}"), x, y, 0.0).is_none(),
            "{x:?} vs {y:?}"
        );
    }
}
