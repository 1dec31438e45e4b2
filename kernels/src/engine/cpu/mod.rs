//! The CPU engine: every core through rayon, SIMD across paths.
//!
//! Work is split into (trade, chunk of [`CHUNK`] paths) items, so a
//! portfolio of many small trades and one huge trade both fill the
//! machine. Chunk boundaries depend only on the path count, and chunk sums
//! are merged in path order, so results are bit-identical for any thread
//! count, any SIMD level and any order of trades.

pub(crate) mod dated;
mod dispatch;
pub(crate) mod extension;
pub mod fan;
pub mod lanes;
mod stop;

pub use dispatch::Simd;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::replicates;
use super::{
    check_batch, revalue_split, Engine, EngineError, Precision, PricingRequest, TradeResult,
};
use crate::greeks::{Revaluations, MAX_FOLDS, OUTPUTS};
use crate::instrument::Trade;
use crate::model::{ModelStep, PathModel};
use crate::payoff::{PathPayoff, PayoffStep, PayoffVisitor};
use crate::qmc::Rng;
use crate::real::Real;
use crate::revalue::{base_fold, scenario_fold, Distinct, PassLimits};
use crate::rng::key_of;
use crate::scenario::{ScenarioResult, TradeScenarios};
use crate::stats::{Moments, Sums};
use crate::tangent::{Dual, TANGENTS};
use fan::FanSums;
use lanes::{FoldStep, Job, FAMILIES};

/// Paths per work item: a multiple of every SIMD width and of 2.
pub const CHUNK: u64 = 4096;

/// The CPU engine with its own thread pool.
pub struct CpuEngine {
    pool: rayon::ThreadPool,
    simd: Simd,
    /// Set to stop the work in flight (`stop.rs`).
    stop: Arc<AtomicBool>,
}

impl CpuEngine {
    /// An engine on `threads` threads (all cores when `None`) at the best
    /// SIMD level of this CPU.
    pub fn new(threads: Option<usize>) -> Result<CpuEngine, EngineError> {
        CpuEngine::with_simd(threads, Simd::detect())
    }

    /// An engine at a chosen SIMD level (for tests and benchmarks).
    pub fn with_simd(threads: Option<usize>, simd: Simd) -> Result<CpuEngine, EngineError> {
        if !simd.supported() {
            return Err(EngineError::unavailable(
                "cpu",
                format!("this CPU does not support {}", simd.name()),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut b = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("riskpool-cpu-{i}"))
            .start_handler(move |_| stop::install(flag.clone()));
        if let Some(n) = threads {
            b = b.num_threads(n.max(1));
        }
        let pool = b.build().map_err(|e| EngineError::Unavailable {
            engine: "cpu",
            reason: format!("cannot start the thread pool: {e}"),
            source: Some(Box::new(e)),
        })?;
        Ok(CpuEngine { pool, simd, stop })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    pub fn simd(&self) -> Simd {
        self.simd
    }
}

impl CpuEngine {
    /// Prices one-asset trades, each with its own revaluations (`plans`)
    /// or the request's Greeks (`None`).
    fn price_plain(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Vec<TradeResult> {
        if trades.is_empty() {
            return Vec::new();
        }
        match req.precision {
            Precision::F32 => self.price_in::<f32>(trades, plans, req),
            Precision::F64 => self.price_in::<f64>(trades, plans, req),
        }
    }
}

impl Engine for CpuEngine {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn device(&self) -> String {
        format!(
            "{} ({}, {} threads)",
            cpu_model_name(),
            self.simd.name(),
            self.threads()
        )
    }

    fn price(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        self.unless_stopped(|| {
            replicates::price_with(trades, req, &own_pricer, |trades| {
                self.price_all(trades, req)
            })
        })
    }

    /// Each one-asset trade's scenarios that leave the vol alone in a fan
    /// on its base path (`fan.rs`), those that move it in passes (a pass
    /// per chunk, the whole batch's passes priced together); a trade with
    /// an extension in one pass of its own through the early-exercise
    /// pricer (every scenario's moved trade on its own refitted policy).
    fn revalue(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        self.unless_stopped(|| {
            replicates::revalue_with(trades, scenarios, req, &own_pricer, |trades, scenarios| {
                self.revalue_with(trades, scenarios, req, true)
            })
        })
    }

    fn stop_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.stop.clone())
    }
}

/// Whether a trade goes to a pricer of its own (several assets or early
/// exercise, a market's dates) rather than the batch kernels; a Sobol one
/// reaches it whole, its replicates priced there on one fitted policy.
fn own_pricer(t: &Trade) -> bool {
    extension::takes(t) || dated::takes(t)
}

/// A work item's path count, or none once its engine is stopped (the
/// call's results are then dropped: `CpuEngine::unless_stopped`).
#[inline]
pub(crate) fn live(count: u64) -> u64 {
    if stop::stopped() {
        0
    } else {
        count
    }
}

impl CpuEngine {
    /// `run`, unless the engine is stopped before or while it runs: its
    /// work items then skip their paths, and what they give is dropped.
    fn unless_stopped<R>(
        &self,
        run: impl FnOnce() -> Result<R, EngineError>,
    ) -> Result<R, EngineError> {
        let stopped = || self.stop.load(Ordering::Relaxed);
        if stopped() {
            return Err(EngineError::Cancelled { engine: "cpu" });
        }
        let out = run();
        if stopped() {
            return Err(EngineError::Cancelled { engine: "cpu" });
        }
        out
    }

    fn price_all(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        check_batch("cpu", trades, req, u64::MAX)?;
        let own = own_pricer;
        if !trades.iter().any(own) {
            return Ok(self.price_plain(trades, None, req));
        }
        // Trades with several assets or early exercise go one by one to
        // their own pricer; the rest are priced together as ever.
        let plain: Vec<Trade> = trades.iter().filter(|t| !own(t)).cloned().collect();
        let mut plain = self.price_plain(&plain, None, req).into_iter();
        let mut out = Vec::with_capacity(trades.len());
        for t in trades {
            if dated::takes(t) {
                out.push(self.pool.install(|| dated::price(t, req))?);
            } else if extension::takes(t) {
                let r = self.pool.install(|| {
                    extension::Prepared::new(t, req)
                        .map(|p| p.price(t, req))
                        .ok_or_else(|| EngineError::BadTrade {
                            id: t.id.clone(),
                            message: extension::UNPRICEABLE.into(),
                        })
                })?;
                out.push(r);
            } else if let Some(r) = plain.next() {
                out.push(r);
            }
        }
        Ok(out)
    }
}

/// A trade's kernel inputs in precision `T`, one variant per model; the
/// `*Tangent` ones carry pathwise tangents ([`Dual`] numbers).
enum Prepared<T> {
    Gbm(Job<T, crate::model::GbmStep<T>, PayoffStep<T>>),
    Heston(Job<T, crate::model::HestonStep<T>, PayoffStep<T>>),
    SvFx(Job<T, crate::model::SvFxStep<T>, PayoffStep<T>>),
    GbmTangent(Job<Dual<T>, crate::model::GbmStep<Dual<T>>, PayoffStep<Dual<T>>>),
    HestonTangent(Job<Dual<T>, crate::model::HestonStep<Dual<T>>, PayoffStep<Dual<T>>>),
    SvFxTangent(Job<Dual<T>, crate::model::SvFxStep<Dual<T>>, PayoffStep<Dual<T>>>),
}

/// A fold in path precision `T`.
fn fold_step<T: Real>(f: &crate::greeks::Fold) -> FoldStep<T> {
    FoldStep {
        family: f.family,
        x0: T::from_f64(f.x0),
        dx: T::from_f64(f.dx),
        discount: T::from_f64(f.discount),
    }
}

/// A plan's folds in path precision `R`: `seed(k, fold)` gives fold `k`'s
/// numbers (plain, or with their tangents).
fn folds<R: Real>(
    plan: &Revaluations,
    seed: impl Fn(usize, &crate::greeks::Fold) -> FoldStep<R>,
) -> [FoldStep<R>; MAX_FOLDS] {
    let mut folds = [FoldStep {
        family: 0,
        x0: R::ZERO,
        dx: R::ZERO,
        discount: R::ZERO,
    }; MAX_FOLDS];
    for (i, f) in plan.folds.iter().enumerate() {
        folds[i] = seed(i, f);
    }
    folds
}

fn job<R: Real, M: Copy>(
    trade: &Trade,
    plan: &Revaluations,
    req: &PricingRequest,
    families: [M; FAMILIES],
    folds: [FoldStep<R>; MAX_FOLDS],
) -> Job<R, M, PayoffStep<R>> {
    Job {
        families,
        n_families: plan.families.len(),
        folds,
        n_folds: plan.folds.len(),
        payoff: trade.payoff.prepare(trade.model.spot(), trade.steps),
        steps: trade.steps,
        key: key_of(req.seed),
        stream: trade.stream,
        antithetic: req.antithetic,
        coef: plan.coef,
        active: plan.active,
        tangent_coef: plan
            .tangents
            .as_ref()
            .map_or([[[0.0; TANGENTS]; MAX_FOLDS]; OUTPUTS], |t| t.coef),
        likelihood: plan.likelihood,
        dt: R::from_f64(trade.maturity / trade.steps as f64),
        sobol: match replicates::rng_of(trade, req) {
            Rng::SobolReplicate { index } => Some(index),
            // A whole Sobol trade never reaches a job: `price` and
            // `revalue` split it into its replicates first.
            Rng::Philox | Rng::Sobol { .. } => None,
        },
    }
}

impl<T: Real> Prepared<T> {
    fn new(trade: &Trade, plan: &Revaluations, req: &PricingRequest) -> Prepared<T> {
        let dt = trade.maturity / trade.steps as f64;
        // The families as one array of the model's step type; unused slots
        // repeat the base one (the kernel never reads them).
        macro_rules! families {
            ($steps:expr, $variant:ident) => {{
                let steps = &$steps;
                let mut out = [None; FAMILIES];
                for (i, o) in out.iter_mut().enumerate() {
                    if let ModelStep::$variant(m) = steps.get(i).copied().unwrap_or(steps[0]) {
                        *o = Some(m);
                    }
                }
                out.map(|m| m.expect("all families share the base model"))
            }};
        }
        if let Some(tangents) = &plan.tangents {
            // The base family's constants carry vega's tangent; a bumped
            // family (a Greek bumped beside the pathwise ones) none.
            let steps: Vec<ModelStep<Dual<T>>> = plan
                .families
                .iter()
                .enumerate()
                .map(|(i, m)| m.prepare_tangent::<T>(dt, tangents.vega && i == 0))
                .collect();
            let folds = folds(plan, |k, f| {
                let t = tangents.folds.get(k).copied().unwrap_or_default();
                FoldStep {
                    family: f.family,
                    x0: Dual::seeded(f.x0, t.x0),
                    dx: Dual::seeded(f.dx, t.dx),
                    discount: Dual::seeded(f.discount, t.discount),
                }
            });
            return match steps[0] {
                ModelStep::Gbm(_) => {
                    Prepared::GbmTangent(job(trade, plan, req, families!(steps, Gbm), folds))
                }
                ModelStep::Heston(_) => {
                    Prepared::HestonTangent(job(trade, plan, req, families!(steps, Heston), folds))
                }
                ModelStep::SvFx(_) => {
                    Prepared::SvFxTangent(job(trade, plan, req, families!(steps, SvFx), folds))
                }
            };
        }
        let steps: Vec<ModelStep<T>> = plan.families.iter().map(|m| m.prepare::<T>(dt)).collect();
        let folds = folds(plan, |_, f| fold_step(f));
        match steps[0] {
            ModelStep::Gbm(_) => Prepared::Gbm(job(trade, plan, req, families!(steps, Gbm), folds)),
            ModelStep::Heston(_) => {
                Prepared::Heston(job(trade, plan, req, families!(steps, Heston), folds))
            }
            ModelStep::SvFx(_) => {
                Prepared::SvFx(job(trade, plan, req, families!(steps, SvFx), folds))
            }
        }
    }

    /// Paths `first .. first + count` of each of `group`, passes over
    /// the same trade (equal trades: one model kind, one payoff), drawing
    /// the normals once for all of them; one sum each.
    fn run_group(group: &[Prepared<T>], simd: Simd, first: u64, count: u64) -> Vec<Sums> {
        let mut accs = vec![Sums::default(); group.len()];
        macro_rules! typed {
            ($variant:ident) => {{
                let jobs: Vec<_> = group
                    .iter()
                    .filter_map(|p| match p {
                        Prepared::$variant(j) => Some(*j),
                        _ => None,
                    })
                    .collect();
                if jobs.len() == group.len() {
                    run_payoff(simd, &jobs, first, count, &mut accs);
                } else {
                    // Not one model kind (never for equal trades): one by one.
                    for (p, acc) in group.iter().zip(accs.iter_mut()) {
                        *acc = Prepared::run_group(std::slice::from_ref(p), simd, first, count)
                            .pop()
                            .unwrap_or_default();
                    }
                }
            }};
        }
        // A pathwise job is never grouped (scenario passes are bumps).
        let one = |acc: &mut [Sums]| match group.first() {
            Some(Prepared::GbmTangent(j)) => run_payoff_one(simd, j, first, count, acc),
            Some(Prepared::HestonTangent(j)) => run_payoff_one(simd, j, first, count, acc),
            Some(Prepared::SvFxTangent(j)) => run_payoff_one(simd, j, first, count, acc),
            _ => {}
        };
        match group.first() {
            Some(Prepared::Gbm(_)) => typed!(Gbm),
            Some(Prepared::Heston(_)) => typed!(Heston),
            Some(Prepared::SvFx(_)) => typed!(SvFx),
            Some(_) => one(&mut accs[..1]),
            None => {}
        }
        accs
    }
}

impl<T: Real> Prepared<T> {
    /// Paths `first .. first + count` of the base family under each of
    /// `folds` (a scenario fan, `fan.rs`).
    fn run_fan(&self, simd: Simd, folds: &[FoldStep<T>], first: u64, count: u64) -> FanSums {
        macro_rules! fan {
            ($job:expr) => {
                $job.payoff.visit(FanWith {
                    simd,
                    job: $job,
                    folds,
                    first,
                    count,
                })
            };
        }
        match self {
            Prepared::Gbm(j) => fan!(j),
            Prepared::Heston(j) => fan!(j),
            Prepared::SvFx(j) => fan!(j),
            // A fan's base job is never pathwise (it is built plain).
            _ => FanSums::default(),
        }
    }
}

/// A fan run with the payoff as its own type.
struct FanWith<'a, T, M> {
    simd: Simd,
    job: &'a Job<T, M, PayoffStep<T>>,
    folds: &'a [FoldStep<T>],
    first: u64,
    count: u64,
}

impl<T: Real, M: PathModel<T>> PayoffVisitor<T> for FanWith<'_, T, M> {
    type Output = FanSums;
    fn visit<P: PathPayoff<T>>(self, payoff: P) -> FanSums {
        let job = self.job.with_payoff(payoff);
        dispatch::fan(self.simd, &job, self.folds, self.first, self.count)
    }
}

/// One job with the concrete payoff, at the engine's SIMD level.
fn run_payoff_one<R: Real, M: PathModel<R>>(
    simd: Simd,
    job: &Job<R, M, PayoffStep<R>>,
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    job.payoff.visit(RunOne {
        simd,
        job,
        first,
        count,
        accs,
    })
}

/// A single job run with the payoff as its own type.
struct RunOne<'a, R, M> {
    simd: Simd,
    job: &'a Job<R, M, PayoffStep<R>>,
    first: u64,
    count: u64,
    accs: &'a mut [Sums],
}

impl<R: Real, M: PathModel<R>> PayoffVisitor<R> for RunOne<'_, R, M> {
    type Output = ();
    fn visit<P: PathPayoff<R>>(self, payoff: P) {
        let job = self.job.with_payoff(payoff);
        if let Some(acc) = self.accs.first_mut() {
            dispatch::run_one(self.simd, &job, self.first, self.count, acc)
        }
    }
}

/// Re-types the jobs with the concrete payoff (the first job's: a group's
/// jobs price one trade), so each model x payoff pair gets its own
/// monomorphized kernel.
fn run_payoff<T: Real, M: PathModel<T>>(
    simd: Simd,
    jobs: &[Job<T, M, PayoffStep<T>>],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    let Some(j) = jobs.first() else { return };
    j.payoff.visit(RunWith {
        simd,
        jobs,
        first,
        count,
        accs,
    })
}

/// The jobs run with the payoff as its own type ([`PayoffStep::visit`]).
struct RunWith<'a, T, M> {
    simd: Simd,
    jobs: &'a [Job<T, M, PayoffStep<T>>],
    first: u64,
    count: u64,
    accs: &'a mut [Sums],
}

impl<T: Real, M: PathModel<T>> PayoffVisitor<T> for RunWith<'_, T, M> {
    type Output = ();
    fn visit<P: PathPayoff<T>>(self, payoff: P) {
        let jobs: Vec<Job<T, M, P>> = self.jobs.iter().map(|j| j.with_payoff(payoff)).collect();
        dispatch::run(self.simd, &jobs, self.first, self.count, self.accs)
    }
}

impl CpuEngine {
    fn price_in<T: Real>(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Vec<TradeResult> {
        let simd = self.simd;
        self.pool.install(|| {
            // Each trade's kernel inputs, and how its Greeks are estimated.
            let (prepared, estimators): (Vec<Prepared<T>>, Vec<_>) = trades
                .par_iter()
                .enumerate()
                .map(|(i, t)| match plans {
                    Some(p) => (Prepared::new(t, &p[i], req), p[i].estimators),
                    None => {
                        let plan =
                            Revaluations::for_method(t, &req.greeks, &req.bumps, req.greeks_method);
                        (Prepared::new(t, &plan, req), plan.estimators)
                    }
                })
                .unzip();
            // A trade's scenario passes (equal trades side by side, each
            // with its own plan on the same base model) run as one group:
            // the normals and the base path of a block of paths are drawn
            // and evolved once for them (`lanes::run_group`).
            let same_pass_of = |a: usize, b: usize| {
                plans.is_some_and(|p| {
                    trades[a] == trades[b] && p[a].families.first() == p[b].families.first()
                })
            };
            let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
            for i in 0..trades.len() {
                match groups.last_mut() {
                    Some(g) if same_pass_of(g.start, i) => g.end = i + 1,
                    _ => groups.push(i..i + 1),
                }
            }
            let items: Vec<(usize, u64, u64)> = groups
                .iter()
                .enumerate()
                .flat_map(|(g, r)| {
                    let paths = trades[r.start].paths;
                    (0..paths.div_ceil(CHUNK))
                        .map(move |c| (g, c * CHUNK, CHUNK.min(paths - c * CHUNK)))
                })
                .collect();
            let sums: Vec<(Vec<Sums>, f64)> = items
                .par_iter()
                .map(|&(g, first, count)| {
                    let start = Instant::now();
                    let count = live(count);
                    let s = Prepared::run_group(&prepared[groups[g].clone()], simd, first, count);
                    (s, start.elapsed().as_secs_f64())
                })
                .collect();

            let mut moments = vec![Moments::default(); trades.len()];
            let mut seconds = vec![0.0; trades.len()];
            for (&(g, _, _), (s, secs)) in items.iter().zip(&sums) {
                let share = secs / groups[g].len() as f64;
                for (i, s) in groups[g].clone().zip(s) {
                    moments[i].merge(&Moments::from(s));
                    seconds[i] += share;
                }
            }
            trades
                .iter()
                .zip(moments)
                .zip(seconds)
                .zip(estimators)
                .map(|(((t, m), secs), estimators)| {
                    let mut r = TradeResult::from_moments(&m, req, t.paths, secs);
                    if plans.is_none() {
                        r.estimators = estimators;
                    }
                    r
                })
                .collect()
        })
    }
}

impl CpuEngine {
    /// [`Engine::revalue`] with every one-asset trade's scenarios in
    /// passes, none in a fan (as before fans; the GPU engines' way): what
    /// the fans are tested and measured against.
    pub fn revalue_in_passes(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        replicates::revalue_with(trades, scenarios, req, &own_pricer, |trades, scenarios| {
            self.revalue_with(trades, scenarios, req, false)
        })
    }

    /// [`Engine::revalue`], with scenario fans or without.
    fn revalue_with(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
        fans: bool,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        let extended = |t: &[Trade], s: &[TradeScenarios]| {
            check_batch("cpu", t, req, u64::MAX)?;
            t.iter()
                .zip(s)
                .map(|(t, s)| {
                    if dated::takes(t) {
                        return self.pool.install(|| dated::revalue(t, s, req));
                    }
                    self.pool
                        .install(|| extension::Prepared::revalue(t, s, req))
                        .map_err(|message| EngineError::BadTrade {
                            id: t.id.clone(),
                            message,
                        })
                })
                .collect()
        };
        let fans: Option<super::scenarios::Fans<'_>> = if fans {
            Some(Box::new(|t: &[Trade], s: &[TradeScenarios]| {
                self.fans(t, s, req)
            }))
        } else {
            None
        };
        revalue_split(
            self,
            PassLimits::CPU,
            trades,
            scenarios,
            req,
            |t, p, r| {
                check_batch("cpu", t, r, u64::MAX)?;
                Ok(self.price_plain(t, Some(p), r))
            },
            Box::new(extended),
            fans,
        )
    }
}

/// A trade's fan: its base job, its folds (the base's first, then one a
/// distinct move) and its distinct moves.
struct FanPlan<T> {
    job: Prepared<T>,
    folds: Vec<FoldStep<T>>,
    distinct: Distinct,
}

impl<T: Real> FanPlan<T> {
    /// Fan `f`'s folds: the base fold and at most `width` moves'.
    fn fan(&self, f: usize, width: usize) -> Vec<FoldStep<T>> {
        let moved = &self.folds[1..];
        let end = ((f + 1) * width).min(moved.len());
        std::iter::once(self.folds[0])
            .chain(moved[f * width..end].iter().copied())
            .collect()
    }
}

impl CpuEngine {
    /// Scenario fans (`fan.rs`): one-asset trades under scenarios that
    /// leave the vol alone, one fan a trade (or one a 511 distinct moves).
    fn fans(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        match req.precision {
            Precision::F32 => self.fans_in::<f32>(trades, scenarios, req),
            Precision::F64 => self.fans_in::<f64>(trades, scenarios, req),
        }
    }

    fn fans_in<T: Real>(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        check_batch("cpu", trades, req, u64::MAX)?;
        let mut plans: Vec<FanPlan<T>> = Vec::new();
        for (t, s) in trades.iter().zip(scenarios) {
            let distinct = Distinct::new(t, s)?;
            if distinct.moves.iter().any(|m| m.vol != 0.0) {
                return Err(EngineError::failed(
                    "cpu",
                    format!("trade {}: a scenario fan was given a vol move", t.id),
                ));
            }
            let base = base_fold(t);
            let folds = std::iter::once(base)
                .chain(distinct.moves.iter().map(|m| scenario_fold(t, m, 0)))
                .map(|f| fold_step::<T>(&f))
                .collect();
            let plan = Revaluations {
                families: vec![t.model.clone()],
                folds: vec![base],
                coef: [[0.0; MAX_FOLDS]; OUTPUTS],
                active: [false; OUTPUTS],
                tangents: None,
                likelihood: [None; OUTPUTS],
                estimators: [None; 4],
            };
            let req = PricingRequest {
                greeks: crate::greeks::GreekSet(Vec::new()),
                ..req.clone()
            };
            plans.push(FanPlan {
                job: Prepared::new(t, &plan, &req),
                folds,
                distinct,
            });
        }
        let simd = self.simd;
        // Work items: (plan, fan of at most FAN folds, chunk of paths);
        // each fan repeats the base fold first.
        let width = fan::FAN - 1;
        let items: Vec<(usize, usize, u64, u64)> = plans
            .iter()
            .enumerate()
            .flat_map(|(pi, p)| {
                let paths = trades[pi].paths;
                let fans = (p.folds.len() - 1).div_ceil(width).max(1);
                (0..fans).flat_map(move |f| {
                    (0..paths.div_ceil(CHUNK))
                        .map(move |c| (pi, f, c * CHUNK, CHUNK.min(paths - c * CHUNK)))
                })
            })
            .collect();
        let sums: Vec<(FanSums, f64)> = self.pool.install(|| {
            items
                .par_iter()
                .map(|&(pi, f, first, count)| {
                    let start = Instant::now();
                    let p = &plans[pi];
                    let count = live(count);
                    let s = p.job.run_fan(simd, &p.fan(f, width), first, count);
                    (s, start.elapsed().as_secs_f64())
                })
                .collect()
        });
        // Per (plan, fan): each fold's moments, merged in path order.
        let mut moments: Vec<Vec<Vec<Moments>>> = plans
            .iter()
            .map(|p| vec![Vec::new(); (p.folds.len() - 1).div_ceil(width).max(1)])
            .collect();
        let mut seconds = vec![0.0; plans.len()];
        for (&(pi, f, _, _), (s, secs)) in items.iter().zip(&sums) {
            let m = &mut moments[pi][f];
            let chunk = s.as_sums();
            if m.is_empty() {
                *m = vec![Moments::default(); chunk.len()];
            }
            for (m, s) in m.iter_mut().zip(&chunk) {
                m.merge(&Moments::from(s));
            }
            seconds[pi] += secs;
        }
        let mut out = Vec::with_capacity(plans.len());
        for (((p, m), secs), t) in plans.iter().zip(&moments).zip(seconds).zip(trades) {
            let estimate =
                |f: usize, j: usize| m[f].get(j / OUTPUTS).map(|m| m.estimate(j % OUTPUTS));
            let base = estimate(0, 0);
            let pnl_of: Vec<_> = (0..p.distinct.moves.len())
                .map(|k| estimate(k / width, 1 + k % width))
                .collect();
            out.push(p.distinct.result(t, base, &pnl_of, secs)?);
        }
        Ok(out)
    }
}

/// The CPU's model name from /proc/cpuinfo, or the architecture.
pub fn cpu_model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
