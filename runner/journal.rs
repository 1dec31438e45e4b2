//! The one resume protocol of `price` and `risk` (docs/durability.md, "The
//! journal"): the rows a run has made durable, in the file a rerun after a
//! pre-emption goes on from, and from which the outputs are rendered.
//!
//! A journal `<target>.partial` holds, in order:
//!
//! 1. a header line, JSON: the run's signature (the input's hash, every
//!    option that changes a result, the engine and its device). A rerun
//!    keeps rows only under the very same line;
//! 2. a preamble: the CSV header of a `price` output (nothing for a risk
//!    part); header and preamble are synced before any row;
//! 3. the rows, appended and made durable (`fdatasync`) batch by batch;
//! 4. once every row is there, the end line
//!    `{"end_of_part":ROWS,"content_xxh3":"<16 hex digits>"}`: the row
//!    count and the xxh3 of every byte before it (the key is the risk
//!    part's, the journal's first form: docs/formats.md).
//!
//! A rerun reads the journal back as bytes and keeps every whole row that
//! is, byte for byte, what this run writes at that place ([`Rows`] says
//! which: the input's trade there, written by this engine); the first that
//! is not (a torn tail, whatever its bytes) is cut with everything after
//! it, and the run appends from there. A journal whose end line checks is
//! complete: nothing is priced again, the outputs are rendered from it;
//! one whose end line does not (edited after it was written) keeps no row.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::durable::{open_no_follow, partial_path, refuse_special, sync_dir};
use crate::input::{LineLimit, MAX_LINE};

/// A journal's first line: the signature of the run that writes it.
pub trait Header: Serialize + DeserializeOwned + PartialEq {
    /// The engine and device whose rows the journal keeps (for the log's
    /// reason to start afresh).
    fn engine(&self) -> (&str, &str);
}

/// One record of a journal as read back, with its line end.
pub enum Record<'a> {
    /// A JSON line.
    Line(&'a [u8]),
    /// A CSV record (its quoted fields may hold line ends): its fields
    /// and its bytes.
    Csv {
        fields: &'a csv::ByteRecord,
        raw: &'a [u8],
    },
}

/// What the rows of one kind of journal are: how they are framed, and
/// which of an earlier run's a rerun keeps.
pub trait Rows {
    /// CSV records rather than lines.
    fn csv(&self) -> bool;
    /// Whether `record` is, byte for byte, the row this run writes next;
    /// a row kept is taken (the next call is about the row after it).
    fn keep(&mut self, record: Record<'_>) -> bool;
    /// The longest row this run can write: anything longer is not one,
    /// and is cut without being read into memory.
    fn max_record(&self) -> usize {
        MAX_LINE
    }
}

/// The last line of a complete journal.
#[derive(Debug, Serialize, Deserialize)]
pub struct EndLine {
    pub end_of_part: u64,
    pub content_xxh3: String,
}

impl EndLine {
    /// The line as written, with its line end.
    pub fn line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("an end line is plain JSON");
        s.push('\n');
        s
    }
}

fn hex(h: &Xxh3) -> String {
    format!("{:016x}", h.digest())
}

/// The journal of one run: where it is and what its header and preamble
/// must be.
pub struct Journal<H> {
    path: PathBuf,
    header: H,
    /// The header line (with its line end) and the preamble.
    head: Vec<u8>,
    header_len: u64,
}

/// A complete journal: every row durable, the end line written.
#[derive(Debug)]
pub struct Done {
    pub path: PathBuf,
    pub rows: u64,
    /// Rows an earlier run had made durable.
    pub kept: u64,
    /// Where the preamble and rows lie, and their xxh3: the bytes a
    /// `price` output is rendered from.
    pub body_start: u64,
    pub body_len: u64,
    pub body_hash: String,
}

/// What [`Journal::open`] found.
pub enum Opened {
    /// A complete journal of this run: nothing to compute.
    Complete(Done),
    /// The journal open for appending, after the rows kept.
    Writing(Box<JournalWriter>),
}

impl<H: Header> Journal<H> {
    /// The journal of `target` (`<target>.partial`) for the run `header`
    /// names, its rows following `preamble`.
    pub fn new(target: &Path, header: H, preamble: &[u8]) -> Result<Journal<H>> {
        let mut head = serde_json::to_vec(&header).context("cannot encode a journal header")?;
        head.push(b'\n');
        let header_len = head.len() as u64;
        head.extend_from_slice(preamble);
        Ok(Journal {
            path: partial_path(target),
            header,
            head,
            header_len,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header of the journal an earlier run left at `path`, if it has
    /// one this riskpool reads in at most `limit` bytes.
    pub fn header_at(path: &Path, limit: usize) -> Option<H> {
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let f = open_no_follow(path, false).ok()?;
        let mut line = Vec::new();
        BufReader::new(LineLimit::with_limit(f, path, limit))
            .read_until(b'\n', &mut line)
            .ok()?;
        serde_json::from_slice(&line).ok()
    }

    /// How long another run's header may be: as this run's, give or take
    /// its scenarios' names.
    pub fn header_limit(&self) -> usize {
        MAX_LINE + 4 * self.header_len as usize
    }

    /// Why the journal an earlier run left is not resumed, when there is
    /// one of another run (for the log).
    pub fn why_afresh(&self) -> Option<String> {
        let old = Self::header_at(&self.path, self.header_limit()).filter(|h| *h != self.header);
        let why = match &old {
            Some(old) => afresh_reason(old.engine(), self.header.engine()),
            None if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.len() > 0)
                && !self.head_matches() =>
            {
                "it was written for another input or other options, or by another version"
                    .to_string()
            }
            None => return None,
        };
        Some(format!(
            "starting afresh: {} is not resumed: {why}",
            self.path.display()
        ))
    }

    fn head_matches(&self) -> bool {
        let Ok(f) = open_no_follow(&self.path, false) else {
            return false;
        };
        let mut buf = vec![0u8; self.header_len as usize];
        f.read_exact_at(&mut buf, 0).is_ok() && buf == self.head[..self.header_len as usize]
    }

    /// Opens the journal for this run, whose rows are `wanted`: complete,
    /// or open for appending after every row of an earlier run's that
    /// `rows` keeps (the rest cut off); afresh, header and preamble synced,
    /// when there is none of this run.
    pub fn open(&self, rows: &mut impl Rows, wanted: u64) -> Result<Opened> {
        refuse_special(&self.path, "the journal of this output")?;
        let file = open_no_follow(&self.path, true)?;
        let found = scan(&file, &self.path, &self.head, self.header_len, rows, wanted)?;
        if found.complete {
            return Ok(Opened::Complete(Done {
                path: self.path.clone(),
                rows: found.rows,
                kept: found.rows,
                body_start: self.header_len,
                body_len: found.end - self.header_len,
                body_hash: hex(&found.body),
            }));
        }
        let mut w = JournalWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path: self.path.clone(),
            all: found.all,
            body: found.body,
            rows: found.rows,
            kept: found.rows,
            body_start: self.header_len,
            len: found.end,
            resumed: found.head_ok,
        };
        let cut = |w: &mut JournalWriter, at: u64| -> Result<()> {
            let f = w.out.get_mut();
            f.set_len(at)
                .with_context(|| format!("cannot cut {}", w.path.display()))?;
            f.seek(SeekFrom::Start(at))
                .with_context(|| format!("cannot open {}", w.path.display()))?;
            Ok(())
        };
        if found.preamble_ok {
            cut(&mut w, found.end)?;
        } else if found.head_ok {
            cut(&mut w, self.header_len)?;
            w.write_raw(&self.head[self.header_len as usize..])?;
            w.body.update(&self.head[self.header_len as usize..]);
        } else {
            // Another run's, or none: emptied first, so no kill leaves this
            // run's header over another run's rows.
            cut(&mut w, 0)?;
            w.sync()?;
            crate::hooks::stall("header");
            w.all = Xxh3::new();
            w.body = Xxh3::new();
            w.write_raw(&self.head)?;
            w.body.update(&self.head[self.header_len as usize..]);
        }
        w.sync()?;
        sync_dir(&self.path);
        Ok(Opened::Writing(Box::new(w)))
    }
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

/// What a scan of an earlier run's journal found.
struct Found {
    /// The header line is this run's.
    head_ok: bool,
    /// And the preamble follows it whole.
    preamble_ok: bool,
    /// Rows kept.
    rows: u64,
    /// The offset after the last byte kept.
    end: u64,
    /// The end line follows and checks.
    complete: bool,
    all: Xxh3,
    body: Xxh3,
}

/// Reads the file at a position of its own, so the journal is read
/// through one descriptor whatever its offset.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Passes bytes through and keeps them, so the bytes of each record the
/// CSV reader returns can be compared with what this run writes.
struct Tee<R> {
    inner: R,
    seen: Vec<u8>,
    /// `seen[..taken]` belongs to records already taken.
    taken: usize,
    /// The longest record: bytes past it with no record end (blank lines
    /// the CSV reader skips, an open quote) end the kept rows, in bounded
    /// memory.
    max: usize,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.seen.len() - self.taken > self.max {
            return Err(std::io::Error::other("a record longer than any row"));
        }
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R> Tee<R> {
    /// The next `n` bytes, taken.
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.taken > (1 << 16) && self.taken * 2 > self.seen.len() {
            self.seen.drain(..self.taken);
            self.taken = 0;
        }
        let start = self.taken;
        let raw = self.seen.get(start..start + n)?;
        self.taken += n;
        Some(raw)
    }
}

fn scan(
    file: &File,
    path: &Path,
    head: &[u8],
    header_len: u64,
    rows: &mut impl Rows,
    wanted: u64,
) -> Result<Found> {
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut found = Found {
        head_ok: false,
        preamble_ok: false,
        rows: 0,
        end: 0,
        complete: false,
        all: Xxh3::new(),
        body: Xxh3::new(),
    };
    let mut buf = vec![0u8; head.len()];
    let (line, preamble) = head.split_at(header_len as usize);
    if len < header_len
        || file.read_exact_at(&mut buf[..line.len()], 0).is_err()
        || buf[..line.len()] != *line
    {
        return Ok(found);
    }
    found.head_ok = true;
    found.end = header_len;
    found.all.update(line);
    if len < head.len() as u64
        || file
            .read_exact_at(&mut buf[line.len()..], header_len)
            .is_err()
        || buf[line.len()..] != *preamble
    {
        // This run's, its preamble torn: kept up to the header line.
        return Ok(found);
    }
    found.preamble_ok = true;
    found.end = head.len() as u64;
    found.all.update(preamble);
    found.body.update(preamble);
    match complete(file, path, len, &found, rows.csv(), wanted)? {
        End::Checks(done) => return Ok(done),
        // Edited or damaged after it was written: no row of it is trusted.
        End::Damaged(why) => {
            tracing::warn!(
                "{}: {why} (edited or damaged after it was written); nothing of it is kept",
                path.display()
            );
            return Ok(found);
        }
        End::None => {}
    }
    let keep = |found: &mut Found, raw: &[u8]| {
        found.rows += 1;
        found.end += raw.len() as u64;
        found.all.update(raw);
        found.body.update(raw);
    };
    // Lines of bounded length: a journal of garbage is cut, not read into
    // memory; a read error ends the kept rows like a torn line.
    let max = rows.max_record();
    let body = LineLimit::with_limit(
        At {
            file,
            pos: found.end,
        },
        path,
        max,
    );
    if rows.csv() {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(1 << 16)
            .from_reader(Tee {
                inner: body,
                seen: Vec::new(),
                taken: 0,
                max,
            });
        let mut rec = csv::ByteRecord::new();
        let mut start = 0u64;
        while let Ok(true) = rdr.read_byte_record(&mut rec) {
            let end = rdr.position().byte();
            let Some(raw) = rdr.get_mut().take((end - start) as usize) else {
                break;
            };
            start = end;
            if !rows.keep(Record::Csv { fields: &rec, raw }) {
                break;
            }
            keep(&mut found, raw);
        }
    } else {
        let mut text = BufReader::with_capacity(1 << 20, body);
        let mut line = Vec::new();
        loop {
            line.clear();
            match text.read_until(b'\n', &mut line) {
                Ok(n) if n > 0 && line.last() == Some(&b'\n') => {}
                _ => break, // the end, a line the kill cut short, or garbage
            }
            if !rows.keep(Record::Line(&line)) {
                break;
            }
            keep(&mut found, &line);
        }
    }
    // A journal with an end line was settled by `complete` above: what is
    // read here is one cut short.
    Ok(found)
}

/// What the last line of a journal says.
enum End {
    /// No end line: the run was cut short.
    None,
    /// An end line whose hash is that of every byte before it.
    Checks(Found),
    /// An end line whose hash or row count is not the journal's, or whose
    /// count is not the run's: the journal was edited or damaged.
    Damaged(String),
}

/// Checks a journal's end line. One that checks makes the journal
/// complete: its rows were checked as they were written, and the hash says
/// they are still those bytes, so they are not read one by one again.
fn complete(
    file: &File,
    path: &Path,
    len: u64,
    head: &Found,
    csv: bool,
    wanted: u64,
) -> Result<End> {
    const LONGEST: u64 = 128;
    let from = len.saturating_sub(LONGEST).max(head.end);
    let mut tail = vec![0u8; (len - from) as usize];
    if file.read_exact_at(&mut tail, from).is_err() || tail.last() != Some(&b'\n') {
        return Ok(End::None);
    }
    let start = tail[..tail.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    if start == 0 && from > head.end {
        return Ok(End::None);
    }
    let Ok(end) = serde_json::from_slice::<EndLine>(&tail[start..]) else {
        return Ok(End::None);
    };
    if end.line().as_bytes() != &tail[start..] {
        return Ok(End::None);
    }
    let rows_end = from + start as u64;
    let mut found = Found {
        head_ok: true,
        preamble_ok: true,
        rows: end.end_of_part,
        end: rows_end,
        complete: true,
        all: head.all.clone(),
        body: head.body.clone(),
    };
    let mut at = head.end;
    let mut buf = vec![0u8; 1 << 20];
    // The rows are counted as they are hashed: line ends, outside quotes
    // for CSV (whose ids may hold quoted line ends; a JSON line has none).
    let (mut records, mut quoted) = (0u64, false);
    while at < rows_end {
        let n = ((rows_end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)
            .with_context(|| format!("cannot read {}", path.display()))?;
        found.all.update(&buf[..n]);
        found.body.update(&buf[..n]);
        for &b in &buf[..n] {
            if csv && b == b'"' {
                quoted = !quoted;
            } else if b == b'\n' && !quoted {
                records += 1;
            }
        }
        at += n as u64;
    }
    Ok(if hex(&found.all) != end.content_xxh3 {
        End::Damaged("its content does not match the hash on its end line".into())
    } else if records != end.end_of_part || records != wanted {
        End::Damaged(format!(
            "its end line says {} rows; it holds {records}, and this run has {wanted}",
            end.end_of_part
        ))
    } else {
        End::Checks(found)
    })
}

/// Appends rows to a journal, durable after each [`sync`](Self::sync).
pub struct JournalWriter {
    out: BufWriter<File>,
    path: PathBuf,
    /// The xxh3 of every byte so far, and of the preamble and rows alone.
    all: Xxh3,
    body: Xxh3,
    rows: u64,
    kept: u64,
    body_start: u64,
    len: u64,
    /// The journal was this run's (its header line), whatever it kept.
    resumed: bool,
}

impl JournalWriter {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in the journal (kept ones included).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows an earlier run had made durable.
    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// Whether an earlier run of this very run left the journal (which
    /// may have kept no row).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.all.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Appends one row (with its line end).
    pub fn append(&mut self, row: &[u8]) -> Result<()> {
        self.write_raw(row)?;
        self.body.update(row);
        self.rows += 1;
        Ok(())
    }

    /// Hands what is buffered to the file without making it durable (for
    /// the tests' stall points).
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// Makes every row appended so far durable: a kill after this loses
    /// none.
    pub fn sync(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.out
            .get_ref()
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.path.display()))
    }

    /// Ends the journal with its row count and content hash, durable.
    pub fn finish(mut self) -> Result<Done> {
        let body_len = self.len - self.body_start;
        let end = EndLine {
            end_of_part: self.rows,
            content_xxh3: hex(&self.all),
        };
        self.write_raw(end.line().as_bytes())?;
        self.sync()?;
        Ok(Done {
            path: self.path,
            rows: self.rows,
            kept: self.kept,
            body_start: self.body_start,
            body_len,
            body_hash: hex(&self.body),
        })
    }
}

impl Done {
    /// Writes the preamble and rows to `to`, durable (a `price` output is
    /// rendered so, through its temporary file).
    pub fn render_body(&self, to: &Path) -> Result<()> {
        let mut from = open_no_follow(&self.path, false)?;
        from.seek(SeekFrom::Start(self.body_start))
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let mut out = crate::durable::create_no_follow(to)?;
        // File to file: the kernel copies (copy_file_range) where it can.
        let n = std::io::copy(&mut (&from).take(self.body_len), &mut out)
            .with_context(|| format!("cannot write {}", to.display()))?;
        if n != self.body_len {
            anyhow::bail!(
                "{}: shorter than its end line says; rerun to compute it again",
                self.path.display()
            );
        }
        out.sync_all()
            .with_context(|| format!("cannot sync {}", to.display()))
    }

    /// Renames the journal to `to` (a risk part is its journal).
    pub fn rename_to(&self, to: &Path) -> Result<()> {
        std::fs::rename(&self.path, to).with_context(|| {
            format!("cannot rename {} to {}", self.path.display(), to.display())
        })?;
        sync_dir(to);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(PartialEq, Serialize, Deserialize)]
    struct Head {
        run: u32,
    }

    impl Header for Head {
        fn engine(&self) -> (&str, &str) {
            ("cpu", "test")
        }
    }

    /// Rows `r0\n`, `r1\n`, ... in order.
    struct Numbered(u64);

    impl Rows for Numbered {
        fn csv(&self) -> bool {
            false
        }
        fn keep(&mut self, record: Record<'_>) -> bool {
            let Record::Line(l) = record else {
                return false;
            };
            let ok = l == format!("r{}\n", self.0).as_bytes();
            self.0 += ok as u64;
            ok
        }
    }

    fn writing(o: Opened) -> JournalWriter {
        match o {
            Opened::Writing(w) => *w,
            Opened::Complete(_) => panic!("complete"),
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_a_complete_journal_is_found() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out.csv");
        let j = Journal::new(&target, Head { run: 1 }, b"pre\n").unwrap();
        let mut w = writing(j.open(&mut Numbered(0), 3).unwrap());
        w.append(b"r0\n").unwrap();
        w.append(b"r1\n").unwrap();
        w.sync().unwrap();
        drop(w);
        // A torn row.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap();
        f.write_all(b"r2").unwrap();
        drop(f);
        let mut w = writing(j.open(&mut Numbered(0), 3).unwrap());
        assert_eq!((w.rows(), w.kept()), (2, 2));
        w.append(b"r2\n").unwrap();
        let done = w.finish().unwrap();
        assert_eq!(done.rows, 3);
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(text.starts_with("{\"run\":1}\npre\nr0\nr1\nr2\n{\"end_of_part\":3,"));
        let Opened::Complete(again) = j.open(&mut Numbered(0), 3).unwrap() else {
            panic!("not complete");
        };
        assert_eq!(again.body_hash, done.body_hash);
        let out = d.path().join("body");
        again.render_body(&out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"pre\nr0\nr1\nr2\n");
        assert_eq!(
            again.body_hash,
            crate::durable::content_hash(b"pre\nr0\nr1\nr2\n")
        );
        // Another run's header starts afresh.
        let other = Journal::new(&target, Head { run: 2 }, b"pre\n").unwrap();
        assert!(other.why_afresh().is_some());
        let w = writing(other.open(&mut Numbered(0), 3).unwrap());
        assert_eq!(w.rows(), 0);
        drop(w);
        assert_eq!(
            std::fs::read_to_string(j.path()).unwrap(),
            "{\"run\":2}\npre\n"
        );
    }
}
