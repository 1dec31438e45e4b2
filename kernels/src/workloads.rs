//! The standard benchmark workloads W1-W4 (issue 2), W5-W6 (issue 16) and
//! the scenario-revaluation workload W7 (issue 17, [`risk_workload`]),
//! shared by `riskpool bench` and the criterion benches so both measure the
//! same work.

use crate::azfinsim::AzfinsimTrade;
use crate::correlation::Correlation;
use crate::exercise::Exercise;
use crate::greeks::{Bumps, Greek, GreekSet};
use crate::instrument::Trade;
use crate::model::SvFx;
use crate::model::{Gbm, Heston, ModelSpec};
use crate::multi::{Extension, HestonAsset, MultiAsset, MultiModel, MultiPayoff, RainbowKind};
use crate::payoff::{
    Asian, Average, Barrier, Digital, Direction, European, Knock, Lookback, Monitoring, OptionType,
    PayoffSpec, StrikeType,
};
use crate::rng::PhiloxRng;
use crate::scenario::{MarketMove, TradeScenarios};
use crate::PricingRequest;

/// A named batch of trades and what to compute for them.
pub struct Workload {
    pub name: &'static str,
    pub description: &'static str,
    pub trades: Vec<Trade>,
    pub request: PricingRequest,
}

impl Workload {
    /// Path-steps of the whole workload.
    pub fn path_steps(&self) -> f64 {
        self.trades.iter().map(Trade::path_steps).sum()
    }
}

/// Seed of the generated azfinsim trades of W1 and W2.
pub const WORKLOAD_SEED: u64 = 2017;

/// The workloads by name (`W1`..`W6`, `W5L`), scaled by `scale` (1.0 is
/// the standard size; smaller for quick runs): trade count for W1/W2,
/// paths for W3-W6.
pub fn workload(name: &str, scale: f64) -> Option<Workload> {
    let scaled = |n: f64| ((n * scale).round() as u64).max(1);
    let azfinsim = |n: u64| -> Vec<Trade> {
        (0..n)
            .map(|i| AzfinsimTrade::generate(WORKLOAD_SEED, i).to_trade())
            .collect()
    };
    let w = match name {
        "W1" => Workload {
            name: "W1",
            description: "azfinsim pvonly: 1,000 trades x 10,000 paths x 172 steps",
            trades: azfinsim(scaled(1000.0)),
            request: PricingRequest::default(),
        },
        "W2" => Workload {
            name: "W2",
            description: "azfinsim deltavega: the W1 trades, CRN bumps in the same pass",
            trades: azfinsim(scaled(1000.0)),
            request: PricingRequest {
                greeks: GreekSet(vec![Greek::Delta, Greek::Vega]),
                bumps: Bumps::AZFINSIM,
                ..Default::default()
            },
        },
        "W3" => Workload {
            name: "W3",
            description: "GBM arithmetic Asian call, 252 steps, 1,000,000 paths",
            trades: vec![Trade {
                rng: None,
                id: "w3".into(),
                stream: 3,
                model: ModelSpec::Gbm(Gbm {
                    spot: 100.0,
                    rate: 0.03,
                    dividend: 0.0,
                    vol: 0.2,
                }),
                payoff: PayoffSpec::Asian(Asian {
                    option: OptionType::Call,
                    strike: 100.0,
                    average: Average::Arithmetic,
                }),
                maturity: 1.0,
                steps: 252,
                paths: scaled(1_000_000.0),
                extension: None,
                dated: None,
            }],
            request: PricingRequest::default(),
        },
        "W4" => Workload {
            name: "W4",
            description: "Heston European call, 252 steps, 1,000,000 paths",
            trades: vec![Trade {
                rng: None,
                id: "w4".into(),
                stream: 4,
                model: ModelSpec::Heston(Heston {
                    spot: 100.0,
                    rate: 0.03,
                    dividend: 0.0,
                    v0: 0.04,
                    kappa: 1.5,
                    theta: 0.04,
                    xi: 0.5,
                    rho: -0.7,
                }),
                payoff: PayoffSpec::European(European {
                    option: OptionType::Call,
                    strike: 100.0,
                }),
                maturity: 1.0,
                steps: 252,
                paths: scaled(1_000_000.0),
                extension: None,
                dated: None,
            }],
            request: PricingRequest::default(),
        },
        "W5" => heston_rainbow(
            "W5",
            "heston_multi 5 assets, American rainbow min put, 252 steps, 25,000 paths, delta/gamma/vega per asset and rho",
            5,
            (252, 1.0),
            Exercise::American,
            scaled(25_000.0),
        )?,
        // STAC-A2's large case's shape (10 assets, 1,260 steps, 100,000
        // paths), exercisable weekly: 252 dates keep its regression states
        // (dates x (assets + 1)) inside the fit's budget, where 1,260
        // would not (crate::multi::MAX_DATE_STATES).
        "W5L" => heston_rainbow(
            "W5L",
            "heston_multi 10 assets, Bermudan rainbow min put exercisable weekly (252 dates), 1,260 steps over 5 years, 100,000 paths, delta/gamma/vega per asset and rho",
            10,
            (1260, 5.0),
            Exercise::Bermudan {
                steps: (1..=252).map(|k| 5 * k).collect(),
            },
            scaled(100_000.0),
        )?,
        "W6" => Workload {
            name: "W6",
            description: "one-asset American put (S=36, K=40, r=6%, vol 20%, T=1), 50 exercise steps, 100,000 paths",
            trades: vec![Trade {
                rng: None,
                id: "w6".into(),
                stream: 6,
                model: ModelSpec::Gbm(Gbm {
                    spot: 36.0,
                    rate: 0.06,
                    dividend: 0.0,
                    vol: 0.2,
                }),
                payoff: PayoffSpec::European(European {
                    option: OptionType::Put,
                    strike: 40.0,
                }),
                maturity: 1.0,
                steps: 50,
                paths: scaled(100_000.0),
                extension: Some(Box::new(Extension {
                    multi: None,
                    exercise: Exercise::American,
                })),
                dated: None,
            }],
            request: PricingRequest {
                precision: crate::Precision::F64,
                ..Default::default()
            },
        },
        _ => return None,
    };
    Some(w)
}

/// W5's shape on `n` heston assets (spots 100 + 5i, correlation 0.3): an
/// early-exercise rainbow min put struck at 100 on `(steps, maturity)`,
/// every Greek per asset, in f64.
fn heston_rainbow(
    name: &'static str,
    description: &'static str,
    n: usize,
    (steps, maturity): (u32, f64),
    exercise: Exercise,
    paths: u64,
) -> Option<Workload> {
    let assets: Vec<HestonAsset> = (0..n)
        .map(|i| HestonAsset {
            spot: 100.0 + 5.0 * i as f64,
            dividend: 0.01 * i as f64,
            v0: 0.04 + 0.005 * i as f64,
            kappa: 1.5,
            theta: 0.04 + 0.005 * i as f64,
            xi: 0.5,
            rho: -0.7,
        })
        .collect();
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.3 }).collect())
        .collect();
    let model = MultiModel::HestonMulti {
        rate: 0.03,
        assets,
        correlation: Correlation::new(&rows, n).ok()?,
    };
    let payoff = MultiPayoff::Rainbow {
        option: OptionType::Put,
        strike: 100.0,
        kind: RainbowKind::Min,
    };
    Some(Workload {
        name,
        description,
        trades: vec![Trade {
            rng: None,
            id: name.to_lowercase(),
            stream: 5,
            model: ModelSpec::Gbm(Gbm {
                spot: 100.0,
                rate: 0.03,
                dividend: 0.0,
                vol: 0.2,
            }),
            payoff: PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 100.0,
            }),
            maturity,
            steps,
            paths,
            extension: Some(Box::new(Extension {
                multi: Some(MultiAsset { model, payoff }),
                exercise,
            })),
            dated: None,
        }],
        request: PricingRequest {
            greeks: GreekSet(Greek::ALL.to_vec()),
            precision: crate::Precision::F64,
            ..Default::default()
        },
    })
}

/// All workload names, in order.
pub const NAMES: [&str; 7] = ["W1", "W2", "W3", "W4", "W5", "W5L", "W6"];

/// A scenario-revaluation workload: trades on named underlyings and the
/// scenarios' moves of each underlying.
pub struct RiskWorkload {
    pub name: &'static str,
    pub description: &'static str,
    pub trades: Vec<Trade>,
    /// The underlyings' names.
    pub underlyings: Vec<String>,
    /// Per trade: its underlying (an index into `underlyings`).
    pub underlying_of: Vec<usize>,
    /// `moves[s][u]`: underlying `u`'s move in scenario `s`.
    pub moves: Vec<Vec<MarketMove>>,
    pub request: PricingRequest,
}

impl RiskWorkload {
    /// Each trade's scenarios, as [`crate::Engine::revalue`] takes them.
    pub fn trade_scenarios(&self) -> Vec<TradeScenarios> {
        self.underlying_of
            .iter()
            .map(|&u| TradeScenarios {
                moves: self.moves.iter().map(|m| vec![m[u]]).collect(),
            })
            .collect()
    }

    /// Trade x scenario revaluations of the workload.
    pub fn revaluations(&self) -> u64 {
        (self.trades.len() * self.moves.len()) as u64
    }
}

/// Names of the scenario workloads.
pub const RISK_NAMES: [&str; 2] = ["W7", "W7S"];

/// The scenario workloads by name (`W7`), scaled by `scale` (1.0 is the
/// standard size): the trade count.
///
/// **W7**: 1,000 generated trades on 20 underlyings, models gbm, heston
/// and sv_fx in turn, payoffs european, digital, arithmetic asian,
/// down-and-out barrier and fixed-strike lookback in turn, maturities of
/// 0.5, 1 and 2 years at 12 steps a year, 10,000 paths each; 250
/// scenarios of correlated spot (2% a day-like move, one market factor),
/// vol (1 point) and parallel rate (5 bp) moves, drawn from their own
/// Philox stream.
///
/// **W7S**: W7's trades and scenarios with the vol moves left out (spot
/// and rate moves only, the same draws): every scenario folds the base
/// path, none evolves a model of its own.
pub fn risk_workload(name: &str, scale: f64) -> Option<RiskWorkload> {
    let vol_moves = match name {
        "W7" => true,
        "W7S" => false,
        _ => return None,
    };
    const UNDERLYINGS: usize = 20;
    const SCENARIOS: usize = 250;
    let trades_n = ((1000.0 * scale).round() as usize).max(1);
    let mut rng = PhiloxRng::for_path(WORKLOAD_SEED, 7, 0x7337);
    let mut uniform = |lo: f64, hi: f64| -> f64 {
        // The ranges are constants, low below high: never an error.
        rand::distr::Uniform::new(lo, hi)
            .map_or(lo, |d| rand::distr::Distribution::sample(&d, &mut rng))
    };
    // Each underlying's market: spot, vol, rate.
    let markets: Vec<(f64, f64, f64)> = (0..UNDERLYINGS)
        .map(|_| {
            (
                uniform(20.0, 200.0),
                uniform(0.12, 0.45),
                uniform(0.0, 0.05),
            )
        })
        .collect();
    let mut trades = Vec::with_capacity(trades_n);
    let mut underlying_of = Vec::with_capacity(trades_n);
    for i in 0..trades_n {
        let u = i % UNDERLYINGS;
        let (spot, vol, rate) = markets[u];
        let model = match i % 3 {
            0 => ModelSpec::Gbm(Gbm {
                spot,
                rate,
                dividend: 0.01,
                vol,
            }),
            1 => ModelSpec::Heston(Heston {
                spot,
                rate,
                dividend: 0.0,
                v0: vol * vol,
                kappa: 1.5,
                theta: vol * vol,
                xi: 0.5,
                rho: -0.6,
            }),
            _ => ModelSpec::SvFx(SvFx {
                spot,
                drift: rate,
                sigma: vol,
                volvol: 0.3,
                rho: 0.2,
            }),
        };
        let strike = spot * uniform(0.8, 1.2);
        let option = if i % 2 == 0 {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let payoff = match i % 5 {
            0 => PayoffSpec::European(European { option, strike }),
            1 => PayoffSpec::Digital(Digital {
                option,
                strike,
                cash: 10.0,
            }),
            2 => PayoffSpec::Asian(Asian {
                option,
                strike,
                average: Average::Arithmetic,
            }),
            3 => PayoffSpec::Barrier(Barrier {
                option,
                strike,
                barrier: spot * 0.75,
                direction: Direction::Down,
                knock: Knock::Out,
                monitoring: Monitoring::Discrete,
                rebate: 0.0,
            }),
            _ => PayoffSpec::Lookback(Lookback {
                option,
                strike_type: StrikeType::Fixed,
                strike,
            }),
        };
        let maturity = [0.5, 1.0, 2.0][i % 7 % 3];
        trades.push(Trade {
            rng: None,
            id: format!("w7-{i}"),
            stream: 7_000_000 + i as u64,
            model,
            payoff,
            maturity,
            steps: (12.0 * maturity) as u32,
            paths: 10_000,
            extension: None,
            dated: None,
        });
        underlying_of.push(u);
    }
    let mut normal = || {
        let (a, b) = (uniform(1e-12, 1.0), uniform(0.0, 1.0));
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    };
    let moves = (0..SCENARIOS)
        .map(|_| {
            let market = normal();
            let rate = 0.0005 * normal();
            (0..UNDERLYINGS)
                .map(|_| {
                    let spot = 0.02 * (0.6 * market + 0.8 * normal());
                    // Drawn either way, so W7S's spot moves are W7's.
                    let vol = 0.01 * normal();
                    MarketMove {
                        spot,
                        vol: if vol_moves { vol } else { 0.0 },
                        rate,
                    }
                })
                .collect()
        })
        .collect();
    Some(RiskWorkload {
        name: if vol_moves { "W7" } else { "W7S" },
        description: if vol_moves {
            "scenario revaluation: 1,000 trades (gbm/heston/sv_fx x european/digital/asian/barrier/lookback) on 20 underlyings, 250 scenarios, 10,000 paths"
        } else {
            "scenario revaluation, spot and rate moves only: W7's 1,000 trades and 250 scenarios without their vol moves"
        },
        trades,
        underlyings: (0..UNDERLYINGS).map(|u| format!("U{u:02}")).collect(),
        underlying_of,
        moves,
        request: PricingRequest::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w7_has_its_shape_and_every_move_applies() {
        let w = risk_workload("W7", 1.0).expect("W7");
        assert_eq!(
            (w.trades.len(), w.underlyings.len(), w.moves.len()),
            (1000, 20, 250)
        );
        assert_eq!(w.revaluations(), 250_000);
        let sc = w.trade_scenarios();
        for (t, s) in w.trades.iter().zip(&sc) {
            t.validate().expect("a valid trade");
            assert_eq!(t.paths, 10_000);
            for m in &s.moves {
                m[0].apply(&t.model).expect("a move the model takes");
            }
        }
        // Trades of every model on every underlying, and the same workload
        // whatever the scale's trades.
        assert_eq!(
            risk_workload("W7", 0.01).expect("W7").trades[..10],
            w.trades[..10]
        );
        assert!(risk_workload("W8", 1.0).is_none());
        // W7S: W7's scenarios without their vol moves.
        let s = risk_workload("W7S", 0.01).expect("W7S");
        let w = risk_workload("W7", 0.01).expect("W7");
        assert_eq!(s.trades, w.trades);
        for (a, b) in s.moves.iter().flatten().zip(w.moves.iter().flatten()) {
            assert_eq!((a.spot, a.rate, a.vol), (b.spot, b.rate, 0.0));
        }
        assert!(w.moves.iter().flatten().any(|m| m.vol != 0.0));
    }
}
