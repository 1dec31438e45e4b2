//! `riskpool price`: read, check, price in batches, write.
//!
//! The input is read twice: a first pass checks every trade (so bad input
//! is rejected before any output exists, exit 2), and a second streams
//! batches through the engine, so a million-trade file prices in bounded
//! memory.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use riskpool_kernels::engine::check_request;
use riskpool_kernels::{Bumps, Engine, Greek, GreekSet, Precision, PricingRequest};

use crate::cli::{Algorithm, PrecisionChoice, PriceArgs};
use crate::input::{error_at, Format, ReadOptions, TradeReader};
use crate::output::{Kind, Layout, ResultWriter};
use crate::{engines, Usage};

/// Trades priced per engine call.
pub const BATCH: usize = 16_384;

/// What a finished run did, for the summary line.
pub struct Summary {
    pub trades: u64,
    pub path_steps: f64,
    pub seconds: f64,
    pub engine: String,
    pub device: String,
}

fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let parsed = s
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => bail!(Usage(format!(
            "--shard must be I/N with 0 <= I < N, got `{s}`"
        ))),
    }
}

fn parse_greeks(names: &[String]) -> Result<GreekSet> {
    let mut out = Vec::new();
    for n in names.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let g = Greek::parse(n).ok_or_else(|| {
            Usage(format!(
                "unknown Greek `{n}`: expected delta, gamma, vega or rho"
            ))
        })?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(GreekSet(out))
}

pub fn run(args: &PriceArgs) -> Result<Summary> {
    let kind = Kind::of(&args.output).ok_or_else(|| {
        Usage(format!(
            "--output {}: the extension must be .csv or .jsonl",
            args.output.display()
        ))
    })?;
    let opts = ReadOptions {
        paths: args.paths,
        shard: args.shard.as_deref().map(parse_shard).transpose()?,
    };
    if args.paths == Some(0) {
        bail!(Usage("--paths must be at least 1".into()));
    }
    let mut req = PricingRequest {
        seed: args.seed,
        greeks: parse_greeks(&args.greeks)?,
        bumps: Bumps::STANDARD,
        antithetic: args.antithetic,
        precision: match args.precision {
            PrecisionChoice::F32 => Precision::F32,
            PrecisionChoice::F64 => Precision::F64,
        },
    };

    // Pass 1: check everything before anything is written.
    let reader = TradeReader::open(&args.input, opts.clone())?;
    let format = reader.format();
    let layout = match (format, args.algorithm) {
        (Format::AzfinsimCsv, algorithm) => {
            if !req.greeks.is_empty() {
                bail!(Usage(
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
                },
            }
        }
        (_, Some(_)) => bail!(Usage(format!(
            "--algorithm applies to azfinsim trade files; {} is {}",
            args.input.display(),
            format.name()
        ))),
        (_, None) => Layout::Standard {
            greeks: req.greeks.0.clone(),
        },
    };
    let mut seen: HashMap<u64, (u64, String)> = HashMap::new();
    let mut count = 0u64;
    for item in reader {
        let t = item?;
        if let Err(e) = check_request(&t.trade, &req) {
            let msg = match e {
                riskpool_kernels::EngineError::BadTrade { message, .. } => message,
                other => other.to_string(),
            };
            let field = if format == Format::AzfinsimCsv {
                "trials"
            } else {
                "paths"
            };
            return Err(error_at(&args.input, t.line, Some(field), msg).into());
        }
        if let Some((line, id)) = seen.insert(t.trade.stream, (t.line, t.trade.id.clone())) {
            let what = if id == t.trade.id {
                format!("duplicate trade `{id}` (first on line {line})")
            } else {
                format!(
                    "trade `{}` has the same stream id as `{id}` on line {line}",
                    t.trade.id
                )
            };
            return Err(error_at(
                &args.input,
                t.line,
                Some(if format == Format::AzfinsimCsv {
                    "tradenum"
                } else {
                    "id"
                }),
                what,
            )
            .into());
        }
        count += 1;
    }
    drop(seen);
    if count == 0 && opts.shard.is_none() {
        return Err(error_at(&args.input, 1, None, "no trades in the file").into());
    }

    // Pass 2: price in batches.
    let engine: Box<dyn Engine> = engines::select(&args.engine)?;
    let device = engine.device();
    let start = Instant::now();
    let mut writer = ResultWriter::create(&args.output, kind, layout, engine.name(), &device)?;
    let mut reader = TradeReader::open(&args.input, opts)?;
    let mut path_steps = 0.0;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        for item in reader.by_ref().take(BATCH) {
            batch.push(
                item.context("the input changed while it was being priced")?
                    .trade,
            );
        }
        if batch.is_empty() {
            break;
        }
        let results = engine.price(&batch, &req)?;
        for (t, r) in batch.iter().zip(&results) {
            writer.write(t, r)?;
            path_steps += t.path_steps();
        }
    }
    writer.finish()?;
    Ok(Summary {
        trades: count,
        path_steps,
        seconds: start.elapsed().as_secs_f64(),
        engine: engine.name().into(),
        device,
    })
}
