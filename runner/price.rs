//! `riskpool price`: read, check, price in batches, write.
//!
//! The input is read twice: a first pass checks every trade (so bad input
//! is rejected before any output exists, exit 2) and hashes the file for
//! the run's signature, and a second streams batches through the engine,
//! so a million-trade file prices in bounded memory. Each batch's rows are
//! made durable before the next starts, and a rerun after a pre-emption
//! prices only what is missing (`resume`). The output is locked for the
//! whole run, so a second run on the same output stops at once.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use riskpool_kernels::{Bumps, Engine, Greek, GreekSet, Precision, PricingRequest};
use serde_json::json;

use crate::check;
use crate::cli::{Algorithm, PrecisionChoice, PriceArgs};
use crate::durable::{self, check_output, partial_path, OutputLock};
use crate::engines;
use crate::error::UsageError;
use crate::input::{error_at, require_regular_file, Format, ReadOptions, TradeReader};
use crate::log::Progress;
use crate::output::{Kind, Layout, ResultWriter};
use crate::pipeline::{self, PricingPass};
use crate::resume::{self, Signature};

/// What a finished run did, for the summary line.
pub struct Summary {
    pub trades: u64,
    pub path_steps: f64,
    pub seconds: f64,
    pub engine: String,
    pub device: String,
}

/// `--paths` with `--antithetic`: pairs need an even count (the range is
/// checked as the flag is parsed, `flags::paths`).
fn check_paths_flag(paths: Option<u64>, antithetic: bool) -> Result<()> {
    match paths {
        Some(n) if antithetic && n % 2 != 0 => bail!(UsageError(format!(
            "--paths {n}: --antithetic pairs paths, so the count must be even"
        ))),
        _ => Ok(()),
    }
}

/// The Greeks asked for, each once, in the order first asked.
fn distinct(greeks: &[Greek]) -> Vec<Greek> {
    let mut out = Vec::new();
    for g in greeks {
        if !out.contains(g) {
            out.push(*g);
        }
    }
    out
}

pub fn run(args: &PriceArgs) -> Result<Summary> {
    let kind = Kind::of(&args.output).ok_or_else(|| {
        UsageError(format!(
            "--output {}: the extension must be .csv, or .jsonl (or .ndjson) for JSON Lines",
            args.output.display()
        ))
    })?;
    let window = crate::input::trade_window(args.start_trade, args.trade_window)?;
    let opts = ReadOptions {
        paths: args.paths,
        shard: args.shard.map(|s| (s.index, s.count)),
        window,
    };
    check_paths_flag(args.paths, args.antithetic)?;
    let mut req = PricingRequest {
        seed: args.seed,
        greeks: GreekSet(distinct(&args.greeks)),
        bumps: Bumps::STANDARD,
        antithetic: args.antithetic,
        precision: match args.precision {
            PrecisionChoice::F32 => Precision::F32,
            PrecisionChoice::F64 => Precision::F64,
        },
    };
    if args.engine.fast_math && req.precision == Precision::F64 {
        tracing::warn!(
            "--fast-math applies to f32 path state; the f64 kernels are the same either way"
        );
    }

    require_regular_file(&args.input, "--input", crate::input::READ_TWICE)?;
    let format = crate::input::detect(&args.input)?;
    let layout = match (format, args.algorithm) {
        (Format::AzfinsimCsv, algorithm) => {
            if !req.greeks.is_empty() {
                bail!(UsageError(
                    "azfinsim trades take --algorithm deltavega, not --greeks".into()
                ));
            }
            if algorithm == Some(Algorithm::Deltavega) {
                req.greeks = GreekSet(vec![Greek::Delta, Greek::Vega]);
                req.bumps = Bumps::AZFINSIM;
            }
            match (kind, algorithm) {
                (Kind::Csv, Some(Algorithm::Deltavega)) => Layout::AzfinsimDeltaVega,
                (Kind::Csv, _) => Layout::AzfinsimPv,
                (Kind::JsonLines, _) => Layout::Standard {
                    greeks: req.greeks.0.clone(),
                    assets: 0,
                },
            }
        }
        (_, Some(_)) => bail!(UsageError(format!(
            "--algorithm applies to azfinsim trade files; {} is {}",
            args.input.display(),
            format.name()
        ))),
        (_, None) => Layout::Standard {
            greeks: req.greeks.0.clone(),
            assets: 0,
        },
    };
    if window.is_some() && format != Format::AzfinsimCsv {
        bail!(UsageError("--start-trade and --trade-window select azfinsim trade numbers; this is not an azfinsim file".into()));
    }
    check_output(&args.input, &args.output, "--output")?;
    // Held until this function returns: a second run on this output
    // stops here, before it reads or writes anything of it.
    let _lock = OutputLock::acquire(&args.output)?;

    // Pass 1: check everything before anything is written.
    let began = Instant::now();
    let checked = check::check_all(&args.input, &opts, &req)?;
    let check_seconds = began.elapsed().as_secs_f64();
    crate::hooks::stall("checked");
    let count = checked.count;
    // CSV has a column per asset for the Greeks multi-asset trades carry
    // per asset (JSON Lines has arrays).
    let layout = match kind {
        Kind::Csv => layout.with_assets(checked.assets),
        Kind::JsonLines => layout,
    };
    if count == 0 && opts.shard.is_none() && window.is_none() {
        return Err(error_at(&args.input, 1, None, "no trades in the file").into());
    }
    // The engine and its device string are part of the signature: they
    // are written in every row (`engine`, `device`) and decide its numbers
    // (f32 kernels, fast math, SIMD), so a rerun keeps only rows its own
    // engine would have written.
    let engine: Box<dyn Engine> = engines::select(&args.engine)?;
    let device = engine.device();
    let signature = Signature::new(
        &args.input,
        &checked.hash,
        json!({
            "engine": engine.name(), "device": device,
            "seed": args.seed, "paths": args.paths, "greeks": args.greeks.iter().map(|g| g.name()).collect::<Vec<_>>(), "algorithm": format!("{:?}", args.algorithm),
            "shard": args.shard, "window": window, "precision": format!("{:?}", args.precision), "antithetic": args.antithetic,
            "fast_math": args.engine.fast_math, "columns": layout.columns(), "kind": format!("{kind:?}"),
        }),
    )?;
    if resume::already_done(&args.output, &signature) {
        tracing::info!(
            "{} is already complete for these arguments; nothing to do",
            args.output.display()
        );
        resume::remove_leftovers(&args.output);
        return Ok(Summary {
            trades: 0,
            path_steps: 0.0,
            seconds: 0.0,
            engine: "none".into(),
            device: "none".into(),
        });
    }
    if let Some(why) = resume::why_afresh(&args.output, &signature) {
        tracing::info!(output = %args.output.display(), "{why}");
    }
    let kept = resume::scan(
        &args.output,
        kind,
        &layout,
        &signature,
        (engine.name(), &device),
    )?;

    // Pass 2: price what is not done yet, in batches, each made durable.
    let start = Instant::now();
    let mut reader = TradeReader::open(&args.input, opts.clone())?;
    // The kept rows that are this input's first trades, in order.
    let mut skip = 0usize;
    if let Some(k) = kept.as_ref().filter(|k| k.header_ok) {
        for row in &k.rows {
            let Some(item) = reader.next() else { break };
            let t = item.context("the input changed while it was being priced")?;
            if t.trade.id != row.id || row.steps.is_some_and(|s| s != t.trade.steps as u64) {
                break;
            }
            skip += 1;
        }
        if skip < k.rows.len() {
            tracing::warn!(
                "{}: {} of its {} rows are not this input's next trades; they are priced again",
                partial_path(&args.output).display(),
                k.rows.len() - skip,
                k.rows.len()
            );
            reader = TradeReader::open(&args.input, opts)?;
            for item in reader.by_ref().take(skip) {
                item.context("the input changed while it was being priced")?;
            }
        }
    }
    let writer = match &kept {
        Some(k) => {
            tracing::info!(
                output = %args.output.display(),
                "resuming: {skip} of {count} trades already priced"
            );
            ResultWriter::create(
                &args.output,
                kind,
                layout,
                engine.name(),
                &device,
                Some(k.reopen(&args.output, skip)?),
            )?
        }
        None => {
            // The old signature goes first, so no kill leaves a signature
            // beside another run's rows; the new one once the header is
            // durable.
            let meta = durable::meta_path(&args.output);
            if meta.exists() {
                std::fs::remove_file(&meta)
                    .with_context(|| format!("cannot remove {}", meta.display()))?;
            }
            let w = ResultWriter::create(&args.output, kind, layout, engine.name(), &device, None)?;
            resume::write_meta(&args.output, &signature)?;
            w
        }
    };
    tracing::info!(
        input = %args.input.display(),
        trades = count,
        to_price = count - skip as u64,
        engine = engine.name(),
        device = %device,
        "pricing"
    );
    let progress = Progress::new(count, skip as u64);
    let passed = pipeline::run(
        PricingPass {
            reader,
            batch_trades: args.batch_trades,
            request: &req,
            engine_args: &args.engine,
            progress: &progress,
            already: skip as u64,
            partial: &partial_path(&args.output),
            start,
        },
        engine,
        writer,
    )?;
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let (engine, path_steps, priced) = (passed.engine, passed.path_steps, passed.trades);
    if passed.input_hash.as_deref() != Some(checked.hash.as_str()) {
        bail!(
            "the input changed while it was being priced ({} is not what the check read); rerun to price it afresh",
            args.input.display()
        );
    }
    if passed.writer.rows() != count {
        bail!(
            "the input changed while it was being priced: {} has {} rows, the check found {count} trades",
            partial_path(&args.output).display(),
            passed.writer.rows()
        );
    }
    let device = engine.device();
    let summary = json!({
        "signature": signature.0, "output": args.output.display().to_string(), "trades": count, "priced_now": priced,
        "resumed_from": skip, "path_steps": path_steps, "seconds": seconds,
        "path_steps_per_s": path_steps / seconds.max(1e-9), "engine": engine.name(), "device": device,
        "check_seconds": check_seconds, "engine_seconds": passed.engine_seconds,
        "gpus": engines::claimed_gpus(),
    });
    passed
        .writer
        .finish(&durable::summary_path(&args.output), summary)?;
    Ok(Summary {
        trades: count,
        path_steps,
        seconds,
        engine: engine.name().into(),
        device,
    })
}
