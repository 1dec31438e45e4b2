//! One-pass Greeks (`GreeksMethod::Pathwise`) on the GPU engines' kernels
//! against the CPU engine: every model x payoff, f32 and f64, with and
//! without antithetic pairs, each Greek's estimator the CPU's and its
//! value within the engine's contract.
//!
//! - The CUDA C built for the CPU walks the CPU engine's paths operation
//!   for operation (no contraction): the outputs differ only by the order
//!   sums are taken in, so it is held to 1e-9 relative (f64) and the f32
//!   contract's rounding.
//! - wgpu (lavapipe in CI) to the f32 contract (1e-4 relative or 0.1 SE).
//! - A real GPU (where there is one) to the f32 contract in f32 and f64.

use crate::common::*;
use riskpool_kernels::engine::cuda::CudaEngine;
use riskpool_kernels::greeks::{Estimator, GreeksMethod};
use riskpool_kernels::{CpuEngine, Engine};
use riskpool_kernels::{Estimate, Greek, GreekSet, Precision, PricingRequest, Trade};

/// Every model x payoff on 48 steps and on one (where a jumping payoff's
/// delta and gamma take the first step's likelihood ratio), and Greeks
/// whose spot bump starts through a continuous barrier.
fn book(paths: u64) -> Vec<Trade> {
    let mut trades = every_model_and_payoff(paths);
    let one_step: Vec<Trade> = trades
        .iter()
        .map(|t| Trade {
            id: format!("{}-one-step", t.id),
            steps: 1,
            ..t.clone()
        })
        .collect();
    trades.extend(one_step);
    trades.extend(near_barrier_trades(paths));
    trades
}

fn requests(precisions: &[Precision]) -> Vec<PricingRequest> {
    let mut v = Vec::new();
    for &precision in precisions {
        for antithetic in [false, true] {
            v.push(PricingRequest {
                precision,
                antithetic,
                greeks: GreekSet(Greek::ALL.to_vec()),
                greeks_method: GreeksMethod::Pathwise,
                ..Default::default()
            });
        }
    }
    v
}

/// `engine` against the CPU engine on `trades` under one-pass Greeks:
/// the same estimators, and each output within `rel` of the CPU's value
/// or `se` of its standard error, whichever is larger (plus an absolute
/// rounding floor `abs`). Returns the worst deviation in SE and counts the
/// one-pass estimators seen (a test that saw none would prove nothing).
fn assert_one_pass_conforms(
    engine: &dyn Engine,
    trades: &[Trade],
    precisions: &[Precision],
    tol: impl Fn(Precision) -> (f64, f64, f64),
) -> f64 {
    let cpu = CpuEngine::new(None).unwrap();
    let mut worst: f64 = 0.0;
    let mut one_pass = 0;
    for req in requests(precisions) {
        let trades = if req.antithetic {
            with_even_paths(trades)
        } else {
            trades.to_vec()
        };
        let (rel, se, abs) = tol(req.precision);
        let a = cpu.price(&trades, &req).unwrap();
        let b = engine.price(&trades, &req).unwrap();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            let what = format!(
                "{} on {} ({:?}, anti={})",
                t.id,
                engine.name(),
                req.precision,
                req.antithetic
            );
            assert_eq!(x.estimators, y.estimators, "{what}: estimators");
            one_pass += x
                .estimators
                .iter()
                .flatten()
                .filter(|e| **e != Estimator::Bump)
                .count();
            let mut pairs: Vec<(&str, Estimate, Estimate)> = vec![("pv", x.pv, y.pv)];
            for g in Greek::ALL {
                pairs.push((g.name(), x.greek(g).unwrap(), y.greek(g).unwrap()));
            }
            for (name, p, q) in pairs {
                let d = (p.value - q.value).abs();
                let allowed = (rel * p.value.abs()).max(se * p.stderr).max(abs);
                assert!(
                    d <= allowed,
                    "{what} {name}: cpu {} +- {}, other {} +- {} (allowed {allowed})",
                    p.value,
                    p.stderr,
                    q.value,
                    q.stderr
                );
                assert!(
                    (p.stderr - q.stderr).abs() <= 0.01 * p.stderr + abs,
                    "{what} {name} stderr: {} vs {}",
                    p.stderr,
                    q.stderr
                );
                if p.stderr > 0.0 {
                    worst = worst.max(d / p.stderr);
                }
            }
        }
    }
    assert!(one_pass > 0, "no Greek was estimated in one pass");
    eprintln!(
        "{}: {one_pass} one-pass Greeks, worst deviation {worst:.2e} SE",
        engine.name()
    );
    worst
}

#[test]
fn one_pass_greeks_on_the_cuda_c_on_the_cpu_match_the_cpu_engine() {
    let Some(k) = cuda_c() else { return };
    let trades = book(700);
    assert_one_pass_conforms(
        &k,
        &trades,
        &[Precision::F32, Precision::F64],
        |p| match p {
            Precision::F32 => (1e-5, 0.0, 1e-6),
            Precision::F64 => (1e-9, 0.0, 1e-12),
        },
    );
}

#[test]
fn one_pass_greeks_on_wgpu_match_the_cpu_engine() {
    let Some(w) = wgpu() else { return };
    let trades = book(700);
    assert_one_pass_conforms(&w, &trades, &[Precision::F32], |_| (1e-4, 0.1, 1e-6));
}

#[test]
fn one_pass_greeks_on_the_gpu_match_the_cpu_engine() {
    let gpu = match CudaEngine::new() {
        Ok(e) => e,
        Err(e) if std::env::var("RISKPOOL_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("RISKPOOL_REQUIRE_CUDA=1 but: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    let trades = book(20_000);
    assert_one_pass_conforms(&gpu, &trades, &[Precision::F32, Precision::F64], |_| {
        (1e-4, 0.1, 1e-6)
    });
}

// ---------------------------------------------------------------------
// A hostile pass: trades the book above does not hold.
// ---------------------------------------------------------------------

mod hostile {
    use super::*;
    use riskpool_kernels::model::{Heston, ModelSpec, SvFx};
    use riskpool_kernels::payoff::*;

    pub fn heston(spot: f64, v0: f64, rho: f64, xi: f64) -> ModelSpec {
        ModelSpec::Heston(Heston {
            spot,
            rate: 0.03,
            dividend: 0.0,
            v0,
            kappa: 1.5,
            theta: 0.05,
            xi,
            rho,
        })
    }

    pub fn sv(spot: f64, sigma: f64, volvol: f64, rho: f64) -> ModelSpec {
        ModelSpec::SvFx(SvFx {
            spot,
            drift: 0.02,
            sigma,
            volvol,
            rho,
        })
    }

    pub fn digital(option: OptionType, strike: f64) -> PayoffSpec {
        PayoffSpec::Digital(Digital {
            option,
            strike,
            cash: 10.0,
        })
    }

    pub fn barrier(
        strike: f64,
        b: f64,
        direction: Direction,
        monitoring: Monitoring,
    ) -> PayoffSpec {
        PayoffSpec::Barrier(Barrier {
            option: OptionType::Call,
            strike,
            barrier: b,
            direction,
            knock: if direction == Direction::Up {
                Knock::Out
            } else {
                Knock::In
            },
            monitoring,
            rebate: 2.0,
        })
    }

    pub fn lookback(option: OptionType, strike_type: StrikeType, strike: f64) -> PayoffSpec {
        PayoffSpec::Lookback(Lookback {
            option,
            strike_type,
            strike,
        })
    }

    pub fn warrant(strike: f64) -> PayoffSpec {
        PayoffSpec::FxWarrant(FxWarrant {
            strike,
            warrants: 10.0,
            notional_per_warrant: 100.0,
        })
    }

    /// Each payoff kind, struck and knocked relative to `spot` (13).
    pub fn payoffs_at(spot: f64) -> Vec<PayoffSpec> {
        use Direction::*;
        use Monitoring::*;
        let k = spot;
        vec![
            PayoffSpec::European(European {
                option: OptionType::Call,
                strike: k,
            }),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 0.95 * k,
            }),
            digital(OptionType::Call, k),
            digital(OptionType::Put, 1.02 * k),
            PayoffSpec::Asian(Asian {
                option: OptionType::Call,
                strike: k,
                average: Average::Arithmetic,
            }),
            PayoffSpec::Asian(Asian {
                option: OptionType::Put,
                strike: k,
                average: Average::Geometric,
            }),
            barrier(k, 1.2 * k, Up, Continuous),
            barrier(k, 0.9 * k, Down, Continuous),
            barrier(k, 1.2 * k, Up, Discrete),
            lookback(OptionType::Call, StrikeType::Fixed, k),
            lookback(OptionType::Put, StrikeType::Floating, 0.0),
            warrant(0.95 * k),
            PayoffSpec::DoubleBarrier(DoubleBarrier {
                option: OptionType::Call,
                strike: k,
                lower: 0.8 * k,
                upper: 1.25 * k,
                monitoring: Continuous,
                rebate: 1.5,
            }),
        ]
    }

    pub fn req(precision: Precision, antithetic: bool, greeks: &[Greek]) -> PricingRequest {
        PricingRequest {
            precision,
            antithetic,
            greeks: GreekSet(greeks.to_vec()),
            greeks_method: GreeksMethod::Pathwise,
            ..Default::default()
        }
    }

    /// An engine's tolerance against the CPU engine: `rel` of the CPU's
    /// value, `se` of its standard error, and `ulps` (in units of the
    /// precision's epsilon) of the rounding a Greek's estimator amplifies.
    #[derive(Clone, Copy)]
    pub struct Tol {
        pub rel: f64,
        pub se: f64,
        pub ulps: f64,
    }

    pub fn tol_of(engine: &str, p: Precision) -> Tol {
        match (engine, p) {
            // lavapipe contracts to FMAs and rounds exp its own way.
            ("wgpu", _) => Tol {
                rel: 1e-4,
                se: 0.1,
                ulps: 32.0,
            },
            (_, Precision::F32) => Tol {
                rel: 1e-5,
                se: 1e-3,
                ulps: 8.0,
            },
            (_, Precision::F64) => Tol {
                rel: 1e-9,
                se: 1e-6,
                ulps: 64.0,
            },
        }
    }

    /// How much a Greek's estimator amplifies its values' rounding: a bump
    /// divides a difference of revaluations by the bump (gamma by its
    /// square), gamma's pathwise difference a difference of deltas by
    /// the spot's; per unit of the PV's size (a Greek of a trade whose
    /// paths are all alike, vol 0, has no SE to hide its rounding).
    fn amplification(
        t: &Trade,
        req: &PricingRequest,
        g: Greek,
        e: Option<Estimator>,
        t_pv: f64,
    ) -> f64 {
        let spot = t.model.spot();
        let h = req.bumps.spot_rel * spot;
        let vol = t.model.vol_parameter().max(1e-3);
        match (g, e) {
            (Greek::Delta, Some(Estimator::Bump)) => 1.0 / h,
            (Greek::Gamma, Some(Estimator::Bump)) => 4.0 / (h * h),
            // A difference of deltas (each about 1, whatever the PV).
            (Greek::Gamma, Some(Estimator::PathwiseDifference)) => {
                (1.0 / h) * (spot / t_pv).max(1.0) / spot
            }
            (Greek::Vega, Some(Estimator::Bump)) => 1.0 / (req.bumps.vol_rel * vol),
            (Greek::Rho, Some(Estimator::Bump)) => 1.0 / req.bumps.rate_abs,
            (Greek::Delta, _) => 1.0 / spot,
            (Greek::Gamma, _) => 1.0 / (spot * spot),
            _ => 1.0,
        }
    }

    /// Every disagreement of `engine` with the CPU engine on `trades`
    /// under `req`: estimators, paths, which outputs are NaN or infinite,
    /// and each finite output's value and standard error.
    pub fn disagreements(
        engine: &dyn Engine,
        trades: &[Trade],
        req: &PricingRequest,
        tol: Tol,
    ) -> Vec<String> {
        let cpu = CpuEngine::new(None).unwrap();
        let a = cpu.price(trades, req).unwrap();
        let b = match engine.price(trades, req) {
            Ok(b) => b,
            Err(e) => return vec![format!("{}: {e}", engine.name())],
        };
        let eps = match req.precision {
            Precision::F32 => f32::EPSILON as f64,
            Precision::F64 => f64::EPSILON,
        };
        let mut out = Vec::new();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            let what = format!(
                "{} on {} ({:?}, anti={}, greeks={:?}, {:?})",
                t.id,
                engine.name(),
                req.precision,
                req.antithetic,
                req.greeks.0,
                x.estimators.map(|e| e.map(|e| e.name()).unwrap_or("-"))
            );
            if x.estimators != y.estimators {
                out.push(format!("{what}: estimators {:?}", y.estimators));
            }
            if x.paths != y.paths {
                out.push(format!("{what}: paths {} vs {}", x.paths, y.paths));
            }
            let size = x.pv.value.abs().max(1e-300);
            let mut pairs = vec![("pv", Some(x.pv), Some(y.pv), 1.0)];
            for g in Greek::ALL {
                let amp = amplification(t, req, g, x.estimators[g as usize], size);
                pairs.push((g.name(), x.greek(g), y.greek(g), amp));
            }
            for (name, p, q, amp) in pairs {
                let (p, q) = match (p, q) {
                    (Some(p), Some(q)) => (p, q),
                    (None, None) => continue,
                    _ => {
                        out.push(format!("{what} {name}: {p:?} vs {q:?}"));
                        continue;
                    }
                };
                if p.value.is_nan() != q.value.is_nan()
                    || p.value.is_finite() != q.value.is_finite()
                {
                    out.push(format!("{what} {name}: cpu {p:?}, other {q:?}"));
                    continue;
                }
                if !p.value.is_finite() {
                    if !p.value.is_nan() && p.value != q.value {
                        out.push(format!("{what} {name}: cpu {p:?}, other {q:?}"));
                    }
                    continue;
                }
                let rounding = tol.ulps * eps * size * amp;
                let d = (p.value - q.value).abs();
                let allowed = (tol.rel * p.value.abs())
                    .max(tol.se * p.stderr)
                    .max(rounding);
                if d > allowed {
                    out.push(format!(
                        "{what} {name}: cpu {} +- {}, other {} +- {} (allowed {allowed:.3e})",
                        p.value, p.stderr, q.value, q.stderr
                    ));
                }
                // wgpu's partials are f32: a block's sum of squared
                // deviations past f32's range is infinite there.
                let sd = p.stderr * (x.paths as f64).sqrt();
                let beyond_f32 = engine.name() == "wgpu" && 64.0 * sd * sd > f32::MAX as f64;
                let ds = (p.stderr - q.stderr).abs();
                if ds > 0.01 * p.stderr + 100.0 * allowed && !beyond_f32 {
                    out.push(format!(
                        "{what} {name} stderr: {} vs {}",
                        p.stderr, q.stderr
                    ));
                }
            }
        }
        out
    }

    /// cuda-on-cpu (f32, f64) and wgpu (f32), those that run here.
    pub fn engines() -> Vec<(Box<dyn Engine>, Vec<Precision>)> {
        let mut v: Vec<(Box<dyn Engine>, Vec<Precision>)> = Vec::new();
        if let Some(k) = cuda_c() {
            v.push((Box::new(k), vec![Precision::F32, Precision::F64]));
        }
        if let Some(w) = wgpu() {
            v.push((Box::new(w), vec![Precision::F32]));
        }
        v
    }

    /// `trades` on every engine, precision, with and without antithetic
    /// pairs, for each of `greek_sets`.
    pub fn sweep(trades: &[Trade], greek_sets: &[&[Greek]]) -> Vec<String> {
        let mut out = Vec::new();
        for (e, precisions) in engines() {
            for &p in &precisions {
                for anti in [false, true] {
                    let trades = if anti {
                        with_even_paths(trades)
                    } else {
                        trades.to_vec()
                    };
                    for g in greek_sets {
                        let r = req(p, anti, g);
                        out.extend(disagreements(e.as_ref(), &trades, &r, tol_of(e.name(), p)));
                    }
                }
            }
        }
        out
    }

    #[track_caller]
    pub fn assert_none(name: &str, d: &[String]) {
        for s in d.iter().take(30) {
            eprintln!("  {s}");
        }
        assert!(
            d.is_empty(),
            "{name}: {} disagreements (first: {})",
            d.len(),
            d[0]
        );
    }
}

/// A Greek whose coefficient f32 rounds to 0: a vega bump's
/// `1 / (2 h vol)` at a vol of 1e308 (infinite in f32, as is every path)
/// is 5e-307 on the CPU, 0 in an f32 record; the kernels skip a zero
/// coefficient, so the GPU engines said vega 0 +- 0 where the CPU says
/// NaN. Likewise a vol of 1e40, whose coefficient is subnormal in f32.
#[test]
fn a_greek_whose_coefficient_rounds_to_zero_in_f32_is_nan_as_on_the_cpu() {
    use hostile::*;
    use riskpool_kernels::payoff::*;
    let mut trades = Vec::new();
    for vol in [0.2, 1e40, 1e308] {
        for (name, p) in [
            ("warrant", warrant(95.0)),
            (
                "discrete",
                barrier(100.0, 120.0, Direction::Up, Monitoring::Discrete),
            ),
        ] {
            trades.push(trade(
                &format!("{name}-vol{vol:e}"),
                gbm(100.0, 0.03, 0.0, vol),
                p,
                1.0,
                8,
                256,
            ));
        }
    }
    let mut d = Vec::new();
    for (e, _) in engines() {
        for g in [&Greek::ALL[..], &[Greek::Vega][..]] {
            d.extend(disagreements(
                e.as_ref(),
                &trades,
                &req(Precision::F32, false, g),
                tol_of(e.name(), Precision::F32),
            ));
        }
    }
    assert_none("vanishing coefficients", &d);
}

/// A one-step discrete barrier's gamma by likelihood ratio at a spot of
/// 1e20 and 1e25: the weight's `/ (spot * spot)` overflowed f32 in WGSL
/// (the CPU and CUDA C take it in f64), so wgpu said gamma 0 where it is
/// -5.4e-21 (34 SE; -5.9e-26 at 1e25).
#[test]
fn a_likelihood_ratio_gamma_at_a_huge_spot_matches_the_cpu_engine() {
    use hostile::*;
    use riskpool_kernels::payoff::*;
    let mut trades = Vec::new();
    for spot in [1e20, 1e25] {
        trades.push(trade(
            &format!("up-out-{spot:e}"),
            gbm(spot, 0.03, 0.01, 0.25),
            barrier(spot, 1.2 * spot, Direction::Up, Monitoring::Discrete),
            0.5,
            1,
            3_000,
        ));
        if spot > 1e20 {
            // Mostly its rebate (cash): a gamma of 5e-49, beyond f32.
            continue;
        }
        trades.push(trade(
            &format!("down-in-{spot:e}"),
            sv(spot, 0.15, 0.3, 0.2),
            barrier(spot, 0.9 * spot, Direction::Down, Monitoring::Discrete),
            0.5,
            1,
            3_000,
        ));
    }
    let d = sweep(&trades, &[&Greek::ALL, &[Greek::Gamma]]);
    assert_none("likelihood-ratio gamma at a huge spot", &d);
}

/// The CPU engine's own hostile one-pass cases and more, every model x
/// payoff kind on 1 and 12 steps: vol 0 and 1e-30, correlations of
/// +-0.9 and +-0.95, a volvol of 3, a Heston v0 of 0, an sv_fx sigma of 0,
/// with every Greek, rho alone, gamma alone, delta and vega.
#[test]
fn one_pass_greeks_on_edge_models_match_the_cpu_engine() {
    use hostile::*;
    if engines().is_empty() {
        return;
    }
    let models = [
        ("gbm-vol0", gbm(100.0, 0.03, 0.01, 0.0)),
        ("gbm-vol1e-30", gbm(100.0, 0.03, 0.01, 1e-30)),
        ("gbm-vol3", gbm(100.0, 0.03, 0.01, 3.0)),
        ("heston-rho+0.9", heston(100.0, 0.04, 0.9, 0.6)),
        ("heston-rho-0.95", heston(100.0, 0.04, -0.95, 0.6)),
        ("heston-v0-0", heston(100.0, 0.0, -0.7, 0.6)),
        ("heston-xi5", heston(100.0, 0.04, -0.5, 5.0)),
        ("sv-rho-0.9", sv(100.0, 0.15, 0.3, -0.9)),
        ("sv-rho+0.95", sv(100.0, 0.15, 0.3, 0.95)),
        ("sv-volvol3", sv(100.0, 0.15, 3.0, 0.2)),
        ("sv-sigma0", sv(100.0, 0.0, 0.3, 0.2)),
    ];
    let mut trades = Vec::new();
    for (name, m) in &models {
        for (pi, p) in payoffs_at(100.0).into_iter().enumerate() {
            for steps in [1u32, 12] {
                trades.push(trade(
                    &format!("{name}-p{pi}-s{steps}"),
                    m.clone(),
                    p.clone(),
                    0.7,
                    steps,
                    257,
                ));
            }
        }
    }
    let d = sweep(
        &trades,
        &[
            &Greek::ALL,
            &[Greek::Rho],
            &[Greek::Gamma],
            &[Greek::Delta, Greek::Vega],
        ],
    );
    assert_none("edge models", &d);
}

/// Ties and knocks at a hair from the spot: a lookback struck at the spot
/// (its extreme starts there: ties on every path that never passes it)
/// and at 99, a digital struck at the spot, barriers a millionth from it,
/// a warrant struck at it; on 1, 7 and 2,000 steps; spots of 1e-6 and
/// 1e8; maturities of 1e-6 and 30 years; path counts that leave one
/// path, or one more or less than a block.
#[test]
fn one_pass_greeks_at_ties_and_odd_sizes_match_the_cpu_engine() {
    use hostile::*;
    use riskpool_kernels::payoff::*;
    use Direction::*;
    use Monitoring::*;
    if engines().is_empty() {
        return;
    }
    let m = gbm(100.0, 0.03, 0.01, 0.25);
    let payoffs = [
        (
            "lookback-call-at-spot",
            lookback(OptionType::Call, StrikeType::Fixed, 100.0),
        ),
        (
            "lookback-put-at-spot",
            lookback(OptionType::Put, StrikeType::Fixed, 100.0),
        ),
        (
            "lookback-call-99",
            lookback(OptionType::Call, StrikeType::Fixed, 99.0),
        ),
        ("digital-at-spot", digital(OptionType::Call, 100.0)),
        ("hair-up-out", barrier(100.0, 100.0001, Up, Continuous)),
        ("hair-down-in", barrier(100.0, 99.9999, Down, Continuous)),
        (
            "hair-up-out-discrete",
            barrier(90.0, 100.0001, Up, Discrete),
        ),
        ("warrant-at-spot", warrant(100.0)),
    ];
    let mut trades = Vec::new();
    for (name, p) in &payoffs {
        for steps in [1u32, 7, 2000] {
            let paths = if steps > 100 { 65 } else { 513 };
            trades.push(trade(
                &format!("{name}-s{steps}"),
                m.clone(),
                p.clone(),
                1.0,
                steps,
                paths,
            ));
            trades.push(trade(
                &format!("{name}-sv-s{steps}"),
                sv(100.0, 0.15, 0.3, 0.2),
                p.clone(),
                1.0,
                steps,
                paths,
            ));
        }
    }
    for spot in [1e-6, 1e8] {
        for (name, m) in [
            ("gbm", gbm(spot, 0.03, 0.01, 0.25)),
            ("heston", heston(spot, 0.04, -0.7, 0.6)),
            ("sv", sv(spot, 0.15, 0.3, 0.2)),
        ] {
            for (pi, p) in payoffs_at(spot).into_iter().enumerate() {
                trades.push(trade(
                    &format!("{name}-spot{spot:e}-p{pi}"),
                    m.clone(),
                    p,
                    0.5,
                    6,
                    300,
                ));
            }
        }
    }
    for mat in [1e-6, 30.0] {
        for (pi, p) in payoffs_at(100.0).into_iter().enumerate() {
            trades.push(trade(&format!("T{mat:e}-p{pi}"), m.clone(), p, mat, 4, 129));
        }
    }
    for paths in [1u64, 63, 65, 511, 513] {
        for (pi, p) in payoffs_at(100.0).into_iter().enumerate() {
            trades.push(trade(
                &format!("paths{paths}-p{pi}"),
                m.clone(),
                p,
                0.3,
                5,
                paths,
            ));
        }
    }
    let d = sweep(&trades, &[&Greek::ALL, &[Greek::Gamma]]);
    assert_none("ties and odd sizes", &d);
}

/// A book of one-pass trades, trades whose Greeks are all bumped (on the
/// pricing kernel), early exercise and several assets (bumped on the
/// side kernels), and azfinsim's warrants under its bumps, interleaved:
/// each result is the one its trade gets priced alone on the same engine
/// (a result lands on its own trade), and the one-asset ones match the
/// CPU engine; then 3,000 small trades (block tables past one dispatch).
#[test]
fn one_pass_results_land_on_their_own_trades_in_a_mixed_book() {
    use hostile::*;
    use riskpool_kernels::greeks::Bumps;
    let engines = engines();
    if engines.is_empty() {
        return;
    }
    let multi = every_multi_and_exercise(130);
    let mut book = Vec::new();
    for i in 0..24usize {
        let p = payoffs_at(100.0)[i % 13].clone();
        let m = match i % 3 {
            0 => gbm(100.0, 0.03, 0.01, 0.2 + 0.01 * i as f64),
            1 => heston(100.0, 0.04, -0.7, 0.6),
            _ => sv(100.0, 0.15, 0.3, 0.2),
        };
        book.push(trade(
            &format!("mix{i}"),
            m,
            p,
            0.4,
            1 + i as u32 % 9,
            100 + 2 * i as u64,
        ));
        let mut x = multi[i % multi.len()].clone();
        x.id = format!("mix{i}-ext");
        book.push(x);
        let mut az = riskpool_kernels::azfinsim::AzfinsimTrade::generate(7, i as u64).to_trade();
        az.paths = 300 + 2 * i as u64;
        az.steps = az.steps.min(40);
        book.push(az);
    }
    let mut d = Vec::new();
    for (e, precisions) in &engines {
        for &p in precisions {
            for anti in [false, true] {
                for (g, bumps) in [
                    (&Greek::ALL[..], Bumps::STANDARD),
                    (&[Greek::Rho][..], Bumps::STANDARD),
                    (&[Greek::Delta, Greek::Vega][..], Bumps::AZFINSIM),
                    (&[][..], Bumps::STANDARD),
                ] {
                    let r = PricingRequest {
                        bumps,
                        ..req(p, anti, g)
                    };
                    let whole = e.price(&book, &r).unwrap();
                    for (t, w) in book.iter().zip(&whole) {
                        let alone = e.price(std::slice::from_ref(t), &r).unwrap().remove(0);
                        if (w.pv, w.greeks, w.estimators, w.paths)
                            != (alone.pv, alone.greeks, alone.estimators, alone.paths)
                        {
                            d.push(format!(
                                "{} on {} ({p:?}, anti={anti}, {g:?}): in the book {w:?}, alone {alone:?}",
                                t.id,
                                e.name()
                            ));
                        }
                    }
                    let inline: Vec<Trade> = book
                        .iter()
                        .filter(|t| t.extension.is_none())
                        .cloned()
                        .collect();
                    d.extend(disagreements(e.as_ref(), &inline, &r, tol_of(e.name(), p)));
                }
            }
        }
    }
    assert_none("mixed book", &d);

    let mut many = many_small_calls(3000, 3, |i| 1 + (i * 37) % 200);
    for (i, t) in many.iter_mut().enumerate() {
        if i % 7 == 0 {
            t.payoff = hostile::digital(
                riskpool_kernels::payoff::OptionType::Call,
                80.0 + (i % 40) as f64,
            );
        }
    }
    let mut d = Vec::new();
    for (e, precisions) in &engines {
        for &p in precisions {
            d.extend(disagreements(
                e.as_ref(),
                &many,
                &req(p, false, &Greek::ALL),
                tol_of(e.name(), p),
            ));
        }
    }
    assert_none("3,000 small trades", &d);
}

/// Paths that are not finite (a vol of 1e39 or 1e308, Heston's variance
/// overflowing, sv_fx's vol exploding) on every payoff kind: every engine
/// says NaN where the CPU does, and finite where it does.
#[test]
fn one_pass_greeks_of_paths_that_are_not_finite_are_the_cpu_engine_s() {
    use hostile::*;
    if engines().is_empty() {
        return;
    }
    let mut trades = Vec::new();
    for (pi, p) in payoffs_at(100.0).into_iter().enumerate() {
        for vol in [1e39, 1e308] {
            trades.push(trade(
                &format!("vol{vol:e}-p{pi}"),
                gbm(100.0, 0.03, 0.0, vol),
                p.clone(),
                1.0,
                8,
                256,
            ));
        }
        trades.push(trade(
            &format!("heston-kappa1e300-p{pi}"),
            riskpool_kernels::model::ModelSpec::Heston(riskpool_kernels::model::Heston {
                spot: 100.0,
                rate: 0.03,
                dividend: 0.0,
                v0: 0.04,
                kappa: 1e300,
                theta: 0.04,
                xi: 0.5,
                rho: -0.7,
            }),
            p.clone(),
            1.0,
            8,
            256,
        ));
        trades.push(trade(
            &format!("sv-volvol1e30-p{pi}"),
            sv(100.0, 0.15, 1e30, 0.2),
            p,
            1.0,
            8,
            256,
        ));
    }
    let d = sweep(&trades, &[&Greek::ALL, &[Greek::Delta, Greek::Vega]]);
    assert_none("paths that are not finite", &d);
    // A trade whose PV is not finite has no finite one-pass Greek either
    // (a NaN path spoils its tangents: a Greek of 0 would look like one).
    let req = PricingRequest {
        greeks: GreekSet(Greek::ALL.to_vec()),
        greeks_method: GreeksMethod::Pathwise,
        ..Default::default()
    };
    let cpu = CpuEngine::new(None).unwrap().price(&trades, &req).unwrap();
    let mut seen = 0;
    for (t, r) in trades.iter().zip(&cpu) {
        if r.pv.value.is_finite() {
            continue;
        }
        for g in Greek::ALL {
            let e = r.greek(g).unwrap();
            assert!(
                !e.value.is_finite(),
                "{} {}: {} with a PV of {}",
                t.id,
                g.name(),
                e.value,
                r.pv.value
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no trade's paths were all non-finite");
}
