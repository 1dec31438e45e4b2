//! riskpool-imagebuild: what Azure Batch pools need to run riskpool.
//!
//! - [`container`]: the container image (buildah, a Debian minbase base from
//!   the host's mirror or `--base`), pushed to a private registry, and
//!   verified by pulling it back and running the runner in it (podman, runc).
//! - [`batch`]: the Batch pool and job JSON for the task graph
//!   generate -> split -> price -> concat, checked against the Batch REST
//!   API definitions ([`schema`]).
//!
//! The VM image builder follows.

pub mod batch;
pub mod container;
pub mod mirror;
pub mod schema;
pub mod tools;
