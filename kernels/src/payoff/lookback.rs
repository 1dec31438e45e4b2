//! Lookback option on the running minimum and maximum of `S_0..S_N`.
//!
//! Floating strike: call `S_N - min`, put `max - S_N`. Fixed strike: call
//! `max(max - K, 0)`, put `max(K - min, 0)`.

use super::gpu::{flag, put_flag, FIXED_STRIKE};
use super::{vanilla, OptionType, PathPayoff};
use crate::real::Real;
use crate::validate::{non_negative, TradeError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum StrikeType {
    Floating,
    Fixed,
}

named_terms!(StrikeType { Floating => "floating", Fixed => "fixed" });

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookback {
    pub option: OptionType,
    pub strike_type: StrikeType,
    /// Only for fixed strike.
    #[serde(default)]
    pub strike: f64,
}

impl Lookback {
    /// Checks its terms, naming the field (`payoff.strike`).
    pub fn validate(&self, _spot: f64) -> Result<(), TradeError> {
        if self.strike_type == StrikeType::Fixed {
            non_negative("payoff.strike", self.strike)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LookbackStep<T> {
    pub option: OptionType,
    pub strike_type: StrikeType,
    pub spot: T,
    pub strike: T,
}

impl Lookback {
    pub fn prepare<T: Real>(&self, spot: f64, _steps: u32) -> LookbackStep<T> {
        LookbackStep {
            option: self.option,
            strike_type: self.strike_type,
            spot: T::from_f64(spot),
            strike: T::from_f64(self.strike),
        }
    }
}

/// Fold state: `[min x, max x]`.
impl<T: Real> PathPayoff<T> for LookbackStep<T> {
    const OBSERVES: bool = true;

    #[inline(always)]
    fn start(&self, x0: T) -> [T; 2] {
        [x0, x0]
    }

    #[inline(always)]
    fn observe(&self, st: &mut [T; 2], x: T, _var_dt: T) {
        st[0] = st[0].min(x);
        st[1] = st[1].max(x);
    }

    #[inline(always)]
    fn value(&self, st: [T; 2], x: T) -> T {
        match (self.strike_type, self.option) {
            (StrikeType::Floating, OptionType::Call) => self.spot * (x.exp() - st[0].exp()),
            (StrikeType::Floating, OptionType::Put) => self.spot * (st[1].exp() - x.exp()),
            (StrikeType::Fixed, OptionType::Call) => {
                vanilla(OptionType::Call, self.spot * st[1].exp(), self.strike)
            }
            (StrikeType::Fixed, OptionType::Put) => {
                vanilla(OptionType::Put, self.spot * st[0].exp(), self.strike)
            }
        }
    }
}

impl<T: Real> LookbackStep<T> {
    /// The GPU engines' constant slots `[spot, strike]` and flag bits
    /// (`payoff::gpu`), the order the WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[self.spot, self.strike]),
            put_flag(self.option) | flag(self.strike_type == StrikeType::Fixed, FIXED_STRIKE),
        )
    }
}
