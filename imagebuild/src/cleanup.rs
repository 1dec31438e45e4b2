//! Nothing left behind when `riskpool-image container` or `verify` is
//! stopped by SIGINT, SIGTERM or SIGHUP: the tools it runs (buildah, skopeo,
//! podman, each in a process group of its own) are ended, first with
//! SIGTERM, then after a grace period with SIGKILL, and the private folders
//! holding the registry auth file are removed, before it exits with 128 plus
//! the signal's number.
//!
//! Without [`install`] (the library used by another program), nothing is
//! caught, the tools stay in the caller's process group, and the
//! registrations cost a lock each.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static INSTALLED: AtomicBool = AtomicBool::new(false);
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// How long the tools get to stop after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// Catches SIGINT, SIGTERM and SIGHUP from now on: ends the running tools,
/// removes the registered folders and exits.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("riskpool-image-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Held to the end: no tool starts and no folder is forgotten meanwhile.
                let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
                stop(&groups);
                let dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
                for d in dirs.iter() {
                    let _ = std::fs::remove_dir_all(d);
                }
                eprintln!("riskpool-image: stopped by signal {sig}: the tools it ran are ended and its credentials removed");
                std::process::exit(128 + sig);
            }
        })?;
    INSTALLED.store(true, Ordering::SeqCst);
    Ok(())
}

/// Whether [`install`] ran: tools then start in process groups of their own
/// (else they stay in the caller's, where a terminal's Ctrl-C reaches them).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::SeqCst)
}

/// SIGTERM to each process group, SIGKILL to those still there after [`GRACE`].
fn stop(groups: &[u32]) {
    let signal = |pgid: u32, sig: i32| -> bool {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe { libc::kill(-(pgid as libc::pid_t), sig) == 0 }
    };
    for &g in groups {
        signal(g, libc::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && groups.iter().any(|&g| signal(g, 0)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &g in groups {
        signal(g, libc::SIGKILL);
    }
}

/// A folder to remove if a signal stops the program (register it before
/// creating it, so no moment is uncovered).
pub fn register_dir(dir: &Path) {
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir.to_path_buf());
}

/// The folder is gone (or kept on purpose): no longer removed on a signal.
pub fn forget_dir(dir: &Path) {
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|d| d != dir);
}

/// A running tool's process group (its leader's pid).
pub(crate) fn register_group(pgid: u32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
}

pub(crate) fn forget_group(pgid: u32) {
    GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&g| g != pgid);
}
