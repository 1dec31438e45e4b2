//! `riskpool split` and `riskpool concat`: the file steps of azfinsim's task
//! graph (generate -> split -> price each file -> concat).
//!
//! Both check every row as `price` does (split: the trade checks of
//! `price`'s first pass, duplicates included; concat: each row parsed as
//! CSV against its header, numbers finite, ids unique across all inputs),
//! read lines of bounded length (a file with no line end, or `/dev/zero`,
//! is refused rather than read into memory), and leave no output and no
//! temporary file when they fail.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use riskpool_kernels::azfinsim::HEADER;
use riskpool_kernels::Greek;

use crate::cli::{ConcatArgs, SplitArgs};
use crate::input::{require_regular_file, InputError};
use crate::output::{partial_path, Col, Kind, Layout};
use crate::resume::OutputLock;
use crate::Usage;

/// Writes `<stem>.0.csv`, `<stem>.1.csv`, ... of `trades_per_file` trades each,
/// every one with the header, as azfinsim's split does.
pub fn split(args: &SplitArgs) -> Result<Vec<std::path::PathBuf>> {
    if args.trades_per_file == 0 {
        bail!(Usage("--trades-per-file must be at least 1".into()));
    }
    let input = &args.input;
    crate::input::require_regular_file(
        input,
        "--input",
        "split checks every trade first, then writes the parts; save it to a file first",
    )?;
    // Every row checked as `price` checks it, before any part is written.
    crate::check::check_all(
        input,
        &crate::input::ReadOptions::default(),
        &riskpool_kernels::PricingRequest::default(),
    )?;
    let f = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut lines = BufReader::new(LineLimit::new(f, input)).lines();
    let header = match lines.next() {
        Some(h) => h.with_context(|| format!("cannot read {}", input.display()))?,
        None => {
            return Err(InputError {
                file: input.clone(),
                line: None,
                field: None,
                message: "the file is empty: no trades".into(),
            }
            .into())
        }
    };
    let header = header
        .trim_end_matches('\r')
        .trim_start_matches('\u{feff}')
        .to_string();
    if header.split(',').map(str::trim).collect::<Vec<_>>() != HEADER {
        return Err(InputError {
            file: input.clone(),
            line: Some(1),
            field: None,
            message: format!(
                "not an azfinsim trade file: the header must be `{}`",
                HEADER.join(",")
            ),
        }
        .into());
    }
    let dir = match &args.output_dir {
        Some(d) => d.clone(),
        None => input.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| {
            Usage(format!(
                "--output-dir {}: cannot create the folder: {e}",
                dir.display()
            ))
        })?;
    }
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("trades")
        .to_string();
    let mut written = Vec::new();
    let result = write_parts(lines, &header, &dir, &stem, args, input, &mut written);
    if result.is_err() {
        for f in &written {
            let _ = std::fs::remove_file(f);
        }
    }
    result.map(|()| written)
}

/// One part being written: `<part>.tmp`, renamed into place when full.
struct Part {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
}

impl Part {
    fn start(path: PathBuf, header: &str) -> Result<Part> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut part = Part {
            path,
            tmp,
            out: BufWriter::with_capacity(1 << 20, f),
        };
        part.line(header)?;
        Ok(part)
    }

    fn line(&mut self, text: &str) -> Result<()> {
        use std::io::Write;
        writeln!(self.out, "{text}").with_context(|| format!("cannot write {}", self.tmp.display()))
    }

    /// Syncs and renames the part into place (its temporary file removed
    /// if that fails).
    fn finish(self) -> Result<PathBuf> {
        let Part { path, tmp, out } = self;
        let result = (|| {
            let f = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            f.sync_all()
                .with_context(|| format!("cannot sync {}", tmp.display()))?;
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        crate::resume::sync_dir(&path);
        Ok(path)
    }
}

/// Streams the rows into parts of `--trades-per-file` rows (memory does not
/// grow with the part's size); a part's temporary file is removed if it
/// fails.
fn write_parts(
    lines: std::io::Lines<BufReader<LineLimit<File>>>,
    header: &str,
    dir: &Path,
    stem: &str,
    args: &SplitArgs,
    input: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let mut part: Option<Part> = None;
    let mut in_part = 0u64;
    let result = (|| {
        for (i, line) in lines.enumerate() {
            let line =
                line.with_context(|| format!("cannot read {} line {}", input.display(), i + 2))?;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if part.is_none() {
                let path = dir.join(format!("{stem}.{}.csv", written.len()));
                part = Some(Part::start(path, header)?);
            }
            if let Some(p) = part.as_mut() {
                p.line(line)?;
            }
            in_part += 1;
            if in_part == args.trades_per_file {
                if let Some(p) = part.take() {
                    written.push(p.finish()?);
                }
                in_part = 0;
            }
        }
        if let Some(p) = part.take() {
            written.push(p.finish()?);
        }
        Ok(())
    })();
    if let Some(p) = part {
        let _ = std::fs::remove_file(&p.tmp);
    }
    result
}

/// The longest line (or CSV record) read: a results or trade row is a few
/// hundred bytes, so anything longer is not one, and is refused before it
/// fills the memory.
pub const MAX_LINE: usize = 1 << 20;

/// A reader that fails once more than [`MAX_LINE`] bytes pass with no line
/// end, so a file without line ends is refused in bounded memory.
pub struct LineLimit<R> {
    inner: R,
    since_newline: usize,
    file: std::path::PathBuf,
}

impl<R> LineLimit<R> {
    pub fn new(inner: R, file: &Path) -> Self {
        LineLimit {
            inner,
            since_newline: 0,
            file: file.to_path_buf(),
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(i) => self.since_newline = n - i - 1,
            None => self.since_newline += n,
        }
        if self.since_newline > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: a line longer than {MAX_LINE} bytes: not a text file of rows",
                    self.file.display()
                ),
            ));
        }
        Ok(n)
    }
}

/// What the rows of a results file hold, from its header: riskpool's own
/// layouts (every column checked), azfinsim's synthetic `tradenum,random`,
/// or another header (field counts and unique ids checked).
fn schema_of(header: &[String]) -> Vec<Col> {
    let known = |l: Layout| {
        let s = l.schema();
        (s.iter()
            .map(|(n, _)| n.as_str())
            .eq(header.iter().map(String::as_str)))
        .then(|| s.into_iter().map(|(_, c)| c).collect::<Vec<_>>())
    };
    if header == ["tradenum", "random"] {
        return vec![Col::Id, Col::Value];
    }
    let mut layouts = vec![Layout::AzfinsimPv, Layout::AzfinsimDeltaVega];
    let greeks: Vec<Greek> = header.iter().filter_map(|h| Greek::parse(h)).collect();
    layouts.push(Layout::Standard { greeks });
    for l in layouts {
        if let Some(s) = known(l) {
            return s;
        }
    }
    let mut s = vec![Col::Text; header.len()];
    if let Some(first) = s.first_mut() {
        *first = Col::Id;
    }
    s
}

/// Why a CSV field is not what its column holds, if it is not.
fn bad_field(col: Col, text: &str) -> Option<String> {
    let number = |t: &str| match t.parse::<f64>() {
        Ok(x) if x.is_finite() => None,
        Ok(x) => Some(format!("not a finite number: `{x}`")),
        Err(_) => Some(format!("not a number: `{t}`")),
    };
    match col {
        Col::Id if text.is_empty() => Some("empty id".into()),
        Col::Id | Col::Text => None,
        Col::Value | Col::Seconds => number(text),
        Col::Stderr if text.is_empty() => None,
        Col::Stderr => number(text),
        Col::Count => text
            .parse::<u64>()
            .is_err()
            .then(|| format!("not a count: `{text}`")),
    }
}

/// `--expect N`: exactly N distinct files, or an error naming what is
/// missing or extra (by their part numbers, when the names are numbered
/// alike: `trades.K.results.csv`).
fn check_expected(files: &[PathBuf], expect: u64) -> Result<()> {
    if files.len() as u64 == expect {
        return Ok(());
    }
    // The last run of digits in each name, with what surrounds it.
    let numbered: Vec<Option<(String, u64, String)>> = files
        .iter()
        .map(|f| {
            let name = f.file_name()?.to_str()?;
            let end = name.rfind(|c: char| c.is_ascii_digit())? + 1;
            let start = name[..end]
                .rfind(|c: char| !c.is_ascii_digit())
                .map_or(0, |i| i + 1);
            let k = name[start..end].parse().ok()?;
            Some((name[..start].to_string(), k, name[end..].to_string()))
        })
        .collect();
    let mut detail = String::new();
    if let Some(Some((pre, _, post))) = numbered.first() {
        if numbered
            .iter()
            .all(|n| n.as_ref().is_some_and(|(a, _, b)| a == pre && b == post))
        {
            let have: std::collections::BTreeSet<u64> =
                numbered.iter().flatten().map(|(_, k, _)| *k).collect();
            let missing: Vec<String> = (0..expect)
                .filter(|k| !have.contains(k))
                .take(20)
                .map(|k| format!("{pre}{k}{post}"))
                .collect();
            let extra: Vec<String> = have
                .iter()
                .filter(|k| **k >= expect)
                .take(20)
                .map(|k| format!("{pre}{k}{post}"))
                .collect();
            if !missing.is_empty() {
                detail += &format!("; missing: {}", missing.join(", "));
            }
            if !extra.is_empty() {
                detail += &format!("; extra: {}", extra.join(", "));
            }
        }
    }
    bail!(Usage(format!(
        "--expect {expect}: got {} files{detail}",
        files.len()
    )))
}

/// Joins result files that share one header, in the order given, into
/// `<output>.partial`, renamed into place only when every row of every
/// file is checked and written.
pub fn concat(args: &ConcatArgs) -> Result<()> {
    if Kind::of(&args.output) != Some(Kind::Csv) {
        bail!(Usage(format!(
            "--output {}: concat joins CSV result files; the extension must be .csv",
            args.output.display()
        )));
    }
    if let Some(n) = args.expect {
        check_expected(&args.files, n)?;
    }
    // Each input a distinct regular file, none of them the output.
    let mut seen: Vec<(u64, u64, &PathBuf)> = Vec::new();
    for path in &args.files {
        require_regular_file(path, "input", "concat joins result files")?;
        let m = std::fs::metadata(path).map_err(|e| InputError {
            file: path.clone(),
            line: None,
            field: None,
            message: format!("cannot open: {e}"),
        })?;
        if let Some((_, _, first)) = seen.iter().find(|(d, i, _)| *d == m.dev() && *i == m.ino()) {
            bail!(Usage(format!(
                "{} is given twice (also as {}): each part is joined once",
                path.display(),
                first.display()
            )));
        }
        seen.push((m.dev(), m.ino(), path));
        crate::price::check_output(path, &args.output, "--output")?;
    }
    if args.files.is_empty() {
        bail!(Usage("concat needs at least one file".into()));
    }
    crate::price::check_output(&args.files[0], &args.output, "--output")?;
    let _lock = OutputLock::acquire(&args.output)?;
    let partial = partial_path(&args.output);
    let result = join(args, &partial);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn join(args: &ConcatArgs, partial: &Path) -> Result<()> {
    let out =
        File::create(partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut w = crate::output::csv_writer(BufWriter::with_capacity(1 << 20, out));
    let mut header: Option<(Vec<String>, PathBuf)> = None;
    let mut schema = Vec::new();
    let mut ids: HashMap<String, (PathBuf, u64)> = HashMap::new();
    let bad = |path: &Path, line: u64, field: Option<&str>, message: String| InputError {
        file: path.to_path_buf(),
        line: Some(line),
        field: field.map(str::to_string),
        message,
    };
    for path in &args.files {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineLimit::new(BufReader::with_capacity(1 << 20, f), path));
        let mut rec = csv::StringRecord::new();
        let read = |rdr: &mut csv::Reader<_>, rec: &mut csv::StringRecord| -> Result<bool> {
            rdr.read_record(rec).map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                anyhow::Error::new(bad(
                    path,
                    line.max(1),
                    None,
                    format!("not a CSV results file: {e}"),
                ))
            })
        };
        if !read(&mut rdr, &mut rec)? {
            bail!(InputError {
                file: path.clone(),
                line: None,
                field: None,
                message: "the file is empty: a results file has at least its header".into(),
            });
        }
        let h: Vec<String> = rec
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').to_string())
            .collect();
        match &header {
            None => {
                schema = schema_of(&h);
                w.write_record(&h)
                    .with_context(|| format!("cannot write {}", partial.display()))?;
                header = Some((h, path.clone()));
            }
            Some((first, from)) if *first != h => {
                bail!(bad(
                    path,
                    1,
                    None,
                    format!(
                        "header `{}` differs from {}'s `{}`",
                        h.join(","),
                        from.display(),
                        first.join(",")
                    )
                ));
            }
            Some(_) => {}
        }
        let names = header.as_ref().map(|(h, _)| h.clone()).unwrap_or_default();
        while read(&mut rdr, &mut rec)? {
            let line = rec.position().map_or(0, |p| p.line());
            if rec.len() == 1 && rec[0].trim().is_empty() {
                continue;
            }
            if rec.len() != names.len() {
                bail!(bad(
                    path,
                    line,
                    None,
                    format!("{} fields, the header has {}", rec.len(), names.len())
                ));
            }
            for ((name, col), field) in names.iter().zip(&schema).zip(rec.iter()) {
                if let Some(why) = bad_field(*col, field) {
                    bail!(bad(path, line, Some(name), why));
                }
            }
            let id = rec[0].to_string();
            if let Some((f, l)) = ids.get(&id) {
                bail!(bad(
                    path,
                    line,
                    Some(&names[0]),
                    format!("duplicate id `{id}` (first in {}:{l})", f.display())
                ));
            }
            ids.insert(id, (path.clone(), line));
            w.write_record(&rec)
                .with_context(|| format!("cannot write {}", partial.display()))?;
        }
    }
    let f = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", partial.display(), e.error()))?
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot sync {}", partial.display()))?;
    std::fs::rename(partial, &args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    crate::resume::sync_dir(&args.output);
    Ok(())
}
