//! riskpool-kernels: random streams, models, payoffs and the pricing
//! engines of riskpool.
//!
//! Vocabulary after QuantLib: a [`model`] (process) evolves the spot, a
//! [`payoff`] is folded along each path, an [`instrument::Trade`] joins them
//! with a time grid, and an [`engine`] prices trades. [`rng`] is the random
//! stream contract every engine shares.

/// Declares a kind enum and `ALL`, its variants in declaration order, from
/// one list: what a kind is (name, sources, kernel) is then said by
/// `match`es on it, which the compiler checks are complete.
macro_rules! kinds {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every kind, in declaration order (their GPU numbers).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
        }
    };
}

pub mod azfinsim;
pub mod engine;
pub mod gpu;
pub mod greeks;
pub mod instrument;
pub mod model;
pub mod payoff;
pub mod real;
pub mod rng;
pub mod stats;
pub mod workloads;

pub use engine::cpu::{CpuEngine, Simd};
pub use engine::{Engine, EngineError, Pending, Precision, PricingRequest, TradeResult};
pub use greeks::{Bumps, Greek, GreekSet};
pub use instrument::{Trade, TradeError};
pub use stats::Estimate;
