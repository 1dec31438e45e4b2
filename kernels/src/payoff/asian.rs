//! Asian option on the average of `S_1..S_N` (`S_0` not included),
//! arithmetic or geometric, fixed strike.

use super::gpu::{flag, put_flag, GEOMETRIC};
use super::{vanilla, OptionType, PathPayoff};
use crate::real::Real;
use crate::validate::{non_negative, TradeError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Average {
    Arithmetic,
    Geometric,
}

named_terms!(Average { Arithmetic => "arithmetic", Geometric => "geometric" });

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asian {
    pub option: OptionType,
    pub strike: f64,
    pub average: Average,
}

impl Asian {
    /// Checks its terms, naming the field (`payoff.strike`).
    pub fn validate(&self, _spot: f64) -> Result<(), TradeError> {
        non_negative("payoff.strike", self.strike)?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct AsianStep<T> {
    pub option: OptionType,
    pub average: Average,
    pub spot: T,
    pub strike: T,
    pub inv_steps: T,
}

impl Asian {
    pub fn prepare<T: Real>(&self, spot: f64, steps: u32) -> AsianStep<T> {
        AsianStep {
            option: self.option,
            average: self.average,
            spot: T::from_f64(spot),
            strike: T::from_f64(self.strike),
            inv_steps: T::from_f64(1.0 / steps as f64),
        }
    }
}

impl<T: Real> PathPayoff<T> for AsianStep<T> {
    const OBSERVES: bool = true;

    #[inline(always)]
    fn start(&self, _x0: T) -> [T; 2] {
        [T::ZERO; 2]
    }

    /// Arithmetic: sums `S_i / S_0`; geometric: sums `x_i`.
    #[inline(always)]
    fn observe(&self, st: &mut [T; 2], x: T, _var_dt: T) {
        st[0] = st[0]
            + match self.average {
                Average::Arithmetic => x.exp(),
                Average::Geometric => x,
            };
    }

    #[inline(always)]
    fn scales(&self) -> bool {
        self.average == Average::Arithmetic
    }

    #[inline(always)]
    fn observe_scaled(&self, st: &mut [T; 2], ex: T, es: T) {
        st[0] = st[0] + ex * es;
    }

    #[inline(always)]
    fn value(&self, st: [T; 2], _x: T) -> T {
        let mean = st[0] * self.inv_steps;
        let avg = match self.average {
            Average::Arithmetic => self.spot * mean,
            Average::Geometric => self.spot * mean.exp(),
        };
        vanilla(self.option, avg, self.strike)
    }
}

impl<T: Real> AsianStep<T> {
    /// The GPU engines' constant slots `[spot, strike, inv_steps]` and flag bits
    /// (`payoff::gpu`), the order the WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[self.spot, self.strike, self.inv_steps]),
            put_flag(self.option) | flag(self.average == Average::Geometric, GEOMETRIC),
        )
    }
}
