//! Heston stochastic volatility, full-truncation Euler in log space
//! (Lord, Koekkoek and van Dijk, 2010).
//!
//! With `v+ = max(v, 0)`:
//!
//! - `x_{i+1} = x_i + (r - q - v+ / 2) dt + sqrt(v+ dt) Z1`
//! - `v_{i+1} = v_i + kappa (theta - v+) dt + xi sqrt(v+ dt) (rho Z1 + sqrt(1 - rho^2) Z2)`
//!
//! The variance may go negative between steps but only `v+` is ever used,
//! so the spot's variance is never negative. Lord et al. found this the
//! least biased of the Euler fixes; at 100-250 steps a year its bias on
//! vanilla prices is a few basis points of spot (the tests allow for it).
//! Chosen over Andersen's QE because it needs exactly two normals a step
//! and no branch, so it is the same few lines in Rust, WGSL and CUDA C.

use super::PathModel;
use crate::real::Real;
use crate::validate::{correlation, finite, non_negative, positive, TradeError};

/// Heston parameters: spot, rate, dividend yield, initial variance `v0`,
/// mean reversion `kappa`, long-run variance `theta`, vol of variance `xi`,
/// spot-variance correlation `rho`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heston {
    pub spot: f64,
    pub rate: f64,
    #[serde(default)]
    pub dividend: f64,
    pub v0: f64,
    pub kappa: f64,
    pub theta: f64,
    pub xi: f64,
    pub rho: f64,
}

impl Heston {
    /// Checks its terms, naming the field (`model.v0`).
    pub fn validate(&self) -> Result<(), TradeError> {
        positive("model.spot", self.spot)?;
        finite("model.rate", self.rate)?;
        finite("model.dividend", self.dividend)?;
        non_negative("model.v0", self.v0)?;
        non_negative("model.kappa", self.kappa)?;
        non_negative("model.theta", self.theta)?;
        non_negative("model.xi", self.xi)?;
        correlation("model.rho", self.rho)?;
        Ok(())
    }
}

/// Per-step constants of [`Heston`].
#[derive(Clone, Copy, Debug)]
pub struct HestonStep<T> {
    pub carry_dt: T,
    pub dt: T,
    pub half_dt: T,
    pub kappa_dt: T,
    pub theta: T,
    pub xi: T,
    pub rho: T,
    pub rho_bar: T,
    pub v0: T,
}

impl Heston {
    pub fn prepare<T: Real>(&self, dt: f64) -> HestonStep<T> {
        HestonStep {
            carry_dt: T::from_f64((self.rate - self.dividend) * dt),
            dt: T::from_f64(dt),
            half_dt: T::from_f64(0.5 * dt),
            kappa_dt: T::from_f64(self.kappa * dt),
            theta: T::from_f64(self.theta),
            xi: T::from_f64(self.xi),
            rho: T::from_f64(self.rho),
            rho_bar: T::from_f64((1.0 - self.rho * self.rho).sqrt()),
            v0: T::from_f64(self.v0),
        }
    }
}

impl<T: Real> PathModel<T> for HestonStep<T> {
    const NORMALS: usize = 2;

    #[inline(always)]
    fn aux0(&self) -> T {
        self.v0
    }

    /// The log-step's own normal given the auxiliary's driver
    /// `rho z[0] + rho_bar z[1]`: `rho_bar z[0] - rho z[1]`, independent of
    /// it, which `z[0]` holds `rho_bar` of.
    #[inline(always)]
    fn x_noise(&self, z: [T; 2]) -> (T, T) {
        (self.rho_bar * z[0] - self.rho * z[1], self.rho_bar)
    }

    #[inline(always)]
    fn step(&self, x: &mut T, v: &mut T, z: [T; 2]) -> T {
        let vp = v.max(T::ZERO);
        let sd = (vp * self.dt).sqrt();
        *x = *x + (self.carry_dt - vp * self.half_dt + sd * z[0]);
        *v = *v
            + (self.kappa_dt * (self.theta - vp)
                + self.xi * sd * (self.rho * z[0] + self.rho_bar * z[1]));
        vp * self.dt
    }
}

impl<T: Real> HestonStep<T> {
    /// The step from its constant slots ([`HestonStep::gpu_consts`]' order).
    pub fn from_slots(s: &[T; 12]) -> HestonStep<T> {
        HestonStep {
            carry_dt: s[0],
            dt: s[1],
            half_dt: s[2],
            kappa_dt: s[3],
            theta: s[4],
            xi: s[5],
            rho: s[6],
            rho_bar: s[7],
            v0: s[8],
        }
    }
}

impl<T: Real> HestonStep<T> {
    /// The GPU engines' constant slots: `[carry_dt, dt, half_dt, kappa_dt, theta, xi, rho, rho_bar, v0]`, the order the WGSL and
    /// CUDA C sources read them in.
    pub fn gpu_consts(&self) -> [T; 12] {
        crate::real::slots(&[
            self.carry_dt,
            self.dt,
            self.half_dt,
            self.kappa_dt,
            self.theta,
            self.xi,
            self.rho,
            self.rho_bar,
            self.v0,
        ])
    }
}
