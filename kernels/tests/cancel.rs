//! The CPU engine's stop flag (`Engine::stop_flag`): set while one long
//! trade prices (a plain one, an American one through the early-exercise
//! pricer, a trade's scenarios in fans and passes), the call stops within
//! a work item and fails as cancelled, and every later call too. Each
//! trade would take tens of seconds to finish here: a stop that did not
//! reach the work shows as the time it took.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::*;
use riskpool_kernels::multi::Extension;
use riskpool_kernels::payoff::*;
use riskpool_kernels::scenario::{MarketMove, TradeScenarios};
use riskpool_kernels::{CpuEngine, Engine, EngineError, PricingRequest, Trade};

fn long_call(paths: u64) -> Trade {
    trade(
        "long",
        gbm(100.0, 0.03, 0.0, 0.2),
        PayoffSpec::Asian(Asian {
            option: OptionType::Call,
            strike: 100.0,
            average: Average::Arithmetic,
        }),
        1.0,
        200,
        paths,
    )
}

/// Runs `call` on a fresh engine, stops it after 300 ms: it must end
/// cancelled within `within` of the stop, and a later call at once.
fn stops(what: &str, call: impl Fn(&CpuEngine) -> Result<(), EngineError> + Sync) {
    let engine = CpuEngine::new(None).unwrap();
    let flag = engine.stop_flag().expect("the CPU engine has a stop flag");
    let (r, stopped_at) = std::thread::scope(|s| {
        let h = s.spawn(|| call(&engine));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !h.is_finished(),
            "{what}: finished before the stop: make it longer"
        );
        flag.store(true, Ordering::Relaxed);
        let at = Instant::now();
        (h.join().unwrap(), at)
    });
    let took = stopped_at.elapsed();
    assert!(
        matches!(r, Err(EngineError::Cancelled { engine: "cpu" })),
        "{what}: {r:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "{what}: {took:?} after the stop"
    );
    let t0 = Instant::now();
    assert!(matches!(call(&engine), Err(EngineError::Cancelled { .. })));
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{what}: a later call ran"
    );
}

#[test]
fn a_stopped_cpu_engine_stops_one_long_trade_within_a_work_item() {
    let req = PricingRequest::default();
    // 4e9 path-steps of an arithmetic Asian: many seconds on two cores.
    stops("plain", |e| {
        e.price(&[long_call(20_000_000)], &req).map(drop)
    });
    let american = Trade {
        extension: Some(Box::new(Extension {
            multi: None,
            exercise: riskpool_kernels::exercise::Exercise::American,
        })),
        ..long_call(20_000_000)
    };
    let american = Trade {
        payoff: PayoffSpec::European(European {
            option: OptionType::Put,
            strike: 100.0,
        }),
        steps: 50,
        ..american
    };
    stops("american", |e| e.price(&[american.clone()], &req).map(drop));
    // Scenarios: spot moves (a fan) and vol moves (passes).
    let moves = (0..40)
        .map(|k| {
            vec![MarketMove {
                spot: 0.001 * k as f64,
                vol: if k % 2 == 0 { 0.0 } else { 0.001 * k as f64 },
                rate: 0.0,
            }]
        })
        .collect();
    let sc = [TradeScenarios { moves }];
    stops("scenarios", |e| {
        e.revalue(&[long_call(2_000_000)], &sc, &req).map(drop)
    });
}

/// Not stopped, the flag changes nothing: the same bits as an engine
/// without it ever read.
#[test]
fn an_unstopped_engine_prices_as_ever() {
    let req = PricingRequest::default();
    let t = long_call(20_000);
    let a = CpuEngine::new(Some(2)).unwrap();
    let b = CpuEngine::new(Some(1)).unwrap();
    let _ = b.stop_flag();
    let (x, y) = (
        a.price(&[t.clone()], &req).unwrap(),
        b.price(&[t], &req).unwrap(),
    );
    assert_eq!(x[0].pv, y[0].pv);
}
