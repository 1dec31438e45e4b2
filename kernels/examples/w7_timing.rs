//! W7 at a reduced size on the CPU engine: the fused revaluation (a fan
//! for the scenarios that move only spots and rates, passes for those that
//! move a vol) against one run per scenario (`naive_revalue`), alternated
//! in the same run. Usage:
//! `cargo run -p riskpool-kernels --profile test --example w7_timing -- [SCALE] [ROUNDS] [novol]`
//! (`novol`: the same scenarios without their vol moves, W7S: every
//! scenario in the trade's fan on one base path).

use std::time::Instant;

use riskpool_kernels::engine::naive_revalue;
use riskpool_kernels::workloads::risk_workload;
use riskpool_kernels::{CpuEngine, Engine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scale: f64 = args.next().map_or(Ok(0.02), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let mut w = risk_workload("W7", scale).ok_or("no W7")?;
    if args.next().as_deref() == Some("novol") {
        w.moves.iter_mut().flatten().for_each(|m| m.vol = 0.0);
    }
    let sc = w.trade_scenarios();
    let engine = CpuEngine::new(None)?;
    println!(
        "W7 x {scale}: {} trades x {} scenarios on {}",
        w.trades.len(),
        w.moves.len(),
        engine.device()
    );
    for round in 0..rounds {
        let t0 = Instant::now();
        let fused = engine.revalue(&w.trades, &sc, &w.request)?;
        let f = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let naive = naive_revalue(&engine, &w.trades, &sc, &w.request)?;
        let n = t0.elapsed().as_secs_f64();
        let ratio = |pick: fn(&riskpool_kernels::scenario::ScenarioResult) -> Vec<f64>| {
            let (a, b): (Vec<f64>, Vec<f64>) = (
                fused.iter().flat_map(pick).collect(),
                naive.iter().flat_map(pick).collect(),
            );
            let mut r: Vec<f64> = a
                .iter()
                .zip(&b)
                .filter(|(x, _)| **x > 0.0)
                .map(|(x, y)| y / x)
                .collect();
            r.sort_by(f64::total_cmp);
            r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let se = ratio(|r| r.pnl.iter().map(|p| p.stderr).collect());
        let revals = w.revaluations() as f64;
        println!(
            "round {round}: fused {f:.2} s ({:.0} revaluations/s), naive {n:.2} s ({:.0}/s): {:.2}x; median naive/fused P&L stderr {se:.1}",
            revals / f,
            revals / n,
            n / f
        );
    }
    Ok(())
}
