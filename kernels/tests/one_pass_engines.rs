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
