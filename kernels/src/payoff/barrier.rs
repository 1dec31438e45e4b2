//! Single barrier option: up or down, knock-in or knock-out, a call or put
//! on the terminal spot, with a rebate.
//!
//! - Discrete monitoring checks `S_1..S_N`; touching counts (`S <= B` down,
//!   `S >= B` up).
//! - Continuous monitoring also weighs each step by the Brownian-bridge
//!   probability that the log-path crossed between two monitored points,
//!   `p = exp(-2 ln(S_{i-1}/B) ln(S_i/B) / (sigma^2 dt))`; the fold keeps the
//!   survival weight `prod(1 - p)` rather than drawing a uniform, so the
//!   price converges to the continuously monitored one with no extra noise.
//! - The rebate is paid at maturity: to a knock-out that was knocked out,
//!   to a knock-in that never knocked in.

use super::gpu::{flag, put_flag, CONTINUOUS, DOWN, KNOCK_IN};
use super::{vanilla, OptionType, PathPayoff};
use crate::real::Real;
use crate::validate::{err, non_negative, positive, TradeError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Direction {
    Up,
    Down,
}

named_terms!(Direction { Up => "up", Down => "down" });

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Knock {
    In,
    Out,
}

named_terms!(Knock { In => "in", Out => "out" });

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(try_from = "String")]
pub enum Monitoring {
    #[default]
    Discrete,
    Continuous,
}

named_terms!(Monitoring { Discrete => "discrete", Continuous => "continuous" });

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Barrier {
    pub option: OptionType,
    pub strike: f64,
    pub barrier: f64,
    pub direction: Direction,
    pub knock: Knock,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub rebate: f64,
}

impl Barrier {
    /// Checks its terms against the model's `spot`, naming the field
    /// (`payoff.barrier`): a down barrier lies below the spot, an up one
    /// above.
    pub fn validate(&self, spot: f64) -> Result<(), TradeError> {
        non_negative("payoff.strike", self.strike)?;
        positive("payoff.barrier", self.barrier)?;
        non_negative("payoff.rebate", self.rebate)?;
        match self.direction {
            Direction::Down if self.barrier >= spot => Err(err(
                "payoff.barrier",
                format!(
                    "a down barrier must lie below the spot {spot}, got {}",
                    self.barrier
                ),
            )),
            Direction::Up if self.barrier <= spot => Err(err(
                "payoff.barrier",
                format!(
                    "an up barrier must lie above the spot {spot}, got {}",
                    self.barrier
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct BarrierStep<T> {
    pub option: OptionType,
    pub direction: Direction,
    pub knock: Knock,
    pub monitoring: Monitoring,
    pub spot: T,
    pub strike: T,
    /// `ln(B / S_0)`.
    pub log_barrier: T,
    pub rebate: T,
}

impl Barrier {
    pub fn prepare<T: Real>(&self, spot: f64, _steps: u32) -> BarrierStep<T> {
        BarrierStep {
            option: self.option,
            direction: self.direction,
            knock: self.knock,
            monitoring: self.monitoring,
            spot: T::from_f64(spot),
            strike: T::from_f64(self.strike),
            log_barrier: T::from_f64((self.barrier / spot).ln()),
            rebate: T::from_f64(self.rebate),
        }
    }
}

/// Fold state: `[survival weight, previous x]`.
impl<T: Real> PathPayoff<T> for BarrierStep<T> {
    const OBSERVES: bool = true;

    /// A continuously monitored barrier that the spot starts at or
    /// through (a Greek's bumped spot) has knocked: the bridge's crossing
    /// weight means nothing from there (it would exceed 1).
    #[inline(always)]
    fn start(&self, x0: T) -> [T; 2] {
        let b = self.log_barrier;
        let through = match self.direction {
            Direction::Up => x0 >= b,
            Direction::Down => x0 <= b,
        };
        let knocked = through & (self.monitoring == Monitoring::Continuous);
        [T::select(knocked, T::ZERO, T::ONE), x0]
    }

    #[inline(always)]
    fn observe(&self, st: &mut [T; 2], x: T, var_dt: T) {
        let b = self.log_barrier;
        let hit = match self.direction {
            Direction::Up => x >= b,
            Direction::Down => x <= b,
        };
        let survive = match self.monitoring {
            Monitoring::Discrete => st[0],
            Monitoring::Continuous => {
                // Both ends on the live side: the product is positive.
                // Ends on both sides (only after a knock: the previous
                // end was hit) cross surely: p is 1, also over a step of
                // no variance (Heston's truncated variance), where the
                // exponent is infinite.
                let d = (st[1] - b) * (x - b);
                let p = (T::from_f64(-2.0) * d / var_dt).exp().min(T::ONE);
                st[0] * (T::ONE - p)
            }
        };
        st[0] = T::select(hit, T::ZERO, survive);
        st[1] = x;
    }

    #[inline(always)]
    fn value(&self, st: [T; 2], x: T) -> T {
        let payoff = vanilla(self.option, self.spot * x.exp(), self.strike);
        let alive = st[0];
        let knocked = T::ONE - alive;
        match self.knock {
            Knock::Out => payoff * alive + self.rebate * knocked,
            Knock::In => payoff * knocked + self.rebate * alive,
        }
    }
}

impl<T: Real> BarrierStep<T> {
    /// The GPU engines' constant slots `[spot, strike, log_barrier, rebate]` and flag bits
    /// (`payoff::gpu`), the order the WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[self.spot, self.strike, self.log_barrier, self.rebate]),
            put_flag(self.option)
                | flag(self.direction == Direction::Down, DOWN)
                | flag(self.knock == Knock::In, KNOCK_IN)
                | flag(self.monitoring == Monitoring::Continuous, CONTINUOUS),
        )
    }
}
