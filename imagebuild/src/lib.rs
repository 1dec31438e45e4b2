//! riskpool-imagebuild: what Azure Batch pools need to run riskpool.
//!
//! This slice: the Batch pool and job JSON ([`batch`]) for the task graph
//! generate -> split -> price -> concat, and a checker of request bodies
//! against the Batch REST API definitions ([`schema`]). The container and
//! VM image builders follow.

pub mod batch;
pub mod schema;
