//! A trade (QuantLib's "instrument"): a model, a payoff, a time grid and a
//! path count, with the identity its random stream is drawn from.

use crate::exercise::Exercise;
use crate::model::ModelSpec;
use crate::multi::{check_assets, Extension, MultiModel, MultiPayoff, MAX_DATE_STATES};
use crate::payoff::{Direction, PayoffSpec, StrikeType};

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
}

/// A trade whose terms cannot be priced: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct TradeError {
    /// Dotted path of the field, as in the portfolio file (`model.vol`).
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> TradeError {
    TradeError {
        field: field.to_string(),
        message: message.into(),
    }
}

fn finite(field: &str, v: f64) -> Result<f64, TradeError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(err(field, format!("must be a finite number, got {v}")))
    }
}

fn positive(field: &str, v: f64) -> Result<f64, TradeError> {
    if finite(field, v)? > 0.0 {
        Ok(v)
    } else {
        Err(err(field, format!("must be greater than 0, got {v}")))
    }
}

fn non_negative(field: &str, v: f64) -> Result<f64, TradeError> {
    if finite(field, v)? >= 0.0 {
        Ok(v)
    } else {
        Err(err(field, format!("must not be negative, got {v}")))
    }
}

/// The field an exercise error names.
fn exercise_field(e: &Exercise) -> &'static str {
    match e {
        Exercise::Bermudan { .. } => "exercise.steps",
        _ => "exercise.style",
    }
}

fn correlation(field: &str, v: f64) -> Result<f64, TradeError> {
    if (-1.0..=1.0).contains(&finite(field, v)?) {
        Ok(v)
    } else {
        Err(err(field, format!("must lie in [-1, 1], got {v}")))
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
        if let Some(ext) = self.extension.as_deref().filter(|e| e.multi.is_some()) {
            // The one-asset fields of a multi-asset trade are names only.
            return self.validate_extension(ext);
        }
        match &self.model {
            ModelSpec::Gbm(m) => {
                positive("model.spot", m.spot)?;
                finite("model.rate", m.rate)?;
                finite("model.dividend", m.dividend)?;
                non_negative("model.vol", m.vol)?;
            }
            ModelSpec::Heston(m) => {
                positive("model.spot", m.spot)?;
                finite("model.rate", m.rate)?;
                finite("model.dividend", m.dividend)?;
                non_negative("model.v0", m.v0)?;
                non_negative("model.kappa", m.kappa)?;
                non_negative("model.theta", m.theta)?;
                non_negative("model.xi", m.xi)?;
                correlation("model.rho", m.rho)?;
            }
            ModelSpec::SvFx(m) => {
                positive("model.spot", m.spot)?;
                finite("model.drift", m.drift)?;
                non_negative("model.sigma", m.sigma)?;
                non_negative("model.volvol", m.volvol)?;
                correlation("model.rho", m.rho)?;
            }
        }
        let spot = self.model.spot();
        match &self.payoff {
            PayoffSpec::European(p) => {
                non_negative("payoff.strike", p.strike)?;
            }
            PayoffSpec::Digital(p) => {
                positive("payoff.strike", p.strike)?;
                finite("payoff.cash", p.cash)?;
            }
            PayoffSpec::Asian(p) => {
                non_negative("payoff.strike", p.strike)?;
            }
            PayoffSpec::Barrier(p) => {
                non_negative("payoff.strike", p.strike)?;
                positive("payoff.barrier", p.barrier)?;
                non_negative("payoff.rebate", p.rebate)?;
                match p.direction {
                    Direction::Down if p.barrier >= spot => {
                        return Err(err(
                            "payoff.barrier",
                            format!(
                                "a down barrier must lie below the spot {spot}, got {}",
                                p.barrier
                            ),
                        ))
                    }
                    Direction::Up if p.barrier <= spot => {
                        return Err(err(
                            "payoff.barrier",
                            format!(
                                "an up barrier must lie above the spot {spot}, got {}",
                                p.barrier
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            PayoffSpec::Lookback(p) => {
                if p.strike_type == StrikeType::Fixed {
                    non_negative("payoff.strike", p.strike)?;
                }
            }
            PayoffSpec::DoubleBarrier(p) => {
                non_negative("payoff.strike", p.strike)?;
                positive("payoff.lower", p.lower)?;
                positive("payoff.upper", p.upper)?;
                non_negative("payoff.rebate", p.rebate)?;
                if p.lower >= spot {
                    return Err(err(
                        "payoff.lower",
                        format!(
                            "the lower barrier must lie below the spot {spot}, got {}",
                            p.lower
                        ),
                    ));
                }
                if p.upper <= spot {
                    return Err(err(
                        "payoff.upper",
                        format!(
                            "the upper barrier must lie above the spot {spot}, got {}",
                            p.upper
                        ),
                    ));
                }
            }
            PayoffSpec::FxWarrant(p) => {
                positive("payoff.strike", p.strike)?;
                non_negative("payoff.warrants", p.warrants)?;
                non_negative("payoff.notional_per_warrant", p.notional_per_warrant)?;
            }
        }
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
        let f = |i: usize, name: &str| format!("model.assets[{i}].{name}");
        match &m.model {
            MultiModel::GbmMulti { assets, .. } => {
                for (i, a) in assets.iter().enumerate() {
                    positive(&f(i, "spot"), a.spot)?;
                    positive(&f(i, "vol"), a.vol)?;
                    finite(&f(i, "dividend"), a.dividend)?;
                }
            }
            MultiModel::HestonMulti { assets, .. } => {
                for (i, a) in assets.iter().enumerate() {
                    positive(&f(i, "spot"), a.spot)?;
                    finite(&f(i, "dividend"), a.dividend)?;
                    positive(&f(i, "v0"), a.v0)?;
                    non_negative(&f(i, "kappa"), a.kappa)?;
                    non_negative(&f(i, "theta"), a.theta)?;
                    non_negative(&f(i, "xi"), a.xi)?;
                    correlation(&f(i, "rho"), a.rho)?;
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
