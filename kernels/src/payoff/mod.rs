//! Payoffs, folded path by path as the path is generated (paths are never
//! stored).
//!
//! Path conventions (docs/formats.md): `steps` equal steps; `S_1..S_N` are
//! the values at the end of each step and `S_0` is the spot. A payoff sees
//! `x_i = ln(S_i / S_0)` where `S_0` is the trade's spot, so a scenario with
//! a bumped spot is the same path shifted by `ln(1 + h)`.

pub use asian::Average;
pub use barrier::{Direction, Knock, Monitoring};
pub use fx_warrant::SETTLEMENT_FACTOR;
pub use lookback::StrikeType;

/// Flag bits of a payoff's GPU constants, shared with the WGSL and CUDA C sources.
pub mod gpu {
    use super::OptionType;

    pub const PUT: u32 = 1;
    pub const GEOMETRIC: u32 = 2;
    pub const DOWN: u32 = 4;
    pub const KNOCK_IN: u32 = 8;
    pub const CONTINUOUS: u32 = 16;
    pub const FIXED_STRIKE: u32 = 32;

    pub fn flag(on: bool, bit: u32) -> u32 {
        if on {
            bit
        } else {
            0
        }
    }

    pub fn put_flag(option: OptionType) -> u32 {
        flag(option == OptionType::Put, PUT)
    }
}

use crate::real::Real;

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum OptionType {
    Call,
    Put,
}

named_terms!(OptionType { Call => "call", Put => "put" });

/// A payoff folded along a path, in precision `T`. The fold state is two
/// numbers per path (a running sum, a min and a max, a survival weight...).
pub trait PathPayoff<T: Real>: Copy + Send + Sync {
    /// Whether [`PathPayoff::observe`] must see every step (false: only the
    /// terminal value matters, and the engine skips the per-step fold).
    const OBSERVES: bool = false;
    /// Fold state at `S_0`, with `x0 = ln(S_0' / S_0)` for the scenario.
    #[inline(always)]
    fn start(&self, _x0: T) -> [T; 2] {
        [T::ZERO; 2]
    }
    /// Folds in `x_i`; `var_dt` is the step's log-variance.
    #[inline(always)]
    fn observe(&self, _st: &mut [T; 2], _x: T, _var_dt: T) {}
    /// The undiscounted payoff at maturity, `x = x_N`.
    fn value(&self, st: [T; 2], x: T) -> T;
    /// Whether the fold reads only the spot, so that a scenario fan
    /// (`engine::cpu::fan`) may fold a moved path's `x + shift` as
    /// [`PathPayoff::observe_scaled`] with `e^x` taken once a path and
    /// `e^shift` once a scenario, instead of `e^(x + shift)` for each
    /// (the arithmetic average). The same number up to rounding.
    #[inline(always)]
    fn scales(&self) -> bool {
        false
    }
    /// Folds in a moved path's spot `ex * es` (`ex = e^x`, `es =
    /// e^shift`), where [`PathPayoff::scales`].
    #[inline(always)]
    fn observe_scaled(&self, _st: &mut [T; 2], _ex: T, _es: T) {}
}

/// The one list of payoffs: each entry `stem => Terms, Step;` is a payoff's
/// three twin files (`payoff/stem.rs`, `.wgsl`, `.cuh`; the CUDA C struct
/// named `Terms`), its terms (read by their own `Deserialize`, checked by
/// their own `validate(spot)`) and its path fold (`prepare(spot, steps)`
/// makes it, `gpu_consts` gives the GPU its constants). From it come
/// [`PayoffKind`] (the names and GPU numbers), [`PayoffSpec`],
/// [`PayoffStep`] and every `match` over them: a new payoff is its three
/// files and one line here.
macro_rules! payoffs {
    ($($stem:ident => $kind:ident, $step:ident;)+) => {
        $(mod $stem;)+
        $(pub use $stem::{$kind, $step};)+

        kinds!(
            /// The kinds of payoff, in the order of the list (their GPU
            /// numbers).
            PayoffKind { $($kind),+ }
        );

        impl PayoffKind {
            /// The name portfolio files use (`"type"`), also the stem of
            /// its files: `payoff/NAME.rs`, `payoff/NAME.wgsl`,
            /// `payoff/NAME.cuh`.
            pub fn name(self) -> &'static str {
                match self {
                    $(PayoffKind::$kind => stringify!($stem),)+
                }
            }

            /// Its WGSL (`payoff/NAME.wgsl`).
            pub fn wgsl(self) -> &'static str {
                match self {
                    $(PayoffKind::$kind => include_str!(concat!(stringify!($stem), ".wgsl")),)+
                }
            }

            /// Its CUDA C (`payoff/NAME.cuh`) and the struct it defines there.
            pub fn cuda(self) -> (&'static str, &'static str) {
                match self {
                    $(PayoffKind::$kind => (
                        include_str!(concat!(stringify!($stem), ".cuh")),
                        stringify!($kind),
                    ),)+
                }
            }
        }

        /// A payoff with its terms, as read from a trade.
        #[derive(Clone, Debug, PartialEq)]
        pub enum PayoffSpec {
            $($kind($kind),)+
        }

        /// A payoff ready to fold, in precision `T`.
        #[derive(Clone, Copy, Debug)]
        pub enum PayoffStep<T> {
            $($kind($step<T>),)+
        }

        impl PayoffSpec {
            /// Reads a payoff of `kind` from its terms (the fields beside
            /// `type`), each kind through its own derived reader.
            pub fn from_terms<'de, D: serde::Deserializer<'de>>(
                kind: PayoffKind,
                terms: D,
            ) -> Result<PayoffSpec, D::Error> {
                use serde::Deserialize;
                Ok(match kind {
                    $(PayoffKind::$kind => PayoffSpec::$kind($kind::deserialize(terms)?),)+
                })
            }

            /// Checks the payoff's terms (each kind's own `validate`),
            /// against the model's `spot` where the payoff has barriers.
            pub fn validate(&self, spot: f64) -> Result<(), crate::validate::TradeError> {
                match self {
                    $(PayoffSpec::$kind(p) => p.validate(spot),)+
                }
            }

            /// The payoff's kind.
            pub fn kind(&self) -> PayoffKind {
                match self {
                    $(PayoffSpec::$kind(_) => PayoffKind::$kind,)+
                }
            }

            /// The payoff's name as written in portfolio files.
            pub fn name(&self) -> &'static str {
                self.kind().name()
            }

            /// Constants for a trade with this `spot` and `steps`, rounded
            /// once to `T`.
            pub fn prepare<T: Real>(&self, spot: f64, steps: u32) -> PayoffStep<T> {
                match self {
                    $(PayoffSpec::$kind(p) => PayoffStep::$kind(p.prepare(spot, steps)),)+
                }
            }
        }

        impl<T: Real> PayoffStep<T> {
            /// Calls `v` with the payoff inside, as its own type.
            pub fn visit<V: PayoffVisitor<T>>(self, v: V) -> V::Output {
                match self {
                    $(PayoffStep::$kind(p) => v.visit(p),)+
                }
            }

            /// The constant slots and flags the GPU engines read (see each
            /// payoff).
            pub fn gpu_consts(&self) -> ([T; 8], u32) {
                match self {
                    $(PayoffStep::$kind(p) => p.gpu_consts(),)+
                }
            }
        }
    };
}

payoffs! {
    european => European, EuropeanStep;
    digital => Digital, DigitalStep;
    asian => Asian, AsianStep;
    barrier => Barrier, BarrierStep;
    lookback => Lookback, LookbackStep;
    fx_warrant => FxWarrant, FxWarrantStep;
    double_barrier => DoubleBarrier, DoubleBarrierStep;
}

impl PayoffSpec {
    /// Whether the discounted payoff is a Lipschitz function of the path
    /// (so its pathwise derivative is an unbiased Greek): the vanillas,
    /// averages, extremes and continuously monitored barriers (their
    /// Brownian-bridge survival weight falls smoothly to 0 at the
    /// barrier). A digital's cash, a discretely monitored knock and the
    /// FX warrant's knock-out jump (on a grid of `steps`; with one step it
    /// is watched at maturity alone, where its value at the knock-out
    /// level, the strike, is 0: continuous).
    pub fn lipschitz(&self, steps: u32) -> bool {
        match self {
            PayoffSpec::European(_) | PayoffSpec::Asian(_) | PayoffSpec::Lookback(_) => true,
            PayoffSpec::Barrier(b) => b.monitoring == Monitoring::Continuous,
            PayoffSpec::DoubleBarrier(b) => b.monitoring == Monitoring::Continuous,
            PayoffSpec::FxWarrant(_) => steps == 1,
            PayoffSpec::Digital(_) => false,
        }
    }

    /// Whether the payoff reads `S_T` alone (no fold along the path).
    pub fn terminal_only(&self) -> bool {
        matches!(self, PayoffSpec::European(_) | PayoffSpec::Digital(_))
    }
}

/// Work done with a payoff's own type (the CPU engine's kernel, made once
/// per model x payoff pair): [`PayoffStep::visit`] hands the visitor the
/// payoff inside, so the one `match` over the kinds lives here.
pub trait PayoffVisitor<T: Real> {
    type Output;
    fn visit<P: PathPayoff<T>>(self, payoff: P) -> Self::Output;
}

/// `max(S - K, 0)` or `max(K - S, 0)`.
#[inline(always)]
pub(crate) fn vanilla<T: Real>(option: OptionType, s: T, k: T) -> T {
    match option {
        OptionType::Call => (s - k).max(T::ZERO),
        OptionType::Put => (k - s).max(T::ZERO),
    }
}
