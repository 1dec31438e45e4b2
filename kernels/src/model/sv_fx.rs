//! azfinsim's stochastic-volatility FX model, exactly as docs/azfinsim.md
//! describes it.
//!
//! Per step, with independent normals Z1, Z2:
//!
//! - `sigma_t = sigma_{t-1} exp(-v^2 dt / 2 + v (rho Z1 + sqrt(1 - rho^2) Z2) sqrt(dt))`
//! - `S_t = S_{t-1} exp((drift - sigma_t^2 / 2) dt + sigma_t Z1 sqrt(dt))`
//!
//! The FX step uses the vol already updated for that step. riskpool keeps
//! `y = ln(sigma_t / sigma_0)` and `x = ln(S_t / S_0)`, the same products
//! written as sums.

use super::PathModel;
use crate::real::Real;
use crate::validate::{correlation, finite, non_negative, positive, TradeError};

/// azfinsim's model parameters: `fx1` (spot), `drift`, `sigma1` (initial
/// vol), `v` (vol of vol), `ro` (correlation).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvFx {
    pub spot: f64,
    pub drift: f64,
    pub sigma: f64,
    pub volvol: f64,
    pub rho: f64,
}

impl SvFx {
    /// Checks its terms, naming the field (`model.sigma`).
    pub fn validate(&self) -> Result<(), TradeError> {
        positive("model.spot", self.spot)?;
        finite("model.drift", self.drift)?;
        non_negative("model.sigma", self.sigma)?;
        non_negative("model.volvol", self.volvol)?;
        correlation("model.rho", self.rho)?;
        Ok(())
    }
}

/// Per-step constants of [`SvFx`].
#[derive(Clone, Copy, Debug)]
pub struct SvFxStep<T> {
    pub drift_dt: T,
    pub dt: T,
    pub half_dt: T,
    pub sqrt_dt: T,
    pub sigma0: T,
    pub vol_drift_dt: T,
    pub volvol_sqrt_dt: T,
    pub rho: T,
    pub rho_bar: T,
}

impl SvFx {
    pub fn prepare<T: Real>(&self, dt: f64) -> SvFxStep<T> {
        SvFxStep {
            drift_dt: T::from_f64(self.drift * dt),
            dt: T::from_f64(dt),
            half_dt: T::from_f64(0.5 * dt),
            sqrt_dt: T::from_f64(dt.sqrt()),
            sigma0: T::from_f64(self.sigma),
            vol_drift_dt: T::from_f64(-0.5 * self.volvol * self.volvol * dt),
            volvol_sqrt_dt: T::from_f64(self.volvol * dt.sqrt()),
            rho: T::from_f64(self.rho),
            rho_bar: T::from_f64((1.0 - self.rho * self.rho).sqrt()),
        }
    }
}

impl<T: Real> PathModel<T> for SvFxStep<T> {
    const NORMALS: usize = 2;

    #[inline(always)]
    fn aux0(&self) -> T {
        T::ZERO
    }

    /// The log-step's own normal given the auxiliary's driver
    /// `rho z[0] + rho_bar z[1]`: `rho_bar z[0] - rho z[1]`, independent of
    /// it, which `z[0]` holds `rho_bar` of.
    #[inline(always)]
    fn x_noise(&self, z: [T; 2]) -> (T, T) {
        (self.rho_bar * z[0] - self.rho * z[1], self.rho_bar)
    }

    #[inline(always)]
    fn step(&self, x: &mut T, y: &mut T, z: [T; 2]) -> T {
        let e = self.aux_step(y, z);
        self.step_on(x, e, z)
    }

    const SHARES_AUX: bool = true;

    /// The vol factor's process reads only `volvol` and `rho`: a family
    /// whose `sigma` (or drift) alone moves has the base's.
    #[inline(always)]
    fn shares_aux(&self, base: &Self) -> bool {
        self.vol_drift_dt == base.vol_drift_dt
            && self.volvol_sqrt_dt == base.volvol_sqrt_dt
            && self.rho == base.rho
            && self.rho_bar == base.rho_bar
    }

    /// Advances the log vol factor `y`; returns `e^y`.
    #[inline(always)]
    fn aux_step(&self, y: &mut T, z: [T; 2]) -> T {
        *y = *y
            + (self.vol_drift_dt + self.volvol_sqrt_dt * (self.rho * z[0] + self.rho_bar * z[1]));
        y.exp()
    }

    /// The log-spot's step at vol `sigma0 e^y`.
    #[inline(always)]
    fn step_on(&self, x: &mut T, e: T, z: [T; 2]) -> T {
        let sigma = self.sigma0 * e;
        let var = sigma * sigma;
        *x = *x + ((self.drift_dt - var * self.half_dt) + sigma * self.sqrt_dt * z[0]);
        var * self.dt
    }
}

impl<T: Real> SvFxStep<T> {
    /// The step from its constant slots ([`SvFxStep::gpu_consts`]' order).
    pub fn from_slots(s: &[T; 12]) -> SvFxStep<T> {
        SvFxStep {
            drift_dt: s[0],
            dt: s[1],
            half_dt: s[2],
            sqrt_dt: s[3],
            sigma0: s[4],
            vol_drift_dt: s[5],
            volvol_sqrt_dt: s[6],
            rho: s[7],
            rho_bar: s[8],
        }
    }
}

impl<T: Real> SvFxStep<T> {
    /// The GPU engines' constant slots: `[drift_dt, dt, half_dt, sqrt_dt, sigma0, vol_drift_dt, volvol_sqrt_dt, rho, rho_bar]`, the order the WGSL and
    /// CUDA C sources read them in.
    pub fn gpu_consts(&self) -> [T; 12] {
        crate::real::slots(&[
            self.drift_dt,
            self.dt,
            self.half_dt,
            self.sqrt_dt,
            self.sigma0,
            self.vol_drift_dt,
            self.volvol_sqrt_dt,
            self.rho,
            self.rho_bar,
        ])
    }
}
