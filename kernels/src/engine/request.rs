//! The vocabulary every engine speaks: what is asked of it
//! ([`PricingRequest`], [`Precision`]), what it gives back
//! ([`TradeResult`]), why it could not ([`EngineError`]), and the checks a
//! batch passes before any engine runs it.

use crate::greeks::{Bumps, Estimator, Greek, GreekSet, GreeksMethod};
use crate::instrument::Trade;
use crate::qmc::Rng;
use crate::rng::DEFAULT_SEED;
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
    /// How the Greeks are estimated (bumps unless asked; each result's
    /// [`TradeResult::estimators`] says what each Greek used).
    pub greeks_method: GreeksMethod,
    /// Antithetic pairs: paths `2j` and `2j+1` share draws, negated.
    pub antithetic: bool,
    pub precision: Precision,
    /// The run's random numbers (`--rng`): Philox, or Sobol points in
    /// replicates; a trade's own [`Trade::rng`] wins.
    pub rng: Rng,
}

impl Default for PricingRequest {
    fn default() -> Self {
        PricingRequest {
            seed: DEFAULT_SEED,
            greeks: GreekSet::default(),
            bumps: Bumps::STANDARD,
            greeks_method: GreeksMethod::Bump,
            antithetic: false,
            precision: Precision::F32,
            rng: Rng::Philox,
        }
    }
}

/// One trade's results.
#[derive(Clone, Debug, PartialEq)]
pub struct TradeResult {
    pub pv: Estimate,
    /// Indexed by `Greek as usize`; `None` where not asked for.
    pub greeks: [Option<Estimate>; 4],
    /// How each Greek was estimated (indexed as `greeks`).
    pub estimators: [Option<Estimator>; 4],
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
            estimators: bumped(&req.greeks),
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
            estimators: [None; 4],
            per_asset: Vec::new(),
            paths: 0,
            seconds: 0.0,
        }
    }
}

/// Every Greek of `greeks` estimated by bumps.
pub fn bumped(greeks: &GreekSet) -> [Option<Estimator>; 4] {
    let mut out = [None; 4];
    for g in &greeks.0 {
        out[*g as usize] = Some(Estimator::Bump);
    }
    out
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
    /// Stopped by its caller ([`crate::Engine::stop_flag`]) before it
    /// finished: nothing of the call is returned.
    #[error("{engine} engine stopped: cancelled by its caller")]
    Cancelled { engine: &'static str },
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
        // Unavailable, not a bad trade: under `--engine auto` the run
        // goes on with the CPU engine (the runner's fallback), and an
        // engine the user named says why it cannot.
        if t.paths > max_paths {
            return Err(EngineError::BadTrade {
                id: t.id.clone(),
                message: format!("the {engine} engine takes at most {max_paths} paths a trade"),
            });
        }
        if engine != "cpu" && crate::engine::replicates::rng_of(t, req) != Rng::Philox {
            crate::qmc::on_gpu(t)
                .map_err(|reason| EngineError::unavailable(leak(engine), reason))?;
        }
    }
    Ok(())
}

/// The engine's name as the error types keep it.
pub(crate) fn leak(engine: &str) -> &'static str {
    match engine {
        "wgpu" => "wgpu",
        "cuda" => "cuda",
        "cuda-on-cpu" => "cuda-on-cpu",
        "cpu" => "cpu",
        _ => "gpu",
    }
}

/// Checks a trade's random numbers (its own or the run's) against its
/// terms and the request: `(field, message)` of the first problem.
pub fn check_rng(trade: &Trade, req: &PricingRequest) -> Result<(), (&'static str, String)> {
    let rng = crate::engine::replicates::rng_of(trade, req);
    let (paths, replicates) = match rng {
        Rng::Philox => return Ok(()),
        Rng::Sobol { replicates } => (trade.paths, replicates),
        // One replicate alone: its paths a power of two.
        Rng::SobolReplicate { .. } => (trade.paths.saturating_mul(2), 2),
    };
    let normals = crate::qmc::normals_per_step(trade);
    match crate::qmc::check(paths, replicates, trade.steps, normals, req.antithetic) {
        // A trade on a market's dates has no `steps`: its grid comes from
        // `steps_per_year` and its dates.
        Err(("steps", why)) if trade.dated.is_some() => Err((
            "steps_per_year",
            format!("{why} (the grid to the expiry has {} steps)", trade.steps),
        )),
        other => other,
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
    check_rng(trade, req).map_err(|(field, message)| EngineError::BadTrade {
        id: trade.id.clone(),
        message: format!("field `{field}`: {message}"),
    })?;
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
