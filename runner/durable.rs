//! Durable output, one place for every job that writes files: the names
//! of the side files a run keeps beside an output, the exclusive lock on
//! an output, writing a file atomically (temporary file, fsync, rename,
//! folder sync), content hashes, and whether two paths are one file.
//!
//! Side files of an output `o.csv` (`price`; `risk` adds its part):
//!
//! | file | what |
//! |---|---|
//! | `o.csv.partial` | the run's journal: its signature, then its rows (`journal`) |
//! | `o.csv.tmp` | the output, rendered from the complete journal |
//! | `o.csv.summary.json` | written last: the signature, rows and content hash of the output |
//! | `o.csv.lock` | the lock, held while a run writes any of these |
//! | `o.csv.part`, `o.csv.part.partial` | `risk`: the per-trade part file |
//! | `X.tmp` | `X` being written atomically |

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Busy, UsageError};

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The journal of a run while it is under way (`journal`).
pub fn partial_path(output: &Path) -> PathBuf {
    with_suffix(output, ".partial")
}

/// The summary, written when the output is complete.
pub fn summary_path(output: &Path) -> PathBuf {
    with_suffix(output, ".summary.json")
}

/// The lock file of an output.
pub fn lock_path(output: &Path) -> PathBuf {
    with_suffix(output, ".lock")
}

/// The temporary file `path` is written through.
pub fn tmp_path(path: &Path) -> PathBuf {
    with_suffix(path, ".tmp")
}

/// The part an unsharded risk run keeps beside its output.
pub fn part_path(output: &Path) -> PathBuf {
    with_suffix(output, ".part")
}

/// The endings of side-file names ([`side_files`], a risk part's journal):
/// no output may take one.
const RESERVED_SUFFIXES: [&str; 4] = [".partial", ".tmp", ".lock", ".summary.json"];

/// Every file a `price` run writes beside its output, the output first.
pub fn side_files(output: &Path) -> Vec<PathBuf> {
    vec![
        output.to_path_buf(),
        partial_path(output),
        tmp_path(output),
        summary_path(output),
        lock_path(output),
        tmp_path(&summary_path(output)),
    ]
}

/// The 64-bit xxh3 of some bytes, as 16 hex digits.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// The 64-bit xxh3 of a file's bytes, as 16 hex digits (equal to
/// [`content_hash`] of its content).
pub fn hash_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:016x}", h.digest()))
}

/// Where a file is: its inode where it exists, its canonical folder and
/// name where it does not.
#[derive(PartialEq, Eq)]
enum Identity {
    Node(u64, u64),
    Name(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    if let Ok(m) = std::fs::metadata(path) {
        return Some(Identity::Node(m.dev(), m.ino()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(Identity::Name(
        std::fs::canonicalize(dir).ok()?.join(path.file_name()?),
    ))
}

/// Whether two spellings name one file (`o.csv`, `./o.csv`, an absolute
/// path, a hard link): by device and inode where the file exists, by
/// canonical folder and name where it does not.
pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((identity(a), identity(b)), (Some(x), Some(y)) if x == y)
}

/// Opens an existing file (or, with `write`, creates it) without following
/// a symbolic link and without waiting on a FIFO: a side file is only ever
/// the regular file riskpool wrote.
pub fn open_no_follow(path: &Path, write: bool) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(write)
        .create(write)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    regular(f, path)
}

/// Creates (or empties) `path` for writing, as [`open_no_follow`] opens it
/// (emptied only once it is known to be the run's own file).
pub fn create_no_follow(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let f = regular(f, path)?;
    f.set_len(0)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(f)
}

/// `f`, if it is a regular file of one name: a FIFO or device is not a
/// file riskpool wrote, and a second hard link is another file's content,
/// which writing would destroy.
fn regular(f: File, path: &Path) -> Result<File> {
    let m = f
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !m.is_file() {
        bail!(UsageError(format!(
            "{}: not a regular file; riskpool writes this file itself: remove it",
            path.display()
        )));
    }
    if m.nlink() > 1 {
        bail!(UsageError(format!(
            "{}: has another name (a hard link); riskpool writes this file itself and would overwrite the other: remove it",
            path.display()
        )));
    }
    Ok(f)
}

/// Refuses a side file that is there but is not a regular file (a
/// symbolic link, a FIFO, a folder): riskpool neither writes through it
/// nor replaces it.
pub fn refuse_special(path: &Path, what: &str) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.nlink() > 1 => bail!(UsageError(format!(
            "{}: has another name (a hard link), where riskpool keeps {what}; remove it (riskpool writes this file itself)",
            path.display()
        ))),
        Ok(m) if !m.is_file() => {
            let kind = if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.is_dir() {
                "a folder"
            } else {
                "not a regular file"
            };
            bail!(UsageError(format!(
                "{}: is {kind}, where riskpool keeps {what}; remove it (riskpool writes this file itself)",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

/// What makes two runs produce the same rows: the input file (its path,
/// size and a hash of its content) and every option that changes a
/// result, the engine's name and device string included: they are written
/// in every row and decide its numbers, so a rerun on another engine or
/// node (other hardware, `--threads`, `--simd`) starts afresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature(pub Value);

impl Signature {
    pub fn new(input: &Path, content_hash: &str, options: Value) -> Result<Signature> {
        let meta =
            std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        let path = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
        Ok(Signature(json!({
            "input": path.display().to_string(),
            "size": meta.len(),
            "hash": content_hash,
            "options": options,
        })))
    }
}

/// What [`already_done`] reads of a summary.
#[derive(Deserialize)]
struct Finished {
    signature: Value,
    output_hash: String,
}

/// Whether `output` is a finished run with this signature: its summary
/// has the signature, and the output is a file whose content hash is the
/// one the summary recorded (a summary alone is not "complete").
pub fn already_done(output: &Path, sig: &Signature) -> bool {
    let Some(s) = std::fs::read_to_string(summary_path(output))
        .ok()
        .and_then(|t| serde_json::from_str::<Finished>(&t).ok())
    else {
        return false;
    };
    s.signature == sig.0
        && std::fs::symlink_metadata(output).is_ok_and(|m| m.is_file())
        && hash_file(output).is_ok_and(|h| h == s.output_hash)
}

/// Makes a rename or a new file in `path`'s folder durable (best effort:
/// some file systems cannot sync a folder).
pub fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `text` to `path` through `<path>.tmp`, fsync and rename; the
/// temporary file is removed if any step fails.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = create_no_follow(&tmp)?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        if path.to_string_lossy().ends_with(".summary.json") {
            crate::hooks::stall("summary-tmp");
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        sync_dir(path);
    }
    result
}

/// An exclusive lock on `<output>.lock`, held while a run writes `output`
/// and its side files; the lock file is removed when the run ends (the
/// kernel drops the lock itself if the process dies). Where the file
/// system has no locks, the run goes on with a warning.
pub struct OutputLock {
    path: PathBuf,
    file: Option<File>,
}

impl OutputLock {
    pub fn acquire(output: &Path) -> Result<OutputLock> {
        let path = lock_path(output);
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)
                .map_err(|e| {
                    UsageError(format!(
                        "--output {}: cannot write in its folder: {e}",
                        output.display()
                    ))
                })?;
            let mut file = regular(file, &path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut pid = String::new();
                    let _ = file.read_to_string(&mut pid);
                    let pid = pid.trim();
                    let who = if pid.is_empty() {
                        "another riskpool run".to_string()
                    } else {
                        format!("another riskpool run (pid {pid})")
                    };
                    bail!(Busy(format!(
                        "{who} is writing {}; this run stops without touching it (wait for that run, or give this one another --output)",
                        output.display()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    // Some network file systems have no locks: go on
                    // without one rather than refuse to run there.
                    tracing::warn!("cannot lock {} ({e}); a second run on {} at the same time would not be stopped",
                            path.display(),
                            output.display());
                    drop(file);
                    let _ = std::fs::remove_file(&path);
                    return Ok(OutputLock { path, file: None });
                }
            }
            // The run before may have removed the file between our open
            // and our lock: hold the lock only on the file at the path.
            let same = match (std::fs::metadata(&path), file.metadata()) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
            let _ = file.set_len(0);
            let _ = writeln!(file, "{}", std::process::id());
            return Ok(OutputLock {
                path,
                file: Some(file),
            });
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked, so no other run can hold a lock on
        // a file that is no longer at the path (and left alone when this
        // run could not lock it).
        if let Some(f) = self.file.take() {
            let _ = std::fs::remove_file(&self.path);
            drop(f);
        }
    }
}

/// Refuses an output the run cannot or must not write: a folder, a path
/// in a folder that does not exist, or any file of the run (the output,
/// its partial, summary or lock file) that is the input itself, however
/// it is spelled (`./`, symlinks, hard links).
pub fn check_output(input: &Path, output: &Path, flag: &str) -> Result<()> {
    if output.is_dir() {
        bail!(UsageError(format!(
            "{flag} {}: is a folder; give a file name",
            output.display()
        )));
    }
    if let Ok(m) = std::fs::symlink_metadata(output) {
        let ft = m.file_type();
        if !(ft.is_file() || ft.is_symlink() || ft.is_dir()) {
            bail!(UsageError(format!(
                "{flag} {}: not a regular file (a FIFO or device); riskpool replaces its output, give a file name",
                output.display()
            )));
        }
    }
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(UsageError(format!(
            "{flag} {}: the folder {} does not exist",
            output.display(),
            dir.display()
        )));
    }
    let Some(name) = output.file_name() else {
        bail!(UsageError(format!(
            "{flag} {}: not a file name",
            output.display()
        )));
    };
    // A side file's name is another run's side file, or would be: writing
    // it would break that run (its lock guards its output's name only).
    // In any case: on a file system that folds case (SMB, Azure Files),
    // `o.csv.LOCK` is `o.csv.lock`.
    let text = name.to_string_lossy().to_ascii_lowercase();
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| text.ends_with(*s)) {
        bail!(UsageError(format!(
            "{flag} {}: a name ending in `{suffix}` is kept for the side files a run writes beside its output (this may be another run's); give another name",
            output.display()
        )));
    }
    // Every file the run writes beside the output must have a name the
    // file system takes, or the run would fail half way.
    let longest = side_files(output)
        .iter()
        .chain(std::iter::once(&{
            let mut t = partial_path(output).into_os_string();
            t.push(".tmp");
            std::path::PathBuf::from(t)
        }))
        .filter_map(|p| p.file_name().map(|n| n.len()))
        .max()
        .unwrap_or(name.len());
    if longest > NAME_MAX {
        bail!(UsageError(format!(
            "{flag} {}: the name is too long: the run's side files (`.summary.json.tmp`) would have names of {longest} bytes, over the file system's limit of {NAME_MAX}; give a name of at most {} bytes",
            output.display(),
            name.len() - (longest - NAME_MAX)
        )));
    }
    // A link, FIFO or folder where a side file goes is refused: nothing is
    // written through a link, and no run waits on a FIFO.
    for side in side_files(output).iter().skip(1) {
        refuse_special(side, "a side file of this output")?;
    }
    check_not_read(input, "input file", output, flag)?;
    // A symlink is refused rather than followed or replaced: the lock
    // beside it would not be the lock beside its target, so two runs on
    // one file could not see each other.
    if std::fs::symlink_metadata(output).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(UsageError(format!(
            "{flag} {}: is a symbolic link; give the file it points to (or another name)",
            output.display()
        )));
    }
    Ok(())
}

/// Refuses an output any of whose files (the output, its partial, summary
/// or lock file) is `read`, a file the run reads (`what`: "input file",
/// "market file"), however it is spelled (`./`, symlinks, hard links):
/// writing it would destroy it.
pub fn check_not_read(read: &Path, what: &str, output: &Path, flag: &str) -> Result<()> {
    let Ok(a) = std::fs::metadata(read) else {
        return Ok(());
    };
    for side in side_files(output) {
        if let Ok(b) = std::fs::metadata(&side) {
            if a.dev() == b.dev() && a.ino() == b.ino() {
                bail!(UsageError(format!(
                    "{flag} {}: {} is the {what} {}; writing it would destroy the {what}",
                    output.display(),
                    side.display(),
                    read.display()
                )));
            }
        }
    }
    Ok(())
}

/// The longest file name Linux file systems take (`NAME_MAX`), in bytes.
pub const NAME_MAX: usize = 255;
