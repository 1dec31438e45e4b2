//! The runner's end-to-end tests, one test binary (as ripgrep's
//! `tests/tests.rs`): each module drives the `riskpool` binary, or the
//! runner library, the way a user or a Batch task does. `util` holds what
//! they share.
//!
//! Tests that need the runner's test hooks (stalls at named points,
//! injected engine failures, stand-in GPUs) are compiled only with the
//! `test-hooks` feature, which `scripts/test` turns on.

mod util;

mod batch_graph;
mod cli;
mod dated_fault_hostile;
mod dated_gpu_hostile;
mod dated_hostile;
mod dated_multi_hostile;
mod dated_path;
mod docs;
mod durability;
mod early_exercise;
mod greeks_method;
mod market;
mod multi_asset_cli;
mod preemption;
mod probe;
mod qmc_cli;
mod report;
mod risk_cli;
mod standalone;
