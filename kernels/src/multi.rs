//! Several correlated assets and early exercise: the terms a trade carries
//! beyond its single-asset model and payoff (docs/formats.md, "Several
//! assets and early exercise").
//!
//! A trade with an [`Extension`] is priced by the CPU engine's
//! early-exercise and multi-asset pricer (`engine::cpu::extension`), always in
//! f64 path state, and by the GPU kernels twinned with it
//! ([`crate::gpu::extension`]: WGSL on wgpu in f32, CUDA C in f64).
//!
//! For a multi-asset trade the trade's own `model` and `payoff` fields hold
//! the first asset (as a `gbm` or `heston` model) and a `european` payoff
//! with the option and strike: names for logs, read by no engine.

use crate::correlation::{Correlation, MAX_ASSETS};
use crate::exercise::{Basis, Exercise};
use crate::payoff::OptionType;
use crate::validate::{correlation, finite, non_negative, positive, TradeError};

/// One asset of a `gbm_multi` model.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GbmAsset {
    pub spot: f64,
    pub vol: f64,
    #[serde(default)]
    pub dividend: f64,
}

impl GbmAsset {
    /// Checks asset `i`'s terms, naming the field (`model.assets[i].vol`).
    pub fn validate(&self, i: usize) -> Result<(), TradeError> {
        positive(&format!("model.assets[{i}].spot"), self.spot)?;
        positive(&format!("model.assets[{i}].vol"), self.vol)?;
        finite(&format!("model.assets[{i}].dividend"), self.dividend)?;
        Ok(())
    }
}

/// One asset of a `heston_multi` model.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HestonAsset {
    pub spot: f64,
    #[serde(default)]
    pub dividend: f64,
    pub v0: f64,
    pub kappa: f64,
    pub theta: f64,
    pub xi: f64,
    /// Correlation of this asset's variance driver with its own spot driver.
    pub rho: f64,
}

impl HestonAsset {
    /// Checks asset `i`'s terms, naming the field (`model.assets[i].v0`).
    pub fn validate(&self, i: usize) -> Result<(), TradeError> {
        let f = |name: &str| format!("model.assets[{i}].{name}");
        positive(&f("spot"), self.spot)?;
        finite(&f("dividend"), self.dividend)?;
        positive(&f("v0"), self.v0)?;
        non_negative(&f("kappa"), self.kappa)?;
        non_negative(&f("theta"), self.theta)?;
        non_negative(&f("xi"), self.xi)?;
        correlation(&f("rho"), self.rho)?;
        Ok(())
    }
}

/// A model on several assets whose spot drivers are correlated by
/// `correlation` (factored once, on the host, in f64).
#[derive(Clone, Debug, PartialEq)]
pub enum MultiModel {
    GbmMulti {
        rate: f64,
        assets: Vec<GbmAsset>,
        correlation: Correlation,
    },
    HestonMulti {
        rate: f64,
        assets: Vec<HestonAsset>,
        correlation: Correlation,
    },
}

impl MultiModel {
    pub fn name(&self) -> &'static str {
        match self {
            MultiModel::GbmMulti { .. } => "gbm_multi",
            MultiModel::HestonMulti { .. } => "heston_multi",
        }
    }

    pub fn assets(&self) -> usize {
        match self {
            MultiModel::GbmMulti { assets, .. } => assets.len(),
            MultiModel::HestonMulti { assets, .. } => assets.len(),
        }
    }

    pub fn rate(&self) -> f64 {
        match self {
            MultiModel::GbmMulti { rate, .. } | MultiModel::HestonMulti { rate, .. } => *rate,
        }
    }

    pub fn spot(&self, i: usize) -> f64 {
        match self {
            MultiModel::GbmMulti { assets, .. } => assets[i].spot,
            MultiModel::HestonMulti { assets, .. } => assets[i].spot,
        }
    }

    pub fn correlation(&self) -> &Correlation {
        match self {
            MultiModel::GbmMulti { correlation, .. }
            | MultiModel::HestonMulti { correlation, .. } => correlation,
        }
    }

    /// Standard normals drawn per step: `n` (gbm_multi) or `2n` (heston_multi).
    pub fn normals_per_step(&self) -> usize {
        match self {
            MultiModel::GbmMulti { assets, .. } => assets.len(),
            MultiModel::HestonMulti { assets, .. } => 2 * assets.len(),
        }
    }
}

/// Largest or smallest of the assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum RainbowKind {
    Max,
    Min,
}

named_terms!(RainbowKind { Max => "max", Min => "min" });

/// A payoff on several assets.
#[derive(Clone, Debug, PartialEq)]
pub enum MultiPayoff {
    /// On `sum_i w_i S_i`.
    Basket {
        option: OptionType,
        strike: f64,
        weights: Vec<f64>,
    },
    /// On `max_i S_i` or `min_i S_i`.
    Rainbow {
        option: OptionType,
        strike: f64,
        kind: RainbowKind,
    },
}

impl MultiPayoff {
    pub fn name(&self) -> &'static str {
        match self {
            MultiPayoff::Basket { .. } => "basket",
            MultiPayoff::Rainbow { .. } => "rainbow",
        }
    }

    /// The option, its strike and the value it is struck on at asset
    /// values `s`: the weighted sum (basket), the largest or smallest asset
    /// (rainbow max, min). The twins: `multi_value` (WGSL),
    /// `rp_multi_value` (CUDA C).
    #[inline]
    fn struck_on(&self, s: &[f64]) -> (OptionType, f64, f64) {
        match self {
            MultiPayoff::Basket {
                option,
                strike,
                weights,
            } => (
                *option,
                *strike,
                weights.iter().zip(s).map(|(w, s)| w * s).sum::<f64>(),
            ),
            MultiPayoff::Rainbow {
                option,
                strike,
                kind,
            } => (
                *option,
                *strike,
                match kind {
                    RainbowKind::Max => s.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    RainbowKind::Min => s.iter().copied().fold(f64::INFINITY, f64::min),
                },
            ),
        }
    }

    /// The intrinsic value at asset values `s`.
    #[inline]
    pub fn intrinsic(&self, s: &[f64]) -> f64 {
        let (option, strike, u) = self.struck_on(s);
        // A basket that is not finite (weights of 1e308 and -1e308 make
        // inf - inf) is NaN, never paid 0 by the max below.
        if !u.is_finite() {
            return f64::NAN;
        }
        match option {
            OptionType::Call => (u - strike).max(0.0),
            OptionType::Put => (strike - u).max(0.0),
        }
    }

    /// The intrinsic value's derivative in each asset value, into `out`
    /// (for one-pass Greeks): a basket's weight, a rainbow's 1 on the
    /// asset it takes, signed by the option, where it is in the money; at
    /// the strike exactly, half (the limit of a central difference).
    pub fn gradient(&self, s: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let (option, strike, u) = self.struck_on(s);
        // A value that is not finite (its intrinsic is NaN) has no slope:
        // every derivative NaN, never 0 beside a NaN PV.
        if !u.is_finite() {
            out.fill(f64::NAN);
            return;
        }
        let slope = match option {
            OptionType::Call if u > strike => 1.0,
            OptionType::Put if u < strike => -1.0,
            OptionType::Call => 0.5 * f64::from(u == strike),
            OptionType::Put => -0.5 * f64::from(u == strike),
        };
        match self {
            MultiPayoff::Basket { weights, .. } => {
                for (o, w) in out.iter_mut().zip(weights) {
                    *o = slope * w;
                }
            }
            // Assets tied for the extreme (equal values: correlation 1)
            // share its slope, the mean of the sides, as a bump sees it.
            MultiPayoff::Rainbow { .. } => {
                let tied = s.iter().filter(|x| **x == u).count().max(1) as f64;
                for (o, x) in out.iter_mut().zip(s) {
                    if *x == u {
                        *o = slope / tied;
                    }
                }
            }
        }
    }

    /// The regression basis: rainbows sort the assets.
    pub fn basis(&self, assets: usize) -> Basis {
        Basis {
            assets,
            sorted: matches!(self, MultiPayoff::Rainbow { .. }),
        }
    }
}

/// A multi-asset model with its payoff.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiAsset {
    pub model: MultiModel,
    pub payoff: MultiPayoff,
}

/// What a trade carries beyond a single-asset model and payoff.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Extension {
    /// Several assets (`None`: the trade's own one-asset model and payoff).
    pub multi: Option<MultiAsset>,
    pub exercise: Exercise,
}

/// The stream id of a trade's regression paths: the trade's stream id with
/// every bit of [`REGRESSION_STREAM_XOR`] flipped, so the regression paths
/// (path indices `0..R` of that stream) never share a Philox counter with
/// the trade's pricing paths.
pub fn regression_stream(stream: u64) -> u64 {
    stream ^ REGRESSION_STREAM_XOR
}

/// See [`regression_stream`].
pub const REGRESSION_STREAM_XOR: u64 = 0x5DEE_CE66_D1CE_4E5B;

/// The budget of stored regression states (asset values and intrinsic
/// values, f64) per trade: 2^23, 64 MiB.
pub const REGRESSION_STATE_BUDGET: usize = 1 << 23;

/// How many regression paths a trade fits its policy on: its pricing path
/// count, clamped to `[4096, 65536]`, then cut so that `R x dates x
/// (assets + 1)` states fit [`REGRESSION_STATE_BUDGET`] (never below 1024).
pub fn regression_paths(paths: u64, dates: usize, assets: usize) -> usize {
    let wanted = paths.clamp(4096, 65536) as usize;
    let fit = REGRESSION_STATE_BUDGET / (dates.max(1) * (assets + 1));
    wanted.min(fit).max(1024)
}

/// Most exercise dates x (assets + 1) an early-exercise trade may have,
/// so that its fewest (1024) regression paths fit
/// [`REGRESSION_STATE_BUDGET`].
pub const MAX_DATE_STATES: usize = REGRESSION_STATE_BUDGET / 1024;

pub(crate) fn check_assets(n: usize) -> Result<(), String> {
    if n == 0 {
        Err("needs at least one asset".into())
    } else if n > MAX_ASSETS {
        Err(format!("{n} assets: at most {MAX_ASSETS} are supported"))
    } else {
        Ok(())
    }
}
