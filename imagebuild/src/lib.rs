//! riskpool-imagebuild: what Azure Batch pools need to run riskpool.
//!
//! - [`container`]: the container image (buildah, a Debian minbase base from
//!   the host's mirror or `--base`), pushed to a private registry, and
//!   verified by pulling it back and running the runner in it (podman, runc).
//! - [`batch`]: the Batch pool (management plane, with its managed identity,
//!   or data plane) and the job for the task graph generate -> split ->
//!   price -> concat with its files under the job id, the service's rules,
//!   and run.sh; checked against the Batch REST API definitions ([`schema`]).
//! - [`cleanup`]: SIGINT and SIGTERM end the tools and remove credentials.
//! - [`vm`]: the VM image for custom-image pools: a Debian root file system
//!   with the runner on a BIOS- and UEFI-bootable disk, as a fixed VHD,
//!   booted under QEMU to prove it.

pub mod batch;
pub mod cleanup;
pub mod container;
pub mod mirror;
pub mod schema;
pub mod tools;
pub mod vm;
