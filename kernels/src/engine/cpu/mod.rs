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
pub mod lanes;

pub use dispatch::Simd;

use std::time::Instant;

use rayon::prelude::*;

use super::{
    check_batch, revalue_split, Engine, EngineError, Precision, PricingRequest, TradeResult,
};
use crate::greeks::{Revaluations, MAX_FOLDS, OUTPUTS};
use crate::instrument::Trade;
use crate::model::{ModelStep, PathModel};
use crate::payoff::{PathPayoff, PayoffStep, PayoffVisitor};
use crate::real::Real;
use crate::revalue::PassLimits;
use crate::rng::key_of;
use crate::scenario::{ScenarioResult, TradeScenarios};
use crate::stats::{Moments, Sums};
use crate::tangent::{Dual, TANGENTS};
use lanes::{FoldStep, Job, FAMILIES};

/// Paths per work item: a multiple of every SIMD width and of 2.
pub const CHUNK: u64 = 4096;

/// The CPU engine with its own thread pool.
pub struct CpuEngine {
    pool: rayon::ThreadPool,
    simd: Simd,
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
        let mut b = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("riskpool-cpu-{i}"));
        if let Some(n) = threads {
            b = b.num_threads(n.max(1));
        }
        let pool = b.build().map_err(|e| EngineError::Unavailable {
            engine: "cpu",
            reason: format!("cannot start the thread pool: {e}"),
            source: Some(Box::new(e)),
        })?;
        Ok(CpuEngine { pool, simd })
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
        check_batch("cpu", trades, req, u64::MAX)?;
        let own = |t: &Trade| extension::takes(t) || dated::takes(t);
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

    /// One pass per chunk of each one-asset trade's scenarios, the whole
    /// batch's passes priced together; a trade with an extension in one
    /// pass of its own through the early-exercise pricer (every scenario's
    /// moved trade on its own refitted policy).
    fn revalue(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
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
        )
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
        let folds = folds(plan, |_, f| FoldStep {
            family: f.family,
            x0: T::from_f64(f.x0),
            dx: T::from_f64(f.dx),
            discount: T::from_f64(f.discount),
        });
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
