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
use crate::durable::{partial_path, OutputLock};
use crate::error::UsageError;
use crate::input::{require_regular_file, InputError, LineLimit, LongLine};
use crate::output::{Col, Kind, Layout};

/// Writes `<stem>.0.csv`, `<stem>.1.csv`, ... of `trades_per_file` trades each,
/// every one with the header, as azfinsim's split does.
pub fn split(args: &SplitArgs) -> Result<Vec<std::path::PathBuf>> {
    if args.trades_per_file == 0 {
        bail!(UsageError("--trades-per-file must be at least 1".into()));
    }
    let input = &args.input;
    crate::input::require_regular_file(
        input,
        "--input",
        "split checks every trade first, then writes the parts; save it to a file first",
    )?;
    // Every row checked as `price` checks it, before any part is written.
    let checked = crate::check::check_all(
        input,
        &crate::input::ReadOptions::default(),
        &riskpool_kernels::PricingRequest::default(),
    )?;
    if checked.count == 0 {
        // As `price` refuses it: a header alone is no job to split.
        return Err(crate::input::error_at(input, 1, None, "no trades in the file").into());
    }
    let f = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut lines = BufReader::new(LineLimit::new(f, input)).lines();
    let header = match lines.next() {
        Some(h) => h.with_context(|| format!("cannot read {}", input.display()))?,
        None => {
            return Err(InputError {
                trade: None,
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
            trade: None,
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
            UsageError(format!(
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
    // The last part's temporary name must fit the file system's limit, or
    // the split would fail half way.
    let last = (checked.count - 1) / args.trades_per_file;
    let longest = format!("{stem}.{last}.csv.tmp").len();
    if longest > crate::durable::NAME_MAX {
        bail!(UsageError(format!(
            "--input {}: the parts' names ({stem}.{last}.csv.tmp) would be {longest} bytes, over the file system's limit of {}; rename the input",
            input.display(),
            crate::durable::NAME_MAX
        )));
    }
    // Every part is written to its `.tmp` first; only when all are whole
    // are they renamed into place, so a failure removes this run's
    // temporary files and never a file that was in the folder before.
    let mut parts = Vec::new();
    let result = write_parts(lines, &header, &dir, &stem, args, input, &mut parts);
    if let Err(e) = result {
        for p in &parts {
            let _ = std::fs::remove_file(&p.1);
        }
        return Err(e);
    }
    for (path, _) in &parts {
        if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
            for p in &parts {
                let _ = std::fs::remove_file(&p.1);
            }
            bail!(UsageError(format!(
                "--output-dir {}: {} is there and is not a regular file; nothing was written",
                dir.display(),
                path.display()
            )));
        }
    }
    // Every part's lock, as every writer of a file takes it: a part that
    // another run is writing (a price task on it) stops the split before
    // any part is replaced. Each is taken again for its own rename.
    for (path, _) in &parts {
        if let Err(e) = OutputLock::acquire(path) {
            for p in &parts {
                let _ = std::fs::remove_file(&p.1);
            }
            return Err(e);
        }
    }
    let mut written = Vec::new();
    for (i, (path, tmp)) in parts.iter().enumerate() {
        let existed = std::fs::symlink_metadata(path).is_ok();
        let lock = OutputLock::acquire(path);
        let renamed = match lock {
            Ok(_held) => std::fs::rename(tmp, path).map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = renamed {
            for (_, t) in &parts[i..] {
                let _ = std::fs::remove_file(t);
            }
            // Parts this run created are removed; a file that was there
            // before (now replaced) is left, never deleted.
            for (p, new) in &written {
                if *new {
                    let _ = std::fs::remove_file(p);
                }
            }
            return Err(e)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()));
        }
        written.push((path.clone(), !existed));
    }
    if let Some((p, _)) = written.first() {
        crate::durable::sync_dir(p);
    }
    Ok(written.into_iter().map(|(p, _)| p).collect())
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
        let f = crate::durable::create_no_follow(&tmp)?;
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

    /// Syncs the part's temporary file (removed if that fails); the
    /// caller renames it into place.
    fn finish(self) -> Result<(PathBuf, PathBuf)> {
        let Part { path, tmp, out } = self;
        let result = (|| {
            let f = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            f.sync_all()
                .with_context(|| format!("cannot sync {}", tmp.display()))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        Ok((path, tmp))
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
    written: &mut Vec<(PathBuf, PathBuf)>,
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
    // Per-asset columns (`delta_1`, ...): as many as the header has.
    let assets = (1..=riskpool_kernels::correlation::MAX_ASSETS)
        .take_while(|i| {
            greeks
                .iter()
                .any(|g| header.iter().any(|h| *h == format!("{}_{i}", g.name())))
        })
        .count();
    let methods = greeks
        .iter()
        .any(|g| header.iter().any(|h| *h == format!("{}_method", g.name())));
    layouts.push(Layout::Standard {
        greeks,
        assets,
        methods,
    });
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
        Col::Stderr | Col::Optional if text.is_empty() => None,
        Col::Stderr | Col::Optional => number(text),
        Col::Count => text
            .parse::<u64>()
            .is_err()
            .then(|| format!("not a count: `{text}`")),
    }
}

/// A part file's name split as `NAME.K.results.csv` or `NAME.K.csv`:
/// `(NAME, K, suffix)`, K plain decimal digits.
fn part_number(path: &Path) -> Option<(String, u64, &'static str)> {
    let name = path.file_name()?.to_str()?;
    let (rest, suffix) = [".results.csv", ".csv"]
        .into_iter()
        .find_map(|s| Some((name.strip_suffix(s)?, s)))?;
    let (stem, k) = rest.rsplit_once('.')?;
    let k = crate::input::parse_tradenum(k)?;
    (!stem.is_empty()).then(|| (stem.to_string(), k, suffix))
}

fn listed(names: Vec<String>, more: usize) -> String {
    let mut s = names.join(", ");
    if more > 0 {
        s += &format!(" and {more} more");
    }
    s
}

/// `--expect N`: when every file is named `NAME.K.results.csv` (or
/// `NAME.K.csv`) with one NAME, exactly the parts 0..N-1, each once;
/// otherwise exactly N files (their being distinct is checked after).
/// Else an error naming what is missing and extra.
fn check_expected(files: &[PathBuf], expect: u64) -> Result<()> {
    let numbered: Option<Vec<(String, u64, &str)>> = files.iter().map(|f| part_number(f)).collect();
    let alike = numbered.filter(|n| {
        n.first()
            .is_some_and(|(a, _, b)| n.iter().all(|(c, _, d)| c == a && d == b))
    });
    let Some(parts) = alike else {
        if files.len() as u64 == expect {
            return Ok(());
        }
        bail!(UsageError(format!(
            "--expect {expect}: got {} files (missing: {}; extra: {})",
            files.len(),
            expect.saturating_sub(files.len() as u64),
            (files.len() as u64).saturating_sub(expect)
        )));
    };
    let (stem, suffix) = (parts[0].0.clone(), parts[0].2);
    let mut seen = std::collections::BTreeSet::new();
    let mut extra = Vec::new();
    for (f, (_, k, _)) in files.iter().zip(&parts) {
        if *k >= expect || !seen.insert(*k) {
            extra.push(f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ));
        }
    }
    let mut missing = Vec::new();
    let mut k = 0u64;
    while k < expect && missing.len() < 20 {
        if !seen.contains(&k) {
            missing.push(format!("{stem}.{k}{suffix}"));
        }
        k += 1;
    }
    // The rest of 0..N-1 not listed: counted, not walked (N may be huge).
    let more = (expect - k).saturating_sub(seen.range(k..).count() as u64);
    let more = usize::try_from(more).unwrap_or(usize::MAX);
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let n_extra = extra.len();
    let extra_more = n_extra.saturating_sub(20);
    extra.truncate(20);
    bail!(UsageError(format!(
        "--expect {expect}: got {} files; missing: {}; extra: {}",
        files.len(),
        if missing.is_empty() {
            "none".to_string()
        } else {
            listed(missing, more)
        },
        if extra.is_empty() {
            "none".to_string()
        } else {
            listed(extra, extra_more)
        }
    )))
}

/// Joins result files that share one header, in the order given, into
/// `<output>.partial`, renamed into place only when every row of every
/// file is checked and written. A failure leaves no `.partial` and no
/// `.lock` of this output behind, an earlier killed run's included.
pub fn concat(args: &ConcatArgs) -> Result<()> {
    let result = concat_checked(args);
    if let Err(e) = &result {
        if e.downcast_ref::<crate::error::Busy>().is_none() {
            remove_stale(args);
        }
    }
    result
}

/// Removes the `.partial` and `.lock` a killed concat on this output left,
/// when no run holds the lock and neither is one of the inputs.
fn remove_stale(args: &ConcatArgs) {
    let partial = partial_path(&args.output);
    let lock = crate::durable::lock_path(&args.output);
    let is_file = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    if !is_file(&partial) && !is_file(&lock) {
        return;
    }
    let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let ours = [inode(&partial), inode(&lock)];
    if args
        .files
        .iter()
        .filter_map(|f| inode(f))
        .any(|i| ours.contains(&Some(i)))
    {
        return;
    }
    if std::fs::symlink_metadata(&args.output).is_ok_and(|m| m.file_type().is_symlink()) {
        return;
    }
    // Taken quietly: busy means a live run, whose files stay.
    if let Ok(_lock) = OutputLock::acquire(&args.output) {
        if is_file(&partial) {
            let _ = std::fs::remove_file(&partial);
        }
    }
}

fn concat_checked(args: &ConcatArgs) -> Result<()> {
    if Kind::of(&args.output) != Some(Kind::Csv) {
        bail!(UsageError(format!(
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
            trade: None,
            file: path.clone(),
            line: None,
            field: None,
            message: format!("cannot open: {e}"),
        })?;
        if let Some((_, _, first)) = seen.iter().find(|(d, i, _)| *d == m.dev() && *i == m.ino()) {
            bail!(UsageError(format!(
                "{} is given twice (also as {}): each part is joined once",
                path.display(),
                first.display()
            )));
        }
        seen.push((m.dev(), m.ino(), path));
        crate::durable::check_output(path, &args.output, "--output")?;
    }
    if args.files.is_empty() {
        bail!(UsageError("concat needs at least one file".into()));
    }
    crate::durable::check_output(&args.files[0], &args.output, "--output")?;
    let _lock = OutputLock::acquire(&args.output)?;
    let partial = partial_path(&args.output);
    let result = join(args, &partial);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// The files in the order they are joined: parts numbered alike
/// (`NAME.K.results.csv`) by their number, so a shell glob's text order
/// (`.10` before `.2`) cannot put the rows out of book order; any other
/// files in the order given.
fn join_order(files: &[PathBuf]) -> Vec<&PathBuf> {
    let mut order: Vec<&PathBuf> = files.iter().collect();
    let numbered: Option<Vec<(String, u64, &str)>> = files.iter().map(|f| part_number(f)).collect();
    if let Some(n) = numbered.filter(|n| {
        n.first()
            .is_some_and(|(a, _, b)| n.iter().all(|(c, _, d)| c == a && d == b))
    }) {
        let mut by: Vec<(u64, &PathBuf)> = n.iter().map(|(_, k, _)| *k).zip(files).collect();
        by.sort_by_key(|(k, _)| *k);
        order = by.into_iter().map(|(_, f)| f).collect();
    }
    order
}

fn join(args: &ConcatArgs, partial: &Path) -> Result<()> {
    let out = crate::durable::create_no_follow(partial)?;
    let mut w = crate::output::csv_writer(BufWriter::with_capacity(1 << 20, out));
    let mut header: Option<(Vec<String>, PathBuf)> = None;
    let mut schema = Vec::new();
    let mut ids: HashMap<String, (PathBuf, u64)> = HashMap::new();
    let bad = |path: &Path, line: u64, field: Option<&str>, message: String| InputError {
        trade: None,
        file: path.to_path_buf(),
        line: Some(line),
        field: field.map(str::to_string),
        message,
    };
    for path in join_order(&args.files) {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineLimit::new(BufReader::with_capacity(1 << 20, f), path));
        let mut rec = csv::StringRecord::new();
        let read = |rdr: &mut csv::Reader<_>, rec: &mut csv::StringRecord| -> Result<bool> {
            rdr.read_record(rec).map_err(|e| {
                let long = match e.kind() {
                    csv::ErrorKind::Io(io) => io
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<LongLine>())
                        .map(|l| l.line),
                    _ => None,
                };
                let line = long.unwrap_or_else(|| e.position().map_or(0, |p| p.line()));
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
                trade: None,
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
            // azfinsim's trade numbers are numbers: `007` and `7` are one
            // trade, and `+7`, ` 7`, `0x7`, `7.0` are refused, as `price`
            // and `split` refuse them.
            let id = if names[0] == "tradenum" {
                match crate::input::parse_tradenum(&rec[0]) {
                    Some(n) => n.to_string(),
                    None => bail!(bad(
                        path,
                        line,
                        Some(&names[0]),
                        format!(
                            "not a trade number (digits only, no sign or spaces): `{}`",
                            &rec[0]
                        )
                    )),
                }
            } else {
                rec[0].to_string()
            };
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
    crate::durable::sync_dir(&args.output);
    Ok(())
}
