//! `--market FILE`: the market file of `price` and `risk`, read and
//! checked whole before any trade is, its errors naming the file and the
//! field (exit 2). Its bytes' hash joins the input's signature
//! (`TradeReader::content_hash`), so a run on another market never resumes
//! one on this.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use riskpool_kernels::market::Market;

use crate::error::UsageError;

/// A market file, checked, with the hash of its bytes.
#[derive(Debug)]
pub struct LoadedMarket {
    pub market: Arc<Market>,
    pub hash: u64,
}

/// Reads and checks `--market FILE`.
pub fn load(path: &Path) -> Result<Arc<LoadedMarket>> {
    crate::input::require_regular_file(
        path,
        "--market",
        "the market is read whole, before any trade",
    )?;
    let bytes = std::fs::read(path)
        .map_err(|e| usage(format!("--market {}: cannot read: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        usage(format!(
            "--market {}: not UTF-8 text: a JSON file is UTF-8",
            path.display()
        ))
    })?;
    let market = Market::from_json(text.trim_start_matches('\u{feff}'))
        .map_err(|e| usage(format!("--market {}: {e}", path.display())))?;
    Ok(Arc::new(LoadedMarket {
        market: Arc::new(market),
        hash: xxhash_rust::xxh3::xxh3_64(&bytes),
    }))
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError(e.to_string()).into()
}
