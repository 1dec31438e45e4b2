//! Dated trades: a trade on a named underlying with an expiry date, priced
//! through the market file ([`super::Market`]).
//!
//! **What is priced, and how, in this release.** A dated trade whose
//! payoff depends on the spot at expiry alone (`european`, `digital`), on
//! one underlying, under `black` (a flat vol, or on a surface the implied
//! vol at the trade's strike, [`super::Market::implied_vol`]; `local_vol`
//! on a flat vol is the same model) or `heston` (the underlying's
//! parameters), is priced as
//! the inline model of its underlying with the *effective* rate and
//! dividend yield of its curves to the expiry: `r = -ln DF(T) / T`,
//! `q = -ln DFq(T) / T`. That is exact, not an approximation: under both
//! models the drift enters the log-spot additively and never meets the
//! variance, so the law of the spot at `T` depends on the curves only
//! through `DF(T)` and `DFq(T)`, and the price is discounted by `DF(T)`.
//! The time grid is the expiry's one interval, `ceil(T x steps_per_year)`
//! equal steps. A scenario's `rate` move shifts every zero rate, so the
//! effective rate moves by the same amount; its `vol` move shifts the flat
//! vol (Heston: `sqrt(v0)` and `sqrt(theta)`), its `spot` the spot: a
//! dated trade's scenarios are its market's.
//!
//! Every other dated trade (fixings and path-dependent payoffs, early
//! exercise, several underlyings, cash dividends on the path, local
//! volatility on a surface) is priced on its own time grid by the dated
//! pricer ([`super::path`], `engine::cpu::dated`): on the CPU engine, in
//! f64 path state; the GPU engines refuse it, naming the trade, until their
//! twins of it land.

use std::sync::Arc;

use super::path::resolve_path;
use super::{Market, Vol};
use crate::instrument::{Trade, TradeError};
use crate::model::{Gbm, Heston, ModelSpec};
use crate::multi::MultiPayoff;
use crate::payoff::{European, PayoffSpec};

/// A dated trade's terms, as read from its line (the payoff read as an
/// inline trade's).
#[derive(Clone, Debug, PartialEq)]
pub struct DatedTerms {
    pub id: String,
    /// One underlying (`underlying`), or several (`underlyings`).
    pub underlyings: Vec<String>,
    /// `black`, `local_vol` or `heston`; `None`: the underlying's default
    /// (`local_vol` on a surface, `black` on a flat vol).
    pub model: Option<String>,
    pub payoff: DatedPayoff,
    pub expiry: String,
    pub fixings: Option<Vec<String>>,
    pub steps_per_year: u32,
    pub paths: u64,
    /// `None`: exercised at expiry only.
    pub exercise: Option<DatedExercise>,
}

/// A dated trade's payoff: on one underlying, or on several.
#[derive(Clone, Debug, PartialEq)]
pub enum DatedPayoff {
    One(PayoffSpec),
    Many(MultiPayoff),
}

impl DatedPayoff {
    /// The strike, where the payoff has one.
    pub fn strike(&self) -> Option<f64> {
        match self {
            DatedPayoff::One(PayoffSpec::European(p)) => Some(p.strike),
            DatedPayoff::One(PayoffSpec::Digital(p)) => Some(p.strike),
            DatedPayoff::One(PayoffSpec::Asian(p)) => Some(p.strike),
            DatedPayoff::One(PayoffSpec::Barrier(p)) => Some(p.strike),
            DatedPayoff::One(PayoffSpec::DoubleBarrier(p)) => Some(p.strike),
            DatedPayoff::One(_) => None,
            DatedPayoff::Many(MultiPayoff::Basket { strike, .. })
            | DatedPayoff::Many(MultiPayoff::Rainbow { strike, .. }) => Some(*strike),
        }
    }
}

/// Early exercise of a dated trade.
#[derive(Clone, Debug, PartialEq)]
pub enum DatedExercise {
    /// Every grid date.
    American,
    /// These dates (and the expiry).
    Bermudan(Vec<String>),
}

/// The models a dated trade may name.
pub const DATED_MODELS: [&str; 3] = ["black", "local_vol", "heston"];

fn err(field: &str, message: impl Into<String>) -> TradeError {
    TradeError {
        field: field.into(),
        message: message.into(),
    }
}

/// A dated trade as the engines price it (see the module's notes): the
/// inline model of its underlying where that is exact, else its
/// [`DatedPath`] for the dated pricer.
pub fn resolve(market: &Arc<Market>, d: &DatedTerms) -> Result<Trade, TradeError> {
    let n = d.underlyings.len();
    for (a, name) in d.underlyings.iter().enumerate() {
        if !market.underlyings.contains_key(name) {
            return Err(err(
                if n == 1 {
                    "underlying".to_string()
                } else {
                    format!("underlyings[{a}]")
                }
                .as_str(),
                format!(
                    "{:?} is not in the market file (there: {})",
                    name,
                    super::names(market.underlyings.keys())
                ),
            ));
        }
        if d.underlyings[..a].contains(name) {
            return Err(err(
                &format!("underlyings[{a}]"),
                format!("{name:?} is named twice"),
            ));
        }
    }
    if n == 0 {
        return Err(err("underlyings", "no underlying: give at least one"));
    }
    if n > crate::correlation::MAX_ASSETS {
        return Err(err(
            "underlyings",
            format!(
                "{n} underlyings: at most {} are supported",
                crate::correlation::MAX_ASSETS
            ),
        ));
    }
    let t = market
        .time_of(&d.expiry, "expiry")
        .map_err(|e| err("expiry", e.message))?;
    if d.steps_per_year == 0 {
        return Err(err("steps_per_year", "expected a positive integer, got 0"));
    }
    let model = d.model.as_deref();
    if let Some(m) = model.filter(|m| !DATED_MODELS.contains(m)) {
        return Err(err(
            "model",
            format!("{m:?}: expected one of {}", DATED_MODELS.join(", ")),
        ));
    }
    let u = &market.underlyings[&d.underlyings[0]];
    let surface = matches!(u.vol, Vol::Surface { .. });
    let inline = match &d.payoff {
        DatedPayoff::One(PayoffSpec::European(_) | PayoffSpec::Digital(_)) => {
            n == 1
                && d.fixings.is_none()
                && d.exercise.is_none()
                && u.dividends.is_empty()
                && !(surface && model != Some("black") && model != Some("heston"))
        }
        _ => false,
    };
    if !inline {
        let path = resolve_path(market, d, &[])?;
        let r = market.discount_curve(u).zero_rate(t);
        let trade = Trade {
            rng: None,
            id: d.id.clone(),
            stream: crate::rng::stream_id_of(&d.id),
            // Names for logs: the dated pricer reads the path.
            model: ModelSpec::Gbm(Gbm {
                spot: u.spot,
                rate: r,
                dividend: 0.0,
                vol: 0.0,
            }),
            payoff: match &d.payoff {
                DatedPayoff::One(p) => p.clone(),
                DatedPayoff::Many(
                    MultiPayoff::Basket { option, strike, .. }
                    | MultiPayoff::Rainbow { option, strike, .. },
                ) => PayoffSpec::European(European {
                    option: *option,
                    strike: *strike,
                }),
            },
            maturity: t,
            steps: path.steps() as u32,
            paths: d.paths,
            extension: None,
            dated: Some(Arc::new(path)),
        };
        trade.validate()?;
        return Ok(trade);
    }
    let DatedPayoff::One(payoff) = &d.payoff else {
        return Err(err("payoff", "unreachable"));
    };
    let strike = match payoff {
        PayoffSpec::European(p) => p.strike,
        PayoffSpec::Digital(p) => p.strike,
        _ => u.spot,
    };
    let r = market.discount_curve(u).zero_rate(t);
    let q = u.dividend_yield.as_ref().map_or(0.0, |c| c.zero_rate(t));
    let spec = match (model, &u.vol) {
        (Some("heston"), _) => {
            let Some(h) = u.heston else {
                return Err(err(
                    "model",
                    format!(
                        "\"heston\": {:?} has no `heston` parameters in the market file",
                        d.underlyings[0]
                    ),
                ));
            };
            ModelSpec::Heston(Heston {
                spot: u.spot,
                rate: r,
                dividend: q,
                v0: h.v0,
                kappa: h.kappa,
                theta: h.theta,
                xi: h.xi,
                rho: h.rho,
            })
        }
        (_, Vol::Flat(vol)) => ModelSpec::Gbm(Gbm {
            spot: u.spot,
            rate: r,
            dividend: q,
            vol: *vol,
        }),
        (Some("black"), Vol::Surface { .. }) => {
            // Black on a surface: the implied vol at the trade's strike,
            // as a term structure; a payoff on the spot at expiry sees
            // only its total variance to the expiry.
            ModelSpec::Gbm(Gbm {
                spot: u.spot,
                rate: r,
                dividend: q,
                vol: market.implied_vol(u, strike, t),
            })
        }
        (_, Vol::Surface { .. }) => {
            return Err(err("model", "local volatility is priced on the path"))
        }
    };
    let steps = (t * d.steps_per_year as f64).ceil().max(1.0);
    if steps > crate::instrument::MAX_STEPS as f64 {
        return Err(err(
            "steps_per_year",
            format!(
                "{} steps to the expiry, over the most a trade may have ({})",
                steps,
                crate::instrument::MAX_STEPS
            ),
        ));
    }
    let trade = Trade {
        rng: None,
        id: d.id.clone(),
        stream: crate::rng::stream_id_of(&d.id),
        model: spec,
        payoff: payoff.clone(),
        maturity: t,
        steps: steps as u32,
        paths: d.paths,
        extension: None,
        dated: None,
    };
    trade.validate()?;
    Ok(trade)
}
