//! riskpool-kernels: random streams, models, payoffs and the pricing
//! engines of riskpool.
//!
//! Vocabulary after QuantLib: a [`model`] (process) evolves the spot, a
//! [`payoff`] is folded along each path, an [`instrument::Trade`] joins them
//! with a time grid, and an [`engine`] prices trades. [`rng`] is the random
//! stream contract every engine shares.

/// Declares a kind enum and `ALL`, its variants in declaration order, from
/// one list, with what follows from its `name()`: `parse`, `named` and
/// `gpu_id`. What a kind is (name, sources, kernel) is said by `match`es on
/// it, which the compiler checks are complete.
/// An enum of a trade's terms read from its name in a portfolio file, and
/// only from a string (serde's own enum reader would also take
/// `{"put": null}`): `#[serde(try_from = "String")]` on the enum, and
/// this for the names, in lower case.
macro_rules! named_terms {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("`{s}` is not one of: {}", [$($text),+].join(", "))),
                }
            }
        }
    };
}

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

            /// The kind of a portfolio file's name (`name()`).
            pub fn parse(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|k| k.name() == name)
            }

            /// `(name, kind)` for every kind, as an input parser offers them.
            pub fn named() -> Vec<(&'static str, $name)> {
                $name::ALL.iter().map(|&k| (k.name(), k)).collect()
            }

            /// Its number on the GPU side (kernel tables, pipeline caches).
            pub fn gpu_id(self) -> u32 {
                self as u32
            }
        }
    };
}

pub mod analytic;
pub mod azfinsim;
pub mod correlation;
pub mod engine;
pub mod env;
pub mod exercise;
pub mod gpu;
pub mod greeks;
pub mod instrument;
pub mod market;
pub mod model;
pub mod multi;
pub mod payoff;
pub mod qmc;
pub mod real;
pub mod revalue;
pub mod rng;
pub mod scenario;
pub mod stats;
pub mod tangent;
pub mod validate;
pub mod workloads;

pub use engine::cpu::{CpuEngine, Simd};
pub use engine::{Engine, EngineError, Pending, Precision, PricingRequest, TradeResult};
pub use greeks::{Bumps, Greek, GreekSet};
pub use instrument::{Trade, TradeError};
pub use stats::Estimate;
