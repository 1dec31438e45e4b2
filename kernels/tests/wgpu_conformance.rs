//! The wgpu engine against the CPU engine: the same streams (known-answer
//! vectors computed on the device) and the same prices for every model x
//! payoff x Greek, far inside the Monte Carlo error. Runs on Mesa's
//! lavapipe in CI; skips with the reason where no Vulkan driver exists,
//! unless RISKPOOL_REQUIRE_WGPU=1 (set by scripts/test) makes that a failure.

use crate::common::*;
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::payoff::*;
use riskpool_kernels::{CpuEngine, Engine, Precision, PricingRequest};

fn engine() -> Option<WgpuEngine> {
    wgpu()
}

#[test]
fn philox_and_normals_on_the_device_match_the_cpu() {
    let Some(gpu) = engine() else { return };
    let inputs = kat_inputs(5000);
    let out = gpu.philox_on_device(&inputs).unwrap();
    assert_device_streams("wgpu", &inputs, &out);
}

#[test]
fn every_model_payoff_and_greek_matches_the_cpu_engine() {
    let Some(gpu) = engine() else { return };
    let trades = every_model_and_payoff(4_000);
    assert_engine_conforms(&gpu, &trades, &[Precision::F32], |_| Tolerance::F32);
}

/// Greeks whose spot bump starts through a continuous barrier (knocked
/// from the start, on every engine).
#[test]
fn bumps_through_a_continuous_barrier_match_the_cpu_engine() {
    let Some(gpu) = engine() else { return };
    let trades = near_barrier_trades(4_000);
    assert_engine_conforms(&gpu, &trades, &[Precision::F32], |_| Tolerance::F32);
}

#[test]
fn a_portfolio_larger_than_a_dispatch_and_a_binding_prices_correctly() {
    let Some(mut gpu) = engine() else { return };
    // 8 MiB bindings: 200,000 trades of 480 bytes need twelve of them, and
    // 600,000 workgroups need three dispatches.
    gpu.cap_binding_size(8 << 20);
    let trades = many_small_calls(200_000, 2, |i| 129 + i % 64);
    let req = PricingRequest::default();
    let a = CpuEngine::new(None).unwrap().price(&trades, &req).unwrap();
    let b = gpu.price(&trades, &req).unwrap();
    for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
        assert_conform(&t.id, t, &req, x, y, Tolerance::F32);
    }
}

#[test]
fn f64_is_refused_with_a_reason() {
    let Some(gpu) = engine() else { return };
    let t = trade(
        "f64",
        gbm(100.0, 0.0, 0.0, 0.2),
        PayoffSpec::European(European {
            option: OptionType::Call,
            strike: 100.0,
        }),
        1.0,
        1,
        100,
    );
    let e = gpu
        .price(
            &[t],
            &PricingRequest {
                precision: Precision::F64,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("f64"), "{e}");
}

/// Several correlated assets and early exercise: the WGSL (f32 path state,
/// coefficients rounded to f32) prices every model x payoff x exercise x
/// Greek as the CPU engine's f64 pricer, to the f32 contract (1e-4
/// relative or 0.1 SE), with the same policy (fitted once on the host).
#[test]
fn several_assets_and_early_exercise_match_the_cpu_engine() {
    let Some(gpu) = engine() else { return };
    let trades = every_multi_and_exercise(700);
    assert_extension_conforms(&gpu, &trades, Tolerance::F32);
}

/// A trade too big for one dispatch is split by path ranges: with 4 KiB
/// bindings (17 workgroups of partials) each 2,000-path trade below takes
/// two dispatches, and prices to the bit as in one, its blocks merged in
/// path order.
#[test]
fn several_asset_trades_split_over_dispatches_price_as_in_one() {
    let Some(whole) = engine() else { return };
    let Some(mut split) = engine() else { return };
    split.cap_binding_size(4096);
    // One trade a model, so each plan's records fit the 4 KiB binding.
    let trades: Vec<_> = every_multi_and_exercise(2_000)
        .into_iter()
        .filter(|t| t.id == "gbm-min-put-am" || t.id == "heston-basket-put-am")
        .collect();
    assert_eq!(trades.len(), 2);
    let req = PricingRequest {
        greeks: riskpool_kernels::GreekSet(riskpool_kernels::Greek::ALL.to_vec()),
        ..Default::default()
    };
    let a = whole.price(&trades, &req).unwrap();
    let b = split.price(&trades, &req).unwrap();
    for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
        assert_eq!(
            (x.pv, x.greeks, &x.per_asset),
            (y.pv, y.greeks, &y.per_asset),
            "{}",
            t.id
        );
        assert!(x.per_asset.len() >= 2, "{}", t.id);
    }
}

/// W5's shape (`heston_multi` on five assets, an American rainbow min put,
/// 252 exercise dates, delta, gamma and vega per asset and rho) at 512
/// paths: the WGSL carries the largest per-path state the benchmark asks
/// for and conforms to the CPU engine to the f32 contract. With
/// antithetic pairs (504 steps an invocation) lavapipe's cap of 65,535
/// loop iterations an invocation cuts the walk short: the engine refuses
/// the trade with that reason, never returns its sums.
#[test]
fn w5_shaped_trade_matches_the_cpu_engine_or_is_refused_where_cut_short() {
    let Some(gpu) = engine() else { return };
    let w5 = riskpool_kernels::workloads::workload("W5", 0.01).expect("W5 is a standard workload");
    let mut t = w5.trades[0].clone();
    t.paths = 512;
    let cpu = CpuEngine::new(None).unwrap();
    for antithetic in [false, true] {
        let req = PricingRequest {
            antithetic,
            precision: Precision::F32,
            ..w5.request.clone()
        };
        let a = cpu.price(std::slice::from_ref(&t), &req).unwrap();
        match gpu.price(std::slice::from_ref(&t), &req) {
            Ok(b) => {
                for (name, x, y) in [("pv", a[0].pv, b[0].pv)].into_iter().chain(
                    a[0].per_asset
                        .iter()
                        .zip(&b[0].per_asset)
                        .map(|(p, q)| ("delta", p.delta.unwrap(), q.delta.unwrap())),
                ) {
                    assert!(
                        (x.value - y.value).abs() <= (1e-4 * x.value.abs()).max(0.1 * x.stderr),
                        "W5 {name} anti={antithetic}: cpu {x:?}, wgpu {y:?}"
                    );
                }
            }
            Err(e) => {
                assert!(gpu.is_software() && antithetic, "{e}");
                assert!(e.to_string().contains("cut its paths short"), "{e}");
                eprintln!("W5 with antithetic pairs on {}: {e}", gpu.device());
            }
        }
    }
}
