//! Reading trades: format detection and a streaming reader whose every
//! error names the file, the line and the field.
//!
//! Formats, detected from the file's first non-blank character or line:
//! - `[`: a JSON array of portfolio trades (read whole: meant for small books);
//! - `{`: JSON Lines, one portfolio trade per line (streamed);
//! - a first line starting `tradenum`: azfinsim's CSV (streamed).

mod azfinsim_csv;
#[cfg(test)]
mod fuzz;
pub mod lines;
mod portfolio;
pub mod scenarios;

pub use portfolio::Underlyings;
pub(crate) use portfolio::{check_strict_json, field_at};

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use riskpool_kernels::Trade;

pub use crate::error::InputError;
pub use lines::{LineLimit, LongLine, MAX_LINE};

/// What kind of trade file it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonArray,
    JsonLines,
    AzfinsimCsv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonArray => "JSON array",
            Format::JsonLines => "JSON Lines",
            Format::AzfinsimCsv => "azfinsim CSV",
        }
    }
}

/// A located error, for the format readers.
/// `--start-trade S --trade-window W` as the trade numbers S..S+W-1:
/// a window of 0 trades, or one that runs past the last trade number
/// (2^64 - 1), is refused.
pub fn trade_window(
    start: Option<u64>,
    window: Option<u64>,
) -> Result<Option<(u64, u64)>, crate::error::UsageError> {
    match (start, window) {
        (None, None) => Ok(None),
        (_, Some(0)) => Err(crate::error::UsageError(
            "--trade-window 0: the window must hold at least one trade".into(),
        )),
        (s, Some(w)) => {
            let s = s.unwrap_or(0);
            if s.checked_add(w - 1).is_none() {
                return Err(crate::error::UsageError(format!(
                    "--trade-window {w}: with --start-trade {s} the window runs past the last trade number ({})",
                    u64::MAX
                )));
            }
            Ok(Some((s, w)))
        }
        (Some(s), None) => Ok(Some((s, u64::MAX))),
    }
}

/// A trade number as azfinsim files hold it: ASCII digits only (no sign,
/// no spaces, no `0x`, no `.0`), leading zeros allowed (`007` is 7), at
/// most 2^64 - 1. Every reader of trade numbers (`price`, `split`,
/// `concat`) takes this one rule, so one trade is one number.
pub fn parse_tradenum(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub(crate) fn error_at(
    file: &Path,
    line: u64,
    field: Option<&str>,
    message: impl Into<String>,
) -> InputError {
    InputError {
        trade: None,
        file: file.to_path_buf(),
        line: Some(line),
        field: field.map(str::to_string),
        message: message.into(),
    }
}

fn file_error(file: &Path, message: impl Into<String>) -> InputError {
    InputError {
        trade: None,
        file: file.to_path_buf(),
        line: None,
        field: None,
        message: message.into(),
    }
}

/// Why `price` needs a regular file as its input.
pub const READ_TWICE: &str = "riskpool reads its input twice (a check of every trade before \
     anything is written, then the pricing) and hashes it for the rerun after a pre-emption; \
     save it to a file first";

/// Refuses an input that is not a regular file (standard input as `-`, a
/// FIFO, a device, a folder), saying `why` one is needed.
pub fn require_regular_file(
    path: &Path,
    flag: &str,
    why: &str,
) -> Result<(), crate::error::UsageError> {
    if path == Path::new("-") {
        return Err(crate::error::UsageError(format!(
            "{flag} -: standard input is not supported: {why}"
        )));
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(crate::error::UsageError(format!(
            "{flag} {}: not a regular file (a folder, FIFO or device): {why}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Looks at the start of `path` to tell its format.
pub fn detect(path: &Path) -> Result<Format, InputError> {
    let f = File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
    detect_in(path, f)
}

/// [`detect`] of a book held in memory, named `name` in errors.
pub fn detect_bytes(name: &Path, bytes: &[u8]) -> Result<Format, InputError> {
    detect_in(name, bytes)
}

/// Tells the format of the bytes `f` reads, named `path` in errors.
fn detect_in(path: &Path, mut f: impl Read) -> Result<Format, InputError> {
    // The first 4 KiB after any leading blank space (a book may start with
    // blank lines), the blank space read past in bounded memory.
    let mut head = vec![0u8; 4096];
    let mut n = 0;
    let mut skipped = false;
    loop {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(file_error(path, format!("cannot read: {e}"))),
        }
        if !skipped {
            let start = if head.starts_with("\u{feff}".as_bytes()) {
                3
            } else {
                0
            };
            match head[start..n].iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    head.copy_within(start + i..n, 0);
                    n -= start + i;
                    skipped = true;
                }
                None => {
                    n = 0;
                    continue;
                }
            }
        }
        if n == head.len() {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head[..n]);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(file_error(path, "the file is empty: no trades"));
    }
    if trimmed.starts_with('[') {
        return Ok(Format::JsonArray);
    }
    if trimmed.starts_with('{') {
        return Ok(Format::JsonLines);
    }
    let first = trimmed.lines().next().unwrap_or("");
    if first.starts_with("tradenum") {
        return Ok(Format::AzfinsimCsv);
    }
    if first.contains(',') {
        return Err(error_at(
            path,
            1,
            None,
            format!(
                "not an azfinsim trade file: the header must be `{}`, got `{}`",
                riskpool_kernels::azfinsim::HEADER.join(","),
                first.trim_end()
            ),
        ));
    }
    Err(error_at(
        path,
        1,
        None,
        "unrecognised format: expected a JSON array, JSON Lines or azfinsim CSV",
    ))
}

/// Options applied to every trade as it is read.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// `--paths`: overrides every trade's path count (azfinsim's `trials`).
    pub paths: Option<u64>,
    /// `--shard I/N`: keep only trades whose stream id is `I` mod `N`.
    pub shard: Option<(u64, u64)>,
    /// `--start-trade S --trade-window W`: keep azfinsim trades S..S+W-1.
    pub window: Option<(u64, u64)>,
    /// `--market FILE`: what dated trades are priced through.
    pub market: Option<std::sync::Arc<crate::market::LoadedMarket>>,
    /// How the trades' messages name options (`--market FILE`, `market=`).
    pub naming: crate::cli::Naming,
}

/// A trade with the line it came from.
#[derive(Clone, Debug)]
pub struct ReadTrade {
    pub line: u64,
    pub trade: Trade,
    /// Its assets' underlying names (azfinsim trades name none).
    pub underlyings: Underlyings,
    /// Its number in a JSON array book (whose items may share one line,
    /// as `json.dumps` writes them), from 1; `None` in a book of lines.
    pub item: Option<u64>,
    /// The xxh3 of its line's text (0 for an item of a JSON array, whose
    /// file is read whole and hashed as it is opened): pass 2 prices a
    /// trade only when its text is what pass 1 checked (`check`).
    pub text_hash: u64,
}

/// Streams the trades of one file.
pub struct TradeReader {
    path: PathBuf,
    format: Format,
    inner: Inner,
    opts: ReadOptions,
    /// Set after the end of the file or the first error.
    done: bool,
    /// A hash of every byte read so far (the input's signature).
    hash: xxhash_rust::xxh3::Xxh3,
    /// The item [`peek`](TradeReader::peek) read, which `next` returns first.
    ahead: Option<Result<ReadTrade, InputError>>,
}

enum Inner {
    Lines {
        text: BufReader<LineLimit<Box<dyn Read + Send + Sync>>>,
        line: u64,
    },
    Array {
        items: std::vec::IntoIter<(u64, Result<(Trade, Underlyings), InputError>)>,
        /// Items read so far.
        taken: u64,
    },
}

/// Where a [`TradeReader`] reads: a file, or a book held in memory (the
/// Python package's trades, its dicts written as JSON Lines or its frame as
/// azfinsim CSV), named in errors by `name`.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Memory {
        name: &'a Path,
        bytes: &'a std::sync::Arc<[u8]>,
    },
}

impl Source<'_> {
    /// The name its errors give.
    pub fn name(&self) -> &Path {
        match self {
            Source::File(p) => p,
            Source::Memory { name, .. } => name,
        }
    }

    /// Its format, from its first bytes.
    pub fn detect(&self) -> Result<Format, InputError> {
        match self {
            Source::File(p) => detect(p),
            Source::Memory { name, bytes } => detect_bytes(name, bytes),
        }
    }

    /// Its bytes from the start.
    fn open(&self) -> Result<Box<dyn Read + Send + Sync>, InputError> {
        match self {
            Source::File(path) => File::open(path)
                .map(|f| Box::new(f) as Box<dyn Read + Send + Sync>)
                .map_err(|e| file_error(path, format!("cannot open: {e}"))),
            Source::Memory { bytes, .. } => {
                Ok(Box::new(std::io::Cursor::new(std::sync::Arc::clone(bytes))))
            }
        }
    }
}

impl TradeReader {
    pub fn open(path: &Path, opts: ReadOptions) -> Result<TradeReader, InputError> {
        Self::from_source(Source::File(path), opts)
    }

    /// A reader of `source`, a file or a book in memory.
    pub fn from_source(source: Source, opts: ReadOptions) -> Result<TradeReader, InputError> {
        let path = source.name();
        let format = source.detect()?;
        let mut hash = xxhash_rust::xxh3::Xxh3::new();
        // The market is part of what the trades are: a run on another
        // market is another run (its signature differs).
        if let Some(m) = &opts.market {
            hash.update(b"market ");
            hash.update(&m.hash.to_le_bytes());
        }
        let inner = match format {
            Format::JsonArray => {
                let mut bytes = Vec::new();
                source
                    .open()?
                    .read_to_end(&mut bytes)
                    .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
                let text = String::from_utf8(bytes).map_err(|e| {
                    // The line of the first byte that is not UTF-8.
                    let at = e.utf8_error().valid_up_to();
                    let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
                    error_at(
                        path,
                        line as u64,
                        None,
                        "not UTF-8 text: a JSON file is UTF-8",
                    )
                })?;
                hash.update(text.as_bytes());
                Inner::Array {
                    items: portfolio::parse_array(
                        path,
                        text.trim_start_matches('\u{feff}'),
                        opts.market.as_ref().map(|m| &m.market),
                        opts.naming,
                    )?
                    .into_iter(),
                    taken: 0,
                }
            }
            Format::JsonLines | Format::AzfinsimCsv => {
                let f = source.open()?;
                Inner::Lines {
                    text: BufReader::with_capacity(1 << 20, LineLimit::new(f, path)),
                    line: 0,
                }
            }
        };
        Ok(TradeReader {
            path: path.to_path_buf(),
            format,
            inner,
            opts,
            done: false,
            hash,
            ahead: None,
        })
    }

    /// The next item, left to be read.
    pub fn peek(&mut self) -> Option<&Result<ReadTrade, InputError>> {
        if self.ahead.is_none() {
            self.ahead = self.read_next();
        }
        self.ahead.as_ref()
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The file it reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The xxh3 of the bytes read so far, as 16 hex digits: the whole
    /// file's once the reader has reached its end.
    pub fn content_hash(&self) -> String {
        format!("{:016x}", self.hash.digest())
    }

    fn finish(
        &self,
        line: u64,
        (mut trade, underlyings): (Trade, Underlyings),
    ) -> Result<Option<ReadTrade>, InputError> {
        if let Some(p) = self.opts.paths {
            trade.paths = p;
        }
        if let Err(e) = trade.validate() {
            let field = match self.format {
                Format::AzfinsimCsv => riskpool_kernels::azfinsim::column_of(&e.field).to_string(),
                _ => e.field.clone(),
            };
            let mut message = e.message;
            if let (Some(p), "paths") = (self.opts.paths, e.field.as_str()) {
                // The count is the flag's, not the file's.
                message = format!(
                    "{message} (the count is {})",
                    self.opts.naming.option("paths", Some(&p))
                );
            }
            return Err(error_at(&self.path, line, Some(&field), message));
        }
        if let Some((start, len)) = self.opts.window {
            if trade.stream < start || trade.stream - start >= len {
                return Ok(None);
            }
        }
        if let Some((i, n)) = self.opts.shard {
            if trade.stream % n != i {
                return Ok(None);
            }
        }
        Ok(Some(ReadTrade {
            line,
            trade,
            underlyings,
            item: None,
            text_hash: 0,
        }))
    }
}

/// An array item with its number.
fn numbered(
    item: Option<Result<ReadTrade, InputError>>,
    k: u64,
) -> Option<Result<ReadTrade, InputError>> {
    item.map(|r| {
        r.map(|mut t| {
            t.item = Some(k);
            t
        })
    })
}

/// Reads one line into `buf` (appending; the newline stays): `Ok(false)`
/// at the end of the file.
fn read_line(
    path: &Path,
    text: &mut BufReader<LineLimit<Box<dyn Read + Send + Sync>>>,
    line: u64,
    buf: &mut String,
) -> Result<bool, InputError> {
    text.read_line(buf).map(|n| n > 0).map_err(|e| {
        // A line past the limit is named by its own number, once.
        match e.get_ref().and_then(|i| i.downcast_ref::<LongLine>()) {
            Some(long) => error_at(
                path,
                long.line,
                None,
                format!("a line longer than {MAX_LINE} bytes: not a trade (a trade is a few hundred bytes; is this a text file of trades?)"),
            ),
            None => error_at(path, line + 1, None, format!("cannot read: {e}")),
        }
    })
}

impl TradeReader {
    /// A parsed item of line `n`: `None` for a trade outside the shard or
    /// window.
    fn parse_item(
        &self,
        n: u64,
        parsed: Result<(Trade, Underlyings), InputError>,
    ) -> Option<Result<ReadTrade, InputError>> {
        parsed.and_then(|t| self.finish(n, t)).transpose()
    }

    /// Parses line `n`: `None` for a blank line, the CSV header or a trade
    /// outside the shard or window. Reads nothing else of the reader, so
    /// lines can be parsed on many threads.
    fn parse_line(&self, n: u64, text: &str) -> Option<Result<ReadTrade, InputError>> {
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        let text = if n == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        if text.trim().is_empty() {
            return None;
        }
        let parsed = match self.format {
            Format::AzfinsimCsv if n == 1 => {
                return azfinsim_csv::check_header(&self.path, text).err().map(Err);
            }
            // azfinsim's rows name no underlying (no currency pair
            // either): they do not move in scenarios.
            Format::AzfinsimCsv => {
                azfinsim_csv::parse_row(&self.path, n, text).map(|t| (t, vec![None]))
            }
            _ => portfolio::parse_line_named(
                &self.path,
                n,
                text,
                self.opts.market.as_ref().map(|m| &m.market),
                self.opts.naming,
            ),
        };
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        self.parse_item(n, parsed).map(|r| {
            r.map(|mut t| {
                t.text_hash = hash;
                t
            })
        })
    }

    /// Up to `n` lines (or array items) read in order and parsed on
    /// rayon's threads, `None` at the end. The trades keep the file's
    /// order (a block may hold none, when `--shard` or the window skips
    /// them all), and the first error ends them.
    pub fn next_parsed(&mut self, n: usize) -> Option<Vec<Result<ReadTrade, InputError>>> {
        use rayon::prelude::*;
        if let Some(a) = self.ahead.take() {
            return Some(vec![a]);
        }
        if self.done {
            return None;
        }
        let mut out: Vec<_> = match &mut self.inner {
            Inner::Array { items, taken } => {
                let first = *taken;
                let block: Vec<_> = items.by_ref().take(n).collect();
                *taken += block.len() as u64;
                if block.is_empty() {
                    self.done = true;
                    return None;
                }
                block
                    .into_iter()
                    .zip(first + 1..)
                    .filter_map(|((line, t), k)| numbered(self.parse_item(line, t), k))
                    .collect()
            }
            Inner::Lines { text, line } => {
                // One buffer for the whole block: no allocation per line.
                let mut buf = String::with_capacity(n * 200);
                let mut ends = Vec::with_capacity(n);
                let first = *line + 1;
                let mut read_error = None;
                while ends.len() < n {
                    match read_line(&self.path, text, *line, &mut buf) {
                        Ok(true) => {
                            *line += 1;
                            ends.push(buf.len());
                        }
                        Ok(false) => break,
                        Err(e) => {
                            read_error = Some(e);
                            break;
                        }
                    }
                }
                self.hash.update(buf.as_bytes());
                let mut parsed: Vec<_> = (0..ends.len())
                    .into_par_iter()
                    .filter_map(|i| {
                        let start = if i == 0 { 0 } else { ends[i - 1] };
                        self.parse_line(first + i as u64, &buf[start..ends[i]])
                    })
                    .collect();
                if let Some(e) = read_error {
                    parsed.push(Err(e));
                } else if ends.is_empty() {
                    self.done = true;
                    return None;
                }
                parsed
            }
        };
        if let Some(i) = out.iter().position(Result::is_err) {
            out.truncate(i + 1);
            self.done = true;
        }
        Some(out)
    }
}

impl Iterator for TradeReader {
    type Item = Result<ReadTrade, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.ahead.take().or_else(|| self.read_next())
    }
}

impl TradeReader {
    fn read_next(&mut self) -> Option<Result<ReadTrade, InputError>> {
        let mut buf = String::new();
        while !self.done {
            let item = match &mut self.inner {
                Inner::Array { items, taken } => match items.next() {
                    Some((n, t)) => {
                        *taken += 1;
                        let k = *taken;
                        numbered(self.parse_item(n, t), k)
                    }
                    None => {
                        self.done = true;
                        None
                    }
                },
                Inner::Lines { text, line } => {
                    buf.clear();
                    match read_line(&self.path, text, *line, &mut buf) {
                        Ok(true) => {
                            *line += 1;
                            let n = *line;
                            self.hash.update(buf.as_bytes());
                            self.parse_line(n, &buf)
                        }
                        Ok(false) => {
                            self.done = true;
                            None
                        }
                        Err(e) => Some(Err(e)),
                    }
                }
            };
            if let Some(item) = item {
                self.done = item.is_err();
                return Some(item);
            }
        }
        None
    }
}
