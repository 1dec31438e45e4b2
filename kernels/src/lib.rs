//! riskpool-kernels: random streams, models, payoffs and the pricing
//! engines of riskpool.
//!
//! Vocabulary after QuantLib: a [`model`] (process) evolves the spot, a
//! [`payoff`] is folded along each path, an [`instrument::Trade`] joins them
//! with a time grid, and an [`engine`] prices trades. [`rng`] is the random
//! stream contract every engine shares.

pub mod azfinsim;
pub mod correlation;
pub mod engine;
pub mod exercise;
pub mod greeks;
pub mod instrument;
pub mod model;
pub mod payoff;
pub mod portfolio;
pub mod real;
pub mod rng;
pub mod scenario;
pub mod stats;
pub mod workloads;

pub use engine::cpu::{CpuEngine, Simd};
pub use engine::{Engine, EngineError, Pending, Precision, PricingRequest, TradeResult};
pub use greeks::{Bumps, Greek, GreekSet};
pub use instrument::{Trade, TradeError};
pub use stats::Estimate;
