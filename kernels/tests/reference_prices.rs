//! Monte Carlo prices against references the tests compute: closed forms,
//! a semi-analytic Heston price, a control-variate estimate, a high
//! path-count run, and an independent reimplementation of azfinsim.
//! Every comparison is within 4 standard errors (plus a stated allowance
//! where the scheme has a bias).

use crate::common::*;
use riskpool_kernels::model::{Heston, ModelSpec};
use riskpool_kernels::payoff::*;
use riskpool_kernels::{Greek, GreekSet, Precision, PricingRequest};

const S: f64 = 100.0;
const R: f64 = 0.03;
const Q: f64 = 0.01;
const VOL: f64 = 0.25;

fn eu(option: OptionType, strike: f64) -> PayoffSpec {
    PayoffSpec::European(European { option, strike })
}

#[test]
fn european_calls_and_puts_match_black_scholes() {
    for precision in [Precision::F32, Precision::F64] {
        let req = PricingRequest {
            precision,
            ..Default::default()
        };
        for (id, call, k, t) in [
            ("c110", true, 110.0, 0.75),
            ("p90", false, 90.0, 0.5),
            ("c100", true, 100.0, 2.0),
        ] {
            let opt = if call {
                OptionType::Call
            } else {
                OptionType::Put
            };
            let tr = trade(id, gbm(S, R, Q, VOL), eu(opt, k), t, 1, 1_000_000);
            let got = price_one(&tr, &req);
            assert_within(
                &format!("{id} {precision:?}"),
                got.pv,
                bs(call, S, k, R, Q, VOL, t),
                4.0,
                0.0,
            );
        }
    }
    // Many steps price the same as one: GBM is stepped exactly.
    let tr = trade(
        "multi",
        gbm(S, R, Q, VOL),
        eu(OptionType::Call, 105.0),
        1.0,
        50,
        400_000,
    );
    assert_within(
        "50 steps",
        price_one(&tr, &Default::default()).pv,
        bs(true, S, 105.0, R, Q, VOL, 1.0),
        4.0,
        0.0,
    );
}

#[test]
fn digitals_match_black_scholes() {
    let (k, t, cash) = (105.0, 1.0, 10.0);
    let d2 = bs_d1(S, k, R, Q, VOL, t) - VOL * t.sqrt();
    for (option, reference) in [
        (OptionType::Call, cash * (-R * t).exp() * ncdf(d2)),
        (OptionType::Put, cash * (-R * t).exp() * ncdf(-d2)),
    ] {
        let tr = trade(
            "dig",
            gbm(S, R, Q, VOL),
            PayoffSpec::Digital(Digital {
                option,
                strike: k,
                cash,
            }),
            t,
            1,
            1_000_000,
        );
        assert_within(
            &format!("digital {option:?}"),
            price_one(&tr, &Default::default()).pv,
            reference,
            4.0,
            0.0,
        );
    }
}

/// Discrete geometric average of S_1..S_N under GBM: lognormal.
pub(crate) fn geometric_asian_call(
    s: f64,
    k: f64,
    r: f64,
    q: f64,
    vol: f64,
    t: f64,
    n: u32,
) -> f64 {
    let n = n as f64;
    let dt = t / n;
    let mean = s.ln() + (r - q - 0.5 * vol * vol) * dt * (n + 1.0) / 2.0;
    let var = vol * vol * dt * (n + 1.0) * (2.0 * n + 1.0) / (6.0 * n);
    let sd = var.sqrt();
    let d2 = (mean - k.ln()) / sd;
    (-r * t).exp() * ((mean + 0.5 * var).exp() * ncdf(d2 + sd) - k * ncdf(d2))
}

fn asian(average: Average) -> PayoffSpec {
    PayoffSpec::Asian(Asian {
        option: OptionType::Call,
        strike: 100.0,
        average,
    })
}

#[test]
fn geometric_asian_matches_closed_form() {
    let tr = trade(
        "geo",
        gbm(S, R, Q, VOL),
        asian(Average::Geometric),
        1.0,
        52,
        400_000,
    );
    let reference = geometric_asian_call(S, 100.0, R, Q, VOL, 1.0, 52);
    assert_within(
        "geometric asian",
        price_one(&tr, &Default::default()).pv,
        reference,
        4.0,
        0.0,
    );
}

#[test]
fn arithmetic_asian_matches_geometric_control_variate() {
    // The control-variate estimate: arithmetic minus geometric on the same
    // paths (same id, same stream), plus the exact geometric price.
    let a = trade(
        "asian-cv",
        gbm(S, R, Q, VOL),
        asian(Average::Arithmetic),
        1.0,
        52,
        400_000,
    );
    let g = trade(
        "asian-cv",
        gbm(S, R, Q, VOL),
        asian(Average::Geometric),
        1.0,
        52,
        400_000,
    );
    let r = price(&[a.clone(), g], &Default::default());
    let cv = r[0].pv.value - r[1].pv.value + geometric_asian_call(S, 100.0, R, Q, VOL, 1.0, 52);
    // The plain estimate from independent paths (another stream) must agree.
    let plain = trade(
        "asian-plain",
        gbm(S, R, Q, VOL),
        asian(Average::Arithmetic),
        1.0,
        52,
        400_000,
    );
    let p = price_one(&plain, &Default::default());
    assert_within("arithmetic asian vs control variate", p.pv, cv, 4.0, 0.0);
    // The arithmetic average dominates the geometric one.
    assert!(r[0].pv.value > r[1].pv.value);
}

/// Reiner-Rubinstein continuously monitored knock-out calls (no rebate).
pub(crate) fn knock_out_call(
    down: bool,
    s: f64,
    k: f64,
    h: f64,
    r: f64,
    q: f64,
    vol: f64,
    t: f64,
) -> f64 {
    let b = r - q;
    let mu = (b - 0.5 * vol * vol) / (vol * vol);
    let sd = vol * t.sqrt();
    let x1 = (s / k).ln() / sd + (1.0 + mu) * sd;
    let x2 = (s / h).ln() / sd + (1.0 + mu) * sd;
    let y1 = (h * h / (s * k)).ln() / sd + (1.0 + mu) * sd;
    let y2 = (h / s).ln() / sd + (1.0 + mu) * sd;
    let eta = if down { 1.0 } else { -1.0 };
    let fs = s * ((b - r) * t).exp();
    let fk = k * (-r * t).exp();
    let a_ = fs * ncdf(x1) - fk * ncdf(x1 - sd);
    let b_ = fs * ncdf(x2) - fk * ncdf(x2 - sd);
    let hs = h / s;
    let c_ = fs * hs.powf(2.0 * (mu + 1.0)) * ncdf(eta * y1)
        - fk * hs.powf(2.0 * mu) * ncdf(eta * y1 - eta * sd);
    let d_ = fs * hs.powf(2.0 * (mu + 1.0)) * ncdf(eta * y2)
        - fk * hs.powf(2.0 * mu) * ncdf(eta * y2 - eta * sd);
    match (down, k > h) {
        (true, true) => a_ - c_,
        (true, false) => b_ - d_,
        (false, true) => 0.0,
        (false, false) => a_ - b_ + c_ - d_,
    }
}

fn barrier(
    k: f64,
    b: f64,
    direction: Direction,
    knock: Knock,
    monitoring: Monitoring,
) -> PayoffSpec {
    PayoffSpec::Barrier(Barrier {
        option: OptionType::Call,
        strike: k,
        barrier: b,
        direction,
        knock,
        monitoring,
        rebate: 0.0,
    })
}

#[test]
fn continuous_barriers_match_closed_forms() {
    let t = 1.0;
    for (id, down, k, h) in [
        ("do-k100-b85", true, 100.0, 85.0),
        ("do-k80-b85", true, 80.0, 85.0),
        ("uo-k100-h130", false, 100.0, 130.0),
    ] {
        let dir = if down { Direction::Down } else { Direction::Up };
        let tr = trade(
            id,
            gbm(S, R, Q, VOL),
            barrier(k, h, dir, Knock::Out, Monitoring::Continuous),
            t,
            64,
            400_000,
        );
        let reference = knock_out_call(down, S, k, h, R, Q, VOL, t);
        assert_within(
            id,
            price_one(&tr, &Default::default()).pv,
            reference,
            4.0,
            0.0,
        );
        // Discrete monitoring knocks out less often: worth more.
        let disc = trade(
            id,
            gbm(S, R, Q, VOL),
            barrier(k, h, dir, Knock::Out, Monitoring::Discrete),
            t,
            64,
            400_000,
        );
        assert!(price_one(&disc, &Default::default()).pv.value > reference);
    }
}

#[test]
fn knock_in_plus_knock_out_is_the_vanilla_on_the_same_paths() {
    for monitoring in [Monitoring::Discrete, Monitoring::Continuous] {
        let mk = |knock| {
            trade(
                "parity",
                gbm(S, R, Q, VOL),
                barrier(100.0, 90.0, Direction::Down, knock, monitoring),
                1.0,
                50,
                100_000,
            )
        };
        let van = trade(
            "parity",
            gbm(S, R, Q, VOL),
            eu(OptionType::Call, 100.0),
            1.0,
            50,
            100_000,
        );
        let r = price(&[mk(Knock::In), mk(Knock::Out), van], &Default::default());
        let sum = r[0].pv.value + r[1].pv.value;
        assert!(
            (sum - r[2].pv.value).abs() < 1e-5 * r[2].pv.value,
            "{monitoring:?}: in + out = {sum}, vanilla {}",
            r[2].pv.value
        );
    }
}

#[test]
fn rebates_are_paid_when_knocked_out() {
    let mut p = barrier(
        100.0,
        90.0,
        Direction::Down,
        Knock::Out,
        Monitoring::Discrete,
    );
    let plain = price_one(
        &trade("reb", gbm(S, R, Q, VOL), p.clone(), 1.0, 50, 100_000),
        &Default::default(),
    );
    if let PayoffSpec::Barrier(b) = &mut p {
        b.rebate = 5.0;
    }
    let with = price_one(
        &trade("reb", gbm(S, R, Q, VOL), p, 1.0, 50, 100_000),
        &Default::default(),
    );
    // Same paths: the difference is 5 x P(knocked out), discounted, > 0.
    let extra = with.pv.value - plain.pv.value;
    assert!(
        extra > 0.5 && extra < 5.0 * (-R).exp(),
        "rebate worth {extra}"
    );
}

#[test]
fn heston_matches_semi_analytic_price() {
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
    // The reference itself: with almost no vol of vol it is Black-Scholes.
    let flat = HestonRef { xi: 1e-4, ..h };
    let bs_ref = bs(true, 100.0, 100.0, 0.03, 0.0, 0.2, 1.0);
    assert!(
        (flat.call(100.0, 1.0) - bs_ref).abs() < 1e-3,
        "{} vs {bs_ref}",
        flat.call(100.0, 1.0)
    );

    for k in [90.0, 100.0, 110.0] {
        let reference = h.call(k, 1.0);
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
            &format!("heston-{k}"),
            m,
            eu(OptionType::Call, k),
            1.0,
            200,
            200_000,
        );
        // Full truncation's discretisation bias at 200 steps: allowed up to
        // 0.5% of the price on top of 4 SE.
        assert_within(
            &format!("heston K={k}"),
            price_one(&tr, &Default::default()).pv,
            reference,
            4.0,
            0.005 * reference,
        );
    }
}

#[test]
fn lookbacks_match_a_high_path_count_run() {
    for (id, option, strike_type, strike) in [
        ("lb-float-call", OptionType::Call, StrikeType::Floating, 0.0),
        ("lb-float-put", OptionType::Put, StrikeType::Floating, 0.0),
        ("lb-fixed-call", OptionType::Call, StrikeType::Fixed, 100.0),
        ("lb-fixed-put", OptionType::Put, StrikeType::Fixed, 100.0),
    ] {
        let p = PayoffSpec::Lookback(Lookback {
            option,
            strike_type,
            strike,
        });
        let small = price_one(
            &trade(id, gbm(S, R, Q, VOL), p.clone(), 1.0, 50, 100_000),
            &Default::default(),
        );
        let big_id = format!("{id}-reference");
        let big = price_one(
            &trade(&big_id, gbm(S, R, Q, VOL), p, 1.0, 50, 1_600_000),
            &Default::default(),
        );
        let se = (small.pv.stderr.powi(2) + big.pv.stderr.powi(2)).sqrt();
        assert!(
            (small.pv.value - big.pv.value).abs() < 4.0 * se,
            "{id}: {:?} vs {:?}",
            small.pv,
            big.pv
        );
        assert!(small.pv.value > 0.0);
    }
}

#[test]
fn delta_vega_rho_of_a_european_call_match_black_scholes() {
    let (k, t) = (105.0, 1.0);
    let tr = trade(
        "greeks",
        gbm(S, R, Q, VOL),
        eu(OptionType::Call, k),
        t,
        1,
        1_000_000,
    );
    let req = PricingRequest {
        greeks: GreekSet(vec![Greek::Delta, Greek::Gamma, Greek::Vega, Greek::Rho]),
        ..Default::default()
    };
    let r = price_one(&tr, &req);
    let d1 = bs_d1(S, k, R, Q, VOL, t);
    let d2 = d1 - VOL * t.sqrt();
    let delta = (-Q * t).exp() * ncdf(d1);
    let vega = S * (-Q * t).exp() * npdf(d1) * t.sqrt();
    let rho = k * t * (-R * t).exp() * ncdf(d2);
    let gamma = (-Q * t).exp() * npdf(d1) / (S * VOL * t.sqrt());
    assert_within("delta", r.greek(Greek::Delta).unwrap(), delta, 4.0, 0.0);
    assert_within("vega", r.greek(Greek::Vega).unwrap(), vega, 4.0, 0.0);
    assert_within("rho", r.greek(Greek::Rho).unwrap(), rho, 4.0, 0.0);
    // Central differences with a 1% bump: O(h^2) bias well under 1%.
    assert_within(
        "gamma",
        r.greek(Greek::Gamma).unwrap(),
        gamma,
        4.0,
        0.01 * gamma,
    );
    assert_eq!(
        r.pv,
        price_one(&tr, &Default::default()).pv,
        "Greeks must not change the PV"
    );
}
