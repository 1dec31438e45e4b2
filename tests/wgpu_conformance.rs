//! The wgpu engine against the CPU engine: the same streams (known-answer
//! vectors computed on the device) and the same prices for every model x
//! payoff x Greek, far inside the Monte Carlo error. Runs on Mesa's
//! lavapipe in CI; skips with the reason where no Vulkan driver exists,
//! unless RISKPOOL_REQUIRE_WGPU=1 (set by scripts/test) makes that a failure.

mod common;

use common::*;
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::payoff::*;
use riskpool_kernels::rng::{counter, key_of, normals_f32, philox4x32_10};
use riskpool_kernels::{CpuEngine, Engine, Greek, GreekSet, Precision, PricingRequest, Trade};

fn engine() -> Option<WgpuEngine> {
    match WgpuEngine::new(true) {
        Ok(e) => Some(e),
        Err(e) if std::env::var("RISKPOOL_REQUIRE_WGPU").as_deref() == Ok("1") => {
            panic!("RISKPOOL_REQUIRE_WGPU=1 but the wgpu engine cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

#[test]
fn philox_and_normals_on_the_device_match_the_cpu() {
    let Some(gpu) = engine() else { return };
    let mut inputs = vec![
        ([0, 0, 0, 0], [0, 0]),
        ([u32::MAX; 4], [u32::MAX; 2]),
        (
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0],
        ),
    ];
    for p in 0..5000u32 {
        inputs.push((counter(0x1234_5678_9abc, p, p % 97), key_of(42)));
    }
    let out = gpu.philox_on_device(&inputs).unwrap();
    assert_eq!(
        out[0].0,
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        out[1].0,
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
    );
    assert_eq!(
        out[2].0,
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
    let mut worst = 0.0f64;
    for ((ctr, key), (words, normals)) in inputs.iter().zip(&out) {
        assert_eq!(*words, philox4x32_10(*ctr, *key), "words for {ctr:?}");
        let cpu = <f32 as riskpool_kernels::real::Real>::normals_from_words(*words);
        for i in 0..4 {
            if (normals[i] - cpu[i]).abs() > 1e-3 && worst < 1e-3 {
                eprintln!("words {words:?}: gpu {normals:?} cpu {cpu:?}");
            }
            worst = worst.max((normals[i] - cpu[i]).abs() as f64 / (1.0 + cpu[i].abs() as f64));
        }
    }
    eprintln!("worst normal difference GPU vs CPU: {worst:e}");
    // Same polynomials; only a driver's fused multiply-adds can differ.
    assert!(worst < 2e-6, "normals differ by {worst}");
    assert_eq!(normals_f32(42, 0x1234_5678_9abc, 7, 7 % 97).len(), 4);
}

/// f32 engines: within 1e-4 relative or 0.1 SE, whichever is larger.
const F32: Tolerance = Tolerance {
    rel: 1e-4,
    se: 0.1,
    ulp: 1e-6,
};

#[test]
fn every_model_payoff_and_greek_matches_the_cpu_engine() {
    let Some(gpu) = engine() else { return };
    let cpu = CpuEngine::new(None).unwrap();
    let trades = every_model_and_payoff(4_000);
    for (label, req) in [
        ("pv", PricingRequest::default()),
        (
            "greeks",
            PricingRequest {
                greeks: GreekSet(Greek::ALL.to_vec()),
                ..Default::default()
            },
        ),
        (
            "antithetic",
            PricingRequest {
                antithetic: true,
                seed: 7,
                ..Default::default()
            },
        ),
    ] {
        let trades = if req.antithetic {
            with_even_paths(&trades)
        } else {
            trades.clone()
        };
        let a = cpu.price(&trades, &req).unwrap();
        let b = gpu.price(&trades, &req).unwrap();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            assert_conform(&format!("{label} {}", t.id), t, &req, x, y, F32);
        }
    }
}

#[test]
fn a_portfolio_larger_than_a_dispatch_and_a_binding_prices_correctly() {
    let Some(mut gpu) = engine() else { return };
    // 8 MiB bindings: 200,000 trades of 480 bytes need twelve of them, and
    // 600,000 workgroups need three dispatches.
    gpu.cap_binding_size(8 << 20);
    let m = gbm(100.0, 0.02, 0.0, 0.3);
    let trades: Vec<Trade> = (0..200_000u64)
        .map(|i| Trade {
            id: format!("t{i}"),
            stream: i,
            model: m.clone(),
            payoff: PayoffSpec::European(European {
                option: OptionType::Call,
                strike: 80.0 + (i % 40) as f64,
            }),
            maturity: 1.0,
            steps: 2,
            paths: 129 + i % 64,
        })
        .collect();
    let req = PricingRequest::default();
    let a = CpuEngine::new(None).unwrap().price(&trades, &req).unwrap();
    let b = gpu.price(&trades, &req).unwrap();
    for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
        assert_conform(&t.id, t, &req, x, y, F32);
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
