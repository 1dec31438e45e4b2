//! Cash-or-nothing digital: pays `cash` if the terminal spot ends above
//! (call) or below (put) the strike.

use super::gpu::put_flag;
use super::{OptionType, PathPayoff};
use crate::real::Real;
use crate::validate::{finite, positive, TradeError};

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digital {
    pub option: OptionType,
    pub strike: f64,
    pub cash: f64,
}

impl Digital {
    /// Checks its terms, naming the field (`payoff.cash`).
    pub fn validate(&self, _spot: f64) -> Result<(), TradeError> {
        positive("payoff.strike", self.strike)?;
        finite("payoff.cash", self.cash)?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct DigitalStep<T> {
    pub option: OptionType,
    /// `ln(K / S_0)`: compared with `x_N`, no exponential needed.
    pub log_strike: T,
    pub cash: T,
}

impl Digital {
    pub fn prepare<T: Real>(&self, spot: f64, _steps: u32) -> DigitalStep<T> {
        DigitalStep {
            option: self.option,
            log_strike: T::from_f64((self.strike / spot).ln()),
            cash: T::from_f64(self.cash),
        }
    }
}

impl<T: Real> PathPayoff<T> for DigitalStep<T> {
    #[inline(always)]
    fn value(&self, _st: [T; 2], x: T) -> T {
        let in_money = match self.option {
            OptionType::Call => x > self.log_strike,
            OptionType::Put => x < self.log_strike,
        };
        T::select(in_money, self.cash, T::ZERO)
    }
}

impl<T: Real> DigitalStep<T> {
    /// The GPU engines' constant slots `[log_strike, cash]` and flag bits
    /// (`payoff::gpu`), the order the WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[self.log_strike, self.cash]),
            put_flag(self.option),
        )
    }
}
