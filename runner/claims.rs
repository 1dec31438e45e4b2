//! GPU claims: tasks sharing a multi-GPU node (task slots > 1) take distinct
//! GPUs. A claim is an advisory lock (`flock`) on
//! `riskpool-gpu-<N>.lock` under `AZ_BATCH_NODE_SHARED_DIR` (or the temp
//! folder outside Batch), held for the life of the process: the kernel
//! releases it on exit or crash, so no stale marker can block a GPU.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// A GPU this process holds.
#[derive(Debug)]
pub struct Claim {
    pub ordinal: usize,
    _lock: File,
}

pub fn lock_dir() -> PathBuf {
    std::env::var_os("AZ_BATCH_NODE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Takes up to `want` of the GPUs `0..count` that no other process holds.
pub fn claim(count: usize, want: usize) -> Vec<Claim> {
    let dir = lock_dir();
    let mut got = Vec::new();
    for ordinal in 0..count {
        if got.len() >= want {
            break;
        }
        let path = dir.join(format!("riskpool-gpu-{ordinal}.lock"));
        let Ok(f) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if f.try_lock().is_ok() {
            got.push(Claim { ordinal, _lock: f });
        }
    }
    got
}
