//! A path that overflows or goes NaN is never paid (issue 22 item 6): a
//! vol so large that the path state is not finite (1e39 is infinite in
//! f32; 1e308 squared is infinite in f64) prices to NaN on every engine,
//! which the runner refuses naming the trade, where a payoff's `max` or a
//! clamped `exp` used to pay it 0 or a finite garbage. Its neighbours in
//! the batch keep their prices.

use crate::common::*;
use riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu;
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::multi::Extension;
use riskpool_kernels::payoff::*;
use riskpool_kernels::{CpuEngine, Engine, Precision, PricingRequest, Trade};

fn put(id: &str, vol: f64, american: bool) -> Trade {
    let mut t = trade(
        id,
        gbm(100.0, 0.03, 0.0, vol),
        PayoffSpec::European(European {
            option: OptionType::Put,
            strike: 100.0,
        }),
        1.0,
        8,
        256,
    );
    if american {
        t.extension = Some(Box::new(Extension {
            multi: None,
            exercise: Exercise::American,
        }));
    }
    t
}

/// `engine` prices the huge-vol trades to NaN and the others finite.
fn assert_not_paid(name: &str, engine: &dyn Engine, precision: Precision, huge: f64) {
    let req = PricingRequest {
        precision,
        ..Default::default()
    };
    let book = vec![
        put("ok", 0.2, false),
        put("huge", huge, false),
        put("ok-am", 0.2, true),
        // The early-exercise pricer's path state is f64 whatever the
        // precision: 1e39 is finite there (and prices to its limit).
        put("huge-am", 1e308, true),
    ];
    let got = engine.price(&book, &req).unwrap();
    for (t, r) in book.iter().zip(&got) {
        let finite = r.pv.value.is_finite();
        assert_eq!(
            finite,
            t.id.starts_with("ok"),
            "{name} {precision:?} `{}`: {:?}",
            t.id,
            r.pv
        );
    }
}

#[test]
fn a_path_that_is_not_finite_is_never_paid_on_any_engine() {
    let cpu = CpuEngine::new(None).unwrap();
    assert_not_paid("cpu", &cpu, Precision::F32, 1e39);
    assert_not_paid("cpu", &cpu, Precision::F64, 1e308);
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => {
            assert_not_paid("cuda-on-cpu", &k, Precision::F32, 1e39);
            assert_not_paid("cuda-on-cpu", &k, Precision::F64, 1e308);
        }
        Err(e) => eprintln!("skipping cuda-on-cpu: {e}"),
    }
    match WgpuEngine::new(true) {
        Ok(gpu) => assert_not_paid("wgpu", &gpu, Precision::F32, 1e39),
        Err(e) => eprintln!("skipping wgpu: {e}"),
    }
}

/// A scenario whose moved paths are not finite: its P&L is NaN on every
/// engine, the base and the other scenarios' P&L stay finite.
#[test]
fn a_scenario_whose_paths_are_not_finite_is_nan_on_every_engine() {
    use riskpool_kernels::scenario::{MarketMove, TradeScenarios};
    let book = vec![put("ok", 0.2, false), put("ok-am", 0.2, true)];
    let moves = |vol: f64| {
        vec![MarketMove {
            vol,
            ..Default::default()
        }]
    };
    let sc = vec![
        TradeScenarios {
            moves: vec![moves(0.05), moves(1e308)],
        };
        2
    ];
    let check = |name: &str, engine: &dyn Engine, precision: Precision| {
        let req = PricingRequest {
            precision,
            ..Default::default()
        };
        for (t, r) in book.iter().zip(engine.revalue(&book, &sc, &req).unwrap()) {
            let what = format!("{name} {precision:?} `{}`", t.id);
            assert!(r.base.value.is_finite(), "{what}: {r:?}");
            assert!(r.pnl[0].value.is_finite(), "{what}: {r:?}");
            assert!(r.pnl[1].value.is_nan(), "{what}: {r:?}");
        }
    };
    let cpu = CpuEngine::new(None).unwrap();
    check("cpu", &cpu, Precision::F32);
    check("cpu", &cpu, Precision::F64);
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => check("cuda-on-cpu", &k, Precision::F64),
        Err(e) => eprintln!("skipping cuda-on-cpu: {e}"),
    }
    match WgpuEngine::new(true) {
        Ok(gpu) => check("wgpu", &gpu, Precision::F32),
        Err(e) => eprintln!("skipping wgpu: {e}"),
    }
}

/// A Heston variance that overflows (kappa 1e300: the Euler step's mean
/// reversion) is laundered to 0 by the step's max, so the log-spot stays
/// finite: the variance is checked too, and the trade is NaN on every
/// engine, never the confident 97.04 it priced to.
#[test]
fn a_variance_that_is_not_finite_is_never_paid() {
    use riskpool_kernels::model::{Heston, ModelSpec};
    let heston = |id: &str, kappa: f64| {
        trade(
            id,
            ModelSpec::Heston(Heston {
                spot: 100.0,
                rate: 0.03,
                dividend: 0.0,
                v0: 0.04,
                kappa,
                theta: 0.04,
                xi: 0.5,
                rho: -0.7,
            }),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 100.0,
            }),
            1.0,
            8,
            256,
        )
    };
    let american = |mut t: Trade| {
        t.extension = Some(Box::new(Extension {
            multi: None,
            exercise: Exercise::American,
        }));
        t
    };
    // Plainly, and through the early-exercise pricers.
    let book = vec![
        heston("ok", 1.5),
        heston("wild", 1e300),
        american(heston("ok-am", 1.5)),
        american(heston("wild-am", 1e300)),
    ];
    let check = |name: &str, engine: &dyn Engine, precision: Precision| {
        let req = PricingRequest {
            precision,
            ..Default::default()
        };
        let got = engine.price(&book, &req).unwrap();
        for (t, r) in book.iter().zip(&got) {
            let finite = r.pv.value.is_finite();
            assert_eq!(
                finite,
                t.id.starts_with("ok"),
                "{name} {precision:?} {}: {r:?}",
                t.id
            );
        }
    };
    let cpu = CpuEngine::new(None).unwrap();
    check("cpu", &cpu, Precision::F32);
    check("cpu", &cpu, Precision::F64);
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => {
            check("cuda-on-cpu", &k, Precision::F32);
            check("cuda-on-cpu", &k, Precision::F64);
        }
        Err(e) => eprintln!("skipping cuda-on-cpu: {e}"),
    }
    match WgpuEngine::new(true) {
        Ok(gpu) => check("wgpu", &gpu, Precision::F32),
        Err(e) => eprintln!("skipping wgpu: {e}"),
    }
}

/// A basket that is not finite (weights of 1e308 and -1e308 make
/// inf - inf) is NaN, not a put paid 0 by its max, on the f64 engines.
#[test]
fn a_basket_that_is_not_finite_is_never_paid() {
    use riskpool_kernels::correlation::Correlation;
    use riskpool_kernels::multi::{GbmAsset, MultiAsset, MultiModel, MultiPayoff};
    let basket = |id: &str, weights: Vec<f64>| {
        let mut t = put(id, 0.2, true);
        t.extension = Some(Box::new(Extension {
            multi: Some(MultiAsset {
                model: MultiModel::GbmMulti {
                    rate: 0.03,
                    assets: vec![
                        GbmAsset {
                            spot: 100.0,
                            vol: 0.2,
                            dividend: 0.0,
                        },
                        GbmAsset {
                            spot: 90.0,
                            vol: 0.3,
                            dividend: 0.0,
                        },
                    ],
                    correlation: Correlation::new(&[vec![1.0, 0.5], vec![0.5, 1.0]], 2).unwrap(),
                },
                payoff: MultiPayoff::Basket {
                    option: OptionType::Put,
                    strike: 95.0,
                    weights,
                },
            }),
            exercise: Exercise::European,
        }));
        t
    };
    let book = vec![
        basket("ok", vec![0.5, 0.5]),
        basket("wild", vec![1e308, -1e308]),
    ];
    let req = PricingRequest {
        precision: Precision::F64,
        ..Default::default()
    };
    let check = |name: &str, engine: &dyn Engine| {
        let got = engine.price(&book, &req).unwrap();
        assert!(got[0].pv.value.is_finite(), "{name}: {:?}", got[0]);
        assert!(got[1].pv.value.is_nan(), "{name}: {:?}", got[1]);
    };
    check("cpu", &CpuEngine::new(None).unwrap());
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => check("cuda-on-cpu", &k),
        Err(e) => eprintln!("skipping cuda-on-cpu: {e}"),
    }
}
