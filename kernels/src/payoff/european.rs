//! European call or put on the terminal spot.

use super::gpu::put_flag;
use super::{vanilla, OptionType, PathPayoff};
use crate::real::Real;
use crate::validate::{non_negative, TradeError};

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct European {
    pub option: OptionType,
    pub strike: f64,
}

impl European {
    /// Checks its terms, naming the field (`payoff.strike`).
    pub fn validate(&self, _spot: f64) -> Result<(), TradeError> {
        non_negative("payoff.strike", self.strike)?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct EuropeanStep<T> {
    pub option: OptionType,
    pub spot: T,
    pub strike: T,
}

impl European {
    pub fn prepare<T: Real>(&self, spot: f64, _steps: u32) -> EuropeanStep<T> {
        EuropeanStep {
            option: self.option,
            spot: T::from_f64(spot),
            strike: T::from_f64(self.strike),
        }
    }
}

impl<T: Real> PathPayoff<T> for EuropeanStep<T> {
    #[inline(always)]
    fn value(&self, _st: [T; 2], x: T) -> T {
        vanilla(self.option, self.spot * x.exp(), self.strike)
    }
}

impl<T: Real> EuropeanStep<T> {
    /// The GPU engines' constant slots `[spot, strike]` and flag bits
    /// (`payoff::gpu`), the order the WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[self.spot, self.strike]),
            put_flag(self.option),
        )
    }
}
