//! Models (QuantLib's "processes"): how the spot evolves, step by step.
//!
//! Every model keeps `x = ln(S_t / S_0)` and one auxiliary variable (the
//! variance, the log-vol, or nothing) per path, and says per step what the
//! log-variance of that step was (`sigma^2 dt`), which the continuous
//! barrier's Brownian-bridge correction needs. Keeping `x` rather than `S`
//! means barriers, lookbacks and geometric averages never need a logarithm,
//! and a bumped spot is a shift of `x`, so spot Greeks reuse the path.

mod gbm;
mod heston;
mod sv_fx;

pub use gbm::{Gbm, GbmStep};
pub use heston::{Heston, HestonStep};
pub use sv_fx::{SvFx, SvFxStep};

use crate::real::Real;
use crate::tangent::Dual;

/// The discretised dynamics of one model, in path-state precision `T`.
pub trait PathModel<T: Real>: Copy + Send + Sync {
    /// Standard normals drawn per step (1 or 2).
    const NORMALS: usize;
    /// The auxiliary state at t = 0.
    fn aux0(&self) -> T;
    /// Advances `x` and `aux` by one step on normals `z` (only the first
    /// `NORMALS` are read) and returns the step's log-variance `sigma^2 dt`.
    fn step(&self, x: &mut T, aux: &mut T, z: [T; 2]) -> T;
    /// For likelihood-ratio Greeks: the standard normal that moves `x`
    /// alone given the auxiliary variable's driver, and `c`, the factor
    /// that makes `c sqrt(var_dt)` the log-step's standard deviation
    /// given that driver (`(z[0], 1)` for one normal a step).
    #[inline(always)]
    fn x_noise(&self, z: [T; 2]) -> (T, T) {
        (z[0], T::ONE)
    }
    /// Whether `self`'s auxiliary path is `base`'s, step for step and bit
    /// for bit, though their vol parameters differ (sv_fx: its vol factor
    /// reads neither `sigma` nor the drift). A kernel evolving several
    /// families of one trade then takes the auxiliary part of each step
    /// ([`PathModel::aux_step`]) once, from the base, and the rest of each
    /// family's step from it ([`PathModel::step_on`]): the same bits as
    /// [`PathModel::step`], less the work.
    #[inline(always)]
    fn shares_aux(&self, _base: &Self) -> bool {
        false
    }
    /// Whether [`PathModel::shares_aux`] can be true for this model (the
    /// kernels compile the sharing out where it cannot).
    const SHARES_AUX: bool = false;
    /// The auxiliary part of [`PathModel::step`]: advances `aux` and
    /// returns what the rest of the step reads of it. By default the
    /// auxiliary state before the step (a whole step taken for its
    /// auxiliary part; no model that [`PathModel::shares_aux`] relies on
    /// the default).
    #[inline(always)]
    fn aux_step(&self, aux: &mut T, z: [T; 2]) -> T {
        let before = *aux;
        let mut x = T::ZERO;
        self.step(&mut x, aux, z);
        before
    }
    /// The rest of [`PathModel::step`] given `a` from
    /// [`PathModel::aux_step`]: advances `x`, returns the step's
    /// log-variance.
    #[inline(always)]
    fn step_on(&self, x: &mut T, a: T, z: [T; 2]) -> T {
        let mut aux = a;
        self.step(x, &mut aux, z)
    }
}

kinds!(
    /// The kinds of model: the one list, from which come the names portfolio
    /// files use, the GPU sources and the kernels (`match`es the compiler
    /// checks, so a new kind cannot be half added).
    ModelKind { Gbm, Heston, SvFx }
);

impl ModelKind {
    /// The name portfolio files use (`"type"`), also the stem of its files:
    /// `model/NAME.rs`, `model/NAME.wgsl`, `model/NAME.cuh`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gbm => "gbm",
            ModelKind::Heston => "heston",
            ModelKind::SvFx => "sv_fx",
        }
    }

    /// Its WGSL (`model/NAME.wgsl`).
    pub fn wgsl(self) -> &'static str {
        match self {
            ModelKind::Gbm => include_str!("gbm.wgsl"),
            ModelKind::Heston => include_str!("heston.wgsl"),
            ModelKind::SvFx => include_str!("sv_fx.wgsl"),
        }
    }

    /// Its CUDA C (`model/NAME.cuh`) and the struct it defines there.
    pub fn cuda(self) -> (&'static str, &'static str) {
        match self {
            ModelKind::Gbm => (include_str!("gbm.cuh"), "Gbm"),
            ModelKind::Heston => (include_str!("heston.cuh"), "Heston"),
            ModelKind::SvFx => (include_str!("sv_fx.cuh"), "SvFx"),
        }
    }
}

/// A model with its parameters, as read from a trade.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    Gbm(Gbm),
    Heston(Heston),
    SvFx(SvFx),
}

/// A model ready to step, in precision `T`.
#[derive(Clone, Copy, Debug)]
pub enum ModelStep<T> {
    Gbm(GbmStep<T>),
    Heston(HestonStep<T>),
    SvFx(SvFxStep<T>),
}

impl ModelSpec {
    /// Reads a model of `kind` from its terms (the fields beside `type`),
    /// each kind through its own derived reader.
    pub fn from_terms<'de, D: serde::Deserializer<'de>>(
        kind: ModelKind,
        terms: D,
    ) -> Result<ModelSpec, D::Error> {
        use serde::Deserialize;
        Ok(match kind {
            ModelKind::Gbm => ModelSpec::Gbm(Gbm::deserialize(terms)?),
            ModelKind::Heston => ModelSpec::Heston(Heston::deserialize(terms)?),
            ModelKind::SvFx => ModelSpec::SvFx(SvFx::deserialize(terms)?),
        })
    }

    /// Checks the model's terms (each kind's own `validate`).
    pub fn validate(&self) -> Result<(), crate::validate::TradeError> {
        match self {
            ModelSpec::Gbm(m) => m.validate(),
            ModelSpec::Heston(m) => m.validate(),
            ModelSpec::SvFx(m) => m.validate(),
        }
    }

    /// The model's kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::Gbm(_) => ModelKind::Gbm,
            ModelSpec::Heston(_) => ModelKind::Heston,
            ModelSpec::SvFx(_) => ModelKind::SvFx,
        }
    }

    /// The model's name as written in portfolio files.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn spot(&self) -> f64 {
        match self {
            ModelSpec::Gbm(m) => m.spot,
            ModelSpec::Heston(m) => m.spot,
            ModelSpec::SvFx(m) => m.spot,
        }
    }

    /// The rate payoffs are discounted at; `sv_fx` follows azfinsim and
    /// does not discount.
    pub fn discount_rate(&self) -> f64 {
        match self {
            ModelSpec::Gbm(m) => m.rate,
            ModelSpec::Heston(m) => m.rate,
            ModelSpec::SvFx(_) => 0.0,
        }
    }

    /// The model with its volatility parameter scaled by `factor` (vega's
    /// bump): `vol` for gbm, `sqrt(v0)` for heston, `sigma` for sv_fx.
    pub fn with_vol_scaled(&self, factor: f64) -> ModelSpec {
        match self {
            ModelSpec::Gbm(m) => ModelSpec::Gbm(Gbm {
                vol: m.vol * factor,
                ..m.clone()
            }),
            ModelSpec::Heston(m) => ModelSpec::Heston(Heston {
                v0: m.v0 * factor * factor,
                ..m.clone()
            }),
            ModelSpec::SvFx(m) => ModelSpec::SvFx(SvFx {
                sigma: m.sigma * factor,
                ..m.clone()
            }),
        }
    }

    /// Per-step constants for time step `dt`, computed in f64 then rounded
    /// once to `T`, exactly as the GPU engines receive them.
    pub fn prepare<T: Real>(&self, dt: f64) -> ModelStep<T> {
        match self {
            ModelSpec::Gbm(m) => ModelStep::Gbm(m.prepare(dt)),
            ModelSpec::Heston(m) => ModelStep::Heston(m.prepare(dt)),
            ModelSpec::SvFx(m) => ModelStep::SvFx(m.prepare(dt)),
        }
    }
}

impl ModelSpec {
    /// The vol parameter vega is taken with respect to: `vol` (gbm),
    /// `sqrt(v0)` (heston), `sigma` (sv_fx).
    pub fn vol_parameter(&self) -> f64 {
        match self {
            ModelSpec::Gbm(m) => m.vol,
            ModelSpec::Heston(m) => m.v0.sqrt(),
            ModelSpec::SvFx(m) => m.sigma,
        }
    }

    /// The model with its vol parameter set to `p`.
    pub fn with_vol_parameter(&self, p: f64) -> ModelSpec {
        match self {
            ModelSpec::Gbm(m) => ModelSpec::Gbm(Gbm {
                vol: p,
                ..m.clone()
            }),
            ModelSpec::Heston(m) => ModelSpec::Heston(Heston {
                v0: p * p,
                ..m.clone()
            }),
            ModelSpec::SvFx(m) => ModelSpec::SvFx(SvFx {
                sigma: p,
                ..m.clone()
            }),
        }
    }

    /// The derivatives of [`ModelStep::gpu_consts`] in the vol parameter
    /// ([`ModelSpec::vol_parameter`]): every constant is at most quadratic
    /// in it, so the central difference taken in f64 is its derivative to
    /// rounding. The GPU engines' one-pass records carry these
    /// (`crate::gpu::one_pass`).
    pub fn vega_slots(&self, dt: f64) -> [f64; 12] {
        let p = self.vol_parameter();
        let h = 1e-4 * p.max(1e-2);
        let up = self
            .with_vol_parameter(p + h)
            .prepare::<f64>(dt)
            .gpu_consts();
        let down = self
            .with_vol_parameter(p - h)
            .prepare::<f64>(dt)
            .gpu_consts();
        std::array::from_fn(|i| (up[i] - down[i]) / (2.0 * h))
    }

    /// [`ModelSpec::prepare`]'s constants as [`Dual`] numbers for pathwise
    /// Greeks: the same values to the bit, with their derivatives in the
    /// vol parameter along [`crate::tangent::VEGA`] when `vega` (else
    /// none: [`ModelSpec::vega_slots`]).
    pub fn prepare_tangent<T: Real>(&self, dt: f64, vega: bool) -> ModelStep<Dual<T>> {
        let base = self.prepare::<f64>(dt).gpu_consts();
        let d = if vega { self.vega_slots(dt) } else { [0.0; 12] };
        let mut slots = [Dual::<T>::ZERO; 12];
        for i in 0..12 {
            let mut t = [0.0; crate::tangent::TANGENTS];
            t[crate::tangent::VEGA] = d[i];
            slots[i] = Dual::seeded(base[i], t);
        }
        match self {
            ModelSpec::Gbm(_) => ModelStep::Gbm(GbmStep::from_slots(&slots)),
            ModelSpec::Heston(_) => ModelStep::Heston(HestonStep::from_slots(&slots)),
            ModelSpec::SvFx(_) => ModelStep::SvFx(SvFxStep::from_slots(&slots)),
        }
    }
}

impl<T: Real> ModelStep<T> {
    /// The constant slots the GPU engines read (see each model).
    pub fn gpu_consts(&self) -> [T; 12] {
        match self {
            ModelStep::Gbm(m) => m.gpu_consts(),
            ModelStep::Heston(m) => m.gpu_consts(),
            ModelStep::SvFx(m) => m.gpu_consts(),
        }
    }
}
