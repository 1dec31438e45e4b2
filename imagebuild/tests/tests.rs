//! riskpool-image's end-to-end tests, one test binary: the Batch JSON
//! against the API definitions, the job run as Batch runs it, run.sh with
//! the real Azure CLI against local endpoints, the container and VM images
//! with the real tools. `common` finds the tools and the runner.

mod common;

mod batch_az;
mod batch_json;
mod batch_local;
mod container;
mod container_signals;
mod vm;
