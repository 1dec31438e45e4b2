//! The double knock-out (`double_barrier`) on the CPU engine against what
//! it must equal: Ikeda and Kunitomo's closed form for continuous
//! monitoring, a high-path-count run for discrete monitoring, and the
//! single barrier option on the same paths when one barrier is far away.
//! The other engines are held to the CPU engine by the conformance tests
//! (wgpu_conformance, cuda_engine), whose portfolio has two double barriers.

use crate::common::*;
use riskpool_kernels::payoff::*;
use riskpool_kernels::{Greek, GreekSet, Precision, PricingRequest, Trade};

const S: f64 = 100.0;
const R: f64 = 0.05;
const Q: f64 = 0.02;
const VOL: f64 = 0.25;

/// Ikeda-Kunitomo (1992) double knock-out call or put with flat barriers
/// (both curvatures zero), as in Haug, "The Complete Guide to Option
/// Pricing Formulas", 4.17.3; valid for `lower < strike < upper`.
#[allow(clippy::too_many_arguments)]
fn ikeda_kunitomo(
    call: bool,
    s: f64,
    k: f64,
    l: f64,
    u: f64,
    r: f64,
    q: f64,
    vol: f64,
    t: f64,
) -> f64 {
    let b = r - q;
    let sd = vol * t.sqrt();
    let mu1 = 2.0 * b / (vol * vol) + 1.0;
    let mu3 = mu1;
    let d = |num: f64| (num.ln() + (b + 0.5 * vol * vol) * t) / sd;
    let (mut a_s, mut a_k) = (0.0, 0.0);
    for n in -10..=10 {
        let n = n as f64;
        let (un, ln) = (u.powf(n), l.powf(n));
        let w1 = (un / ln).powf(mu1);
        let w1k = (un / ln).powf(mu1 - 2.0);
        let ratio = l.powf(n + 1.0) / (un * s);
        let w3 = ratio.powf(mu3);
        let w3k = ratio.powf(mu3 - 2.0);
        let u2n_l2n = u.powf(2.0 * n) / l.powf(2.0 * n);
        let l2n2_u2n = l.powf(2.0 * n + 2.0) / u.powf(2.0 * n);
        if call {
            // d1..d4 with F = upper.
            let d1 = d(s * u2n_l2n / k);
            let d2 = d(s * u2n_l2n / u);
            let d3 = d(l2n2_u2n / (k * s));
            let d4 = d(l2n2_u2n / (u * s));
            a_s += w1 * (ncdf(d1) - ncdf(d2)) - w3 * (ncdf(d3) - ncdf(d4));
            a_k += w1k * (ncdf(d1 - sd) - ncdf(d2 - sd)) - w3k * (ncdf(d3 - sd) - ncdf(d4 - sd));
        } else {
            // y1..y4 with E = lower.
            let y1 = d(s * u2n_l2n / l);
            let y2 = d(s * u2n_l2n / k);
            let y3 = d(l2n2_u2n / (l * s));
            let y4 = d(l2n2_u2n / (k * s));
            a_s += w1 * (ncdf(y1) - ncdf(y2)) - w3 * (ncdf(y3) - ncdf(y4));
            a_k += w1k * (ncdf(y1 - sd) - ncdf(y2 - sd)) - w3k * (ncdf(y3 - sd) - ncdf(y4 - sd));
        }
    }
    let fs = s * ((b - r) * t).exp();
    let fk = k * (-r * t).exp();
    if call {
        fs * a_s - fk * a_k
    } else {
        fk * a_k - fs * a_s
    }
}

fn double(
    option: OptionType,
    k: f64,
    l: f64,
    u: f64,
    monitoring: Monitoring,
    rebate: f64,
) -> PayoffSpec {
    PayoffSpec::DoubleBarrier(DoubleBarrier {
        option,
        strike: k,
        lower: l,
        upper: u,
        monitoring,
        rebate,
    })
}

#[test]
fn the_closed_form_is_black_scholes_with_the_barriers_gone() {
    for call in [true, false] {
        let ik = ikeda_kunitomo(call, S, 100.0, 1e-3, 1e5, R, Q, VOL, 1.0);
        let b = bs(call, S, 100.0, R, Q, VOL, 1.0);
        assert!((ik - b).abs() < 1e-9, "call={call}: {ik} vs {b}");
    }
}

/// Continuous monitoring: the bridge weights make the estimator unbiased
/// for gbm but for the terms of order exp(-2 w^2 / (sigma^2 dt)) dropped
/// from the strip probability (w = ln(upper / lower)): below 1e-20 here even
/// at 8 steps. The stated allowance covers them and the f32 path state's
/// rounding (about 1e-6 relative a step): 1e-3 of the price. Discrete
/// monitoring at the same step counts stays above the continuous price, by
/// a gap that shrinks as the steps grow (about as sqrt(dt), Broadie,
/// Glasserman and Kou).
#[test]
fn continuous_monitoring_matches_ikeda_kunitomo() {
    let (l, u, t) = (80.0, 130.0, 1.0);
    for (option, k) in [(OptionType::Call, 100.0), (OptionType::Put, 105.0)] {
        let call = option == OptionType::Call;
        let reference = ikeda_kunitomo(call, S, k, l, u, R, Q, VOL, t);
        let mut gaps = Vec::new();
        for steps in [8, 64] {
            let id = format!("dko-{call}-{steps}");
            let cont = trade(
                &id,
                gbm(S, R, Q, VOL),
                double(option, k, l, u, Monitoring::Continuous, 0.0),
                t,
                steps,
                200_000,
            );
            let disc = Trade {
                payoff: double(option, k, l, u, Monitoring::Discrete, 0.0),
                ..cont.clone()
            };
            let r = price(&[cont, disc], &Default::default());
            assert_within(&id, r[0].pv, reference, 4.0, 1e-3 * reference);
            assert!(
                r[1].pv.value > r[0].pv.value,
                "{id}: discrete below continuous"
            );
            gaps.push(r[1].pv.value - reference);
        }
        eprintln!("call={call}: discrete minus continuous at 8 and 64 steps: {gaps:?}");
        assert!(
            gaps[1] < 0.6 * gaps[0],
            "call={call}: the discrete gap does not shrink: {gaps:?}"
        );
    }
}

#[test]
fn discrete_monitoring_matches_a_high_path_count_run() {
    for (id, option, k, rebate) in [
        ("dko-disc-call", OptionType::Call, 100.0, 0.0),
        ("dko-disc-put", OptionType::Put, 95.0, 3.0),
    ] {
        let p = double(option, k, 85.0, 120.0, Monitoring::Discrete, rebate);
        let small = price_one(
            &trade(id, gbm(S, R, Q, VOL), p.clone(), 1.0, 50, 100_000),
            &Default::default(),
        );
        let big = price_one(
            &trade(
                &format!("{id}-reference"),
                gbm(S, R, Q, VOL),
                p,
                1.0,
                50,
                1_600_000,
            ),
            &Default::default(),
        );
        let se = (small.pv.stderr.powi(2) + big.pv.stderr.powi(2)).sqrt();
        eprintln!("{id}: {:?} vs {:?}", small.pv, big.pv);
        assert!((small.pv.value - big.pv.value).abs() < 4.0 * se, "{id}");
        assert!(small.pv.value > 0.0);
    }
}

/// With one barrier far away its survival factor is exactly 1 and it is
/// never touched: every output is the single barrier's, to the bit, in both
/// precisions and both monitorings, Greeks included.
#[test]
fn with_one_barrier_far_away_it_is_the_single_barrier_on_the_same_paths() {
    for monitoring in [Monitoring::Discrete, Monitoring::Continuous] {
        for (direction, level, far_lower, far_upper) in [
            (Direction::Down, 85.0, 85.0, 1e6),
            (Direction::Up, 125.0, 1e-6, 125.0),
        ] {
            let single = trade(
                "same-paths",
                gbm(S, R, Q, VOL),
                PayoffSpec::Barrier(Barrier {
                    option: OptionType::Call,
                    strike: 100.0,
                    barrier: level,
                    direction,
                    knock: Knock::Out,
                    monitoring,
                    rebate: 2.0,
                }),
                1.0,
                40,
                20_000,
            );
            let double = Trade {
                payoff: double(
                    OptionType::Call,
                    100.0,
                    far_lower,
                    far_upper,
                    monitoring,
                    2.0,
                ),
                ..single.clone()
            };
            for precision in [Precision::F32, Precision::F64] {
                let req = PricingRequest {
                    precision,
                    greeks: GreekSet(Greek::ALL.to_vec()),
                    ..Default::default()
                };
                let r = price(&[single.clone(), double.clone()], &req);
                let what = format!("{direction:?} {monitoring:?} {precision:?}");
                assert!(r[0].pv.value > 0.0, "{what}");
                assert_eq!(r[0].pv, r[1].pv, "{what}");
                assert_eq!(r[0].greeks, r[1].greeks, "{what}");
            }
        }
    }
}

#[test]
fn barriers_on_the_wrong_side_of_the_spot_are_refused() {
    for (l, u, field) in [
        (100.0, 120.0, "payoff.lower"),
        (80.0, 100.0, "payoff.upper"),
        (0.0, 120.0, "payoff.lower"),
    ] {
        let t = trade(
            "bad",
            gbm(S, R, Q, VOL),
            double(OptionType::Call, 100.0, l, u, Monitoring::Discrete, 0.0),
            1.0,
            10,
            100,
        );
        let e = t.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{l} {u}: {e}");
    }
}
