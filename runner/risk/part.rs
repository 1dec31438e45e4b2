//! A risk run's part file: what one shard (or the whole book) computed,
//! one JSON line per trade, durable batch by batch.
//!
//! The first line is the [`PartHeader`] (the run's signature, the shard,
//! the scenario names and how many trades the part holds); each further
//! line a [`PartRow`]: one trade's base PV and its P&L in every scenario.
//! Numbers are written in the shortest form that reads back to the same
//! bits. A part is a journal (`journal`, the resume protocol `price`
//! shares): while a run is under way it is `<part>.partial`, its header
//! synced first and its rows after every batch; a rerun with the same
//! header keeps every whole row that is, byte for byte, what this run
//! would write for the book's trade at that place ([`PartRows`]), cuts the
//! rest, and revalues only what is missing. A complete part (its end line
//! written) is renamed into place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::durable::content_hash;
use crate::error::UsageError;
use crate::journal::{EndLine, Header, Record, Rows};

/// The first line of a part file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartHeader {
    /// Marks the file and its version.
    pub riskpool_risk_part: u32,
    /// What every shard of one run shares (book and scenario file hashes,
    /// seed, paths, precision): `risk-merge` refuses parts that differ.
    pub run: Value,
    /// This shard's full signature (the run, the input paths, the engine
    /// chosen at the start and its device): a rerun keeps rows only under
    /// the same one.
    pub signature: Value,
    /// `[K, N]`: shard K of N (`[0, 1]` unsharded).
    pub shard: [u64; 2],
    pub scenarios: Vec<String>,
    /// Trades in this part.
    pub trades: u64,
    pub engine: String,
    pub device: String,
    /// The book's and the scenario file's names, for the report.
    pub book: String,
    pub scenario_file: String,
}

impl Header for PartHeader {
    fn engine(&self) -> (&str, &str) {
        (&self.engine, &self.device)
    }
}

/// One trade revalued under every scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartRow {
    /// The trade's line in the book (merged rows go in book order).
    pub line: u64,
    /// Its number in a JSON array book, whose items may share a line
    /// (merged rows go in (line, item) order); absent in a book of lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    pub id: String,
    pub underlyings: Vec<Option<String>>,
    /// Its model and payoff type names and paths, for the report.
    pub model: String,
    pub payoff: String,
    pub paths: u64,
    /// Whether any scenario moves it.
    pub moved: bool,
    pub base: f64,
    /// A standard error; `null` where it is undefined (a trade of 1 or 2
    /// paths, as `price` leaves it empty).
    pub base_stderr: Option<f64>,
    pub pnl: Vec<f64>,
    pub pnl_stderr: Vec<Option<f64>>,
    /// The engine and device that revalued it (`--engine auto` may fall
    /// back mid-run).
    pub engine: String,
    pub device: String,
}

/// 2: a standard error may be null, and the part ends with its content
/// hash.
pub const VERSION: u32 = 2;

/// A row as written, with its line end.
pub fn line_of(row: &PartRow) -> Result<Vec<u8>> {
    let mut s = serde_json::to_vec(row).context("cannot encode a part row")?;
    s.push(b'\n');
    Ok(s)
}

/// A complete part file, read and checked.
pub struct Part {
    pub path: PathBuf,
    pub header: PartHeader,
    pub rows: Vec<PartRow>,
}

/// Reads the part at `path`; every problem names the file and line. The
/// content must match the hash on its last line, and every row must be
/// sound: in book order, its values finite, its standard errors finite
/// and not negative (or null where undefined).
pub fn read(path: &Path) -> Result<Part> {
    // A FIFO would hang the merge and a device fill the memory: parts are
    // files `risk` wrote.
    crate::input::require_regular_file(
        path,
        "part",
        "a part is a file `riskpool risk --shard` wrote",
    )?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{}: cannot read: {e}", path.display())))?;
    let bad = |line: usize, what: String| UsageError(format!("{}:{line}: {what}", path.display()));
    let header: PartHeader = text
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| bad(1, "not a riskpool risk part file (no part header)".into()))?;
    if header.riskpool_risk_part != VERSION {
        bail!(bad(
            1,
            format!(
                "part format {} is not the version this riskpool reads ({VERSION})",
                header.riskpool_risk_part
            )
        ));
    }
    // The body is every line but the last, which is the end line.
    let split = text
        .strip_suffix('\n')
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let (body, last) = text.split_at(split);
    // The end line: the row count and the xxh3 of every byte before it, so
    // a part edited or damaged after it was written is refused, not merged.
    let end: EndLine = serde_json::from_str(last.trim_end()).map_err(|_| {
        UsageError(format!(
            "{}: incomplete part: no end line (a complete part ends with its row count and content hash)",
            path.display()
        ))
    })?;
    if end.content_xxh3 != content_hash(body.as_bytes()) {
        bail!(UsageError(format!(
            "{}: the part was edited or damaged after it was written: its content does not match the hash on its last line",
            path.display()
        )));
    }
    let n = header.scenarios.len();
    let mut rows: Vec<PartRow> = Vec::with_capacity(header.trades as usize);
    for (i, l) in body.lines().enumerate().skip(1) {
        let row: PartRow =
            serde_json::from_str(l).map_err(|e| bad(i + 1, format!("not a part row: {e}")))?;
        if row.pnl.len() != n || row.pnl_stderr.len() != n {
            bail!(bad(
                i + 1,
                format!(
                    "trade `{}` has {} P&L values for {n} scenarios",
                    row.id,
                    row.pnl.len()
                )
            ));
        }
        if let Some(prev) = rows
            .last()
            .filter(|p| (p.line, p.item) >= (row.line, row.item))
        {
            bail!(bad(
                i + 1,
                format!(
                    "trade `{}` (book line {}) is not in book order: it follows line {}",
                    row.id, row.line, prev.line
                )
            ));
        }
        if let Some(what) = unsound(&row) {
            bail!(bad(i + 1, format!("trade `{}`: {what}", row.id)));
        }
        rows.push(row);
    }
    if rows.len() as u64 != header.trades || end.end_of_part != header.trades {
        bail!(UsageError(format!(
            "{}: incomplete part: {} of its {} trades",
            path.display(),
            rows.len(),
            header.trades
        )));
    }
    Ok(Part {
        path: path.to_path_buf(),
        header,
        rows,
    })
}

/// What is wrong with a row's numbers, if anything: every value finite,
/// every standard error finite and not negative, or null (undefined).
fn unsound(row: &PartRow) -> Option<String> {
    let values = std::iter::once(("base".to_string(), row.base)).chain(
        row.pnl
            .iter()
            .enumerate()
            .map(|(s, v)| (format!("pnl[{s}]"), *v)),
    );
    let errors = std::iter::once(("base_stderr".to_string(), row.base_stderr)).chain(
        row.pnl_stderr
            .iter()
            .enumerate()
            .map(|(s, v)| (format!("pnl_stderr[{s}]"), *v)),
    );
    for (field, v) in values {
        if !v.is_finite() {
            return Some(format!("field `{field}`: {v} is not a finite number"));
        }
    }
    for (field, v) in errors {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Some(format!(
                "field `{field}`: {v} is not a standard error (finite, not negative)"
            ));
        }
    }
    None
}

/// Whether `part` is already complete under `header`.
pub fn is_done(part: &Path, header: &PartHeader) -> bool {
    read(part).is_ok_and(|p| p.header == *header)
}

/// Which rows of an interrupted run's part a rerun keeps: the book's
/// trades of the part in order (line and id), with a P&L per scenario,
/// revalued by this run's engine and device, written exactly as this run
/// writes them.
pub struct PartRows<'a> {
    pub expected: &'a [(u64, String)],
    pub scenarios: usize,
    pub engine: (&'a str, &'a str),
    pub kept: usize,
}

impl Rows for PartRows<'_> {
    fn csv(&self) -> bool {
        false
    }

    /// A row holds two numbers a scenario (at most 24 bytes each as
    /// written, with their commas).
    fn max_record(&self) -> usize {
        crate::input::MAX_LINE + 64 * self.scenarios
    }

    fn keep(&mut self, record: Record<'_>) -> bool {
        let Record::Line(raw) = record else {
            return false;
        };
        let ok = serde_json::from_slice::<PartRow>(raw)
            .ok()
            .filter(|r| {
                self.expected
                    .get(self.kept)
                    .is_some_and(|(l, id)| *l == r.line && *id == r.id)
                    && r.pnl.len() == self.scenarios
                    && r.pnl_stderr.len() == self.scenarios
                    && (r.engine.as_str(), r.device.as_str()) == self.engine
                    && unsound(r).is_none()
            })
            .and_then(|r| line_of(&r).ok())
            .is_some_and(|again| again == raw);
        self.kept += ok as usize;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Journal, JournalWriter, Opened};

    fn header() -> PartHeader {
        PartHeader {
            riskpool_risk_part: VERSION,
            run: serde_json::json!({"seed": 1}),
            signature: serde_json::json!({"x": 1}),
            shard: [0, 1],
            scenarios: vec!["s".into()],
            trades: 3,
            engine: "cpu".into(),
            device: "d".into(),
            book: "b".into(),
            scenario_file: "s.csv".into(),
        }
    }

    fn row(line: u64, id: &str) -> PartRow {
        PartRow {
            line,
            item: None,
            id: id.into(),
            underlyings: vec![Some("A".into())],
            model: "gbm".into(),
            payoff: "european".into(),
            paths: 100,
            moved: true,
            base: 0.1 + line as f64,
            base_stderr: Some(1.0 / 3.0),
            pnl: vec![-0.7],
            pnl_stderr: vec![Some(0.01)],
            engine: "cpu".into(),
            device: "d".into(),
        }
    }

    fn open(part: &Path, h: &PartHeader, expected: &[(u64, String)]) -> JournalWriter {
        let mut rows = PartRows {
            expected,
            scenarios: 1,
            engine: ("cpu", "d"),
            kept: 0,
        };
        match Journal::new(part, h.clone(), b"")
            .unwrap()
            .open(&mut rows, 3)
            .unwrap()
        {
            Opened::Writing(w) => *w,
            Opened::Complete(_) => panic!("complete"),
        }
    }

    #[test]
    fn a_rerun_keeps_whole_matching_rows_and_cuts_a_torn_one() {
        let d = tempfile::tempdir().unwrap();
        let part = d.path().join("p.jsonl");
        let partial = crate::durable::partial_path(&part);
        let expected = [(1, "a".to_string()), (2, "b".into()), (3, "c".into())];
        let mut w = open(&part, &header(), &expected);
        w.append(&line_of(&row(1, "a")).unwrap()).unwrap();
        w.append(&line_of(&row(2, "b")).unwrap()).unwrap();
        w.sync().unwrap();
        drop(w);
        // A torn third row: half a line, no newline.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&partial)
            .unwrap();
        std::io::Write::write_all(&mut f, &line_of(&row(3, "c")).unwrap()[..20]).unwrap();
        drop(f);
        let w = open(&part, &header(), &expected);
        assert_eq!(w.rows(), 2);
        drop(w);
        // Another book order keeps nothing past the first mismatch.
        let other = [(1, "a".to_string()), (2, "x".into()), (3, "c".into())];
        let mut w = open(&part, &header(), &other);
        assert_eq!(w.rows(), 1);
        w.append(&line_of(&row(2, "x")).unwrap()).unwrap();
        w.append(&line_of(&row(3, "c")).unwrap()).unwrap();
        w.finish().unwrap().rename_to(&part).unwrap();
        let p = read(&part).unwrap();
        assert_eq!(p.rows, vec![row(1, "a"), row(2, "x"), row(3, "c")]);
        // Numbers read back to the same bits.
        assert_eq!(
            p.rows[0].base_stderr.map(f64::to_bits),
            Some((1.0f64 / 3.0).to_bits())
        );
        // Another run's header starts afresh.
        let mut h = header();
        h.run = serde_json::json!({"seed": 2});
        std::fs::write(&partial, std::fs::read(&part).unwrap()).unwrap();
        assert_eq!(open(&part, &h, &expected).rows(), 0);
    }
}
