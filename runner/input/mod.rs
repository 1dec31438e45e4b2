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
mod portfolio;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use riskpool_kernels::Trade;

/// Bad input: what is wrong, and exactly where.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based; `None` for errors about the whole file.
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

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
pub(crate) fn error_at(
    file: &Path,
    line: u64,
    field: Option<&str>,
    message: impl Into<String>,
) -> InputError {
    InputError {
        file: file.to_path_buf(),
        line: Some(line),
        field: field.map(str::to_string),
        message: message.into(),
    }
}

fn file_error(file: &Path, message: impl Into<String>) -> InputError {
    InputError {
        file: file.to_path_buf(),
        line: None,
        field: None,
        message: message.into(),
    }
}

/// Looks at the start of `path` to tell its format.
pub fn detect(path: &Path) -> Result<Format, InputError> {
    let mut f = File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
    let mut head = vec![0u8; 4096];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(file_error(path, format!("cannot read: {e}"))),
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
}

/// A trade with the line it came from.
#[derive(Clone, Debug)]
pub struct ReadTrade {
    pub line: u64,
    pub trade: Trade,
}

/// Streams the trades of one file.
pub struct TradeReader {
    path: PathBuf,
    format: Format,
    inner: Inner,
    opts: ReadOptions,
    /// Set after the end of the file or the first error.
    done: bool,
}

enum Inner {
    Lines {
        lines: std::io::Lines<BufReader<File>>,
        line: u64,
    },
    Array {
        items: std::vec::IntoIter<(u64, Result<Trade, InputError>)>,
    },
}

impl TradeReader {
    pub fn open(path: &Path, opts: ReadOptions) -> Result<TradeReader, InputError> {
        let format = detect(path)?;
        let inner = match format {
            Format::JsonArray => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
                Inner::Array {
                    items: portfolio::parse_array(path, &text)?.into_iter(),
                }
            }
            Format::JsonLines | Format::AzfinsimCsv => {
                let f =
                    File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
                Inner::Lines {
                    lines: BufReader::with_capacity(1 << 20, f).lines(),
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
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    fn finish(&self, line: u64, mut trade: Trade) -> Result<Option<ReadTrade>, InputError> {
        if let Some(p) = self.opts.paths {
            trade.paths = p;
        }
        if let Err(e) = trade.validate() {
            let field = match self.format {
                Format::AzfinsimCsv => riskpool_kernels::azfinsim::column_of(&e.field).to_string(),
                _ => e.field.clone(),
            };
            return Err(error_at(&self.path, line, Some(&field), e.message));
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
        Ok(Some(ReadTrade { line, trade }))
    }
}

impl Iterator for TradeReader {
    type Item = Result<ReadTrade, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (line, parsed) = match &mut self.inner {
                Inner::Array { items } => match items.next() {
                    Some(item) => item,
                    None => {
                        self.done = true;
                        return None;
                    }
                },
                Inner::Lines { lines, line } => {
                    let text = match lines.next() {
                        None => {
                            self.done = true;
                            return None;
                        }
                        Some(Err(e)) => {
                            self.done = true;
                            return Some(Err(error_at(
                                &self.path,
                                *line + 1,
                                None,
                                format!("cannot read: {e}"),
                            )));
                        }
                        Some(Ok(t)) => t,
                    };
                    *line += 1;
                    let n = *line;
                    let text = text.trim_end_matches('\r');
                    let text = if n == 1 {
                        text.trim_start_matches('\u{feff}')
                    } else {
                        text
                    };
                    if text.trim().is_empty() {
                        continue;
                    }
                    match self.format {
                        Format::AzfinsimCsv if n == 1 => {
                            if let Err(e) = azfinsim_csv::check_header(&self.path, text) {
                                self.done = true;
                                return Some(Err(e));
                            }
                            continue;
                        }
                        Format::AzfinsimCsv => (n, azfinsim_csv::parse_row(&self.path, n, text)),
                        _ => (n, portfolio::parse_line(&self.path, n, text)),
                    }
                }
            };
            let out = parsed.and_then(|t| self.finish(line, t));
            match out {
                Ok(Some(t)) => return Some(Ok(t)),
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
