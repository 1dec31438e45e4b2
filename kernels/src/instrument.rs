//! A trade (QuantLib's "instrument"): a model, a payoff, a time grid and a
//! path count, with the identity its random stream is drawn from.

use crate::exercise::Exercise;
use crate::model::ModelSpec;
use crate::multi::{check_assets, Extension, MultiModel, MultiPayoff, MAX_DATE_STATES};
use crate::payoff::PayoffSpec;
use crate::validate::{err, finite, non_negative, positive};

/// The most paths one trade may ask for: the path index is a 32-bit
/// counter word (twice that with antithetic pairs).
pub const MAX_PATHS: u64 = 1 << 32;
/// The most steps one trade may ask for (the block index is 32 bits).
pub const MAX_STEPS: u32 = 1 << 30;

/// One trade to price.
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    /// The trade's name in results (`id`, or azfinsim's `tradenum`).
    pub id: String,
    /// Its random stream (see [`crate::rng`]): from its identity, never its position.
    pub stream: u64,
    pub model: ModelSpec,
    pub payoff: PayoffSpec,
    /// Years.
    pub maturity: f64,
    pub steps: u32,
    pub paths: u64,
    /// Several assets and early exercise ([`crate::multi`]); `None` for a
    /// one-asset European-style trade.
    pub extension: Option<Box<Extension>>,
    /// A dated trade priced on its own time grid ([`crate::market::path`]);
    /// `None` for an inline trade (and a dated one priced as inline).
    pub dated: Option<std::sync::Arc<crate::market::path::DatedPath>>,
    /// Its own choice of random numbers (`rng`, `qmc.replicates`);
    /// `None`: the run's ([`crate::engine::PricingRequest::rng`]).
    pub rng: Option<crate::qmc::Rng>,
}

/// A trade whose terms cannot be priced: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct TradeError {
    /// Dotted path of the field, as in the portfolio file (`model.vol`).
    pub field: String,
    pub message: String,
}

/// The field an exercise error names.
fn exercise_field(e: &Exercise) -> &'static str {
    match e {
        Exercise::Bermudan { .. } => "exercise.steps",
        _ => "exercise.style",
    }
}

impl Trade {
    /// Checks every term; the first problem found is returned.
    pub fn validate(&self) -> Result<(), TradeError> {
        positive("maturity", self.maturity)?;
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(err(
                "steps",
                format!("must be between 1 and {MAX_STEPS}, got {}", self.steps),
            ));
        }
        if self.paths == 0 || self.paths > MAX_PATHS {
            return Err(err(
                "paths",
                format!("must be between 1 and {MAX_PATHS}, got {}", self.paths),
            ));
        }
        if let Some(crate::qmc::Rng::Sobol { replicates }) = self.rng {
            let normals = crate::qmc::normals_per_step(self);
            crate::qmc::check(self.paths, replicates, self.steps, normals, false)
                .map_err(|(field, message)| err(field, message))?;
        }
        if let Some(ext) = self.extension.as_deref().filter(|e| e.multi.is_some()) {
            // The one-asset fields of a multi-asset trade are names only.
            return self.validate_extension(ext);
        }
        self.model.validate()?;
        self.payoff.validate(self.model.spot())?;
        if let Some(ext) = &self.extension {
            self.validate_extension(ext)?;
        }
        Ok(())
    }

    /// Checks the terms of several assets and early exercise.
    fn validate_extension(&self, ext: &Extension) -> Result<(), TradeError> {
        let dates = match &ext.exercise {
            // Counted before the list of every step is made.
            Exercise::American => self.steps as usize,
            e => e
                .dates(self.steps)
                .map_err(|x| err(exercise_field(e), x.to_string()))?
                .len(),
        };
        let assets = ext.multi.as_ref().map_or(1, |m| m.model.assets());
        if dates > 1 && dates * (assets + 1) > MAX_DATE_STATES {
            return Err(err(
                exercise_field(&ext.exercise),
                format!(
                    "{dates} exercise dates on {assets} asset(s): at most {} dates for {assets} (the regression keeps every date's state of 1,024 paths or more in 64 MiB)",
                    MAX_DATE_STATES / (assets + 1)
                ),
            ));
        }
        let Some(m) = &ext.multi else {
            if !matches!(self.payoff, PayoffSpec::European(_)) {
                return Err(err(
                    "exercise",
                    format!(
                        "early exercise needs a payoff with an intrinsic value at every date (european, basket, rainbow), not `{}`",
                        self.payoff.name()
                    ),
                ));
            }
            if !matches!(self.model, ModelSpec::Gbm(_) | ModelSpec::Heston(_)) {
                return Err(err(
                    "exercise",
                    format!(
                        "early exercise is priced under gbm, heston, gbm_multi or heston_multi, not `{}`",
                        self.model.name()
                    ),
                ));
            }
            return Ok(());
        };
        let n = m.model.assets();
        check_assets(n).map_err(|e| err("model.assets", e))?;
        if m.model.correlation().assets() != n {
            return Err(err(
                "model.correlation",
                format!(
                    "{} x {} for {n} assets",
                    m.model.correlation().assets(),
                    m.model.correlation().assets()
                ),
            ));
        }
        finite("model.rate", m.model.rate())?;
        match &m.model {
            MultiModel::GbmMulti { assets, .. } => {
                for (i, a) in assets.iter().enumerate() {
                    a.validate(i)?;
                }
            }
            MultiModel::HestonMulti { assets, .. } => {
                for (i, a) in assets.iter().enumerate() {
                    a.validate(i)?;
                }
            }
        }
        match &m.payoff {
            MultiPayoff::Basket {
                strike, weights, ..
            } => {
                non_negative("payoff.strike", *strike)?;
                if weights.len() != n {
                    return Err(err(
                        "payoff.weights",
                        format!(
                            "{} weights for {n} assets: one weight per asset",
                            weights.len()
                        ),
                    ));
                }
                for (i, w) in weights.iter().enumerate() {
                    finite(&format!("payoff.weights[{i}]"), *w)?;
                }
            }
            MultiPayoff::Rainbow { strike, .. } => {
                non_negative("payoff.strike", *strike)?;
            }
        }
        Ok(())
    }

    /// Path-steps this trade costs (paths x steps).
    pub fn path_steps(&self) -> f64 {
        self.paths as f64 * self.steps as f64
    }
}
