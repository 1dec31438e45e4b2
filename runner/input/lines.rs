//! Reading text of bounded line length: a trade, scenario or results file
//! whose "line" runs past [`MAX_LINE`] bytes (a file with no line ends,
//! `/dev/zero`) is refused in bounded memory, naming the line.

use std::path::Path;

/// The longest line (or CSV record) read: a results or trade row is a few
/// hundred bytes, so anything longer is not one, and is refused before it
/// fills the memory.
pub const MAX_LINE: usize = 1 << 20;

/// A reader that fails once more than [`MAX_LINE`] bytes pass with no line
/// end, so a file without line ends is refused in bounded memory.
pub struct LineLimit<R> {
    inner: R,
    since_newline: usize,
    /// Line ends read so far: the long line is the next one.
    lines: u64,
    file: std::path::PathBuf,
    /// The longest line taken ([`MAX_LINE`] unless told).
    limit: usize,
}

impl<R> LineLimit<R> {
    pub fn new(inner: R, file: &Path) -> Self {
        Self::with_limit(inner, file, MAX_LINE)
    }

    /// Lines of at most `limit` bytes (a risk part's row grows with its
    /// scenarios).
    pub fn with_limit(inner: R, file: &Path, limit: usize) -> Self {
        LineLimit {
            inner,
            since_newline: 0,
            lines: 0,
            file: file.to_path_buf(),
            limit,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut line_start = 0;
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, &b)| b == b'\n') {
            if self.since_newline + (i - line_start) > self.limit {
                break;
            }
            self.lines += 1;
            self.since_newline = 0;
            line_start = i + 1;
        }
        self.since_newline += n - line_start;
        if self.since_newline > self.limit {
            let line = self.lines + 1;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                LongLine {
                    line,
                    message: format!(
                        "{} line {line}: a line longer than {} bytes: not a text file of rows",
                        self.file.display(),
                        self.limit
                    ),
                },
            ));
        }
        Ok(n)
    }
}

/// The error [`LineLimit`] reads with: the line (from 1) that is too long.
#[derive(Debug)]
pub struct LongLine {
    pub line: u64,
    message: String,
}

impl std::fmt::Display for LongLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LongLine {}
