//! `riskpool bench`: the standard workloads W1-W6 on the chosen engine,
//! reported in path-steps per second (best of `--repeat` runs), and W7,
//! scenario revaluation, in trade x scenario revaluations per second: the
//! engine's one pass per trade (`Engine::revalue`) and the naive way (one
//! full pricing run per scenario, `naive_revalue`), alternated.

use std::time::Instant;

use anyhow::{bail, Result};
use riskpool_kernels::engine::naive_revalue;
use riskpool_kernels::workloads::{risk_workload, workload};
use riskpool_kernels::Engine;

use crate::cli::BenchArgs;
use crate::engines;
use crate::error::UsageError;

pub fn run(args: &BenchArgs) -> Result<()> {
    if !(args.scale > 0.0) {
        bail!(UsageError("--scale must be greater than 0".into()));
    }
    let engine = engines::select(&args.engine)?;
    let device = engine.device();
    let threads = args
        .engine
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if !args.json {
        println!("engine {} on {device}", engine.name());
        println!(
            "{:<4} {:>10} {:>14} {:>18}  {}",
            "", "seconds", "path-steps/s", "per thread", "workload"
        );
    }
    for name in &args.workloads {
        if let Some(w) = risk_workload(name.trim(), args.scale) {
            scenarios(&*engine, &w, args, &device, threads)?;
            continue;
        }
        let Some(mut w) = workload(name.trim(), args.scale) else {
            bail!(UsageError(format!(
                "unknown workload `{name}`: expected W1, W2, W3, W4, W5, W5L, W6, W7 or W7S"
            )));
        };
        // As `price`: one pass, save for azfinsim's deltavega (azfinsim's bumps).
        w.request.greeks_method = match args.greeks_method {
            Some(m) => m.method(),
            None if w.request.bumps == riskpool_kernels::greeks::Bumps::AZFINSIM => {
                riskpool_kernels::greeks::GreeksMethod::Bump
            }
            None => riskpool_kernels::greeks::GreeksMethod::Pathwise,
        };
        let mut best = f64::INFINITY;
        let mut last = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let t0 = Instant::now();
            let r = engine.price(&w.trades, &w.request)?;
            best = best.min(t0.elapsed().as_secs_f64());
            last = std::hint::black_box(r);
        }
        let rate = w.path_steps() / best;
        let (trades, paths) = size(&w.trades);
        if args.json {
            println!(
                "{}",
                serde_json::json!({"workload": w.name, "engine": engine.name(), "device": device, "threads": threads,
                    "scale": args.scale, "trades": trades, "paths": paths, "seconds": best, "path_steps": w.path_steps(), "path_steps_per_s": rate,
                    "path_steps_per_s_per_thread": rate / threads as f64,
                    "greeks_method": w.request.greeks_method.name(), "mean_stderr": mean_stderr(&last)})
            );
        } else {
            println!(
                "{:<4} {:>10.3} {:>14.3e} {:>18.3e}  {}",
                w.name,
                best,
                rate,
                rate / threads as f64,
                described(w.description, args.scale, trades, paths)
            );
        }
    }
    Ok(())
}

/// Trades in a workload and the most paths of any.
/// Each output's standard error averaged over the trades (the PV's, and
/// each Greek's that was asked for), to set beside the seconds.
fn mean_stderr(results: &[riskpool_kernels::TradeResult]) -> serde_json::Value {
    let mean = |f: &dyn Fn(&riskpool_kernels::TradeResult) -> Option<f64>| {
        let v: Vec<f64> = results.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mut out = serde_json::Map::new();
    out.insert("pv".into(), mean(&|r| Some(r.pv.stderr)).into());
    for g in riskpool_kernels::Greek::ALL {
        if let Some(m) = mean(&|r| r.greek(g).map(|e| e.stderr)) {
            out.insert(g.name().into(), m.into());
        }
    }
    out.into()
}

fn size(trades: &[riskpool_kernels::Trade]) -> (usize, u64) {
    (
        trades.len(),
        trades.iter().map(|t| t.paths).max().unwrap_or(0),
    )
}

/// A workload's description, with the size it was run at when `--scale`
/// made it another than the description's.
fn described(description: &str, scale: f64, trades: usize, paths: u64) -> String {
    if scale == 1.0 {
        description.to_string()
    } else {
        format!("{description} [at --scale {scale}: {trades} trades x {paths} paths]")
    }
}

/// W7: the fused revaluation and the naive one, alternated `--repeat`
/// times; the best of each is reported.
fn scenarios(
    engine: &dyn Engine,
    w: &riskpool_kernels::workloads::RiskWorkload,
    args: &BenchArgs,
    device: &str,
    threads: usize,
) -> Result<()> {
    let scenarios = w.trade_scenarios();
    let revaluations = w.revaluations() as f64;
    let (mut fused, mut naive) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..args.repeat.max(1) {
        let t0 = Instant::now();
        std::hint::black_box(engine.revalue(&w.trades, &scenarios, &w.request)?);
        fused = fused.min(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        std::hint::black_box(naive_revalue(engine, &w.trades, &scenarios, &w.request)?);
        naive = naive.min(t0.elapsed().as_secs_f64());
    }
    let (trades, paths) = size(&w.trades);
    let description = described(w.description, args.scale, trades, paths);
    for (how, best) in [
        ("one pass per trade", fused),
        ("one run per scenario", naive),
    ] {
        let rate = revaluations / best;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"workload": w.name, "method": how, "engine": engine.name(), "device": device,
                    "threads": threads, "scale": args.scale, "trades": trades, "paths": paths, "seconds": best, "revaluations": revaluations,
                    "revaluations_per_s": rate, "revaluations_per_s_per_thread": rate / threads as f64})
            );
        } else {
            println!(
                "{:<4} {:>10.3} {:>14.3e} {:>18.3e}  {} ({how}; trade x scenario revaluations/s)",
                w.name,
                best,
                rate,
                rate / threads as f64,
                description
            );
        }
    }
    Ok(())
}
