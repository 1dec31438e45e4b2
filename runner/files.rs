//! `riskpool split` and `riskpool concat`: the file steps of azfinsim's task
//! graph (generate -> split -> price each file -> concat).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use riskpool_kernels::azfinsim::HEADER;

use crate::cli::{ConcatArgs, SplitArgs};
use crate::input::InputError;
use crate::resume::write_atomically;
use crate::Usage;

/// Writes `<stem>.0.csv`, `<stem>.1.csv`, ... of `trades_per_file` trades each,
/// every one with the header, as azfinsim's split does.
pub fn split(args: &SplitArgs) -> Result<Vec<std::path::PathBuf>> {
    if args.trades_per_file == 0 {
        bail!(Usage("--trades-per-file must be at least 1".into()));
    }
    let input = &args.input;
    let f = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut lines = BufReader::new(f).lines();
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
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("trades")
        .to_string();
    let mut written = Vec::new();
    let mut chunk = String::new();
    let mut in_chunk = 0u64;
    let flush = |chunk: &mut String, written: &mut Vec<std::path::PathBuf>| -> Result<()> {
        let path = dir.join(format!("{stem}.{}.csv", written.len()));
        write_atomically(&path, &format!("{header}\n{chunk}"))?;
        written.push(path);
        chunk.clear();
        Ok(())
    };
    for (i, line) in lines.enumerate() {
        let line =
            line.with_context(|| format!("cannot read {} line {}", input.display(), i + 2))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        chunk.push_str(line);
        chunk.push('\n');
        in_chunk += 1;
        if in_chunk == args.trades_per_file {
            flush(&mut chunk, &mut written)?;
            in_chunk = 0;
        }
    }
    if in_chunk > 0 {
        flush(&mut chunk, &mut written)?;
    }
    Ok(written)
}

/// Joins result files that share one header, in the order given.
pub fn concat(args: &ConcatArgs) -> Result<()> {
    let partial = crate::output::partial_path(&args.output);
    let out =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut w = BufWriter::new(out);
    let mut header: Option<String> = None;
    for path in &args.files {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut lines = BufReader::new(f).lines();
        let h = match lines.next() {
            Some(h) => h.with_context(|| format!("cannot read {}", path.display()))?,
            None => continue,
        };
        match &header {
            None => {
                writeln!(w, "{h}")?;
                header = Some(h);
            }
            Some(first) if *first != h => {
                let _ = std::fs::remove_file(&partial);
                return Err(InputError {
                    file: path.clone(),
                    line: Some(1),
                    field: None,
                    message: format!("header `{h}` differs from the first file's `{first}`"),
                }
                .into());
            }
            Some(_) => {}
        }
        for line in lines {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            if !line.trim().is_empty() {
                writeln!(w, "{line}")?;
            }
        }
    }
    let f = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot sync {}", partial.display()))?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    Ok(())
}
