//! The standard benchmark workloads W1-W4 (issue 2) and W5-W6 (issue 16), shared by
//! `riskpool bench` and the criterion benches so both measure the same work.

use crate::azfinsim::AzfinsimTrade;
use crate::correlation::Correlation;
use crate::exercise::Exercise;
use crate::greeks::{Bumps, Greek, GreekSet};
use crate::instrument::Trade;
use crate::model::{Gbm, Heston, ModelSpec};
use crate::multi::{Extension, HestonAsset, MultiAsset, MultiModel, MultiPayoff, RainbowKind};
use crate::payoff::{Asian, Average, European, OptionType, PayoffSpec};
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

/// The workloads by name (`W1`..`W6`), scaled by `scale` (1.0 is the
/// standard size; smaller for quick runs): trade count for W1/W2, paths
/// for W3-W6.
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
            }],
            request: PricingRequest::default(),
        },
        "W4" => Workload {
            name: "W4",
            description: "Heston European call, 252 steps, 1,000,000 paths",
            trades: vec![Trade {
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
            }],
            request: PricingRequest::default(),
        },
        "W5" => {
            let n = 5;
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
                .map(|i| {
                    (0..n)
                        .map(|j| if i == j { 1.0 } else { 0.3 })
                        .collect()
                })
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
            Workload {
                name: "W5",
                description: "heston_multi 5 assets, American rainbow min put, 252 steps, 25,000 paths, delta/gamma/vega per asset and rho",
                trades: vec![Trade {
                    id: "w5".into(),
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
                    maturity: 1.0,
                    steps: 252,
                    paths: scaled(25_000.0),
                    extension: Some(Box::new(Extension {
                        multi: Some(MultiAsset { model, payoff }),
                        exercise: Exercise::American,
                    })),
                }],
                request: PricingRequest {
                    greeks: GreekSet(Greek::ALL.to_vec()),
                    precision: crate::Precision::F64,
                    ..Default::default()
                },
            }
        }
        "W6" => Workload {
            name: "W6",
            description: "one-asset American put (S=36, K=40, r=6%, vol 20%, T=1), 50 exercise steps, 100,000 paths",
            trades: vec![Trade {
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

/// All workload names, in order.
pub const NAMES: [&str; 6] = ["W1", "W2", "W3", "W4", "W5", "W6"];
