//! What a risk run hands the HTML report (`crate::report::render`): every
//! figure the report shows, computed here so the renderer only draws.
// The renderer reads every field; this branch's placeholder reads few.
#![allow(dead_code)]

use riskpool_kernels::scenario::Loss;
use riskpool_kernels::Estimate;

/// One finished risk run, as the report shows it.
#[derive(Clone, Debug)]
pub struct RiskReportData {
    /// The book's file name, for the title.
    pub book: String,
    /// The scenario file's name.
    pub scenario_file: String,
    /// The book's value today (sum of the trades' base PVs) and its error.
    pub base_pv: Estimate,
    /// The base book, in book order.
    pub trades: Vec<TradeRow>,
    /// Every scenario, in the scenario file's order.
    pub scenarios: Vec<ScenarioRow>,
    /// VaR and ES per `--levels` level, in the order given.
    pub losses: Vec<Loss>,
    /// Per level (same order as `losses`): each trade's share of ES, minus
    /// its mean P&L over that level's tail scenarios, indexed like
    /// `trades` (the shares sum to the ES up to rounding).
    pub es_contributions: Vec<Vec<f64>>,
    /// Trades that name no underlying (they do not move).
    pub unnamed_trades: u64,
    /// Trades no scenario moves (the unnamed ones included).
    pub unmoved_trades: u64,
    pub engine: String,
    pub device: String,
    pub seed: u64,
    /// Shards the run was split into (1 when not sharded).
    pub shards: u64,
}

/// One trade of the base book.
#[derive(Clone, Debug)]
pub struct TradeRow {
    pub id: String,
    /// One per asset; `None` where the asset names no underlying.
    pub underlyings: Vec<Option<String>>,
    pub pv: Estimate,
}

/// One scenario's portfolio P&L.
#[derive(Clone, Debug)]
pub struct ScenarioRow {
    pub name: String,
    pub pnl: Estimate,
    /// The P&L split by the trades' underlyings (a multi-asset trade's
    /// names joined with `+`; `(none)` for trades that name none), largest
    /// loss first.
    pub by_underlying: Vec<(String, f64)>,
}
