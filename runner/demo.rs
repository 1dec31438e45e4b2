//! `riskpool demo`: writes a sample portfolio (ten trades: most single-asset
//! models and payoffs, a basket and an American put among them) and an
//! azfinsim trade file, prices both and prints a table, then revalues the
//! portfolio under 250 built-in market scenarios (`riskpool risk`): P&L per
//! scenario, VaR and ES, and the HTML report.

use std::path::PathBuf;

use anyhow::{Context, Result};
use riskpool_kernels::Greek;

use crate::cli::{DemoArgs, EngineArgs, PrecisionChoice, PriceArgs};
use crate::price;

/// The sample portfolio, one JSON trade per line.
pub const SAMPLE_PORTFOLIO: &str = r#"{"id": "eu-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25, "underlying": "SPX"}, "payoff": {"type": "european", "option": "call", "strike": 110}, "maturity": 0.75, "steps": 1, "paths": 1000000}
{"id": "digital-put", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "SPX"}, "payoff": {"type": "digital", "option": "put", "strike": 95, "cash": 10}, "maturity": 0.5, "steps": 1, "paths": 1000000}
{"id": "asian-arith", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "NDX"}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "asian-geo", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "NDX"}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "geometric"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "down-out-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.25, "underlying": "SX5E"}, "payoff": {"type": "barrier", "option": "call", "strike": 100, "barrier": 85, "direction": "down", "knock": "out", "monitoring": "continuous"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "lookback-float", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "SX5E"}, "payoff": {"type": "lookback", "option": "call", "strike_type": "floating"}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "heston-call", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7, "underlying": "SPX"}, "payoff": {"type": "european", "option": "call", "strike": 100}, "maturity": 1, "steps": 252, "paths": 100000}
{"id": "fx-warrant", "model": {"type": "sv_fx", "spot": 0.85, "drift": 0.02, "sigma": 0.08, "volvol": 0.0015, "rho": 0.00004, "underlying": "EURUSD"}, "payoff": {"type": "fx_warrant", "strike": 0.78, "warrants": 1, "notional_per_warrant": 100}, "maturity": 0.2, "steps": 172, "paths": 100000}
{"id": "basket-call", "model": {"type": "gbm_multi", "rate": 0.03, "assets": [{"spot": 100, "vol": 0.2, "underlying": "SPX"}, {"spot": 100, "vol": 0.25, "dividend": 0.01, "underlying": "SX5E"}], "correlation": [[1, 0.6], [0.6, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 100, "weights": [0.5, 0.5]}, "maturity": 1, "steps": 12, "paths": 100000}
{"id": "american-put", "model": {"type": "gbm", "spot": 36, "rate": 0.06, "vol": 0.2, "underlying": "NDX"}, "payoff": {"type": "european", "option": "put", "strike": 40}, "maturity": 1, "steps": 50, "paths": 100000, "exercise": {"style": "american"}}
"#;

/// The demo's scenarios: 250 days of correlated moves of its four equity
/// underlyings and EURUSD (one market factor, 1.5% a day, vols up when
/// spots fall, a few bp of rate), drawn from Philox normals so every run
/// writes the same file.
fn sample_scenarios() -> String {
    let names = ["SPX", "NDX", "SX5E", "EURUSD"];
    let mut csv = String::from("scenario,underlying,spot,vol,rate\n");
    for day in 0..250u32 {
        let z = riskpool_kernels::rng::normals_f64(7, 0xdead_beef, day, 0);
        let w = riskpool_kernels::rng::normals_f64(7, 0xdead_beef, day, 1);
        let market = z[0];
        for (i, name) in names.iter().enumerate() {
            let own = if i < 3 { z[i + 1] } else { w[0] };
            let beta = if i < 3 { 0.8 } else { 0.3 };
            let spot = 0.015 * (beta * market + (1.0 - beta * beta).sqrt() * own);
            let vol = -0.4 * spot;
            let rate = 0.0003 * w[1];
            csv += &format!("day-{:03},{name},{spot:.6},{vol:.6},{rate:.6}\n", day + 1);
        }
    }
    csv
}

/// Writes a sample input the demo needs, unless the folder already has a
/// file of that name: a user's edited book or scenarios are theirs, and the
/// demo then runs on them (the file is created only where none is, so not
/// through a link either).
fn sample(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => f
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tracing::info!(
                "{} is there already: the demo uses it as it is",
                path.display()
            );
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("riskpool-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let portfolio = dir.join("portfolio.jsonl");
    sample(&portfolio, SAMPLE_PORTFOLIO)?;
    let results = dir.join("portfolio.results.csv");
    let price_args = |input: PathBuf, output: PathBuf, greeks: Vec<Greek>| PriceArgs {
        rng: Default::default(),
        input,
        output,
        market: None,
        engine: EngineArgs {
            ..args.engine.clone()
        },
        seed: riskpool_kernels::rng::DEFAULT_SEED,
        paths: None,
        greeks,
        greeks_method: None,
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
        vec![Greek::Delta, Greek::Vega],
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
    if std::fs::symlink_metadata(&trades).is_ok() {
        tracing::info!(
            "{} is there already: the demo uses it as it is",
            trades.display()
        );
    } else {
        crate::generate::run(&crate::cli::GenerateArgs {
            trades: 200,
            output: trades.clone(),
            seed: 1,
            start_trade: 0,
        })?;
    }
    let az = dir.join("trades.results.csv");
    let s = price::run(&price_args(trades.clone(), az.clone(), vec![]))?;
    println!(
        "\nazfinsim: {} trades x 10,000 paths x 172 steps in {:.2} s = {:.3e} path-steps/s ({:.1} ms per trade; azfinsim's numpy takes about 760 ms per trade per core)",
        s.trades,
        s.seconds,
        s.path_steps / s.seconds,
        1e3 * s.seconds / s.trades as f64
    );

    // The portfolio's risk: every trade under every scenario, one pass each.
    let scenarios = dir.join("scenarios.csv");
    sample(&scenarios, &sample_scenarios())?;
    let pnl = dir.join("portfolio.pnl.csv");
    let report = dir.join("portfolio.risk.html");
    crate::risk::run(&crate::cli::RiskArgs {
        rng: Default::default(),
        input: portfolio.clone(),
        scenarios,
        market: None,
        output: pnl.clone(),
        figures: crate::cli::RiskOutputArgs {
            levels: vec![0.99, 0.975],
            by_trade: Some(dir.join("portfolio.pnl-by-trade.csv")),
            report: Some(report.clone()),
        },
        engine: args.engine.clone(),
        seed: riskpool_kernels::rng::DEFAULT_SEED,
        paths: Some(20_000),
        shard: None,
        precision: PrecisionChoice::F32,
        batch_trades: 64,
        control: None,
    })?;
    let summary_path = crate::durable::summary_path(&pnl);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&summary_path)
            .with_context(|| format!("cannot read {}", summary_path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", summary_path.display()))?;
    println!(
        "\nrisk: {} trades x {} scenarios (20,000 paths each), base PV {:.2}",
        summary["trades"],
        summary["scenarios"],
        summary["base_pv"].as_f64().unwrap_or(f64::NAN)
    );
    for l in summary["levels"].as_array().into_iter().flatten() {
        println!(
            "  {:>5.1}%: VaR {:>10.2}  ES {:>10.2}",
            100.0 * l["level"].as_f64().unwrap_or(f64::NAN),
            l["var"].as_f64().unwrap_or(f64::NAN),
            l["es"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!("  report: {}", report.display());
    println!("files: {}", dir.display());
    Ok(())
}
