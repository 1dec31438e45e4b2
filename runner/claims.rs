//! GPU claims: tasks sharing a multi-GPU node (task slots > 1) take distinct
//! GPUs. A claim is an advisory lock (`flock`) on
//! `riskpool-gpu-<UUID>.lock` under `AZ_BATCH_NODE_SHARED_DIR` (or the temp
//! folder outside Batch), held for the life of the process: the kernel
//! releases it on exit or crash, so no stale marker can block a GPU.
//!
//! Claims are keyed by the GPU's UUID, not its ordinal: two tasks started
//! with different `CUDA_VISIBLE_DEVICES` masks number the same GPU
//! differently, and must still not both take it.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// A GPU this process holds.
#[derive(Debug)]
pub struct Claim {
    /// The ordinal this process sees it by (the lock is on its UUID).
    pub ordinal: usize,
    _lock: File,
}

pub fn lock_dir() -> PathBuf {
    std::env::var_os("AZ_BATCH_NODE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Takes up to `want` of `gpus` (ordinal, UUID) that no other process holds.
pub fn claim(gpus: &[(usize, String)], want: usize) -> Vec<Claim> {
    let dir = lock_dir();
    let mut got = Vec::new();
    for (ordinal, uuid) in gpus {
        if got.len() >= want {
            break;
        }
        // A UUID is hex and hyphens; anything else is kept out of the name.
        let key: String = uuid
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("riskpool-gpu-{key}.lock"));
        let Ok(f) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if f.try_lock().is_ok() {
            got.push(Claim {
                ordinal: *ordinal,
                _lock: f,
            });
        }
    }
    got
}
