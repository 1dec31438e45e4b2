//! Pre-emption safety: what a rerun of `price` with the same arguments may
//! keep from an earlier, interrupted run (docs/durability.md, "Pre-emption",
//! has the whole protocol and what a rerun does in each state the files can be in).
//!
//! While a run is under way its rows are appended to `<output>.partial`
//! (the CSV header written and fsynced first, then rows fsynced after
//! every batch) and `<output>.partial.json` records the run's
//! [`Signature`], written after the header is durable. A rerun with the
//! same signature reads the partial file back as bytes: every row is parsed
//! and written again with the writer's own functions, and kept only when
//! the bytes agree and its trade is the input's trade at that place; the
//! first row that fails (a torn last line, whatever bytes it holds, or
//! anything else) and everything after it are cut off. When every trade is
//! priced, `<output>.summary.json` (row count and content hash of the file)
//! is written and the partial file is renamed into place; a rerun that finds
//! an output whose rows and hash match a summary with its signature does
//! nothing. Anything that does not match starts afresh.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::durable::{
    hash_file, meta_path, partial_path, summary_path, sync_dir, tmp_path, write_atomically,
    Reopened,
};
use crate::input::LineLimit;
use crate::output::{encode_csv, encode_json, Cell, Col, CsvEncoder, Kind, Layout};

/// What makes two runs produce the same rows: the input file (its path,
/// size and a hash of its content) and every option that changes a
/// result, the engine's name and device string included: they are written
/// in every row and decide its numbers, so a rerun on another engine or
/// node (other hardware, `--threads`, `--simd`) starts afresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature(pub Value);

impl Signature {
    pub fn new(input: &Path, content_hash: &str, options: Value) -> Result<Signature> {
        let meta =
            std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        let path = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
        Ok(Signature(json!({
            "input": path.display().to_string(),
            "size": meta.len(),
            "hash": content_hash,
            "options": options,
        })))
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// What `already_done` reads of a summary.
#[derive(Deserialize)]
struct Finished {
    signature: Value,
    #[allow(dead_code)]
    rows: u64,
    output_hash: String,
}

/// Whether `output` is a finished run with this signature: the summary
/// has the signature, and the output is a file whose content hash is the
/// one the summary recorded (a summary alone is not "complete").
pub fn already_done(output: &Path, sig: &Signature) -> bool {
    let Some(s) = read_json(&summary_path(output)).and_then(|v| Finished::deserialize(v).ok())
    else {
        return false;
    };
    s.signature == sig.0 && output.is_file() && hash_file(output).is_ok_and(|h| h == s.output_hash)
}

/// A row an earlier run left, as far as matching it with the input goes.
#[derive(Debug)]
pub struct KeptRow {
    pub id: String,
    pub steps: Option<u64>,
    /// Byte offset just after the row.
    pub end: u64,
}

/// What an interrupted run with the same signature left in
/// `<output>.partial`: its well-formed rows, in order.
#[derive(Debug)]
pub struct Kept {
    /// Whether the file starts with the complete, right header (always
    /// true for JSON Lines, which has none).
    pub header_ok: bool,
    /// Byte offset after the header.
    pub header_end: u64,
    pub rows: Vec<KeptRow>,
}

impl Kept {
    /// Cuts the partial file after its first `n` rows (after the header
    /// alone for 0, to nothing when the header is not whole) and opens it
    /// for appending.
    pub fn reopen(&self, output: &Path, n: usize) -> Result<Reopened> {
        let partial = partial_path(output);
        let n = if self.header_ok {
            n.min(self.rows.len())
        } else {
            0
        };
        let keep = match n {
            0 if self.header_ok => self.header_end,
            0 => 0,
            n => self.rows[n - 1].end,
        };
        let mut f = OpenOptions::new()
            .write(true)
            .open(&partial)
            .with_context(|| format!("cannot open {}", partial.display()))?;
        f.set_len(keep)
            .with_context(|| format!("cannot truncate {}", partial.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", partial.display()))?;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::End(0))
            .with_context(|| format!("cannot open {}", partial.display()))?;
        Ok(Reopened {
            file: f,
            needs_header: !self.header_ok,
            rows: n as u64,
        })
    }
}

/// A field's cell if it is what column kind `col` holds, written as the
/// writer writes it.
fn csv_cell(col: Col, field: &[u8]) -> Option<Cell> {
    let text = std::str::from_utf8(field).ok()?;
    let num = || {
        let x: f64 = text.parse().ok()?;
        (x.is_finite() && format!("{x}") == text).then_some(Cell::Num(x))
    };
    match col {
        Col::Id | Col::Text => Some(Cell::Text(text.to_string())),
        Col::Value | Col::Seconds => num(),
        Col::Stderr | Col::Optional if text.is_empty() => Some(Cell::Missing),
        Col::Stderr | Col::Optional => num(),
        Col::Count => {
            let n: u64 = text.parse().ok()?;
            (n.to_string() == text).then_some(Cell::Count(n))
        }
    }
}

fn json_cell(col: Col, v: &Value) -> Option<Cell> {
    match (col, v) {
        (Col::Id | Col::Text, Value::String(s)) => Some(Cell::Text(s.clone())),
        (Col::Stderr | Col::Optional, Value::Null) => Some(Cell::Missing),
        (Col::Value | Col::Stderr | Col::Optional | Col::Seconds, Value::Number(n))
            if n.is_f64() =>
        {
            n.as_f64().filter(|x| x.is_finite()).map(Cell::Num)
        }
        (Col::Count, Value::Number(n)) => n.as_u64().map(Cell::Count),
        _ => None,
    }
}

/// The row a kept record is, if the writer would have written exactly
/// these bytes for it.
fn kept_row(
    schema: &[(String, Col)],
    engine: (&str, &str),
    cells: Vec<Cell>,
    raw: &[u8],
    again: &[u8],
    end: u64,
) -> Option<KeptRow> {
    if again != raw {
        return None;
    }
    let mut id = None;
    let mut steps = None;
    for ((name, col), cell) in schema.iter().zip(cells) {
        match (col, cell) {
            (Col::Id, Cell::Text(s)) => id = Some(s),
            (Col::Count, Cell::Count(n)) if name == "steps" => steps = Some(n),
            // Rows of another engine (one a fallback took over) are not kept.
            (Col::Text, Cell::Text(s)) if name == "engine" && s != engine.0 => return None,
            (Col::Text, Cell::Text(s)) if name == "device" && s != engine.1 => return None,
            _ => {}
        }
    }
    Some(KeptRow {
        id: id?,
        steps,
        end,
    })
}

/// Reads what an interrupted run with the same signature left. `None`:
/// nothing usable (no partial file, or another run's), and the caller
/// starts afresh. Changes nothing: [`Kept::reopen`] cuts the file.
pub fn scan(
    output: &Path,
    kind: Kind,
    layout: &Layout,
    sig: &Signature,
    engine: (&str, &str),
) -> Result<Option<Kept>> {
    let partial = partial_path(output);
    if !partial.is_file() || read_json(&meta_path(output)).as_ref() != Some(&sig.0) {
        return Ok(None);
    }
    let schema = layout.schema();
    let open =
        || File::open(&partial).with_context(|| format!("cannot read {}", partial.display()));
    // Lines of bounded length: a partial file of garbage is cut, not read into memory.
    let limited = || -> Result<_> { Ok(LineLimit::new(open()?, &partial)) };
    let mut raw = BufReader::with_capacity(1 << 20, limited()?);
    let mut kept = Kept {
        header_ok: kind == Kind::JsonLines,
        header_end: 0,
        rows: Vec::new(),
    };
    let mut buf = Vec::new();
    match kind {
        Kind::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .terminator(csv::Terminator::Any(b'\n'))
                .buffer_capacity(1 << 16)
                .from_reader(BufReader::new(limited()?));
            let mut rec = csv::ByteRecord::new();
            let mut enc = CsvEncoder::default();
            let want = encode_csv(layout.columns())?;
            let mut start = 0u64;
            // A read error (invalid bytes) ends the kept rows like a torn line.
            while let Ok(true) = rdr.read_byte_record(&mut rec) {
                let end = rdr.position().byte();
                buf.clear();
                if (&mut raw).take(end - start).read_to_end(&mut buf).is_err() {
                    break;
                }
                start = end;
                if !kept.header_ok {
                    if buf != want {
                        break;
                    }
                    kept.header_ok = true;
                    kept.header_end = end;
                    continue;
                }
                if rec.len() != schema.len() {
                    break;
                }
                let Some(cells) = schema
                    .iter()
                    .zip(rec.iter())
                    .map(|((_, col), f)| csv_cell(*col, f))
                    .collect::<Option<Vec<_>>>()
                else {
                    break;
                };
                let again = enc.encode(rec.iter())?;
                match kept_row(&schema, engine, cells, &buf, again, end) {
                    Some(row) => kept.rows.push(row),
                    None => break,
                }
            }
        }
        Kind::JsonLines => {
            let mut end = 0u64;
            loop {
                buf.clear();
                // A line too long to be a row ends the kept rows too.
                let Ok(n) = raw.read_until(b'\n', &mut buf) else {
                    break;
                };
                if n == 0 || buf.last() != Some(&b'\n') {
                    break; // the end, or a line the kill cut short
                }
                end += n as u64;
                let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&buf) else {
                    break;
                };
                if o.len() != schema.len() {
                    break;
                }
                let Some(cells) = schema
                    .iter()
                    .map(|(name, col)| json_cell(*col, o.get(name)?))
                    .collect::<Option<Vec<_>>>()
                else {
                    break;
                };
                let again = encode_json(&schema, &cells);
                match kept_row(&schema, engine, cells, &buf, &again[..], end) {
                    Some(row) => kept.rows.push(row),
                    None => break,
                }
            }
        }
    }
    Ok(Some(kept))
}

/// Why a partial file an earlier run left is not resumed, when there is
/// one with a signature other than `sig` (for the log).
pub fn why_afresh(output: &Path, sig: &Signature) -> Option<String> {
    let partial = partial_path(output);
    if !partial.is_file() {
        return None;
    }
    let old = read_json(&meta_path(output));
    let Some(old) = old.filter(|o| *o != sig.0) else {
        return None;
    };
    let (o, n) = (&old["options"], &sig.0["options"]);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let why = afresh_reason(
        (&text(&o["engine"]), &text(&o["device"])),
        (&text(&n["engine"]), &text(&n["device"])),
    );
    Some(format!(
        "starting afresh: {} is not resumed: {why}",
        partial.display()
    ))
}

/// Why rows an earlier run wrote as `(engine, device)` `old` are not kept
/// by a run that differs from it and is `new` (`price` and `risk` say it
/// alike).
pub fn afresh_reason(old: (&str, &str), new: (&str, &str)) -> String {
    if old != new {
        format!(
            "its rows were written by engine {} on {}, this run is engine {} on {}",
            old.0, old.1, new.0, new.1
        )
    } else {
        "it was written for another input or other options".to_string()
    }
}

/// Removes what an interrupted run left beside a complete output (its
/// partial file, signature and temporary files): called with the lock
/// held, once the output is known to be complete.
pub fn remove_leftovers(output: &Path) {
    for f in [
        partial_path(output),
        meta_path(output),
        tmp_path(&meta_path(output)),
        tmp_path(&summary_path(output)),
    ] {
        if std::fs::symlink_metadata(&f).is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(&f);
        }
    }
    sync_dir(output);
}

/// Records the signature of the run now writing `<output>.partial`.
pub fn write_meta(output: &Path, sig: &Signature) -> Result<()> {
    write_atomically(&meta_path(output), &sig.0.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_csv_reader_ends_a_record_after_its_line_end() {
        let bytes = b"a,b\n\"x\ny\",2\n\"c\rd\",3\n";
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(&bytes[..]);
        let mut rec = csv::ByteRecord::new();
        let mut ends = vec![];
        while rdr.read_byte_record(&mut rec).unwrap() {
            ends.push(rdr.position().byte());
        }
        assert_eq!(ends, vec![4, 12, 20]);
    }
}
