//! Market scenarios and the portfolio's loss statistics.
//!
//! A scenario moves each named underlying's market ([`MarketMove`]): `spot`
//! a relative shift (-0.05 is a 5% fall), `vol` an absolute shift of every
//! volatility of the underlying (gbm `vol`; heston `sqrt(v0)` and
//! `sqrt(theta)`; sv_fx `sigma`), `rate` an absolute shift of the model's
//! rate (sv_fx has no discount rate: its `drift`, the rate differential
//! azfinsim's FX spot grows at, takes the shift). A trade's P&L in a
//! scenario is its price there less its base price on the same random
//! numbers.
//!
//! **Revaluation.** The engines revalue a one-asset trade in one pass over
//! its paths per chunk of up to 5 scenarios, on the Greeks' machinery
//! ([`crate::revalue`]: limits, grouping, why results do not depend on the
//! batch); the P&L's standard error is that of the per-path differences.
//! Trades with several assets or early exercise are revalued as each
//! distinct scenario's moved trade ([`moved_trade`]), its exercise policy
//! refitted on its market over the base trade's regression normals, its
//! path evolved beside the base path on the same normals: a scenario's
//! value per path is what `price` gives the moved trade, the P&L's
//! standard error again from the per-path differences. The CPU engine's
//! early-exercise pricer does it in one pass
//! (`engine::cpu::extension`); the GPU engines price one scenario record
//! (base and moved side by side) per distinct move
//! ([`crate::gpu::extension::revalue_extended`]), to the same per-path
//! values.
//!
//! **VaR and ES** ([`value_at_risk`]): with the N scenarios' P&L sorted
//! from the worst, `k = ceil(N (1 - level))`; VaR is minus the k-th worst
//! P&L and ES minus the mean of the k worst.

use crate::model::{Gbm, Heston, ModelSpec, SvFx};
use crate::stats::Estimate;

/// What one trade's market does in each scenario of a run, resolved from
/// the underlyings' names by the caller: `moves[s][a]` is asset `a`'s move
/// in scenario `s` (one asset for a one-asset trade). An unmoved scenario
/// is all [`MarketMove::default`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TradeScenarios {
    pub moves: Vec<Vec<MarketMove>>,
}

/// One trade revalued under every scenario of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioResult {
    /// The base price and its standard error.
    pub base: Estimate,
    /// Per scenario: the price there less the base price on the same
    /// random numbers, and its standard error.
    pub pnl: Vec<Estimate>,
    /// Paths priced per revaluation.
    pub paths: u64,
    /// Compute seconds spent on this trade.
    pub seconds: f64,
}

/// One underlying's market move in a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MarketMove {
    /// Relative spot shift: the spot is multiplied by `1 + spot`.
    pub spot: f64,
    /// Absolute shift of every volatility.
    pub vol: f64,
    /// Absolute shift of the rate.
    pub rate: f64,
}

/// A move the model cannot take: which parameter, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("moves `{field}` to {value:?}: {why}")]
pub struct MoveError {
    pub field: &'static str,
    pub value: f64,
    pub why: &'static str,
}

impl MarketMove {
    pub fn is_none(&self) -> bool {
        *self == MarketMove::default()
    }

    /// `model` in this scenario.
    pub fn apply(&self, model: &ModelSpec) -> Result<ModelSpec, MoveError> {
        let spot = |s: f64| positive("spot", s * (1.0 + self.spot));
        let vol = |field: &'static str, v: f64| non_negative(field, v + self.vol);
        let rate = |field: &'static str, r: f64| moved_rate(field, r, self.rate);
        Ok(match model {
            ModelSpec::Gbm(m) => ModelSpec::Gbm(Gbm {
                spot: spot(m.spot)?,
                rate: rate("rate", m.rate)?,
                vol: vol("vol", m.vol)?,
                ..m.clone()
            }),
            ModelSpec::Heston(m) => ModelSpec::Heston(Heston {
                spot: spot(m.spot)?,
                rate: rate("rate", m.rate)?,
                // A vol move shifts the volatility sqrt(v0), named so.
                v0: vol("sqrt(v0)", m.v0.sqrt())?.powi(2),
                theta: vol("sqrt(theta)", m.theta.sqrt())?.powi(2),
                ..m.clone()
            }),
            ModelSpec::SvFx(m) => ModelSpec::SvFx(SvFx {
                spot: spot(m.spot)?,
                drift: rate("drift", m.drift)?,
                sigma: vol("sigma", m.sigma)?,
                ..m.clone()
            }),
        })
    }
}

/// A barrier payoff once a scenario moves the spot to or through its
/// barrier (touching counts, as its monitoring does): it is knocked at
/// once, so stress scenarios may cross barriers like any other move.
#[derive(Clone, Debug, PartialEq)]
pub enum Knocked {
    /// Knocked out: its rebate, paid at maturity, is all that is left.
    Out { rebate: f64 },
    /// Knocked in: it is the European option on its strike.
    In(crate::payoff::PayoffSpec),
}

impl Knocked {
    /// A knock-out's value: its rebate paid at `maturity`, discounted at
    /// `model`'s (moved) rate.
    pub fn rebate_value(rebate: f64, model: &ModelSpec, maturity: f64) -> f64 {
        rebate * (-model.discount_rate() * maturity).exp()
    }
}

/// What `payoff` is at `spot`, if a barrier of it lies at or past `spot`
/// (`None` for payoffs without barriers and for a spot between them).
pub fn knocked(payoff: &crate::payoff::PayoffSpec, spot: f64) -> Option<Knocked> {
    use crate::payoff::{Direction, European, Knock, PayoffSpec};
    match payoff {
        PayoffSpec::Barrier(b) => {
            let through = match b.direction {
                Direction::Down => spot <= b.barrier,
                Direction::Up => spot >= b.barrier,
            };
            through.then(|| match b.knock {
                Knock::Out => Knocked::Out { rebate: b.rebate },
                Knock::In => Knocked::In(PayoffSpec::European(European {
                    option: b.option,
                    strike: b.strike,
                })),
            })
        }
        PayoffSpec::DoubleBarrier(d) => {
            (spot <= d.lower || spot >= d.upper).then_some(Knocked::Out { rebate: d.rebate })
        }
        _ => None,
    }
}

/// Checks `trade` as a scenario moved it (`moved_trade`), as the book
/// would check it: a barrier the move crossed knocks the payoff
/// ([`knocked`]), so only what is left is checked.
pub fn validate_moved(trade: &crate::instrument::Trade) -> Result<(), crate::validate::TradeError> {
    if trade.extension.is_some() {
        return trade.validate();
    }
    match knocked(&trade.payoff, trade.model.spot()) {
        None => trade.validate(),
        Some(Knocked::Out { .. }) => trade.model.validate(),
        Some(Knocked::In(payoff)) => crate::instrument::Trade {
            payoff,
            ..trade.clone()
        }
        .validate(),
    }
}

/// A trade's scenarios by distinct move: per scenario, the index of its
/// distinct move (`None` where nothing moves), and each distinct move with
/// the first scenario (0-based) that makes it. The early-exercise and dated
/// pricers revalue each distinct moved trade once.
pub fn distinct_moves(
    scenarios: &TradeScenarios,
) -> (Vec<Option<usize>>, Vec<(usize, &[MarketMove])>) {
    let mut distinct: Vec<(usize, &[MarketMove])> = Vec::new();
    let of = scenarios
        .moves
        .iter()
        .enumerate()
        .map(|(k, moves)| {
            if moves.iter().all(MarketMove::is_none) {
                return None;
            }
            Some(
                match distinct.iter().position(|(_, d)| *d == moves.as_slice()) {
                    Some(i) => i,
                    None => {
                        distinct.push((k, moves));
                        distinct.len() - 1
                    }
                },
            )
        })
        .collect();
    (of, distinct)
}

/// `trade` in a scenario: `moves[a]` applied to asset `a` (one move for a
/// one-asset trade, one per asset of a multi-asset model). A multi-asset
/// model has one rate: the assets' rate moves must agree, an asset whose
/// rate does not move excepted (its underlying may be unmoved).
pub fn moved_trade(
    trade: &crate::instrument::Trade,
    moves: &[MarketMove],
) -> Result<crate::instrument::Trade, String> {
    use crate::multi::MultiModel;
    let multi = trade.extension.as_deref().and_then(|e| e.multi.as_ref());
    let Some(multi) = multi else {
        let [m] = moves else {
            return Err(format!(
                "a one-asset trade got moves for {} assets",
                moves.len()
            ));
        };
        let model = m.apply(&trade.model).map_err(|e| e.to_string())?;
        return Ok(crate::instrument::Trade {
            model,
            ..trade.clone()
        });
    };
    let n = multi.model.assets();
    if moves.len() != n {
        return Err(format!(
            "a trade on {n} assets got moves for {}",
            moves.len()
        ));
    }
    let mut rates = moves.iter().map(|m| m.rate).filter(|r| *r != 0.0);
    let dr = rates.next().unwrap_or(0.0);
    if let Some(other) = rates.find(|r| *r != dr) {
        return Err(format!(
            "its assets' rate moves differ ({dr} and {other}); a {} model has one rate",
            multi.model.name()
        ));
    }
    let asset = |a: usize, e: MoveError| format!("asset {}: {e}", a + 1);
    let model = match &multi.model {
        MultiModel::GbmMulti {
            rate,
            assets,
            correlation,
        } => MultiModel::GbmMulti {
            rate: moved_rate("rate", *rate, dr).map_err(|e| e.to_string())?,
            assets: assets
                .iter()
                .zip(moves)
                .enumerate()
                .map(|(a, (x, m))| {
                    Ok(crate::multi::GbmAsset {
                        spot: positive("spot", x.spot * (1.0 + m.spot)).map_err(|e| asset(a, e))?,
                        vol: non_negative("vol", x.vol + m.vol).map_err(|e| asset(a, e))?,
                        ..x.clone()
                    })
                })
                .collect::<Result<_, String>>()?,
            correlation: correlation.clone(),
        },
        MultiModel::HestonMulti {
            rate,
            assets,
            correlation,
        } => MultiModel::HestonMulti {
            rate: moved_rate("rate", *rate, dr).map_err(|e| e.to_string())?,
            assets: assets
                .iter()
                .zip(moves)
                .enumerate()
                .map(|(a, (x, m))| {
                    let vol = |f: &'static str, v: f64| {
                        non_negative(f, v.sqrt() + m.vol)
                            .map(|v| v * v)
                            .map_err(|e| asset(a, e))
                    };
                    Ok(crate::multi::HestonAsset {
                        spot: positive("spot", x.spot * (1.0 + m.spot)).map_err(|e| asset(a, e))?,
                        v0: vol("sqrt(v0)", x.v0)?,
                        theta: vol("sqrt(theta)", x.theta)?,
                        ..x.clone()
                    })
                })
                .collect::<Result<_, String>>()?,
            correlation: correlation.clone(),
        },
    };
    let mut ext = trade.extension.clone().expect("a multi-asset trade");
    if let Some(m) = ext.multi.as_mut() {
        m.model = model;
    }
    Ok(crate::instrument::Trade {
        extension: Some(ext),
        ..trade.clone()
    })
}

/// The most a moved rate (or sv_fx drift) may be, either way: 100% a
/// year. A finite but absurd shift (1e300) would only overflow the
/// discounting mid-run; it is refused when the scenarios are checked.
pub const MAX_MOVED_RATE: f64 = 1.0;

/// `base + shift`, which must stay within [`MAX_MOVED_RATE`] of 0 when it
/// moves (an unmoved rate is the book's, already accepted).
fn moved_rate(field: &'static str, base: f64, shift: f64) -> Result<f64, MoveError> {
    let value = finite(field, base + shift)?;
    if shift != 0.0 && value.abs() > MAX_MOVED_RATE {
        return Err(MoveError {
            field,
            value,
            why: "a moved rate must stay within [-1, 1]",
        });
    }
    Ok(value)
}

fn finite(field: &'static str, value: f64) -> Result<f64, MoveError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(MoveError {
            field,
            value,
            why: "not a finite number",
        })
    }
}

fn positive(field: &'static str, value: f64) -> Result<f64, MoveError> {
    if finite(field, value)? > 0.0 {
        Ok(value)
    } else {
        Err(MoveError {
            field,
            value,
            why: "it must stay above 0",
        })
    }
}

fn non_negative(field: &'static str, value: f64) -> Result<f64, MoveError> {
    if finite(field, value)? >= 0.0 {
        Ok(value)
    } else {
        Err(MoveError {
            field,
            value,
            why: "a volatility cannot be negative",
        })
    }
}

/// Value-at-risk and expected shortfall at one confidence level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    pub level: f64,
    /// How many of the worst scenarios the figures rest on.
    pub tail: usize,
    pub var: f64,
    pub es: f64,
}

/// VaR and ES of scenario P&L `pnl` at `level` (in (0, 1)): `None` with no
/// scenarios or a level outside (0, 1).
pub fn value_at_risk(pnl: &[f64], level: f64) -> Option<Loss> {
    if pnl.is_empty() || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let mut sorted = pnl.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    // N (1 - level) in floating point is 100 * 0.01 = 1.0000000000000009
    // for the 99% of 100 scenarios: the tail is the count it means. The
    // product's rounding is a few ulps, so only that much is forgiven; a
    // level that truly leaves a sliver more (0.989999999999999) counts it.
    let exact = n as f64 * (1.0 - level);
    let tail = ((exact - 8.0 * f64::EPSILON * exact).ceil() as usize).clamp(1, n);
    let worst = &sorted[..tail];
    Some(Loss {
        level,
        tail,
        var: -worst[tail - 1],
        es: -worst.iter().sum::<f64>() / tail as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_and_es_follow_the_stated_convention() {
        // 100 scenarios, P&L -100..-1 then 0..: the 99% tail is the single
        // worst, the 97.5% tail the three worst (ceil(2.5)).
        let pnl: Vec<f64> = (0..100).map(|i| i as f64 - 100.0).rev().collect();
        let l = value_at_risk(&pnl, 0.99).unwrap();
        assert_eq!((l.tail, l.var, l.es), (1, 100.0, 100.0));
        let l = value_at_risk(&pnl, 0.975).unwrap();
        assert_eq!((l.tail, l.var, l.es), (3, 98.0, 99.0));
        // 250 scenarios at 99%: ceil(2.5) = 3.
        let pnl: Vec<f64> = (0..250).map(|i| -(i as f64)).collect();
        let l = value_at_risk(&pnl, 0.99).unwrap();
        assert_eq!((l.tail, l.var, l.es), (3, 247.0, 248.0));
        // One scenario: it is the tail.
        assert_eq!(value_at_risk(&[5.0], 0.99).unwrap().var, -5.0);
        assert!(value_at_risk(&[], 0.99).is_none());
        assert!(value_at_risk(&[1.0], 1.0).is_none());
    }

    #[test]
    fn the_tail_forgives_rounding_only() {
        // 0.99 of 100 and 0.975 of 40: N (1 - level) rounds to
        // 1.0000000000000009; the tail is the 1 it means.
        let pnl: Vec<f64> = (0..100).map(|i| -(i as f64)).collect();
        assert_eq!(100.0 * (1.0 - 0.99), 1.0000000000000009);
        assert_eq!(value_at_risk(&pnl, 0.99).unwrap().tail, 1);
        assert_eq!(value_at_risk(&pnl[..40], 0.975).unwrap().tail, 1);
        // A level a hair below 0.99 leaves more than one scenario's worth:
        // ceil(100 x 0.010000000000001) = 2.
        let l = 0.989999999999999;
        assert!(100.0 * (1.0 - l) - 1.0 > 1e-14);
        assert_eq!(value_at_risk(&pnl, l).unwrap().tail, 2);
        assert_eq!(value_at_risk(&pnl[..40], 0.97499999999999).unwrap().tail, 2);
        assert!(value_at_risk(&[1.0], 1.0).is_none());
        assert!(value_at_risk(&[1.0], f64::NAN).is_none());
    }

    #[test]
    fn moves_shift_each_model_s_fields() {
        let mv = MarketMove {
            spot: -0.1,
            vol: 0.05,
            rate: 0.01,
        };
        let g = ModelSpec::Gbm(Gbm {
            spot: 100.0,
            rate: 0.02,
            dividend: 0.01,
            vol: 0.2,
        });
        match mv.apply(&g).unwrap() {
            ModelSpec::Gbm(m) => {
                assert!((m.spot - 90.0).abs() < 1e-12);
                assert!((m.vol - 0.25).abs() < 1e-15 && (m.rate - 0.03).abs() < 1e-15);
                assert_eq!(m.dividend, 0.01);
            }
            m => panic!("{m:?}"),
        }
        let h = ModelSpec::Heston(Heston {
            spot: 100.0,
            rate: 0.02,
            dividend: 0.0,
            v0: 0.04,
            kappa: 1.5,
            theta: 0.09,
            xi: 0.5,
            rho: -0.7,
        });
        match mv.apply(&h).unwrap() {
            ModelSpec::Heston(m) => {
                assert!((m.v0 - 0.0625).abs() < 1e-15 && (m.theta - 0.1225).abs() < 1e-15);
                assert_eq!((m.kappa, m.xi, m.rho), (1.5, 0.5, -0.7));
            }
            m => panic!("{m:?}"),
        }
        let s = ModelSpec::SvFx(SvFx {
            spot: 1.2,
            drift: 0.01,
            sigma: 0.1,
            volvol: 0.3,
            rho: 0.2,
        });
        match mv.apply(&s).unwrap() {
            ModelSpec::SvFx(m) => {
                assert!((m.drift - 0.02).abs() < 1e-15 && (m.sigma - 0.15).abs() < 1e-15)
            }
            m => panic!("{m:?}"),
        }
        // A fall of 100% or a vol below zero is refused with the field.
        let e = MarketMove {
            spot: -1.0,
            ..Default::default()
        }
        .apply(&g)
        .unwrap_err();
        assert_eq!(e.field, "spot");
        let e = MarketMove {
            vol: -0.3,
            ..Default::default()
        }
        .apply(&g)
        .unwrap_err();
        assert_eq!(e.field, "vol");
        assert!(e.to_string().contains("negative"), "{e}");
        // A finite but absurd rate shift is refused; up to the bound is not.
        for (m, field) in [(&g, "rate"), (&s, "drift")] {
            let shift = |rate: f64| MarketMove {
                rate,
                ..Default::default()
            };
            assert_eq!(shift(1e300).apply(m).unwrap_err().field, field);
            assert_eq!(shift(-1.5).apply(m).unwrap_err().field, field);
            assert!(shift(0.98).apply(m).is_ok());
        }
    }
}
