//! Pass 1 of `riskpool price`: every trade of the input is parsed and
//! checked before any output exists, so bad input exits 2 with nothing
//! written.
//!
//! Blocks of trades are parsed and checked on every core; what must be
//! sequential (stream ids seen twice) then runs over small records in file
//! order, so the problem reported is the first in the file, as a
//! one-thread reading would find it. The same reading hashes the file's
//! bytes for the run's signature (`journal`), at no extra pass.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use rayon::prelude::*;
use riskpool_kernels::engine::{check_request, check_rng};
use riskpool_kernels::{EngineError, PricingRequest};

use crate::input::{error_at, Format, ReadOptions, ReadTrade, Source, TradeReader};

/// Trades parsed together (about 12 MiB of azfinsim CSV).
const BLOCK: usize = 1 << 16;

/// What pass 1 found.
#[derive(Debug)]
pub struct Checked {
    /// Trades to price (after `--shard` and the window).
    pub count: u64,
    /// The xxh3 of the whole file (see `TradeReader::content_hash`).
    pub hash: String,
    /// The most assets of any trade to price (0 when all have one): the
    /// per-asset columns a CSV output needs.
    pub assets: usize,
    /// Each trade's text hash, in order (`ReadTrade::text_hash`).
    pub texts: Vec<u64>,
}

impl Checked {
    /// Opens the input for pass 2. A JSON array is read whole here, so it
    /// must already be the file pass 1 read.
    pub fn open_again(&self, path: &Path, opts: &ReadOptions) -> Result<TradeReader> {
        let reader = TradeReader::open(path, opts.clone())?;
        if reader.format() == Format::JsonArray && reader.content_hash() != self.hash {
            anyhow::bail!(changed(path));
        }
        Ok(reader)
    }

    /// Whether `t`, the `index`-th trade pass 2 read, has the text pass 1
    /// checked and hashed: a row is written only for such a trade, so no
    /// row of a journal comes from other bytes than its signature's.
    pub fn same_text(&self, index: u64, t: &ReadTrade) -> bool {
        self.texts.get(index as usize) == Some(&t.text_hash)
    }
}

/// The error of an input that changed between the passes (exit 1: the
/// rerun, with the input's new hash, starts afresh).
pub fn changed(path: &Path) -> String {
    format!(
        "the input changed while it was being read ({} is not what the check read); rerun to compute it afresh",
        path.display()
    )
}

/// A term of `trade` that the request's precision cannot hold (in f32,
/// beyond 3.4e38: it would be infinite, and a payoff of it paid 0 or a
/// garbage), named as its input names it.
fn beyond_precision(
    trade: &riskpool_kernels::Trade,
    req: &PricingRequest,
) -> Option<(String, String)> {
    if req.precision != riskpool_kernels::Precision::F32 {
        return None;
    }
    crate::output::input_fields(trade)
        .into_iter()
        .find(|(_, x)| x.is_finite() && x.abs() > f32::MAX as f64)
        .map(|(name, x)| {
            (
                name,
                format!(
                    "{x:e} does not fit in f32 (at most {:e}): price it with --precision f64",
                    f32::MAX
                ),
            )
        })
}

/// One checked trade, all the sequential part needs of it.
struct Row {
    line: u64,
    stream: u64,
    assets: usize,
    text_hash: u64,
}

/// Checks the whole input against `req`.
pub fn check_all(path: &Path, opts: &ReadOptions, req: &PricingRequest) -> Result<Checked> {
    check_in_blocks(Source::File(path), opts, req, BLOCK)
}

/// [`check_all`] of a file or a book in memory.
pub fn check_source(source: Source, opts: &ReadOptions, req: &PricingRequest) -> Result<Checked> {
    check_in_blocks(source, opts, req, BLOCK)
}

fn check_in_blocks(
    source: Source,
    opts: &ReadOptions,
    req: &PricingRequest,
    block: usize,
) -> Result<Checked> {
    let path = source.name();
    let mut reader = TradeReader::from_source(source, opts.clone())?;
    let format = reader.format();
    let field = |azfinsim: &'static str, portfolio: &'static str| {
        if format == Format::AzfinsimCsv {
            azfinsim
        } else {
            portfolio
        }
    };
    let mut first_line: HashMap<u64, u64> = HashMap::new();
    let mut count = 0u64;
    let mut assets = 0;
    let mut texts = Vec::new();
    while let Some(block) = reader.next_parsed(block) {
        let rows: Vec<Result<Row>> = block
            .into_par_iter()
            .map(|item| {
                let t = item?;
                if let Err((name, msg)) = check_rng(&t.trade, req) {
                    let name = if name == "paths" {
                        field("trials", "paths")
                    } else {
                        name
                    };
                    return Err(error_at(path, t.line, Some(name), msg).into());
                }
                if let Err(e) = check_request(&t.trade, req) {
                    let msg = match e {
                        EngineError::BadTrade { message, .. } => message,
                        other => other.to_string(),
                    };
                    return Err(error_at(path, t.line, Some(field("trials", "paths")), msg).into());
                }
                if let Some((name, msg)) = beyond_precision(&t.trade, req) {
                    return Err(error_at(path, t.line, Some(&name), msg).into());
                }
                let multi = t.trade.extension.as_ref().and_then(|e| e.multi.as_ref());
                let assets = match (&t.trade.dated, multi) {
                    // A dated trade on several underlyings has their
                    // Greeks per underlying, as a multi-asset trade.
                    (Some(d), _) if d.assets.len() > 1 => d.assets.len(),
                    (_, m) => m.map_or(0, |m| m.model.assets()),
                };
                Ok(Row {
                    line: t.line,
                    stream: t.trade.stream,
                    assets,
                    text_hash: t.text_hash,
                })
            })
            .collect();
        for row in rows {
            let row = row?;
            if let Some(first) = first_line.insert(row.stream, row.line) {
                let what = duplicate(source, opts, first, row.line)?;
                return Err(error_at(path, row.line, Some(field("tradenum", "id")), what).into());
            }
            count += 1;
            assets = assets.max(row.assets);
            texts.push(row.text_hash);
        }
    }
    Ok(Checked {
        count,
        hash: reader.content_hash(),
        assets,
        texts,
    })
}

/// The message for a stream id seen on line `first` and again on `line`:
/// the ids are read back from the file (a rare path, so pass 1 keeps none).
fn duplicate(source: Source, opts: &ReadOptions, first: u64, line: u64) -> Result<String> {
    let mut ids = TradeReader::from_source(source, opts.clone())?
        .filter_map(|t| t.ok())
        .filter(|t| t.line == first || t.line == line)
        .map(|t| t.trade.id)
        .take(2);
    let (a, b) = (
        ids.next().unwrap_or_default(),
        ids.next().unwrap_or_default(),
    );
    Ok(if a == b {
        format!("duplicate trade `{a}` (first on line {first})")
    } else {
        format!("trade `{b}` has the same stream id as `{a}` on line {first}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskpool_kernels::azfinsim::{AzfinsimTrade, HEADER};

    /// An azfinsim file of trades 0..n, with `edit` applied to each row.
    fn file(dir: &Path, n: u64, edit: impl Fn(u64, String) -> String) -> std::path::PathBuf {
        let mut text = HEADER.join(",") + "\n";
        for i in 0..n {
            text += &edit(i, AzfinsimTrade::generate(1, i).to_csv_row());
            text += "\n";
        }
        let path = dir.join("trades.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn ids(
        items: impl IntoIterator<Item = Result<crate::input::ReadTrade, crate::input::InputError>>,
    ) -> Vec<(u64, String)> {
        items
            .into_iter()
            .map(|t| t.map(|t| (t.line, t.trade.id)).unwrap())
            .collect()
    }

    #[test]
    fn blocks_parse_what_the_line_reader_does_and_skipped_blocks_are_not_the_end() {
        let d = tempfile::tempdir().unwrap();
        let path = file(d.path(), 10, |_, row| row);
        for opts in [
            ReadOptions::default(),
            ReadOptions {
                window: Some((7, 2)),
                ..Default::default()
            },
            ReadOptions {
                shard: Some((1, 3)),
                ..Default::default()
            },
        ] {
            let one_by_one = ids(TradeReader::open(&path, opts.clone()).unwrap());
            let mut reader = TradeReader::open(&path, opts.clone()).unwrap();
            let mut blocks = Vec::new();
            while let Some(b) = reader.next_parsed(3) {
                blocks.push(ids(b));
            }
            // Header + 10 rows in blocks of 3 lines: four blocks, then the end.
            assert_eq!(blocks.len(), 4, "{opts:?}");
            assert_eq!(blocks.concat(), one_by_one, "{opts:?}");
            let c =
                check_in_blocks(Source::File(&path), &opts, &PricingRequest::default(), 3).unwrap();
            assert_eq!(c.count, one_by_one.len() as u64);
        }
        let window = ReadOptions {
            window: Some((7, 2)),
            ..Default::default()
        };
        let mut reader = TradeReader::open(&path, window).unwrap();
        let first = reader.next_parsed(3).unwrap();
        assert!(
            first.is_empty(),
            "a block the window skips whole is empty, not the end"
        );
    }

    #[test]
    fn the_first_problem_in_the_file_is_reported_whichever_block_it_is_in() {
        let d = tempfile::tempdir().unwrap();
        let req = PricingRequest::default();
        let opts = ReadOptions::default();
        // Row 2 repeats row 1's trade number (line 4); row 6's fx1 is bad (line 8).
        let dup_then_bad = |i: u64, row: String| match i {
            2 => row.replacen("2,", "1,", 1),
            6 => {
                let mut f: Vec<&str> = row.split(',').collect();
                f[1] = "abc";
                f.join(",")
            }
            _ => row,
        };
        for block in [1, 2, 5, 64] {
            let path = file(d.path(), 10, dup_then_bad);
            let e = check_in_blocks(Source::File(&path), &opts, &req, block)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(":4:") && e.contains("duplicate trade `1` (first on line 3)"),
                "{block}: {e}"
            );
            // The bad number alone is found on its line and field.
            let path = file(d.path(), 10, |i, row| {
                if i == 2 {
                    row
                } else {
                    dup_then_bad(i, row)
                }
            });
            let e = check_in_blocks(Source::File(&path), &opts, &req, block)
                .unwrap_err()
                .to_string();
            assert!(e.contains(":8:") && e.contains("fx1"), "{block}: {e}");
        }
    }
}
