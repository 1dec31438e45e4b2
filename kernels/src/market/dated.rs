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
//! Refused, naming the field, until the engines carry a time grid of their
//! own (issue 23's next slices): fixings and path-dependent payoffs, early
//! exercise, several underlyings, an underlying with cash dividends, and
//! local volatility on a surface.

use super::{Market, Vol};
use crate::instrument::{Trade, TradeError};
use crate::model::{Gbm, Heston, ModelSpec};
use crate::payoff::PayoffSpec;

/// A dated trade's terms, as read from its line (the payoff read as an
/// inline trade's).
#[derive(Clone, Debug, PartialEq)]
pub struct DatedTerms {
    pub id: String,
    pub underlying: String,
    /// `black`, `local_vol` or `heston`; `None`: the underlying's default
    /// (`local_vol` on a surface, `black` on a flat vol).
    pub model: Option<String>,
    pub payoff: PayoffSpec,
    pub expiry: String,
    pub fixings: Option<Vec<String>>,
    pub steps_per_year: u32,
    pub paths: u64,
    /// Whether the trade gave an early-exercise style.
    pub early_exercise: bool,
}

/// The models a dated trade may name.
pub const DATED_MODELS: [&str; 3] = ["black", "local_vol", "heston"];

fn err(field: &str, message: impl Into<String>) -> TradeError {
    TradeError {
        field: field.into(),
        message: message.into(),
    }
}

// only its total variance to the expiry.
/// A dated trade as the engines price it (see the module's notes).
pub fn resolve(market: &Market, d: &DatedTerms) -> Result<Trade, TradeError> {
    let Some(u) = market.underlyings.get(&d.underlying) else {
        return Err(err(
            "underlying",
            format!(
                "{:?} is not in the market file (there: {})",
                d.underlying,
                super::names(market.underlyings.keys())
            ),
        ));
    };
    let t = market
        .time_of(&d.expiry, "expiry")
        .map_err(|e| err("expiry", e.message))?;
    if d.steps_per_year == 0 {
        return Err(err("steps_per_year", "expected a positive integer, got 0"));
    }
    let strike = match &d.payoff {
        PayoffSpec::European(p) => p.strike,
        PayoffSpec::Digital(p) => p.strike,
        _ => {
            return Err(err(
                "payoff.type",
                "a dated trade's payoff is paid on the spot at expiry (european, digital) in this release; fixings and path-dependent payoffs on dated trades are not supported yet",
            ))
        }
    };
    if let Some(f) = &d.fixings {
        return Err(err(
            "fixings",
            format!(
                "a payoff on the spot at expiry has no fixings ({} given)",
                f.len()
            ),
        ));
    }
    if d.early_exercise {
        return Err(err(
            "exercise",
            "early exercise on dated trades is not supported yet",
        ));
    }
    if !u.dividends.is_empty() {
        return Err(err(
            "underlying",
            format!(
                "{:?} pays cash dividends: dated trades on them are not supported yet",
                d.underlying
            ),
        ));
    }
    let model = d.model.as_deref();
    if let Some(m) = model.filter(|m| !DATED_MODELS.contains(m)) {
        return Err(err(
            "model",
            format!("{m:?}: expected one of {}", DATED_MODELS.join(", ")),
        ));
    }
    let r = market.discount_curve(u).zero_rate(t);
    let q = u.dividend_yield.as_ref().map_or(0.0, |c| c.zero_rate(t));
    let spec = match (model, &u.vol) {
        (Some("heston"), _) => {
            let Some(h) = u.heston else {
                return Err(err(
                    "model",
                    format!("\"heston\": {:?} has no `heston` parameters in the market file", d.underlying),
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
            return Err(err(
                "model",
                format!(
                    "{:?} has a volatility surface: local volatility (the default there) is not supported yet; give \"model\": \"black\" (the implied vol at the strike)",
                    d.underlying
                ),
            ))
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
        id: d.id.clone(),
        stream: crate::rng::stream_id_of(&d.id),
        model: spec,
        payoff: d.payoff.clone(),
        maturity: t,
        steps: steps as u32,
        paths: d.paths,
        extension: None,
    };
    trade.validate()?;
    Ok(trade)
}
