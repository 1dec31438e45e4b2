//! Pricing engines: the same trades, streams and results on every backend.
//!
//! The CPU engine is always there; the wgpu and CUDA engines (later
//! modules) implement the same [`Engine`] trait and must agree with it far
//! inside the Monte Carlo error.

pub mod cpu;
pub mod cuda;
pub mod wgpu;

use crate::greeks::Revaluations;
use crate::greeks::{Bumps, Greek, GreekSet};
use crate::instrument::Trade;
use crate::rng::DEFAULT_SEED;
use crate::scenario::{moved_trade, MarketMove, ScenarioResult, TradeScenarios};
use crate::stats::{Estimate, Moments};

/// Precision of the path state (accumulation is always f64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    F64,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// What to compute for a batch of trades.
#[derive(Clone, Debug, PartialEq)]
pub struct PricingRequest {
    pub seed: u64,
    pub greeks: GreekSet,
    pub bumps: Bumps,
    /// Antithetic pairs: paths `2j` and `2j+1` share draws, negated.
    pub antithetic: bool,
    pub precision: Precision,
}

impl Default for PricingRequest {
    fn default() -> Self {
        PricingRequest {
            seed: DEFAULT_SEED,
            greeks: GreekSet::default(),
            bumps: Bumps::STANDARD,
            antithetic: false,
            precision: Precision::F32,
        }
    }
}

/// One trade's results.
#[derive(Clone, Debug, PartialEq)]
pub struct TradeResult {
    pub pv: Estimate,
    /// Indexed by `Greek as usize`; `None` where not asked for.
    pub greeks: [Option<Estimate>; 4],
    /// Per asset of a multi-asset trade (empty otherwise): delta, gamma
    /// and vega where asked for; `greeks` then holds their sums over the
    /// assets (and rho).
    pub per_asset: Vec<AssetGreeks>,
    /// Paths priced (antithetic pairs count as two).
    pub paths: u64,
    /// Compute seconds spent on this trade, summed over threads.
    pub seconds: f64,
}

/// One asset's Greeks of a multi-asset trade.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AssetGreeks {
    pub delta: Option<Estimate>,
    pub gamma: Option<Estimate>,
    pub vega: Option<Estimate>,
}

impl AssetGreeks {
    /// The estimate of `g` (rho is not per asset: `None`).
    pub fn greek(&self, g: Greek) -> Option<Estimate> {
        match g {
            Greek::Delta => self.delta,
            Greek::Gamma => self.gamma,
            Greek::Vega => self.vega,
            Greek::Rho => None,
        }
    }
}

impl TradeResult {
    pub fn greek(&self, g: Greek) -> Option<Estimate> {
        self.greeks[g as usize]
    }

    /// A trade's result from its merged path statistics.
    pub fn from_moments(
        m: &Moments,
        req: &PricingRequest,
        paths: u64,
        seconds: f64,
    ) -> TradeResult {
        let mut greeks = [None; 4];
        for g in &req.greeks.0 {
            greeks[*g as usize] = Some(m.estimate(g.slot()));
        }
        TradeResult {
            pv: m.estimate(0),
            greeks,
            per_asset: Vec::new(),
            paths,
            seconds,
        }
    }

    /// A placeholder for a trade not priced yet.
    pub fn unpriced() -> TradeResult {
        let nan = Estimate {
            value: f64::NAN,
            stderr: f64::NAN,
        };
        TradeResult {
            pv: nan,
            greeks: [None; 4],
            per_asset: Vec::new(),
            paths: 0,
            seconds: 0.0,
        }
    }
}

/// Whether the GPU engines may run PV-only kernels (their loops over model
/// families and folds fixed at one when compiled); `RISKPOOL_GENERIC_KERNELS=1`
/// says no, to measure what they are worth. The results are the same.
pub(crate) fn pv_kernels_allowed() -> bool {
    !crate::env::generic_kernels()
}

/// A Philox4x32-10 output and the four float normals made from it, as
/// the engines' known-answer tests compare them.
pub type PhiloxAnswer = ([u32; 4], [f32; 4]);

/// The error beneath an engine's failure (a driver's, a device's), kept
/// so callers can walk the chain rather than read only its text.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an engine could not price.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine cannot run here (no device, no driver); says why.
    #[error("{engine} engine unavailable: {reason}")]
    Unavailable {
        engine: &'static str,
        reason: String,
        #[source]
        source: Option<Source>,
    },
    /// A trade the engine cannot price as asked.
    #[error("trade `{id}`: {message}")]
    BadTrade { id: String, message: String },
    /// A failure while running (device lost, out of memory, ...).
    #[error("{engine} engine failed: {reason}")]
    Failed {
        engine: &'static str,
        reason: String,
        #[source]
        source: Option<Source>,
    },
}

impl EngineError {
    /// `engine` cannot run here, for `reason`.
    pub fn unavailable(engine: &'static str, reason: impl Into<String>) -> EngineError {
        EngineError::Unavailable {
            engine,
            reason: reason.into(),
            source: None,
        }
    }

    /// `engine` failed while running, for `reason`.
    pub fn failed(engine: &'static str, reason: impl Into<String>) -> EngineError {
        EngineError::Failed {
            engine,
            reason: reason.into(),
            source: None,
        }
    }

    /// `engine` failed at `what`, because of `source` (kept as the source).
    pub fn failed_by(
        engine: &'static str,
        what: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> EngineError {
        EngineError::Failed {
            engine,
            reason: format!("{what}: {source}"),
            source: Some(Box::new(source)),
        }
    }
}

/// A pricing backend.
pub trait Engine: Send + Sync {
    /// `cpu`, `wgpu` or `cuda`.
    fn name(&self) -> &'static str;
    /// The hardware it runs on, for result files and logs.
    fn device(&self) -> String;
    /// Prices `trades`, returning one result per trade in the same order.
    fn price(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>;

    /// Starts pricing `trades`; [`Pending::wait`] gives the results. An
    /// engine that can work while the host goes on (the CUDA engine)
    /// returns at once; the default prices here and returns them done.
    fn submit(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        Ok(Box::new(Done(self.price(trades, req)?)))
    }

    /// How many submitted batches are worth keeping in flight: 2 where the
    /// next batch's upload can overlap this one's compute, else 1 (a batch
    /// is then written as soon as it is priced).
    fn batches_in_flight(&self) -> usize {
        1
    }

    /// Revalues each trade under each of its scenarios (`scenarios[i]` is
    /// `trades[i]`'s): the base price and every scenario's P&L on the same
    /// random numbers. This default reprices each moved trade on its own
    /// stream, one run per scenario, so the P&L is a common-random-number
    /// difference but its standard error is the bound
    /// `sqrt(se_scenario^2 + se_base^2)`, and an early-exercise policy is
    /// refitted in each scenario. The CPU, wgpu and CUDA engines override
    /// it with [`revalue_split`]: one pass per chunk of a trade's scenarios
    /// ([`crate::revalue`]).
    fn revalue(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        naive_revalue(self, trades, scenarios, req)
    }
}

/// [`Engine::revalue`] by one full run per scenario (see there).
pub fn naive_revalue<E: Engine + ?Sized>(
    engine: &E,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
) -> Result<Vec<ScenarioResult>, EngineError> {
    if trades.len() != scenarios.len() {
        return Err(EngineError::failed(
            leak(engine.name()),
            format!(
                "{} trades but {} scenario lists",
                trades.len(),
                scenarios.len()
            ),
        ));
    }
    let plain = PricingRequest {
        greeks: GreekSet::default(),
        ..req.clone()
    };
    let base = engine.price(trades, &plain)?;
    let mut out = Vec::with_capacity(trades.len());
    for ((t, sc), b) in trades.iter().zip(scenarios).zip(base) {
        let mut pnl = Vec::with_capacity(sc.moves.len());
        let mut seconds = b.seconds;
        for moves in &sc.moves {
            if moves.iter().all(MarketMove::is_none) {
                pnl.push(Estimate {
                    value: 0.0,
                    stderr: 0.0,
                });
                continue;
            }
            let moved = moved_trade(t, moves).map_err(|e| EngineError::BadTrade {
                id: t.id.clone(),
                message: format!("in a scenario, {e}"),
            })?;
            let r = engine.price(std::slice::from_ref(&moved), &plain)?;
            let r = &r[0];
            seconds += r.seconds;
            pnl.push(Estimate {
                value: r.pv.value - b.pv.value,
                stderr: r.pv.stderr.hypot(b.pv.stderr),
            });
        }
        out.push(ScenarioResult {
            base: b.pv,
            pnl,
            paths: t.paths,
            seconds,
        });
    }
    Ok(out)
}

/// [`Engine::revalue`] of a GPU engine (wgpu, CUDA, CUDA C on the CPU):
/// [`revalue_split`] within [`crate::revalue::PassLimits::GPU`], the trades
/// with an extension by [`naive_revalue`] (one run per scenario), so each
/// engine names only how it prices trades with given revaluations (`run`).
pub fn gpu_revalue<E: Engine + ?Sized>(
    engine: &E,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: impl FnOnce(
        &[Trade],
        &[Revaluations],
        &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    revalue_split(
        engine,
        crate::revalue::PassLimits::GPU,
        trades,
        scenarios,
        req,
        run,
        Box::new(|t, s| naive_revalue(engine, t, s, req)),
    )
}

/// What revalues the trades with an extension (several assets, early
/// exercise) for [`revalue_split`].
pub type Extended<'a> =
    Box<dyn FnOnce(&[Trade], &[TradeScenarios]) -> Result<Vec<ScenarioResult>, EngineError> + 'a>;

/// [`Engine::revalue`] of an engine that can price trades with given
/// revaluations (`run`, see [`crate::revalue::fused_revalue`]): one-asset
/// trades without extension by their scenario passes within `limits`, all
/// in one batch; trades with an extension by `extended` (the CPU engine's
/// early-exercise pricer in one pass; elsewhere [`naive_revalue`], one run
/// per scenario). Results come back in the order of `trades`.
pub fn revalue_split<E: Engine + ?Sized>(
    engine: &E,
    limits: crate::revalue::PassLimits,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: impl FnOnce(
        &[Trade],
        &[Revaluations],
        &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>,
    extended: Extended<'_>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    if trades.len() != scenarios.len() {
        return naive_revalue(engine, trades, scenarios, req);
    }
    let (mut fused, mut naive) = (Vec::new(), Vec::new());
    for (i, t) in trades.iter().enumerate() {
        if t.extension.is_some() {
            naive.push(i);
        } else {
            fused.push(i);
        }
    }
    let pick = |idx: &[usize]| -> (Vec<Trade>, Vec<TradeScenarios>) {
        idx.iter()
            .map(|&i| (trades[i].clone(), scenarios[i].clone()))
            .unzip()
    };
    // The trades with an extension first: an engine that cannot take them
    // says so before the others are priced.
    let (nt, ns) = pick(&naive);
    let naive_out = if nt.is_empty() {
        Vec::new()
    } else {
        extended(&nt, &ns)?
    };
    let (ft, fs) = pick(&fused);
    let fused_out = if ft.is_empty() {
        Vec::new()
    } else {
        crate::revalue::fused_revalue(leak(engine.name()), limits, &ft, &fs, req, run)?
    };
    let mut out: Vec<Option<ScenarioResult>> = vec![None; trades.len()];
    for (i, r) in fused.into_iter().zip(fused_out) {
        out[i] = Some(r);
    }
    for (i, r) in naive.into_iter().zip(naive_out) {
        out[i] = Some(r);
    }
    out.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| EngineError::failed(leak(engine.name()), "a trade was not revalued"))
}

/// A batch an engine has started.
pub trait Pending: Send {
    /// Waits for the batch: one result per trade, in order.
    fn wait(self: Box<Self>) -> Result<Vec<TradeResult>, EngineError>;
}

/// A batch priced before `submit` returned.
struct Done(Vec<TradeResult>);

impl Pending for Done {
    fn wait(self: Box<Self>) -> Result<Vec<TradeResult>, EngineError> {
        Ok(self.0)
    }
}

/// Checks every trade of a batch before an engine runs it: its terms, the
/// request, and the engine's own limit on paths per trade.
pub fn check_batch(
    engine: &str,
    trades: &[Trade],
    req: &PricingRequest,
    max_paths: u64,
) -> Result<(), EngineError> {
    for t in trades {
        t.validate().map_err(|e| EngineError::BadTrade {
            id: t.id.clone(),
            message: e.to_string(),
        })?;
        check_request(t, req)?;
        if t.paths > max_paths {
            return Err(EngineError::BadTrade {
                id: t.id.clone(),
                message: format!("the {engine} engine takes at most {max_paths} paths a trade"),
            });
        }
    }
    Ok(())
}

/// The engine's name as the error types keep it.
fn leak(engine: &str) -> &'static str {
    match engine {
        "wgpu" => "wgpu",
        "cuda" => "cuda",
        "cuda-on-cpu" => "cuda-on-cpu",
        "cpu" => "cpu",
        _ => "gpu",
    }
}

/// Checks a request against a trade before any engine runs it.
pub fn check_request(trade: &Trade, req: &PricingRequest) -> Result<(), EngineError> {
    if req.antithetic && !trade.paths.is_multiple_of(2) {
        return Err(EngineError::BadTrade {
            id: trade.id.clone(),
            message: format!(
                "antithetic pairs need an even path count, got {}",
                trade.paths
            ),
        });
    }
    let max = if req.antithetic {
        2 * crate::instrument::MAX_PATHS
    } else {
        crate::instrument::MAX_PATHS
    };
    if trade.paths > max {
        return Err(EngineError::BadTrade {
            id: trade.id.clone(),
            message: format!("at most {max} paths, got {}", trade.paths),
        });
    }
    Ok(())
}
