//! `--market FILE`: the market file of `price` and `risk`, read and
//! checked whole before any trade is, its errors naming the file and the
//! field (exit 2). Its bytes' hash joins the input's signature
//! (`TradeReader::content_hash`), so a run on another market never resumes
//! one on this.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use riskpool_kernels::market::Market;

use crate::cli::Naming;
use crate::error::UsageError;

/// A market file, checked, with the hash of its bytes.
#[derive(Debug)]
pub struct LoadedMarket {
    pub market: Arc<Market>,
    pub hash: u64,
}

/// Reads and checks `--market FILE`.
pub fn load(path: &Path) -> Result<Arc<LoadedMarket>> {
    load_named(path, Naming::Flags)
}

/// [`load`], its errors naming the market as `naming` names options.
pub fn load_named(path: &Path, naming: Naming) -> Result<Arc<LoadedMarket>> {
    let flag = naming.option("market", None);
    let at = naming.option("market", Some(&path.display()));
    crate::input::require_regular_file(path, &flag, "the market is read whole, before any trade")?;
    let bytes = std::fs::read(path).map_err(|e| usage(format!("{at}: cannot read: {e}")))?;
    from_bytes(&at, &bytes)
}

/// A market from its JSON text (a file's bytes, or a market the Python
/// package was given as a dict), named `at` in errors.
pub fn from_bytes(at: &str, bytes: &[u8]) -> Result<Arc<LoadedMarket>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| usage(format!("{at}: not UTF-8 text: a JSON file is UTF-8")))?;
    let text = text.trim_start_matches('\u{feff}');
    // Read first as JSON that refuses a key given twice in one object:
    // the market's maps (`underlyings`, `curves`) would keep the last of
    // two silently. A syntax error names the field it is in, as a book's.
    crate::input::check_strict_json(text)
        .map_err(|e| json_error(&at, text, e.line(), e.column(), &e.to_string()))?;
    let market = Market::from_json(text).map_err(|e| match line_column(&e.field) {
        // A type error (a string for a number, an unknown field) is placed
        // by its line and column: named by its field too.
        Some((line, column)) => json_error(&at, text, line, column, &e.message),
        None => usage(format!("{at}: {e}")),
    })?;
    Ok(Arc::new(LoadedMarket {
        market: Arc::new(market),
        hash: xxhash_rust::xxh3::xxh3_64(bytes),
    }))
}

/// An error of the market file's JSON at `line` and `column`, naming the
/// field it is in where there is one (`underlyings.SPX.spot`).
fn json_error(at: &str, text: &str, line: usize, column: usize, message: &str) -> anyhow::Error {
    match crate::input::field_at(text, line, column, 0) {
        Some(field) => usage(format!("{at}: `{field}`: {message}")),
        None => usage(format!("{at}: {message}")),
    }
}

/// The line and column of a [`Market::from_json`] error that the JSON
/// reader placed (its field is `line L column C`).
fn line_column(field: &str) -> Option<(usize, usize)> {
    let (line, column) = field.strip_prefix("line ")?.split_once(" column ")?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError(e.to_string()).into()
}
