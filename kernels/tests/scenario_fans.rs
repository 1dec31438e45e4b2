//! Scenario fans on the CPU engine (`engine::cpu::fan`): a trade's
//! scenarios that move only spots and rates folded on one base path.
//!
//! - every model x payoff, f32 and f64, antithetic pairs or not: the fan's
//!   base price and P&L are the scenario passes' bits (an arithmetic
//!   average's P&L within rounding: it takes `e^x e^shift` where a pass
//!   takes `e^(x + shift)`);
//! - more scenarios than one fan holds (at and around the fans' edges),
//!   more paths than a work item and more steps than a segment, every SIMD
//!   level and thread count, and scenarios mixing vol moves with spot and
//!   rate moves: each scenario's bits are its own, whatever the trade's
//!   other scenarios; the first bad move names its scenario.

use crate::common::*;
use riskpool_kernels::engine::cpu::fan::FAN;
use riskpool_kernels::engine::cpu::Simd;
use riskpool_kernels::payoff::{Asian, Average, PayoffSpec};
use riskpool_kernels::scenario::{MarketMove, ScenarioResult, TradeScenarios};
use riskpool_kernels::{CpuEngine, Engine, Precision, PricingRequest, Trade};

fn mv(spot: f64, vol: f64, rate: f64) -> MarketMove {
    MarketMove { spot, vol, rate }
}

/// Spot and rate moves, a repeat and an unmoved scenario among them.
fn spot_and_rate_moves() -> Vec<Vec<MarketMove>> {
    let mut m: Vec<Vec<MarketMove>> = vec![
        vec![mv(-0.02, 0.0, 0.0)],
        vec![mv(0.015, 0.0, 0.0)],
        vec![mv(0.0, 0.0, 0.005)],
        vec![mv(0.0, 0.0, -0.003)],
        vec![mv(-0.01, 0.0, 0.002)],
        vec![mv(0.01, 0.0, -0.002)],
        vec![MarketMove::default()],
        vec![mv(0.35, 0.0, 0.04)],
    ];
    m.push(m[1].clone());
    m
}

fn arithmetic_average(t: &Trade) -> bool {
    matches!(
        t.payoff,
        PayoffSpec::Asian(Asian {
            average: Average::Arithmetic,
            ..
        })
    )
}

/// `fan` against `passes`: the base bit for bit, and every P&L bit for bit
/// (value and standard error) but an arithmetic average's, which may
/// differ by the rounding of `e^x e^shift` against `e^(x + shift)`.
fn assert_fan_is_passes(
    what: &str,
    trades: &[Trade],
    fan: &[ScenarioResult],
    passes: &[ScenarioResult],
    precision: Precision,
) {
    assert_eq!(fan.len(), passes.len(), "{what}");
    let mut rounded = 0;
    for ((t, f), p) in trades.iter().zip(fan).zip(passes) {
        assert_eq!(f.base, p.base, "{what} {}: base", t.id);
        assert_eq!(f.pnl.len(), p.pnl.len(), "{what} {}", t.id);
        for (s, (a, b)) in f.pnl.iter().zip(&p.pnl).enumerate() {
            let bits =
                |e: &riskpool_kernels::stats::Estimate| (e.value.to_bits(), e.stderr.to_bits());
            if !arithmetic_average(t) {
                assert_eq!(
                    bits(a),
                    bits(b),
                    "{what} {} scenario {s}: fan {a:?}, passes {b:?}",
                    t.id
                );
                continue;
            }
            // Each path's average moves by a few ulps of the spot.
            let ulp = match precision {
                Precision::F32 => f32::EPSILON as f64,
                Precision::F64 => f64::EPSILON,
            };
            let allowed = 16.0 * ulp * f.base.value.abs().max(t.model.spot());
            assert!(
                (a.value - b.value).abs() <= allowed,
                "{what} {} scenario {s}: fan {a:?}, passes {b:?} (allowed {allowed:e})",
                t.id
            );
            assert!(
                (a.stderr - b.stderr).abs() <= 1e-3 * b.stderr + allowed,
                "{what} {} scenario {s} stderr: fan {a:?}, passes {b:?}",
                t.id
            );
            rounded += usize::from(bits(a) != bits(b));
        }
    }
    eprintln!("{what}: {rounded} arithmetic-average P&Ls differ from the passes' by rounding");
}

#[test]
fn a_fan_gives_the_passes_bits_on_every_model_and_payoff() {
    // 250 paths: a partial lane block at every SIMD width (even, for
    // antithetic pairs).
    let trades: Vec<Trade> = every_model_and_payoff(900)
        .into_iter()
        .map(|t| Trade { paths: 250, ..t })
        .collect();
    let sc = vec![
        TradeScenarios {
            moves: spot_and_rate_moves()
        };
        trades.len()
    ];
    let cpu = CpuEngine::new(Some(2)).unwrap();
    for precision in [Precision::F32, Precision::F64] {
        for antithetic in [false, true] {
            let req = PricingRequest {
                precision,
                antithetic,
                ..PricingRequest::default()
            };
            let fan = cpu.revalue(&trades, &sc, &req).unwrap();
            let passes = cpu.revalue_in_passes(&trades, &sc, &req).unwrap();
            let what = format!("{precision:?} antithetic {antithetic}");
            assert_fan_is_passes(&what, &trades, &fan, &passes, precision);
            // The unmoved scenario is exactly 0, the repeat its twin.
            for r in &fan {
                assert_eq!((r.pnl[6].value, r.pnl[6].stderr), (0.0, 0.0));
                assert_eq!(r.pnl[8], r.pnl[1]);
            }
        }
    }
}

/// `n` distinct spot and rate moves, every 97th (from the 6th) moving the
/// vol too, and a repeat of the first.
fn many_moves(n: usize) -> Vec<Vec<MarketMove>> {
    let mut moves: Vec<Vec<MarketMove>> = (0..n)
        .map(|i| {
            let x = i as f64 / n as f64;
            let vol = if i % 97 == 5 { 0.01 } else { 0.0 };
            vec![mv(0.2 * (x - 0.5), vol, 0.01 * (0.5 - x))]
        })
        .collect();
    moves.push(moves[0].clone());
    moves
}

/// A trade of each model with an arithmetic average, a barrier and a
/// lookback (the payoffs that fold every step).
fn folding_trades(base: u64, paths: u64, steps: u32) -> Vec<Trade> {
    every_model_and_payoff(base)
        .into_iter()
        .filter(|t| {
            arithmetic_average(t)
                || matches!(t.payoff, PayoffSpec::Barrier(_) | PayoffSpec::Lookback(_))
        })
        .map(|t| Trade { paths, steps, ..t })
        .collect()
}

#[test]
fn more_scenarios_than_a_fan_holds_and_vol_moves_among_them() {
    // One fan holds FAN - 1 moves: at, just past, two full and two and one
    // (the repeat of the first crosses the fans' edges).
    let trades = folding_trades(1300, 96, 6);
    assert!(trades.len() >= 6, "{}", trades.len());
    let cpu = CpuEngine::new(Some(2)).unwrap();
    for (n, precision, antithetic) in [
        (FAN - 1, Precision::F64, true),
        (FAN, Precision::F32, false),
        (2 * (FAN - 1), Precision::F32, true),
        (2 * (FAN - 1) + 1, Precision::F64, false),
        (FAN + 40, Precision::F32, false),
    ] {
        let moves = many_moves(n);
        let sc = vec![
            TradeScenarios {
                moves: moves.clone()
            };
            trades.len()
        ];
        let req = PricingRequest {
            precision,
            antithetic,
            ..PricingRequest::default()
        };
        let fan = cpu.revalue(&trades, &sc, &req).unwrap();
        let passes = cpu.revalue_in_passes(&trades, &sc, &req).unwrap();
        let what = format!("{n} moves, {precision:?}, antithetic {antithetic}");
        assert_fan_is_passes(&what, &trades, &fan, &passes, precision);
        for r in &fan {
            assert_eq!(r.pnl[n], r.pnl[0], "{what}: the repeat");
        }
    }
    // A scenario's bits do not depend on its company: alone, or a vol move
    // beside it, it prices as among them all.
    let n = FAN + 40;
    let moves = many_moves(n);
    let sc = vec![
        TradeScenarios {
            moves: moves.clone()
        };
        trades.len()
    ];
    let req = PricingRequest::default();
    let fan = cpu.revalue(&trades, &sc, &req).unwrap();
    for s in [0, 5, FAN - 2, FAN - 1, FAN, n - 1] {
        let alone = vec![
            TradeScenarios {
                moves: vec![moves[s].clone()]
            };
            trades.len()
        ];
        let mixed = vec![
            TradeScenarios {
                moves: vec![moves[s].clone(), vec![mv(0.01, 0.02, 0.0)]],
            };
            trades.len()
        ];
        let a = cpu.revalue(&trades, &alone, &req).unwrap();
        let m = cpu.revalue(&trades, &mixed, &req).unwrap();
        for ((t, all), (a, m)) in trades.iter().zip(&fan).zip(a.iter().zip(&m)) {
            assert_eq!(all.pnl[s], a.pnl[0], "{} scenario {s} alone", t.id);
            assert_eq!(
                all.pnl[s], m.pnl[0],
                "{} scenario {s} beside a vol move",
                t.id
            );
            assert_eq!(all.base, a.base, "{}", t.id);
            assert_eq!(all.base, m.base, "{}", t.id);
        }
    }
}

fn without_seconds(v: Vec<ScenarioResult>) -> Vec<ScenarioResult> {
    v.into_iter()
        .map(|r| ScenarioResult { seconds: 0.0, ..r })
        .collect()
}

#[test]
fn long_paths_many_steps_every_simd_level_and_thread_count() {
    // Two work items and a part (CHUNK = 4096 paths), three segments of
    // normals and a part (64 steps a segment), heston's two normals a step.
    let trades: Vec<Trade> = folding_trades(2100, 2 * 4096 + 250, 130)
        .into_iter()
        .step_by(2)
        .collect();
    let sc = vec![
        TradeScenarios {
            moves: spot_and_rate_moves()
        };
        trades.len()
    ];
    for antithetic in [false, true] {
        let req = PricingRequest {
            antithetic,
            ..PricingRequest::default()
        };
        let two = CpuEngine::new(Some(2)).unwrap();
        let fan = without_seconds(two.revalue(&trades, &sc, &req).unwrap());
        let passes = without_seconds(two.revalue_in_passes(&trades, &sc, &req).unwrap());
        let what = format!("long paths, antithetic {antithetic}");
        assert_fan_is_passes(&what, &trades, &fan, &passes, req.precision);
        // The same bits on one thread and at every SIMD level this CPU has.
        let one = CpuEngine::new(Some(1)).unwrap();
        assert_eq!(
            without_seconds(one.revalue(&trades, &sc, &req).unwrap()),
            fan,
            "{what}: one thread"
        );
        for simd in [Simd::Portable, Simd::Avx2, Simd::Avx512] {
            if !simd.supported() {
                continue;
            }
            let e = CpuEngine::with_simd(Some(2), simd).unwrap();
            assert_eq!(
                without_seconds(e.revalue(&trades, &sc, &req).unwrap()),
                fan,
                "{what}: {}",
                simd.name()
            );
        }
    }
}

#[test]
fn a_bad_move_among_fanned_ones_names_its_scenario() {
    let trades: Vec<Trade> = every_model_and_payoff(1700).into_iter().take(2).collect();
    let moves = vec![
        vec![mv(0.01, 0.0, 0.0)],
        vec![mv(0.0, 0.02, 0.0)],
        vec![mv(-1.5, 0.0, 0.0)],
    ];
    let sc = vec![TradeScenarios { moves }; trades.len()];
    let cpu = CpuEngine::new(Some(2)).unwrap();
    let e = cpu
        .revalue(&trades, &sc, &PricingRequest::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("scenario 3"), "{e}");
    assert!(e.contains(&trades[0].id), "{e}");
    // The first bad scenario is named, a vol move's (priced in passes)
    // before a later spot move's (in the fan), as the passes alone name it.
    let moves = vec![
        vec![mv(0.01, -1.0, 0.0)],
        vec![mv(0.01, 0.0, 0.0)],
        vec![mv(-1.5, 0.0, 0.0)],
    ];
    let sc = vec![TradeScenarios { moves }; trades.len()];
    let req = PricingRequest::default();
    let e = cpu.revalue(&trades, &sc, &req).unwrap_err().to_string();
    let p = cpu
        .revalue_in_passes(&trades, &sc, &req)
        .unwrap_err()
        .to_string();
    assert!(e.contains("scenario 1"), "{e}");
    assert_eq!(e, p);
    // Moves for two assets on a one-asset trade are refused, fanned or not.
    let sc = vec![
        TradeScenarios {
            moves: vec![vec![mv(0.01, 0.0, 0.0), mv(0.02, 0.0, 0.0)]],
        };
        trades.len()
    ];
    let e = cpu
        .revalue(&trades, &sc, &PricingRequest::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 assets") && e.contains("scenario 1"), "{e}");
}
