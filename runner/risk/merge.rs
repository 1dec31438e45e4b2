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
use crate::cli::{RiskMergeArgs, RiskOutputArgs};
use crate::durable::{self, write_atomically};
use crate::error::UsageError;
use crate::report::{BookRow, EsContribution, RiskReport, RunInfo, ScenarioPnl};

/// Checks `--levels`: each in (0, 1), at least one.
pub fn check_levels(levels: &[f64]) -> Result<()> {
    if levels.is_empty() {
        bail!(UsageError("--levels: give at least one level".into()));
    }
    for (i, &l) in levels.iter().enumerate() {
        if levels[..i].contains(&l) {
            bail!(UsageError(format!(
                "--levels {l}: given twice; give each level once"
            )));
        }
        if !(l > 0.0 && l < 1.0) {
            bail!(UsageError(format!(
                "--levels {l}: a confidence level must be between 0 and 1 (0.99 for 99%)"
            )));
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
    if n > crate::flags::MAX_SHARDS {
        bail!(UsageError(format!(
            "{}: a part of {n} shards; a run has at most {} (riskpool risk --shard)",
            first.path.display(),
            crate::flags::MAX_SHARDS
        )));
    }
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
    // A book's trade ids are unique, so each is in exactly one part.
    let mut ids: HashMap<&str, &Path> = HashMap::new();
    for p in &parts {
        for r in &p.rows {
            if let Some(other) = ids.insert(&r.id, &p.path) {
                bail!(UsageError(format!(
                    "trade `{}` is in {} and in {}: a trade id is in one part once",
                    r.id,
                    other.display(),
                    p.path.display()
                )));
            }
        }
    }
    // A count and the first few, however many are missing.
    let missing = n - seen.len() as u64;
    if missing > 0 {
        let first: Vec<String> = (0..n)
            .filter(|k| !seen.contains_key(k))
            .take(10)
            .map(|k| k.to_string())
            .collect();
        bail!(UsageError(format!(
            "missing shards of {n}: {}{} ({missing} missing; got {} part files)",
            first.join(", "),
            if missing > 10 { ", ..." } else { "" },
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
        .map(|k| match k.as_str() {
            // The book's hash takes in its market file's (`--market`).
            "book_hash" => "book_hash (the book, or its --market file)".to_string(),
            _ => k.clone(),
        })
        .collect()
}

/// `riskpool risk-merge`.
pub fn run(args: &RiskMergeArgs) -> Result<()> {
    let inputs: Vec<&Path> = args.parts.iter().map(PathBuf::as_path).collect();
    check_levels(&args.figures.levels)?;
    let written = super::guard::Written {
        output: &args.output,
        figures: &args.figures,
        shard: None,
    };
    written.check(&inputs.iter().map(|p| ("part", *p)).collect::<Vec<_>>())?;
    let _locks = written.lock()?;
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
    // The summary marks the outputs complete: gone before any of them is
    // replaced, written last, so a kill never leaves it beside another
    // run's files.
    let summary_path = durable::summary_path(output);
    if std::fs::symlink_metadata(&summary_path).is_ok() {
        std::fs::remove_file(&summary_path)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", summary_path.display()))?;
        durable::sync_dir(&summary_path);
    }
    let h = &parts[0].header;
    let names = &h.scenarios;
    let mut rows: Vec<&PartRow> = parts.iter().flat_map(|p| &p.rows).collect();
    rows.sort_by_key(|r| (r.line, r.item));
    for w in rows.windows(2) {
        if (w[0].line, w[0].item) == (w[1].line, w[1].item) {
            bail!(UsageError(format!(
                "trade `{}` (book line {}) is in two parts",
                w[1].id, w[1].line
            )));
        }
    }
    let n = names.len();
    // A standard error undefined for any trade (NaN here) is undefined
    // for the sum: written empty in CSV, null in JSON.
    let pnl: Vec<Estimate> = (0..n)
        .map(|s| Estimate {
            value: fsum(rows.iter().map(|r| r.pnl[s])),
            stderr: root_sum_sq(rows.iter().map(|r| r.pnl_stderr[s])),
        })
        .collect();
    let base = Estimate {
        value: fsum(rows.iter().map(|r| r.base)),
        stderr: root_sum_sq(rows.iter().map(|r| r.base_stderr)),
    };
    for (s, e) in pnl.iter().enumerate() {
        if !e.value.is_finite() || e.stderr.is_infinite() {
            bail!(
                "the portfolio P&L of scenario `{}` is beyond f64's range",
                names[s]
            );
        }
    }
    if !base.value.is_finite() || base.stderr.is_infinite() {
        bail!("the book's base value is beyond f64's range: nothing is written");
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
    if let Some(l) = losses
        .iter()
        .find(|l| !(l.var.is_finite() && l.es.is_finite()))
    {
        bail!(
            "the ES at level {} (its {} worst scenarios, the worst `{}`) is beyond f64's range: nothing is written",
            l.level,
            l.tail,
            worst_name(names, &pnl)
        );
    }
    let report = match &figures.report {
        Some(_) => Some(report_data(
            parts,
            &rows,
            &pnl,
            base,
            &losses,
            (unnamed_of(&rows), unmoved_of(&rows)),
            (&engines_of(&rows), &devices_of(&rows)),
        )?),
        None => None,
    };

    let mut csv = crate::output::csv_writer(Vec::new());
    csv.write_record(["scenario", "pnl", "pnl_stderr"])?;
    for (name, e) in names.iter().zip(&pnl) {
        csv.write_record([name.as_str(), &e.value.to_string(), &cell(Some(e.stderr))])?;
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
                    &cell(r.pnl_stderr[s]),
                ])?;
            }
        }
        write_atomically(path, &String::from_utf8(csv.into_inner()?)?)?;
    }

    let (unnamed, unmoved) = (unnamed_of(&rows), unmoved_of(&rows));
    let (engines, devices) = (engines_of(&rows), devices_of(&rows));

    if let (Some(path), Some(data)) = (&figures.report, &report) {
        write_atomically(path, &crate::report::render(data))?;
    }

    let mut summary = json!({
        "signature": signature,
        "rows": n,
        "output_hash": durable::hash_file(output)?,
        "by_trade_hash": figures.by_trade.as_deref().map(durable::hash_file).transpose()?,
        "report_hash": figures.report.as_deref().map(durable::hash_file).transpose()?,
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
    write_atomically(&summary_path, &summary.to_string())?;
    Ok(summary)
}

/// The square root of the sum of squares; NaN (undefined) when any is.
fn root_sum_sq(xs: impl Iterator<Item = Option<f64>>) -> f64 {
    let squares: Option<Vec<f64>> = xs.map(|x| x.map(|x| x * x)).collect();
    squares.map_or(f64::NAN, |v| fsum(v).sqrt())
}

/// A standard error's CSV cell: empty where it is undefined.
fn cell(stderr: Option<f64>) -> String {
    stderr
        .filter(|x| !x.is_nan())
        .map_or_else(String::new, |x| x.to_string())
}

fn unnamed_of(rows: &[&PartRow]) -> u64 {
    rows.iter()
        .filter(|r| r.underlyings.iter().all(Option::is_none))
        .count() as u64
}

fn unmoved_of(rows: &[&PartRow]) -> u64 {
    rows.iter().filter(|r| !r.moved).count() as u64
}

fn engines_of(rows: &[&PartRow]) -> String {
    joined(rows.iter().map(|r| r.engine.as_str()))
}

fn devices_of(rows: &[&PartRow]) -> String {
    joined(rows.iter().map(|r| r.device.as_str()))
}

/// The name of the scenario with the worst P&L.
fn worst_name<'a>(names: &'a [String], pnl: &[Estimate]) -> &'a str {
    (0..pnl.len())
        .min_by(|&a, &b| pnl[a].value.total_cmp(&pnl[b].value))
        .map_or("", |s| names[s].as_str())
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

/// What the report shows, from the merged rows.
fn report_data(
    parts: &[Part],
    rows: &[&PartRow],
    pnl: &[Estimate],
    base: Estimate,
    losses: &[Loss],
    (unnamed, unmoved): (u64, u64),
    (engine, device): (&str, &str),
) -> Result<RiskReport> {
    let h = &parts[0].header;
    // Underlyings in first-seen order of the book; each trade attributed
    // to its key (names joined with `+`, `(none)`).
    let keys: Vec<String> = rows.iter().map(|r| key_of(r)).collect();
    let mut underlyings: Vec<String> = Vec::new();
    for k in &keys {
        if !underlyings.contains(k) {
            underlyings.push(k.clone());
        }
    }
    let index: HashMap<&str, usize> = underlyings
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i))
        .collect();
    let scenarios = h
        .scenarios
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mut groups: Vec<Vec<f64>> = vec![Vec::new(); underlyings.len()];
            for (r, k) in rows.iter().zip(&keys) {
                groups[index[k.as_str()]].push(r.pnl[s]);
            }
            let by_underlying: Vec<f64> = groups.into_iter().map(fsum).collect();
            if let Some(u) = by_underlying.iter().position(|x| !x.is_finite()) {
                bail!(
                    "the P&L of scenario `{name}` on `{}` is beyond f64's range: nothing is written",
                    underlyings[u]
                );
            }
            Ok(ScenarioPnl {
                name: name.clone(),
                pnl: pnl[s].value,
                stderr: pnl[s].stderr,
                by_underlying,
            })
        })
        .collect::<Result<_>>()?;
    // The first level's tail: its scenarios, worst first (ties by order).
    let mut order: Vec<usize> = (0..pnl.len()).collect();
    order.sort_by(|&a, &b| pnl[a].value.total_cmp(&pnl[b].value).then(a.cmp(&b)));
    let es_contributions: Vec<EsContribution> = losses
        .first()
        .map(|l| {
            let tail = &order[..l.tail.min(order.len())];
            rows.iter()
                .map(|r| EsContribution {
                    id: r.id.clone(),
                    es: -fsum(tail.iter().map(|&s| r.pnl[s])) / tail.len() as f64 + 0.0,
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = es_contributions.iter().find(|c| !c.es.is_finite()) {
        bail!(
            "trade `{}`'s ES contribution is beyond f64's range: nothing is written",
            c.id
        );
    }
    let levels: Vec<String> = losses.iter().map(|l| l.level.to_string()).collect();
    Ok(RiskReport {
        title: format!("Portfolio risk: {}", h.book),
        run: RunInfo {
            inputs: vec![h.book.clone(), h.scenario_file.clone()],
            engine: engine.into(),
            device: device.into(),
            seed: h
                .run
                .get("seed")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            paths: rows.iter().map(|r| r.paths).max().unwrap_or_default(),
            date: utc_now(),
            details: vec![
                ("Levels".into(), levels.join(", ")),
                ("Shards".into(), h.shard[1].to_string()),
                (
                    "Precision".into(),
                    h.run
                        .get("precision")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_lowercase(),
                ),
                ("Trades without an underlying".into(), unnamed.to_string()),
            ],
        },
        base_pv: base.value,
        base_stderr: base.stderr,
        trades: rows.len(),
        scenarios: pnl.len(),
        unmoved_trades: unmoved as usize,
        losses: losses.to_vec(),
        pnl: scenarios,
        underlyings,
        es_contributions,
        book: rows
            .iter()
            .map(|r| BookRow {
                id: r.id.clone(),
                underlyings: r.underlyings.iter().flatten().cloned().collect(),
                model: r.model.clone(),
                payoff: r.payoff.clone(),
                pv: r.base,
                stderr: r.base_stderr.unwrap_or(f64::NAN),
            })
            .collect(),
    })
}

/// Now in UTC as `YYYY-MM-DD HH:MM UTC` (civil date from days since the
/// epoch, Howard Hinnant's algorithm: no date crate for one line).
fn utc_now() -> String {
    utc(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64)
}

/// `secs` after the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
fn utc(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        // A leap day, and the last minute of a leap year.
        assert_eq!(utc(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        assert_eq!(utc(1_483_228_799), "2016-12-31 23:59 UTC");
        assert_eq!(utc(4_102_444_800), "2100-01-01 00:00 UTC");
    }
}
