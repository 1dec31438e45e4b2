//! The files a risk run reads and writes, checked against each other
//! before anything is written, and locked for the run.
//!
//! Two spellings of one file (`o.csv`, `./o.csv`, an absolute path, a
//! hard link) are the same file: files are compared by device and inode
//! where they exist, by canonical folder and name where they do not. A
//! user path that is another flag's file, or one of the run's own side
//! files (`.tmp`, `.lock`, `.part`, `.partial`, `.summary.json`), is
//! refused (exit 2), as is an output that exists and is not a regular file,
//! and a side file that is there as a link, a FIFO or a folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::cli::RiskOutputArgs;
use crate::durable::{self, lock_path, part_path, same_file, summary_path, tmp_path, OutputLock};
use crate::error::UsageError;

/// What one run writes: the outputs by flag, and whether it is one shard
/// (its output is its part) or a whole run (its part is `<output>.part`).
pub struct Written<'a> {
    pub output: &'a Path,
    pub figures: &'a RiskOutputArgs,
    /// `Some(true)`: one shard of `risk`; `Some(false)`: an unsharded
    /// `risk`; `None`: `risk-merge` (no part written).
    pub shard: Option<bool>,
}

impl Written<'_> {
    /// The user's output paths by flag.
    fn outputs(&self) -> Vec<(&'static str, &Path)> {
        let mut all = vec![("--output", self.output)];
        all.extend(self.figures.by_trade.as_deref().map(|p| ("--by-trade", p)));
        all.extend(self.figures.report.as_deref().map(|p| ("--report", p)));
        all
    }

    /// Every file the run writes, with the flag it belongs to; the first
    /// of each flag is the user's own path.
    fn files(&self) -> Vec<(&'static str, PathBuf)> {
        let mut files = Vec::new();
        for (flag, p) in self.outputs() {
            files.push((flag, p.to_path_buf()));
            files.push((flag, tmp_path(p)));
            files.push((flag, lock_path(p)));
        }
        let summary = summary_path(self.output);
        files.push(("--output", tmp_path(&summary)));
        files.push(("--output", summary));
        match self.shard {
            Some(true) => files.push(("--output", crate::durable::partial_path(self.output))),
            Some(false) => {
                let part = part_path(self.output);
                files.push(("--output", crate::durable::partial_path(&part)));
                files.push(("--output", lock_path(&part)));
                files.push(("--output", part));
            }
            None => {}
        }
        files
    }

    /// Refuses, before anything is read or written: an output that is a
    /// folder, in no folder, a symlink or not a regular file; and any
    /// user path (`inputs` by flag, and the outputs) that is another
    /// flag's file or one of the run's side files, however spelled.
    pub fn check(&self, inputs: &[(&str, &Path)]) -> Result<()> {
        for (flag, out) in self.outputs() {
            for (read_flag, input) in inputs {
                match *read_flag {
                    "--market" => durable::check_not_read(input, "market file", out, flag)?,
                    _ => durable::check_output(input, out, flag)?,
                }
            }
            if std::fs::metadata(out).is_ok_and(|m| !m.is_file()) {
                bail!(UsageError(format!(
                    "{flag} {}: not a regular file (a FIFO or device); riskpool replaces its output, give a file name",
                    out.display()
                )));
            }
        }
        let files = self.files();
        // A link, FIFO or folder where a file of the run goes is refused:
        // nothing is written through a link, and no run waits on a FIFO.
        for (i, (owner, f)) in files.iter().enumerate() {
            if i != first_of(&files, owner) {
                durable::refuse_special(f, &format!("a file of {owner}'s run"))?;
            }
        }
        let users = inputs
            .iter()
            .map(|&(f, p)| (f, p, false))
            .chain(self.outputs().into_iter().map(|(f, p)| (f, p, true)));
        for (flag, user, is_out) in users {
            for (i, (owner, w)) in files.iter().enumerate() {
                // An output is its own first file.
                let own = is_out && *owner == flag && i == first_of(&files, owner);
                if own || !same_file(user, w) {
                    continue;
                }
                let primary = i == first_of(&files, owner);
                bail!(UsageError(if primary {
                    format!(
                        "{flag} {} and {owner} {} are the same file; give each its own name",
                        user.display(),
                        w.display()
                    )
                } else {
                    format!(
                        "{flag} {}: is {}, a file riskpool writes beside {owner} {} for this run; give another name",
                        user.display(),
                        w.display(),
                        self.outputs()
                            .iter()
                            .find(|(f, _)| f == owner)
                            .map_or(String::new(), |(_, p)| p.display().to_string())
                    )
                }));
            }
        }
        // Last, so a name that is another file is named as such first.
        // The outputs are CSV and HTML, written as such whatever the name:
        // a name that says otherwise is refused, as `price` refuses one.
        for (flag, out) in self.outputs() {
            let (ok, want) = match flag {
                // A shard's output is its part (JSON Lines), named freely.
                "--output" if self.shard == Some(true) => (true, ""),
                "--report" => (has_extension(out, &["html", "htm"]), ".html"),
                _ => (has_extension(out, &["csv"]), ".csv"),
            };
            if !ok {
                bail!(UsageError(format!(
                    "{flag} {}: the file is written as {}; give it the extension {want}",
                    out.display(),
                    if want == ".html" {
                        "an HTML page"
                    } else {
                        "CSV"
                    }
                )));
            }
        }
        Ok(())
    }

    /// Locks every file the run writes: each output, and the part of an
    /// unsharded run (which a shard run on `<output>.part` also locks).
    /// A second run on any of them is refused without touching them.
    pub fn lock(&self) -> Result<Vec<OutputLock>> {
        let mut locks = Vec::new();
        for (_, p) in self.outputs() {
            locks.push(OutputLock::acquire(p)?);
        }
        if self.shard == Some(false) {
            locks.push(OutputLock::acquire(&part_path(self.output))?);
        }
        Ok(locks)
    }
}

/// Whether `path`'s extension is one of `exts` (any case).
fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The index of `flag`'s first file.
fn first_of(files: &[(&'static str, PathBuf)], flag: &str) -> usize {
    files.iter().position(|(f, _)| *f == flag).unwrap_or(0)
}

/// Whether a run with signature `sig` is complete on every output it was
/// asked for: the summary has the signature and the output's hash, and
/// the by-trade file and report exist with the hashes it recorded.
pub fn complete(output: &Path, figures: &RiskOutputArgs, sig: &Value) -> bool {
    if !durable::already_done(output, &durable::Signature(sig.clone())) {
        return false;
    }
    let Some(summary) = std::fs::read_to_string(summary_path(output))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return false;
    };
    [
        (&figures.by_trade, "by_trade_hash"),
        (&figures.report, "report_hash"),
    ]
    .into_iter()
    .all(|(path, key)| match path {
        None => true,
        Some(p) => {
            p.is_file()
                && durable::hash_file(p).is_ok_and(|h| summary[key].as_str() == Some(h.as_str()))
        }
    })
}
