//! azfinsim's knock-out FX warrant (docs/azfinsim.md).
//!
//! Pays `warrants * notional_per_warrant * max(0, S_T / K - 1) / S_T`, times
//! the settlement factor, unless `S_t < K` at any of `S_0..S_N`: the strike
//! is also the knock-out level.

use super::PathPayoff;
use crate::real::Real;
use crate::validate::{non_negative, positive, TradeError};

/// azfinsim's settlement factor, applied to every warrant payoff.
pub const SETTLEMENT_FACTOR: f64 = 1.000_799_081;

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxWarrant {
    pub strike: f64,
    pub warrants: f64,
    pub notional_per_warrant: f64,
}

impl FxWarrant {
    /// Checks its terms, naming the field (`payoff.warrants`).
    pub fn validate(&self, _spot: f64) -> Result<(), TradeError> {
        positive("payoff.strike", self.strike)?;
        non_negative("payoff.warrants", self.warrants)?;
        non_negative("payoff.notional_per_warrant", self.notional_per_warrant)?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct FxWarrantStep<T> {
    pub spot: T,
    pub inv_strike: T,
    /// `ln(K / S_0)`: the knock-out level in `x`.
    pub log_strike: T,
    /// `warrants * notional_per_warrant * SETTLEMENT_FACTOR`.
    pub amount: T,
}

impl FxWarrant {
    pub fn prepare<T: Real>(&self, spot: f64, _steps: u32) -> FxWarrantStep<T> {
        FxWarrantStep {
            spot: T::from_f64(spot),
            inv_strike: T::from_f64(1.0 / self.strike),
            log_strike: T::from_f64((self.strike / spot).ln()),
            amount: T::from_f64(self.warrants * self.notional_per_warrant * SETTLEMENT_FACTOR),
        }
    }
}

/// Fold state: `[1 while alive else 0, unused]`.
impl<T: Real> PathPayoff<T> for FxWarrantStep<T> {
    const OBSERVES: bool = true;

    #[inline(always)]
    fn start(&self, x0: T) -> [T; 2] {
        [T::select(x0 < self.log_strike, T::ZERO, T::ONE), T::ZERO]
    }

    #[inline(always)]
    fn observe(&self, st: &mut [T; 2], x: T, _var_dt: T) {
        st[0] = T::select(x < self.log_strike, T::ZERO, st[0]);
    }

    #[inline(always)]
    fn value(&self, st: [T; 2], x: T) -> T {
        let s = self.spot * x.exp();
        let intrinsic = (s * self.inv_strike - T::ONE).max(T::ZERO);
        st[0] * self.amount * intrinsic / s
    }
}

impl<T: Real> FxWarrantStep<T> {
    /// The GPU engines' constant slots `[spot, inv_strike, log_strike, amount]` and flag bits
    /// (`payoff::gpu`), the order the WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[self.spot, self.inv_strike, self.log_strike, self.amount]),
            0,
        )
    }
}
