//! Scenario fans on the CPU engine (`engine::cpu::fan`): a trade's
//! scenarios that move only spots and rates folded on one base path.
//!
//! - every model x payoff, f32 and f64, antithetic pairs or not: the fan's
//!   base price and P&L are the scenario passes' bits (an arithmetic
//!   average's P&L within rounding: it takes `e^x e^shift` where a pass
//!   takes `e^(x + shift)`);
//! - more scenarios than one fan holds, and scenarios mixing vol moves with
//!   spot and rate moves: each scenario's bits are its own, whatever the
//!   trade's other scenarios; a bad move names its scenario.

use crate::common::*;
use riskpool_kernels::engine::cpu::fan::FAN;
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
    // An odd path count (a partial lane block); even for antithetic pairs.
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

#[test]
fn more_scenarios_than_a_fan_holds_and_vol_moves_among_them() {
    // FAN + 40 distinct spot and rate moves (two fans and a part), with
    // vol moves among them, on a trade of each model and an arithmetic
    // and a barrier payoff.
    let trades: Vec<Trade> = every_model_and_payoff(1300)
        .into_iter()
        .filter(|t| {
            arithmetic_average(t)
                || matches!(t.payoff, PayoffSpec::Barrier(_) | PayoffSpec::Lookback(_))
        })
        .map(|t| Trade {
            paths: 96,
            steps: 6,
            ..t
        })
        .collect();
    assert!(trades.len() >= 6, "{}", trades.len());
    let n = FAN + 40;
    let moves: Vec<Vec<MarketMove>> = (0..n)
        .map(|i| {
            let x = i as f64 / n as f64;
            let vol = if i % 97 == 5 { 0.01 } else { 0.0 };
            vec![mv(0.2 * (x - 0.5), vol, 0.01 * (0.5 - x))]
        })
        .collect();
    let sc = vec![
        TradeScenarios {
            moves: moves.clone()
        };
        trades.len()
    ];
    let cpu = CpuEngine::new(Some(2)).unwrap();
    let req = PricingRequest::default();
    let fan = cpu.revalue(&trades, &sc, &req).unwrap();
    let passes = cpu.revalue_in_passes(&trades, &sc, &req).unwrap();
    assert_fan_is_passes("two fans and a part", &trades, &fan, &passes, req.precision);
    // A scenario's bits do not depend on its company: alone, or a vol move
    // beside it, it prices as among them all.
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
    assert!(e.contains("2 assets"), "{e}");
}
