//! `riskpool price`: read, check, price in batches, write.
//!
//! The input is read twice: a first pass checks every trade (so bad input
//! is rejected before any output exists, exit 2) and hashes the file for
//! the run's signature, and a second streams batches through the engine,
//! so a million-trade file prices in bounded memory. Each batch's rows are
//! made durable in the run's journal (`journal`, with `rows` saying which
//! rows a rerun keeps) before the next starts, a rerun after a pre-emption
//! prices only what is missing, and the output is rendered from the
//! complete journal. The output is locked for the whole run, so a second
//! run on the same output stops at once.

pub mod job;
pub mod rows;

use std::time::Instant;

use anyhow::{bail, Context, Result};
use riskpool_kernels::Engine;
use serde_json::json;

use crate::check;
use crate::cli::PriceArgs;
use crate::durable::{self, OutputLock, Signature};
use crate::engines;
use crate::input::error_at;
use crate::journal::{Done, Journal, Opened};
use crate::log::Progress;
use crate::output::{encode_csv, Kind, ResultWriter};
use crate::pipeline::{self, PricingPass};
use job::PriceJob;
use rows::{PriceHeader, PriceRows};

/// The engine of a [`Summary`] when the output was already complete.
pub const NOTHING: &str = "none";

/// What a finished run did, for the summary line.
pub struct Summary {
    pub trades: u64,
    pub path_steps: f64,
    pub seconds: f64,
    pub engine: String,
    pub device: String,
}

pub fn run(args: &PriceArgs) -> Result<Summary> {
    let PriceJob {
        args,
        kind,
        layout,
        req,
        opts,
        window,
        ..
    } = PriceJob::check(args)?;
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
    let engine = engines::select(&args.engine)?;
    let device = engine.device();
    let signature = Signature::new(
        &args.input,
        &checked.hash,
        json!({
            "engine": engine.name(), "device": device,
            "seed": args.seed, "paths": args.paths, "greeks": args.greeks.iter().map(|g| g.name()).collect::<Vec<_>>(), "greeks_method": req.greeks_method.name(), "algorithm": format!("{:?}", args.algorithm),
            "shard": args.shard, "window": window, "precision": format!("{:?}", args.precision), "antithetic": args.antithetic,
            "fast_math": args.engine.fast_math, "columns": layout.columns(), "kind": format!("{kind:?}"),
            "rng": args.rng.signature(),
        }),
    )?;
    if durable::already_done(&args.output, &signature) {
        tracing::info!(
            "{} is already complete for these arguments; nothing to do",
            args.output.display()
        );
        rows::remove_leftovers(&args.output);
        return Ok(Summary {
            trades: 0,
            path_steps: 0.0,
            seconds: 0.0,
            engine: NOTHING.into(),
            device: NOTHING.into(),
        });
    }
    let preamble = match kind {
        Kind::Csv => encode_csv(layout.columns())?,
        Kind::JsonLines => Vec::new(),
    };
    let journal = Journal::new(
        &args.output,
        PriceHeader::new(&signature, engine.name(), &device),
        &preamble,
    )?;
    if let Some(why) = journal.why_afresh() {
        tracing::info!(output = %args.output.display(), "{why}");
    }

    // Pass 2: price what is not done yet, in batches, each made durable.
    let start = Instant::now();
    // The rows an earlier run made durable are matched with the input's
    // first trades; the reader goes on after them.
    let mut reader = checked.open_again(&args.input, &opts)?;
    let opened = journal.open(
        &mut PriceRows::new(
            kind,
            &layout,
            (engine.name(), &device),
            &mut reader,
            &checked,
        ),
        count,
    )?;
    let w = match opened {
        Opened::Complete(done) => {
            tracing::info!(
                output = %args.output.display(),
                "every trade was priced by an earlier run; the output is written from its journal"
            );
            let nothing = Rendered::default();
            render(
                &args.output,
                &done,
                check_seconds,
                &signature,
                &*engine,
                nothing,
            )?;
            return Ok(Summary {
                trades: count,
                path_steps: 0.0,
                seconds: start.elapsed().as_secs_f64(),
                engine: engine.name().into(),
                device,
            });
        }
        Opened::Writing(w) => *w,
    };
    let skip = w.rows();
    if w.resumed() {
        tracing::info!(
            output = %args.output.display(),
            "resuming: {skip} of {count} trades already priced"
        );
    }
    let journal_path = w.path().to_path_buf();
    let writer = ResultWriter::new(w, kind, layout, engine.name(), &device);
    tracing::info!(
        input = %args.input.display(),
        trades = count,
        to_price = count - skip,
        engine = engine.name(),
        device = %device,
        "pricing"
    );
    let progress = Progress::new(count, skip);
    let passed = pipeline::run(
        PricingPass {
            reader,
            batch_trades: args.batch_trades,
            request: &req,
            engine_args: &args.engine,
            progress: &progress,
            already: skip,
            partial: &journal_path,
            start,
            checked: &checked,
        },
        engine,
        writer,
    )?;
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let (engine, path_steps) = (passed.engine, passed.path_steps);
    if passed.input_hash.as_deref() != Some(checked.hash.as_str()) {
        bail!(check::changed(&args.input));
    }
    if passed.writer.rows() != count {
        bail!(
            "the input changed while it was being priced: {} has {} rows, the check found {count} trades",
            journal_path.display(),
            passed.writer.rows()
        );
    }
    let done = passed.writer.finish()?;
    let device = engine.device();
    let s = Rendered {
        seconds,
        path_steps,
        engine_seconds: passed.engine_seconds,
    };
    render(&args.output, &done, check_seconds, &signature, &*engine, s)?;
    Ok(Summary {
        trades: count,
        path_steps,
        seconds,
        engine: engine.name().into(),
        device,
    })
}

/// How many rows estimated each Greek each way, from the rendered rows'
/// `<greek>_method` columns (`{"delta": {"pathwise": 40, "bump": 2}}`);
/// `null` when the rows have none (the caller then counts every Greek
/// asked for as bumped).
/// Read back from the file, so rows an earlier run priced count too.
fn estimator_counts(
    rendered: &std::path::Path,
    output: &std::path::Path,
) -> Result<serde_json::Value> {
    use std::collections::BTreeMap;
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let read = || format!("cannot read back {}", rendered.display());
    match Kind::of(output) {
        Some(Kind::Csv) => {
            let mut r = csv::Reader::from_path(rendered).with_context(read)?;
            let header = r.headers().with_context(read)?.clone();
            let methods: Vec<(usize, String)> = header
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.strip_suffix("_method").map(|g| (i, g.to_string())))
                .collect();
            if methods.is_empty() {
                return Ok(serde_json::Value::Null);
            }
            for row in r.records() {
                let row = row.with_context(read)?;
                for (i, g) in &methods {
                    let e = row.get(*i).unwrap_or_default().to_string();
                    *counts.entry(g.clone()).or_default().entry(e).or_default() += 1;
                }
            }
        }
        Some(Kind::JsonLines) => {
            use std::io::BufRead;
            let f = std::fs::File::open(rendered).with_context(read)?;
            for line in std::io::BufReader::new(f).lines() {
                let line = line.with_context(read)?;
                let Ok(serde_json::Value::Object(o)) = serde_json::from_str(&line) else {
                    continue;
                };
                for (k, v) in &o {
                    if let (Some(g), Some(e)) = (k.strip_suffix("_method"), v.as_str()) {
                        *counts
                            .entry(g.to_string())
                            .or_default()
                            .entry(e.to_string())
                            .or_default() += 1;
                    }
                }
            }
        }
        None => {}
    }
    Ok(if counts.is_empty() {
        serde_json::Value::Null
    } else {
        json!(counts)
    })
}

/// The timings of the pass that completed the journal, for the summary
/// (none when an earlier run completed it).
#[derive(Default)]
struct Rendered {
    seconds: f64,
    path_steps: f64,
    engine_seconds: f64,
}

/// Renders the output from the complete journal: its rows to
/// `<output>.tmp` (synced), the summary (signature, rows, the output's
/// content hash), then the rename into place and the journal removed. A
/// kill anywhere in between leaves the complete journal or the complete
/// output (the summary alone is never "complete": `durable::already_done`
/// checks the output's hash), and the rerun finishes from there.
fn render(
    output: &std::path::Path,
    done: &Done,
    check_seconds: f64,
    signature: &Signature,
    engine: &dyn Engine,
    pass: Rendered,
) -> Result<()> {
    crate::hooks::stall("summary");
    let tmp = durable::tmp_path(output);
    let summary_path = durable::summary_path(output);
    let mut summary_written = false;
    let written = (|| {
        done.render_body(&tmp)?;
        let mut estimators = estimator_counts(&tmp, output)?;
        if estimators.is_null() {
            // No method columns: every Greek asked for was bumped.
            let asked = signature
                .0
                .pointer("/options/greeks")
                .and_then(|g| g.as_array());
            if let Some(asked) = asked.filter(|a| !a.is_empty()) {
                let bumped: serde_json::Map<String, serde_json::Value> = asked
                    .iter()
                    .filter_map(|g| g.as_str())
                    .map(|g| (g.to_string(), json!({"bump": done.rows})))
                    .collect();
                estimators = bumped.into();
            }
        }
        let summary = json!({
            "signature": signature.0, "output": output.display().to_string(), "trades": done.rows,
            "priced_now": done.rows - done.kept, "resumed_from": done.kept, "path_steps": pass.path_steps,
            "seconds": pass.seconds, "path_steps_per_s": pass.path_steps / pass.seconds.max(1e-9),
            "engine": engine.name(), "device": engine.device(),
            "check_seconds": check_seconds, "engine_seconds": pass.engine_seconds,
            "gpus": engines::claimed_gpus(), "rows": done.rows, "output_hash": done.body_hash,
            "greek_estimators": estimators,
        });
        durable::write_atomically(&summary_path, &summary.to_string())?;
        summary_written = true;
        crate::hooks::stall("rename");
        std::fs::rename(&tmp, output)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), output.display()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        if summary_written {
            let _ = std::fs::remove_file(&summary_path);
        }
        return Err(e);
    }
    durable::sync_dir(output);
    std::fs::remove_file(&done.path)
        .with_context(|| format!("cannot remove {}", done.path.display()))?;
    durable::sync_dir(output);
    Ok(())
}
