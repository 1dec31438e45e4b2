//! Double knock-out: a call or put on the terminal spot that dies when the
//! spot leaves the corridor `lower < S < upper`, with a rebate paid at
//! maturity if it died.
//!
//! - Discrete monitoring checks `S_1..S_N`; touching counts (`S <= lower`
//!   or `S >= upper`).
//! - Continuous monitoring also weighs each step by the Brownian-bridge
//!   probability that the log-path stayed inside between two monitored
//!   points, `(1 - p_L)(1 - p_U)` with each `p` the single barrier's
//!   crossing probability `exp(-2 ln(S_{i-1}/B) ln(S_i/B) / (sigma^2 dt))`
//!   ([`super::Barrier`]). The exact strip probability differs from this
//!   product by terms of order `exp(-2 w^2 / (sigma^2 dt))`, `w` the
//!   corridor's log-width: nothing unless one step's spread is comparable
//!   to the corridor. With one barrier far away the factor of the other is
//!   exactly 1, and the price is the single barrier's on the same paths.
//!
//! Twins: `double_barrier.wgsl` and `double_barrier.cuh` beside this file.

use super::gpu::{flag, put_flag, CONTINUOUS};
use super::{vanilla, Monitoring, OptionType, PathPayoff};
use crate::real::Real;
use crate::validate::{err, non_negative, positive, TradeError};

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleBarrier {
    pub option: OptionType,
    pub strike: f64,
    /// Knocked out at or below this spot.
    pub lower: f64,
    /// Knocked out at or above this spot.
    pub upper: f64,
    #[serde(default)]
    pub monitoring: Monitoring,
    /// Paid at maturity if knocked out.
    #[serde(default)]
    pub rebate: f64,
}

impl DoubleBarrier {
    /// Checks its terms against the model's `spot`, naming the field: the
    /// corridor holds the spot.
    pub fn validate(&self, spot: f64) -> Result<(), TradeError> {
        non_negative("payoff.strike", self.strike)?;
        positive("payoff.lower", self.lower)?;
        positive("payoff.upper", self.upper)?;
        non_negative("payoff.rebate", self.rebate)?;
        if self.lower >= spot {
            return Err(err(
                "payoff.lower",
                format!(
                    "the lower barrier must lie below the spot {spot}, got {}",
                    self.lower
                ),
            ));
        }
        if self.upper <= spot {
            return Err(err(
                "payoff.upper",
                format!(
                    "the upper barrier must lie above the spot {spot}, got {}",
                    self.upper
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct DoubleBarrierStep<T> {
    pub option: OptionType,
    pub monitoring: Monitoring,
    pub spot: T,
    pub strike: T,
    /// `ln(lower / S_0)`.
    pub log_lower: T,
    /// `ln(upper / S_0)`.
    pub log_upper: T,
    pub rebate: T,
}

impl DoubleBarrier {
    pub fn prepare<T: Real>(&self, spot: f64, _steps: u32) -> DoubleBarrierStep<T> {
        DoubleBarrierStep {
            option: self.option,
            monitoring: self.monitoring,
            spot: T::from_f64(spot),
            strike: T::from_f64(self.strike),
            log_lower: T::from_f64((self.lower / spot).ln()),
            log_upper: T::from_f64((self.upper / spot).ln()),
            rebate: T::from_f64(self.rebate),
        }
    }
}

/// Fold state: `[survival weight, previous x]`.
impl<T: Real> PathPayoff<T> for DoubleBarrierStep<T> {
    const OBSERVES: bool = true;

    /// A continuously monitored barrier that the spot starts at or
    /// through (a Greek's bumped spot) has knocked, as the single barrier's.
    #[inline(always)]
    fn start(&self, x0: T) -> [T; 2] {
        let through = (x0 <= self.log_lower) | (x0 >= self.log_upper);
        let knocked = through & (self.monitoring == Monitoring::Continuous);
        [T::select(knocked, T::ZERO, T::ONE), x0]
    }

    #[inline(always)]
    fn observe(&self, st: &mut [T; 2], x: T, var_dt: T) {
        let (l, u) = (self.log_lower, self.log_upper);
        let hit = (x <= l) | (x >= u);
        let survive = match self.monitoring {
            Monitoring::Discrete => st[0],
            Monitoring::Continuous => {
                // Both ends inside: each product is positive.
                let dl = (st[1] - l) * (x - l);
                let du = (st[1] - u) * (x - u);
                // Ends on both sides of a barrier (only after a knock)
                // cross it surely: at most 1 (barrier.rs).
                let pl = (T::from_f64(-2.0) * dl / var_dt).exp().min(T::ONE);
                let pu = (T::from_f64(-2.0) * du / var_dt).exp().min(T::ONE);
                st[0] * (T::ONE - pl) * (T::ONE - pu)
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
        payoff * alive + self.rebate * knocked
    }
}

impl<T: Real> DoubleBarrierStep<T> {
    /// The GPU engines' constant slots `[spot, strike, log_lower,
    /// log_upper, rebate]` and flag bits (`payoff::gpu`), the order the
    /// WGSL and CUDA C sources read them in.
    pub fn gpu_consts(&self) -> ([T; 8], u32) {
        (
            crate::real::slots(&[
                self.spot,
                self.strike,
                self.log_lower,
                self.log_upper,
                self.rebate,
            ]),
            put_flag(self.option) | flag(self.monitoring == Monitoring::Continuous, CONTINUOUS),
        )
    }
}
