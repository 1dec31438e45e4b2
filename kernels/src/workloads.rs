//! The standard benchmark workloads W1-W4 (issue 2), shared by
//! `riskpool bench` and the criterion benches so both measure the same work.

use crate::azfinsim::AzfinsimTrade;
use crate::greeks::{Bumps, Greek, GreekSet};
use crate::instrument::Trade;
use crate::model::{Gbm, Heston, ModelSpec};
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

/// The workloads by name (`W1`..`W4`), scaled by `scale` (1.0 is the
/// standard size; smaller for quick runs): trade count for W1/W2, paths
/// for W3/W4.
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
        _ => return None,
    };
    Some(w)
}

/// All workload names, in order.
pub const NAMES: [&str; 4] = ["W1", "W2", "W3", "W4"];
