//! Sobol trades priced as their replicates: a trade of `R` replicates is
//! `R` trades of `paths / R` points each ([`Rng::SobolReplicate`], each
//! scrambled on its own), priced together in one batch by any engine, and
//! its result is the mean of their means with the standard error of their
//! spread (`crate::qmc`). Every output is combined so: the price, each
//! Greek, each asset's Greeks, each scenario's P&L. The replicates' own
//! standard errors (of correlated points) are dropped.

use crate::engine::{EngineError, Pending, PricingRequest, TradeResult};
use crate::instrument::Trade;
use crate::qmc::Rng;
use crate::scenario::{ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// The random numbers a trade is priced with: its own, else the run's.
pub fn rng_of(trade: &Trade, req: &PricingRequest) -> Rng {
    trade.rng.unwrap_or(req.rng)
}

/// Whether any trade of the batch draws Sobol points.
pub fn any_sobol(trades: &[Trade], req: &PricingRequest) -> bool {
    trades.iter().any(|t| rng_of(t, req) != Rng::Philox)
}

/// A batch split into replicates: for each trade of the batch, how many
/// trades of the split batch are its (1 for a trade priced as it is).
#[derive(Clone, Debug)]
pub struct Split {
    counts: Vec<u32>,
}

/// The batch with each Sobol trade replaced by its replicates, in order,
/// and every trade's `rng` resolved (the run's choice written into each
/// trade); `None` where no trade draws Sobol points. A trade `whole`
/// picks stays one trade (its pricer prices the replicates itself).
pub fn split(
    trades: &[Trade],
    req: &PricingRequest,
    whole: &dyn Fn(&Trade) -> bool,
) -> Result<Option<(Vec<Trade>, Split)>, EngineError> {
    if !any_sobol(trades, req) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(trades.len());
    let mut counts = Vec::with_capacity(trades.len());
    for t in trades {
        match rng_of(t, req) {
            Rng::Sobol { replicates } if !whole(t) => {
                // At least 2 replicates, paths a multiple of them.
                crate::engine::check_request(t, req)?;
                let r = replicates.max(1);
                for index in 0..r {
                    let mut rep = t.clone();
                    rep.paths = t.paths / r as u64;
                    rep.rng = Some(Rng::SobolReplicate { index });
                    out.push(rep);
                }
                counts.push(r);
            }
            rng => {
                let mut one = t.clone();
                one.rng = Some(rng);
                out.push(one);
                counts.push(1);
            }
        }
    }
    Ok(Some((out, Split { counts })))
}

/// Mean and spread-based standard error of replicate estimates.
fn combine(xs: impl Iterator<Item = f64> + Clone) -> Estimate {
    let n = xs.clone().count() as f64;
    let mean = xs.clone().sum::<f64>() / n;
    let ss: f64 = xs.map(|x| (x - mean) * (x - mean)).sum();
    Estimate {
        value: mean,
        stderr: if n > 1.0 {
            (ss / (n * (n - 1.0))).sqrt()
        } else {
            f64::NAN
        },
    }
}

/// Combines `Option` estimates of replicates (all present or none).
fn combine_opt(xs: &[Option<Estimate>]) -> Option<Estimate> {
    if xs.iter().any(Option::is_none) {
        return None;
    }
    Some(combine(xs.iter().flatten().map(|e| e.value)))
}

/// One result from its replicates' (a Sobol trade's): every estimate the
/// mean of theirs with the standard error of their spread; paths and
/// seconds summed.
pub(crate) fn combine_prices(reps: &[TradeResult]) -> TradeResult {
    let mut r = reps[0].clone();
    r.pv = combine(reps.iter().map(|x| x.pv.value));
    for (q, slot) in r.greeks.iter_mut().enumerate() {
        let xs: Vec<_> = reps.iter().map(|x| x.greeks[q]).collect();
        *slot = combine_opt(&xs);
    }
    for (a, asset) in r.per_asset.iter_mut().enumerate() {
        let of = |f: fn(&crate::engine::AssetGreeks) -> Option<Estimate>| {
            let xs: Vec<_> = reps
                .iter()
                .map(|x| x.per_asset.get(a).and_then(f))
                .collect();
            combine_opt(&xs)
        };
        asset.delta = of(|g| g.delta);
        asset.gamma = of(|g| g.gamma);
        asset.vega = of(|g| g.vega);
    }
    r.paths = reps.iter().map(|x| x.paths).sum();
    r.seconds = reps.iter().map(|x| x.seconds).sum();
    r
}

/// One scenario result from its replicates', as [`combine_prices`].
pub(crate) fn combine_revalued(reps: &[ScenarioResult]) -> ScenarioResult {
    let n = reps[0].pnl.len();
    ScenarioResult {
        base: combine(reps.iter().map(|x| x.base.value)),
        pnl: (0..n)
            .map(|s| combine(reps.iter().map(|x| x.pnl[s].value)))
            .collect(),
        paths: reps.iter().map(|x| x.paths).sum(),
        seconds: reps.iter().map(|x| x.seconds).sum(),
    }
}

impl Split {
    /// Each trade's groups of results, in order.
    fn groups<'a, R>(&'a self, results: &'a [R]) -> impl Iterator<Item = &'a [R]> + 'a {
        let mut at = 0usize;
        self.counts.iter().map(move |&c| {
            let g = &results[at..at + c as usize];
            at += c as usize;
            g
        })
    }

    /// The batch's results from the split batch's.
    pub fn prices(&self, results: Vec<TradeResult>) -> Vec<TradeResult> {
        self.groups(&results)
            .map(|g| match g {
                [one] => one.clone(),
                reps => combine_prices(reps),
            })
            .collect()
    }

    /// The split batch's scenarios: each trade's for each of its replicates.
    pub fn scenarios(&self, scenarios: &[TradeScenarios]) -> Vec<TradeScenarios> {
        scenarios
            .iter()
            .zip(&self.counts)
            .flat_map(|(s, &c)| std::iter::repeat_n(s, c as usize).cloned())
            .collect()
    }

    /// The batch's scenario results from the split batch's.
    pub fn revalued(&self, results: Vec<ScenarioResult>) -> Vec<ScenarioResult> {
        self.groups(&results)
            .map(|g| match g {
                [one] => one.clone(),
                reps => combine_revalued(reps),
            })
            .collect()
    }
}

/// Prices `trades` through `price`, each Sobol trade as its replicates
/// (save those `whole` picks: `price` takes them as they are).
pub fn price_with(
    trades: &[Trade],
    req: &PricingRequest,
    whole: &dyn Fn(&Trade) -> bool,
    price: impl FnOnce(&[Trade]) -> Result<Vec<TradeResult>, EngineError>,
) -> Result<Vec<TradeResult>, EngineError> {
    match split(trades, req, whole)? {
        None => price(trades),
        Some((reps, split)) => Ok(split.prices(price(&reps)?)),
    }
}

/// Revalues `trades` under `scenarios` through `revalue`, each Sobol
/// trade as its replicates (each replicate's P&L on its own points, the
/// P&L the mean of theirs), save those `whole` picks.
pub fn revalue_with(
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    whole: &dyn Fn(&Trade) -> bool,
    revalue: impl FnOnce(&[Trade], &[TradeScenarios]) -> Result<Vec<ScenarioResult>, EngineError>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    match split(trades, req, whole)? {
        None => revalue(trades, scenarios),
        Some((reps, split)) => Ok(split.revalued(revalue(&reps, &split.scenarios(scenarios))?)),
    }
}

/// Starts `trades` through `start`, each Sobol trade as its replicates;
/// waiting combines them (the GPU engines' batches in flight).
pub fn submit_with(
    trades: &[Trade],
    req: &PricingRequest,
    start: impl FnOnce(&[Trade]) -> Result<Box<dyn Pending>, EngineError>,
) -> Result<Box<dyn Pending>, EngineError> {
    match split(trades, req, &|_| false)? {
        None => start(trades),
        Some((reps, split)) => Ok(Box::new(Combined {
            inner: start(&reps)?,
            split,
        })),
    }
}

/// A batch of replicates in flight, combined when it is waited for.
struct Combined {
    inner: Box<dyn Pending>,
    split: Split,
}

impl Pending for Combined {
    fn wait(self: Box<Self>) -> Result<Vec<TradeResult>, EngineError> {
        let Combined { inner, split } = *self;
        Ok(split.prices(inner.wait()?))
    }
}
