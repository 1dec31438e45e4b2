//! `riskpool demo`: writes a sample portfolio (one trade of each model and
//! payoff) and an azfinsim trade file, prices both, and prints a table.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::{DemoArgs, EngineArgs, PrecisionChoice, PriceArgs};
use crate::price;

/// The sample portfolio, one JSON trade per line.
pub const SAMPLE_PORTFOLIO: &str = r#"{"id": "eu-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25}, "payoff": {"type": "european", "option": "call", "strike": 110}, "maturity": 0.75, "steps": 1, "paths": 1000000}
{"id": "digital-put", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}, "payoff": {"type": "digital", "option": "put", "strike": 95, "cash": 10}, "maturity": 0.5, "steps": 1, "paths": 1000000}
{"id": "asian-arith", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "asian-geo", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "geometric"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "down-out-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.25}, "payoff": {"type": "barrier", "option": "call", "strike": 100, "barrier": 85, "direction": "down", "knock": "out", "monitoring": "continuous"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "lookback-float", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}, "payoff": {"type": "lookback", "option": "call", "strike_type": "floating"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "heston-call", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7}, "payoff": {"type": "european", "option": "call", "strike": 100}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "fx-warrant", "model": {"type": "sv_fx", "spot": 0.85, "drift": 0.02, "sigma": 0.08, "volvol": 0.0015, "rho": 0.00004}, "payoff": {"type": "fx_warrant", "strike": 0.78, "warrants": 45000, "notional_per_warrant": 1000}, "maturity": 0.2, "steps": 172, "paths": 100000}
"#;

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("riskpool-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let portfolio = dir.join("portfolio.jsonl");
    std::fs::write(&portfolio, SAMPLE_PORTFOLIO)
        .with_context(|| format!("cannot write {}", portfolio.display()))?;
    let results = dir.join("portfolio.results.csv");
    let price_args = |input: PathBuf, output: PathBuf, greeks: Vec<String>| PriceArgs {
        input,
        output,
        engine: EngineArgs {
            ..args.engine.clone()
        },
        seed: riskpool_kernels::rng::DEFAULT_SEED,
        paths: None,
        greeks,
        algorithm: None,
        shard: None,
        precision: PrecisionChoice::F32,
        antithetic: false,
        start_trade: None,
        trade_window: None,
        batch_trades: 4096,
    };
    let s = price::run(&price_args(
        portfolio.clone(),
        results.clone(),
        vec!["delta".into(), "vega".into()],
    ))?;
    println!(
        "riskpool demo: {} trades on {} ({})",
        s.trades, s.engine, s.device
    );
    println!(
        "{:<16} {:>14} {:>10} {:>10} {:>10}",
        "trade", "pv", "stderr", "delta", "vega"
    );
    let text = std::fs::read_to_string(&results)
        .with_context(|| format!("cannot read {}", results.display()))?;
    for row in text.lines().skip(1) {
        let c: Vec<&str> = row.split(',').collect();
        let f = |i: usize| {
            c.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        println!(
            "{:<16} {:>14.4} {:>10.4} {:>10.4} {:>10.4}",
            c[0],
            f(1),
            f(2),
            f(3),
            f(4)
        );
    }

    let trades = dir.join("trades.csv");
    crate::generate::run(&crate::cli::GenerateArgs {
        trades: 200,
        output: trades.clone(),
        seed: 1,
        start_trade: 0,
    })?;
    let az = dir.join("trades.results.csv");
    let s = price::run(&price_args(trades.clone(), az.clone(), vec![]))?;
    println!(
        "\nazfinsim: {} trades x 10,000 paths x 172 steps in {:.2} s = {:.3e} path-steps/s ({:.1} ms per trade; azfinsim's numpy takes about 760 ms per trade per core)",
        s.trades,
        s.seconds,
        s.path_steps / s.seconds,
        1e3 * s.seconds / s.trades as f64
    );
    println!("files: {}", dir.display());
    Ok(())
}
