//! The figures of a risk run from its part files: `riskpool risk-merge`,
//! and the last step of an unsharded `riskpool risk` (which merges its one
//! part), so both write the same bytes.
//!
//! Portfolio sums are correctly rounded ([`fsum`]), so they do not depend
//! on how the trades were split or ordered: a sharded run merged equals
//! the unsharded run bit for bit. A P&L's standard error is the square
//! root of the sum of the trades' variances (each trade has its own random
//! streams, so their errors are independent). Every file is written
//! through a temporary file and a rename; the summary goes last.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use riskpool_kernels::scenario::{value_at_risk, Loss};
use riskpool_kernels::Estimate;
use serde_json::{json, Value};

use super::fsum::fsum;
use super::part::{self, Part, PartRow};
use super::report_data::{RiskReportData, ScenarioRow, TradeRow};
use crate::cli::{RiskMergeArgs, RiskOutputArgs};
use crate::resume::{self, write_atomically};
use crate::UsageError;

/// Checks `--levels`: each in (0, 1), at least one.
pub fn check_levels(levels: &[f64]) -> Result<()> {
    if levels.is_empty() {
        bail!(UsageError("--levels: give at least one level".into()));
    }
    for &l in levels {
        if !(l > 0.0 && l < 1.0) {
            bail!(UsageError(format!(
                "--levels {l}: a confidence level must be between 0 and 1 (0.99 for 99%)"
            )));
        }
    }
    Ok(())
}

/// The outputs to write, checked before anything is read.
pub fn check_outputs(output: &Path, figures: &RiskOutputArgs, inputs: &[&Path]) -> Result<()> {
    check_levels(&figures.levels)?;
    let mut all = vec![("--output", output)];
    all.extend(figures.by_trade.as_deref().map(|p| ("--by-trade", p)));
    all.extend(figures.report.as_deref().map(|p| ("--report", p)));
    for (flag, p) in &all {
        for input in inputs {
            crate::price::check_output(input, p, flag)?;
        }
    }
    for (i, (fa, a)) in all.iter().enumerate() {
        for (fb, b) in &all[i + 1..] {
            if a == b {
                bail!(UsageError(format!(
                    "{fa} and {fb} are the same file {}",
                    a.display()
                )));
            }
        }
    }
    Ok(())
}

/// The parts of one run, checked to fit together: the same run, every
/// shard 0..N-1 exactly once.
pub fn gather(paths: &[PathBuf]) -> Result<Vec<Part>> {
    let parts: Vec<Part> = paths.iter().map(|p| part::read(p)).collect::<Result<_>>()?;
    let Some(first) = parts.first() else {
        bail!(UsageError("no part files given".into()));
    };
    let n = first.header.shard[1];
    let mut seen: BTreeMap<u64, &Path> = BTreeMap::new();
    for p in &parts {
        let h = &p.header;
        if h.run != first.header.run || h.scenarios != first.header.scenarios {
            let differ = diff_keys(&first.header.run, &h.run);
            bail!(UsageError(format!(
                "{} and {} are parts of different runs (they differ in: {}); merge the parts of one run",
                first.path.display(),
                p.path.display(),
                if h.scenarios != first.header.scenarios && differ.is_empty() {
                    "scenarios".to_string()
                } else {
                    differ.join(", ")
                }
            )));
        }
        if h.shard[1] != n {
            bail!(UsageError(format!(
                "{} is shard {}/{} but {} is shard {}/{n}: parts of one run have the same N",
                p.path.display(),
                h.shard[0],
                h.shard[1],
                first.path.display(),
                first.header.shard[0]
            )));
        }
        if let Some(other) = seen.insert(h.shard[0], &p.path) {
            bail!(UsageError(format!(
                "shard {}/{n} is given twice: {} and {}",
                h.shard[0],
                other.display(),
                p.path.display()
            )));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !seen.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(UsageError(format!(
            "missing shards of {n}: {} (got {} part files)",
            missing.join(", "),
            parts.len()
        )));
    }
    Ok(parts)
}

/// The keys of two run objects whose values differ.
fn diff_keys(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["run".into()];
    };
    a.keys()
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// `riskpool risk-merge`.
pub fn run(args: &RiskMergeArgs) -> Result<()> {
    let inputs: Vec<&Path> = args.parts.iter().map(PathBuf::as_path).collect();
    check_outputs(&args.output, &args.figures, &inputs)?;
    let _lock = resume::OutputLock::acquire(&args.output)?;
    let parts = gather(&args.parts)?;
    let sig = json!({"merge_of": parts[0].header.run, "levels": args.figures.levels,
        "by_trade": args.figures.by_trade, "report": args.figures.report});
    write_outputs(&args.output, &args.figures, &parts, sig, json!({}))?;
    Ok(())
}

/// Writes PNL.csv, the by-trade file and the report (if asked), then the
/// summary, from complete parts that [`gather`] accepted. `signature`
/// goes into the summary (a rerun that finds it there with the same
/// output is done); `extra` fields are added to it.
pub fn write_outputs(
    output: &Path,
    figures: &RiskOutputArgs,
    parts: &[Part],
    signature: Value,
    extra: Value,
) -> Result<Value> {
    let h = &parts[0].header;
    let names = &h.scenarios;
    let mut rows: Vec<&PartRow> = parts.iter().flat_map(|p| &p.rows).collect();
    rows.sort_by_key(|r| r.line);
    for w in rows.windows(2) {
        if w[0].line == w[1].line {
            bail!(UsageError(format!(
                "trade `{}` (book line {}) is in two parts",
                w[1].id, w[1].line
            )));
        }
    }
    let n = names.len();
    let pnl: Vec<Estimate> = (0..n)
        .map(|s| Estimate {
            value: fsum(rows.iter().map(|r| r.pnl[s])),
            stderr: fsum(rows.iter().map(|r| r.pnl_stderr[s] * r.pnl_stderr[s])).sqrt(),
        })
        .collect();
    let base = Estimate {
        value: fsum(rows.iter().map(|r| r.base)),
        stderr: fsum(rows.iter().map(|r| r.base_stderr * r.base_stderr)).sqrt(),
    };
    for (s, e) in pnl.iter().enumerate() {
        if !e.value.is_finite() || !e.stderr.is_finite() {
            bail!(
                "the portfolio P&L of scenario `{}` is beyond f64's range",
                names[s]
            );
        }
    }
    let values: Vec<f64> = pnl.iter().map(|e| e.value).collect();
    let losses: Vec<Loss> = figures
        .levels
        .iter()
        .filter_map(|&l| value_at_risk(&values, l))
        // No loss is 0, not -0.
        .map(|l| Loss {
            var: l.var + 0.0,
            es: l.es + 0.0,
            ..l
        })
        .collect();

    let mut csv = crate::output::csv_writer(Vec::new());
    csv.write_record(["scenario", "pnl", "pnl_stderr"])?;
    for (name, e) in names.iter().zip(&pnl) {
        csv.write_record([name.as_str(), &e.value.to_string(), &e.stderr.to_string()])?;
    }
    let text = String::from_utf8(csv.into_inner()?)?;
    write_atomically(output, &text)?;

    if let Some(path) = &figures.by_trade {
        let mut csv = crate::output::csv_writer(Vec::new());
        csv.write_record(["scenario", "id", "pnl", "pnl_stderr"])?;
        for (s, name) in names.iter().enumerate() {
            for r in &rows {
                csv.write_record([
                    name.as_str(),
                    &r.id,
                    &r.pnl[s].to_string(),
                    &r.pnl_stderr[s].to_string(),
                ])?;
            }
        }
        write_atomically(path, &String::from_utf8(csv.into_inner()?)?)?;
    }

    let unnamed = rows
        .iter()
        .filter(|r| r.underlyings.iter().all(Option::is_none))
        .count() as u64;
    let unmoved = rows.iter().filter(|r| !r.moved).count() as u64;
    let engines = joined(rows.iter().map(|r| r.engine.as_str()));
    let devices = joined(rows.iter().map(|r| r.device.as_str()));

    if let Some(path) = &figures.report {
        let mut data = report_data(parts, &rows, &pnl, base, &losses, (unnamed, unmoved));
        (data.engine, data.device) = (engines.clone(), devices.clone());
        write_atomically(path, &crate::report::render(&data))?;
    }

    let mut summary = json!({
        "signature": signature,
        "rows": n,
        "output_hash": resume::hash_file(output)?,
        "base_pv": base.value,
        "base_stderr": base.stderr,
        "trades": rows.len(),
        "scenarios": n,
        "unnamed_trades": unnamed,
        "unmoved_trades": unmoved,
        "levels": losses.iter().map(|l| json!({"level": l.level, "tail": l.tail, "var": l.var, "es": l.es})).collect::<Vec<_>>(),
        "engine": engines,
        "device": devices,
        "shards": h.shard[1],
        "run": h.run,
    });
    if let (Some(s), Some(e)) = (summary.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    write_atomically(&resume::summary_path(output), &summary.to_string())?;
    Ok(summary)
}

/// The distinct values, in first-seen order, joined with `, `.
fn joined<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out.join(", ")
}

/// A trade's underlying key for the report's split: its names joined with
/// `+`, `(none)` when it names none.
fn key_of(r: &PartRow) -> String {
    let names: Vec<&str> = r.underlyings.iter().flatten().map(String::as_str).collect();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join("+")
    }
}

fn report_data(
    parts: &[Part],
    rows: &[&PartRow],
    pnl: &[Estimate],
    base: Estimate,
    losses: &[Loss],
    (unnamed, unmoved): (u64, u64),
) -> RiskReportData {
    let h = &parts[0].header;
    let keys: Vec<String> = rows.iter().map(|r| key_of(r)).collect();
    let scenarios = h
        .scenarios
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mut groups: HashMap<&str, Vec<f64>> = HashMap::new();
            for (r, k) in rows.iter().zip(&keys) {
                groups.entry(k).or_default().push(r.pnl[s]);
            }
            let mut by: Vec<(String, f64)> = groups
                .into_iter()
                .map(|(k, v)| (k.to_string(), fsum(v)))
                .collect();
            by.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            ScenarioRow {
                name: name.clone(),
                pnl: pnl[s],
                by_underlying: by,
            }
        })
        .collect();
    // The tail of each level: its scenarios, worst first (ties by order).
    let mut order: Vec<usize> = (0..pnl.len()).collect();
    order.sort_by(|&a, &b| pnl[a].value.total_cmp(&pnl[b].value).then(a.cmp(&b)));
    let es_contributions = losses
        .iter()
        .map(|l| {
            let tail = &order[..l.tail.min(order.len())];
            rows.iter()
                .map(|r| -fsum(tail.iter().map(|&s| r.pnl[s])) / tail.len() as f64)
                .collect()
        })
        .collect();
    RiskReportData {
        book: h.book.clone(),
        scenario_file: h.scenario_file.clone(),
        base_pv: base,
        trades: rows
            .iter()
            .map(|r| TradeRow {
                id: r.id.clone(),
                underlyings: r.underlyings.clone(),
                pv: Estimate {
                    value: r.base,
                    stderr: r.base_stderr,
                },
            })
            .collect(),
        scenarios,
        losses: losses.to_vec(),
        es_contributions,
        unnamed_trades: unnamed,
        unmoved_trades: unmoved,
        engine: h.engine.clone(),
        device: h.device.clone(),
        seed: h
            .run
            .get("seed")
            .and_then(Value::as_u64)
            .unwrap_or_default(),
        shards: h.shard[1],
    }
}
