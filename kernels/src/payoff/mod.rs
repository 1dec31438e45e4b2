//! Payoffs, folded path by path as the path is generated (paths are never
//! stored).
//!
//! Path conventions (docs/formats.md): `steps` equal steps; `S_1..S_N` are
//! the values at the end of each step and `S_0` is the spot. A payoff sees
//! `x_i = ln(S_i / S_0)` where `S_0` is the trade's spot, so a scenario with
//! a bumped spot is the same path shifted by `ln(1 + h)`.

mod asian;
mod barrier;
mod digital;
mod double_barrier;
mod european;
mod fx_warrant;
mod lookback;

pub use asian::{Asian, AsianStep, Average};
pub use barrier::{Barrier, BarrierStep, Direction, Knock, Monitoring};
pub use digital::{Digital, DigitalStep};
pub use double_barrier::{DoubleBarrier, DoubleBarrierStep};
pub use european::{European, EuropeanStep};
pub use fx_warrant::{FxWarrant, FxWarrantStep, SETTLEMENT_FACTOR};
pub use lookback::{Lookback, LookbackStep, StrikeType};

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
}

kinds!(
    /// The kinds of payoff: the one list, from which come the names portfolio
    /// files use, the GPU sources and the kernels (`match`es the compiler
    /// checks, so a new kind cannot be half added).
    PayoffKind {
        European,
        Digital,
        Asian,
        Barrier,
        Lookback,
        FxWarrant,
        DoubleBarrier,
    }
);

impl PayoffKind {
    /// The name portfolio files use (`"type"`), also the stem of its files:
    /// `payoff/NAME.rs`, `payoff/NAME.wgsl`, `payoff/NAME.cuh`.
    pub fn name(self) -> &'static str {
        match self {
            PayoffKind::European => "european",
            PayoffKind::Digital => "digital",
            PayoffKind::Asian => "asian",
            PayoffKind::Barrier => "barrier",
            PayoffKind::Lookback => "lookback",
            PayoffKind::FxWarrant => "fx_warrant",
            PayoffKind::DoubleBarrier => "double_barrier",
        }
    }

    /// Its WGSL (`payoff/NAME.wgsl`).
    pub fn wgsl(self) -> &'static str {
        match self {
            PayoffKind::European => include_str!("european.wgsl"),
            PayoffKind::Digital => include_str!("digital.wgsl"),
            PayoffKind::Asian => include_str!("asian.wgsl"),
            PayoffKind::Barrier => include_str!("barrier.wgsl"),
            PayoffKind::Lookback => include_str!("lookback.wgsl"),
            PayoffKind::FxWarrant => include_str!("fx_warrant.wgsl"),
            PayoffKind::DoubleBarrier => include_str!("double_barrier.wgsl"),
        }
    }

    /// Its CUDA C (`payoff/NAME.cuh`) and the struct it defines there.
    pub fn cuda(self) -> (&'static str, &'static str) {
        match self {
            PayoffKind::European => (include_str!("european.cuh"), "European"),
            PayoffKind::Digital => (include_str!("digital.cuh"), "Digital"),
            PayoffKind::Asian => (include_str!("asian.cuh"), "Asian"),
            PayoffKind::Barrier => (include_str!("barrier.cuh"), "Barrier"),
            PayoffKind::Lookback => (include_str!("lookback.cuh"), "Lookback"),
            PayoffKind::FxWarrant => (include_str!("fx_warrant.cuh"), "FxWarrant"),
            PayoffKind::DoubleBarrier => (include_str!("double_barrier.cuh"), "DoubleBarrier"),
        }
    }
}

/// A payoff with its terms, as read from a trade.
#[derive(Clone, Debug, PartialEq)]
pub enum PayoffSpec {
    European(European),
    Digital(Digital),
    Asian(Asian),
    Barrier(Barrier),
    Lookback(Lookback),
    FxWarrant(FxWarrant),
    DoubleBarrier(DoubleBarrier),
}

/// A payoff ready to fold, in precision `T`.
#[derive(Clone, Copy, Debug)]
pub enum PayoffStep<T> {
    European(EuropeanStep<T>),
    Digital(DigitalStep<T>),
    Asian(AsianStep<T>),
    Barrier(BarrierStep<T>),
    Lookback(LookbackStep<T>),
    FxWarrant(FxWarrantStep<T>),
    DoubleBarrier(DoubleBarrierStep<T>),
}

/// Work done with a payoff's own type (the CPU engine's kernel, made once
/// per model x payoff pair): [`PayoffStep::visit`] hands the visitor the
/// payoff inside, so the one `match` over the kinds lives here.
pub trait PayoffVisitor<T: Real> {
    type Output;
    fn visit<P: PathPayoff<T>>(self, payoff: P) -> Self::Output;
}

impl<T: Real> PayoffStep<T> {
    /// Calls `v` with the payoff inside, as its own type.
    pub fn visit<V: PayoffVisitor<T>>(self, v: V) -> V::Output {
        match self {
            PayoffStep::European(p) => v.visit(p),
            PayoffStep::Digital(p) => v.visit(p),
            PayoffStep::Asian(p) => v.visit(p),
            PayoffStep::Barrier(p) => v.visit(p),
            PayoffStep::Lookback(p) => v.visit(p),
            PayoffStep::FxWarrant(p) => v.visit(p),
            PayoffStep::DoubleBarrier(p) => v.visit(p),
        }
    }
}

impl PayoffSpec {
    /// Reads a payoff of `kind` from its terms (the fields beside `type`),
    /// each kind through its own derived reader.
    pub fn from_terms<'de, D: serde::Deserializer<'de>>(
        kind: PayoffKind,
        terms: D,
    ) -> Result<PayoffSpec, D::Error> {
        use serde::Deserialize;
        Ok(match kind {
            PayoffKind::European => PayoffSpec::European(European::deserialize(terms)?),
            PayoffKind::Digital => PayoffSpec::Digital(Digital::deserialize(terms)?),
            PayoffKind::Asian => PayoffSpec::Asian(Asian::deserialize(terms)?),
            PayoffKind::Barrier => PayoffSpec::Barrier(Barrier::deserialize(terms)?),
            PayoffKind::Lookback => PayoffSpec::Lookback(Lookback::deserialize(terms)?),
            PayoffKind::FxWarrant => PayoffSpec::FxWarrant(FxWarrant::deserialize(terms)?),
            PayoffKind::DoubleBarrier => {
                PayoffSpec::DoubleBarrier(DoubleBarrier::deserialize(terms)?)
            }
        })
    }

    /// Checks the payoff's terms (each kind's own `validate`), against the
    /// model's `spot` where the payoff has barriers.
    pub fn validate(&self, spot: f64) -> Result<(), crate::validate::TradeError> {
        match self {
            PayoffSpec::European(p) => p.validate(),
            PayoffSpec::Digital(p) => p.validate(),
            PayoffSpec::Asian(p) => p.validate(),
            PayoffSpec::Barrier(p) => p.validate(spot),
            PayoffSpec::Lookback(p) => p.validate(),
            PayoffSpec::FxWarrant(p) => p.validate(),
            PayoffSpec::DoubleBarrier(p) => p.validate(spot),
        }
    }

    /// The payoff's kind.
    pub fn kind(&self) -> PayoffKind {
        match self {
            PayoffSpec::European(_) => PayoffKind::European,
            PayoffSpec::Digital(_) => PayoffKind::Digital,
            PayoffSpec::Asian(_) => PayoffKind::Asian,
            PayoffSpec::Barrier(_) => PayoffKind::Barrier,
            PayoffSpec::Lookback(_) => PayoffKind::Lookback,
            PayoffSpec::FxWarrant(_) => PayoffKind::FxWarrant,
            PayoffSpec::DoubleBarrier(_) => PayoffKind::DoubleBarrier,
        }
    }

    /// The payoff's name as written in portfolio files.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Constants for a trade with this `spot` and `steps`, rounded once to `T`.
    pub fn prepare<T: Real>(&self, spot: f64, steps: u32) -> PayoffStep<T> {
        match self {
            PayoffSpec::European(p) => PayoffStep::European(p.prepare(spot)),
            PayoffSpec::Digital(p) => PayoffStep::Digital(p.prepare(spot)),
            PayoffSpec::Asian(p) => PayoffStep::Asian(p.prepare(spot, steps)),
            PayoffSpec::Barrier(p) => PayoffStep::Barrier(p.prepare(spot)),
            PayoffSpec::Lookback(p) => PayoffStep::Lookback(p.prepare(spot)),
            PayoffSpec::FxWarrant(p) => PayoffStep::FxWarrant(p.prepare(spot)),
            PayoffSpec::DoubleBarrier(p) => PayoffStep::DoubleBarrier(p.prepare(spot)),
        }
    }
}

/// `max(S - K, 0)` or `max(K - S, 0)`.
#[inline(always)]
pub(crate) fn vanilla<T: Real>(option: OptionType, s: T, k: T) -> T {
    match option {
        OptionType::Call => (s - k).max(T::ZERO),
        OptionType::Put => (k - s).max(T::ZERO),
    }
}

impl<T: Real> PayoffStep<T> {
    /// The constant slots and flags the GPU engines read (see each payoff).
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        match self {
            PayoffStep::European(p) => p.gpu_consts(),
            PayoffStep::Digital(p) => p.gpu_consts(),
            PayoffStep::Asian(p) => p.gpu_consts(),
            PayoffStep::Barrier(p) => p.gpu_consts(),
            PayoffStep::Lookback(p) => p.gpu_consts(),
            PayoffStep::FxWarrant(p) => p.gpu_consts(),
            PayoffStep::DoubleBarrier(p) => p.gpu_consts(),
        }
    }
}
