//! Pre-emption safety: what a rerun of `price` with the same arguments may
//! keep from an earlier, interrupted run.
//!
//! While a run is under way its rows are appended to `<output>.partial`
//! (flushed and fsynced after every batch) and `<output>.partial.json`
//! records the run's [`Signature`]. A rerun with the same signature keeps
//! every complete row whose trade id matches the input at that place,
//! drops a torn last line, and prices only the rest. When every trade is
//! priced, `<output>.summary.json` is written and the partial file is
//! renamed into place; a rerun that finds an output and a summary with its
//! signature does nothing. Anything that does not match starts afresh.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::output::{partial_path, Kind};

/// What makes two runs produce the same rows: the input file (path, size,
/// modification time) and every option that changes a result. The engine
/// is not part of it: a rerun may finish on another engine (results agree
/// far inside the Monte Carlo error).
#[derive(Clone, Debug, PartialEq)]
pub struct Signature(pub Value);

impl Signature {
    pub fn new(input: &Path, options: Value) -> Result<Signature> {
        let meta =
            std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default();
        let path = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
        Ok(Signature(json!({
            "input": path.display().to_string(),
            "size": meta.len(),
            "modified": modified,
            "options": options,
        })))
    }
}

pub fn meta_path(output: &Path) -> PathBuf {
    let mut p = partial_path(output).into_os_string();
    p.push(".json");
    PathBuf::from(p)
}

pub fn summary_path(output: &Path) -> PathBuf {
    let mut p = output.as_os_str().to_owned();
    p.push(".summary.json");
    PathBuf::from(p)
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Whether `output` is a finished run with this signature.
pub fn already_done(output: &Path, sig: &Signature) -> bool {
    output.exists()
        && read_json(&summary_path(output)).is_some_and(|s| s.get("signature") == Some(&sig.0))
}

/// Rows an earlier run left in `<output>.partial`, in order, with their ids.
pub struct Kept {
    /// Trade ids of the complete rows, in file order.
    pub ids: Vec<String>,
}

/// The id a result row names (its first CSV column, or `id`/`tradenum`).
fn row_id(kind: Kind, line: &str) -> Option<String> {
    match kind {
        Kind::Csv => {
            let first = line.split(',').next()?;
            Some(first.trim_matches('"').to_string())
        }
        Kind::JsonLines => {
            let v: Value = serde_json::from_str(line).ok()?;
            match (v.get("id"), v.get("tradenum")) {
                (Some(Value::String(s)), _) => Some(s.clone()),
                (_, Some(n)) => Some(n.to_string()),
                _ => None,
            }
        }
    }
}

/// Reads what an interrupted run with the same signature left, cutting a
/// torn last line off the partial file. `None`: nothing usable (no partial
/// file, another run's, or unreadable), and the caller starts afresh.
pub fn scan(output: &Path, kind: Kind, sig: &Signature) -> Result<Option<Kept>> {
    let partial = partial_path(output);
    if !partial.exists() || read_json(&meta_path(output)).as_ref() != Some(&sig.0) {
        return Ok(None);
    }
    let f = File::open(&partial).with_context(|| format!("cannot read {}", partial.display()))?;
    let mut reader = BufReader::new(f);
    let mut ids = Vec::new();
    let mut good: u64 = 0;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read {}", partial.display()))?;
        if n == 0 || !line.ends_with('\n') {
            break; // end, or a line the kill cut short
        }
        let text = line.trim_end_matches('\n');
        if first && kind == Kind::Csv {
            first = false;
        } else {
            match row_id(kind, text) {
                Some(id) => ids.push(id),
                None => break,
            }
        }
        good += n as u64;
    }
    let f = OpenOptions::new()
        .write(true)
        .open(&partial)
        .with_context(|| format!("cannot open {}", partial.display()))?;
    f.set_len(good)
        .with_context(|| format!("cannot truncate {}", partial.display()))?;
    f.sync_all().ok();
    Ok(Some(Kept { ids }))
}

/// Records the signature of the run now writing `<output>.partial`.
pub fn write_meta(output: &Path, sig: &Signature) -> Result<()> {
    write_atomically(&meta_path(output), &sig.0.to_string())
}

/// Writes `text` to `path` through a temporary file, fsync and rename.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// Opens the partial file for appending after the kept rows.
pub fn reopen(output: &Path) -> Result<File> {
    let partial = partial_path(output);
    let mut f = OpenOptions::new()
        .append(true)
        .open(&partial)
        .with_context(|| format!("cannot open {}", partial.display()))?;
    f.seek(SeekFrom::End(0)).ok();
    Ok(f)
}
