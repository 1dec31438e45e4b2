//! Every `RISKPOOL_*` environment variable the riskpool binaries read, in
//! one place: its name, what it does, and the one function that reads it.
//! The README's "Environment variables" table lists the same ones (a test
//! holds the two together, and fails on a `RISKPOOL_` variable read
//! anywhere else). Values that do not parse are errors naming the variable,
//! checked once by [`check`] before a run starts, never silently ignored.

use std::path::PathBuf;

/// One variable: its name and what it does.
pub struct Var {
    pub name: &'static str,
    pub what: &'static str,
}

/// Declares each variable as a constant [`Var`] and lists them in `ALL`.
macro_rules! vars {
    ($($(#[$doc:meta])* $id:ident = $name:literal: $what:literal;)+) => {
        $($(#[$doc])* pub const $id: Var = Var { name: $name, what: $what };)+
        /// Every variable of this list.
        pub const ALL: &[&Var] = &[$(&$id),+];
    };
}

vars! {
    /// The NVRTC library to open (a path to `libnvrtc.so*`).
    NVRTC = "RISKPOOL_NVRTC":
        "the NVRTC library the CUDA engine opens, by path (else $CUDA_HOME's, then the usual sonames)";
    /// Where compiled CUDA kernels are cached.
    CACHE_DIR = "RISKPOOL_CACHE_DIR":
        "the folder of compiled CUDA kernels (else $AZ_BATCH_NODE_SHARED_DIR/riskpool-cache, else $XDG_CACHE_HOME/riskpool, else ~/.cache/riskpool)";
    /// `1`: the GPU engines run their general kernels only.
    GENERIC_KERNELS = "RISKPOOL_GENERIC_KERNELS":
        "1: the GPU engines never pick their PV-only kernels (for measuring them; the results are the same)";
    /// How many CUDA batches the runner keeps in flight.
    BATCHES_IN_FLIGHT = "RISKPOOL_BATCHES_IN_FLIGHT":
        "CUDA batches in flight at once (default 2; 1 turns the upload/compute overlap off)";
    /// GPUs a task claims when `--gpus-per-task` is not given.
    GPUS_PER_TASK = "RISKPOOL_GPUS_PER_TASK":
        "GPUs one task claims when --gpus-per-task is not given (default: every free GPU of the node)";
    /// The Azure VM size, instead of asking the instance metadata service.
    NODE_SIZE = "RISKPOOL_NODE_SIZE":
        "the node's Azure VM size (e.g. Standard_NC24ads_A100_v4) when --node-size is not given";
    /// The instance metadata service's address (tests serve it on 127.0.0.1).
    IMDS_ENDPOINT = "RISKPOOL_IMDS_ENDPOINT":
        "the instance metadata service, http://HOST[:PORT], asked only inside Batch (AZ_BATCH_NODE_ID set)";
}

/// Test hooks: read only by a runner built with the cargo feature
/// `test-hooks` (`scripts/test` builds it so; `cargo install` does not).
pub mod hooks {
    use super::Var;

    vars! {
        /// Stand-in GPUs for the claims tests: a count, or UUIDs.
        FAKE_GPUS = "RISKPOOL_FAKE_GPUS":
            "stand-in GPUs for the GPU-claim tests: a count N, or UUIDs in ordinal order";
        /// The engine fails after this many batches.
        INJECT_ENGINE_FAILURE = "RISKPOOL_INJECT_ENGINE_FAILURE":
            "the engine fails after this many batches (the failure tests)";
        /// The run stalls at this point, for a test to kill it there.
        TEST_STALL = "RISKPOOL_TEST_STALL":
            "the run stalls at this named point, for a test to kill it exactly there";
        /// The stall lasts while this file exists.
        TEST_STALL_WHILE = "RISKPOOL_TEST_STALL_WHILE":
            "the stall lasts while this file exists (else for ever)";
    }
}

/// A variable whose value riskpool cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("environment variable {name}={value:?}: {why}")]
pub struct EnvError {
    pub name: &'static str,
    pub value: String,
    pub why: String,
}

impl Var {
    /// The value, if set and not empty.
    pub fn get(&self) -> Option<String> {
        std::env::var_os(self.name)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned())
    }

    /// The value as a path, if set and not empty.
    pub fn path(&self) -> Option<PathBuf> {
        std::env::var_os(self.name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// The value as a whole number in `min..=max`, if set.
    pub fn count(&self, min: usize, max: usize) -> Result<Option<usize>, EnvError> {
        let Some(v) = self.get() else { return Ok(None) };
        match v.trim().parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(EnvError {
                name: self.name,
                value: v,
                why: format!("expected a whole number from {min} to {max}"),
            }),
        }
    }

    /// Whether the value is `1`; anything but unset, empty, `0` or `1` is
    /// an error.
    pub fn flag(&self) -> Result<bool, EnvError> {
        match self.get().as_deref().map(str::trim) {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(v) => Err(EnvError {
                name: self.name,
                value: v.to_string(),
                why: "expected 0 or 1".into(),
            }),
        }
    }
}

/// `RISKPOOL_BATCHES_IN_FLIGHT`: 1 to 8.
pub fn batches_in_flight() -> Result<Option<usize>, EnvError> {
    BATCHES_IN_FLIGHT.count(1, 8)
}

/// `RISKPOOL_GPUS_PER_TASK`: 1 to 64.
pub fn gpus_per_task() -> Result<Option<usize>, EnvError> {
    GPUS_PER_TASK.count(1, 64)
}

/// `RISKPOOL_GENERIC_KERNELS=1`.
pub fn generic_kernels() -> bool {
    GENERIC_KERNELS.flag().unwrap_or(false)
}

/// Every variable whose value must parse, checked up front: a run with a
/// bad one stops before it starts, naming it.
pub fn check() -> Result<(), EnvError> {
    batches_in_flight()?;
    gpus_per_task()?;
    GENERIC_KERNELS.flag()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_prefixed() {
        let mut names: Vec<&str> = ALL
            .iter()
            .chain(hooks::ALL.iter())
            .map(|v| v.name)
            .collect();
        assert!(names.iter().all(|n| n.starts_with("RISKPOOL_")));
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
