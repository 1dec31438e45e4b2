//! Geometric Brownian motion, stepped exactly in log space.
//!
//! `x_{i+1} = x_i + (r - q - vol^2 / 2) dt + vol sqrt(dt) Z`: no
//! discretisation bias at any step count.

use super::PathModel;
use crate::real::Real;
use crate::validate::{finite, non_negative, positive, TradeError};

/// Black-Scholes dynamics: spot, rate, continuous dividend yield, vol.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gbm {
    pub spot: f64,
    pub rate: f64,
    #[serde(default)]
    pub dividend: f64,
    pub vol: f64,
}

impl Gbm {
    /// Checks its terms, naming the field (`model.vol`).
    pub fn validate(&self) -> Result<(), TradeError> {
        positive("model.spot", self.spot)?;
        finite("model.rate", self.rate)?;
        finite("model.dividend", self.dividend)?;
        non_negative("model.vol", self.vol)?;
        Ok(())
    }
}

/// Per-step constants of [`Gbm`].
#[derive(Clone, Copy, Debug)]
pub struct GbmStep<T> {
    pub drift_dt: T,
    pub vol_sqrt_dt: T,
    pub var_dt: T,
}

impl Gbm {
    pub fn prepare<T: Real>(&self, dt: f64) -> GbmStep<T> {
        GbmStep {
            drift_dt: T::from_f64((self.rate - self.dividend - 0.5 * self.vol * self.vol) * dt),
            vol_sqrt_dt: T::from_f64(self.vol * dt.sqrt()),
            var_dt: T::from_f64(self.vol * self.vol * dt),
        }
    }
}

impl<T: Real> PathModel<T> for GbmStep<T> {
    const NORMALS: usize = 1;

    #[inline(always)]
    fn aux0(&self) -> T {
        T::ZERO
    }

    #[inline(always)]
    fn step(&self, x: &mut T, _aux: &mut T, z: [T; 2]) -> T {
        *x = *x + (self.drift_dt + self.vol_sqrt_dt * z[0]);
        self.var_dt
    }
}

impl<T: Real> GbmStep<T> {
    /// The step from its constant slots ([`GbmStep::gpu_consts`]' order).
    pub fn from_slots(s: &[T; 12]) -> GbmStep<T> {
        GbmStep {
            drift_dt: s[0],
            vol_sqrt_dt: s[1],
            var_dt: s[2],
        }
    }
}

impl<T: Real> GbmStep<T> {
    /// The GPU engines' constant slots: `[drift_dt, vol_sqrt_dt, var_dt]`, the order the WGSL and
    /// CUDA C sources read them in.
    pub fn gpu_consts(&self) -> [T; 12] {
        crate::real::slots(&[self.drift_dt, self.vol_sqrt_dt, self.var_dt])
    }
}
