//! Dated trades on the GPU engines: the host side of the kernels
//! `engine/cuda/dated.cu` and `engine/wgpu/dated.wgsl`, twins of the CPU's
//! dated pricer (`engine/cpu/dated.rs`: same grid, streams, families and
//! arithmetic).
//!
//! **What runs here.** A dated trade on one underlying exercised at expiry
//! only ([`takes`]): any one-asset payoff, on `black` (flat or a surface's
//! term structure), `local_vol` or `heston`, with curves, cash dividends
//! and dated fixings. Several underlyings and early exercise on a dated
//! grid have their own kernel ([`super::dated_multi`]).
//!
//! **Families.** Every revaluation is a family, as on the CPU: the trade
//! resolved on a moved market. A Greek record carries the families of the
//! CPU's [`greek_families`] (base, spot up/down, vol up/down, rate up/down:
//! at most [`DATED_FAMILIES`]) and the coefficients that make its outputs
//! (pv, delta, gamma, vega, rho); a scenario record carries the base and up
//! to `DATED_FAMILIES - 1` distinct moved markets of the trade's scenarios,
//! its outputs the base value and each moved value less it, path by path.
//! Each thread walks its path once, stepping every family on the same
//! normals.
//!
//! **What the device reads.** Per record ([`GpuDated`], [`GpuDated64`]):
//! the head, then per family its ints (model, payoff flags, how it is
//! valued, where its steps and table start) and values (payoff constants,
//! Heston's parameters, the final discount factor, a knocked-out family's
//! discounted rebate, the local-volatility columns); the outputs'
//! coefficients. Beside the records one table of values, family after
//! family: per step `[carry, variance | ln(S0/F) | dt, dividend / spot,
//! flags]` ([`STEP_VALS`]), then under local volatility the step's row of
//! local vol times `sqrt(dt)` per column ([`crate::market::local_vol::NODES`]),
//! the CPU's own step tables. A plan holds at most [`PLAN_VALUES`] values,
//! and no table beyond the engine's binding ([`SideTarget`]): a batch
//! needing more is cut into several plans.
//!
//! **Precision.** CUDA C runs f64 whatever `--precision` says, as the CPU
//! pricer; built for the CPU without contraction its paths are the CPU's
//! (1e-9 relative, the f64 contract). WGSL runs f32 (values rounded once
//! on the host), to the f32 contract (1e-4 relative or 0.1 SE).
//!
//! **Partials.** Each block writes the extension kernels' partial layout
//! ([`EXTENSION_PARTIAL`]: its first [`DATED_OUTPUTS`] outputs used), so
//! the engines launch and read both kinds of kernel alike ([`SideBatch`]).

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::extension::{Moments, SideBatch, SideKernel, EXTENSION_OUTPUTS};
use crate::engine::cpu::dated::{at_spot, bridges, greek_families, greek_result, step_tables};
use crate::engine::cpu::extension::Acc;
use crate::engine::{EngineError, PricingRequest, TradeResult};
use crate::greeks::GreekSet;
use crate::instrument::Trade;
use crate::market::dated::DatedPayoff;
use crate::market::local_vol::NODES;
use crate::market::path::{AssetModel, DatedPath};
use crate::payoff::{PayoffKind, PayoffSpec};
use crate::real::Real;
use crate::rng::key_of;
use crate::scenario::{distinct_moves, ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// Families a record carries at most (base, spot +-, vol +-, rate +-).
pub const DATED_FAMILIES: usize = 7;
/// Outputs a record writes at most.
pub const DATED_OUTPUTS: usize = DATED_FAMILIES;
/// `u32`s of a record's head: `[steps, families, flags, samples, stream
/// lo, stream hi, normals per step, outputs]`.
pub const DATED_HEAD: usize = 8;
/// `u32`s per family after the head: `[model, payoff flags, valuation
/// flags, 0, first step value, first table value, 0, 0]`.
pub const FAMILY_INTS: usize = 8;
/// Values per family: the payoff's 8 constants, then `[v0, kappa, theta,
/// xi, rho, sqrt(1 - rho^2), discount at expiry, discounted rebate, k0,
/// 1/dk, 0, 0]`.
pub const FAMILY_VALS: usize = 20;
/// Where a family's scalars start after its payoff constants.
pub const F_HESTON: usize = 8;
pub const F_DISCOUNT: usize = 14;
pub const F_REBATE: usize = 15;
pub const F_K0: usize = 16;
pub const F_INV_DK: usize = 17;
/// Where the outputs' coefficients start: `coef[q][f]` at
/// `DATED_COEF + q * DATED_FAMILIES + f`.
pub const DATED_COEF: usize = DATED_FAMILIES * FAMILY_VALS;
/// Values of a record (whole vec4s).
pub const DATED_VALS: usize = (DATED_COEF + DATED_OUTPUTS * DATED_FAMILIES).next_multiple_of(4);
/// `u32`s of a record.
pub const DATED_INTS: usize = DATED_HEAD + DATED_FAMILIES * FAMILY_INTS;
/// Values per step of a family: carry, the model's value, the dividend
/// over the spot, flags ([`S_OBSERVE`], [`S_DIVIDEND`]).
pub const STEP_VALS: usize = 4;

/// Models (`ints[0]` of a family).
pub const M_BLACK: u32 = 0;
pub const M_LOCAL_VOL: u32 = 1;
pub const M_HESTON: u32 = 2;
/// How a family is valued (`ints[2]`): knocked out at its spot (its
/// discounted rebate), knocked in (its European), a continuous barrier's
/// bridge at ex-dates.
pub const D_REBATE: u32 = 1;
pub const D_EUROPEAN: u32 = 2;
pub const D_BRIDGE: u32 = 4;
/// Record flags (`head[2]`).
pub const D_ANTITHETIC: u32 = 1;
/// Step flags (the fourth value of a step, as a small whole number).
pub const S_OBSERVE: u32 = 1;
pub const S_DIVIDEND: u32 = 2;

/// Values one plan's table holds at most (64 MiB in f32, 128 MiB in f64):
/// under the smallest storage binding a wgpu adapter must offer, and a
/// bound on the host and device memory of one batch's dated trades.
pub const PLAN_VALUES: usize = 1 << 24;

macro_rules! gpu_dated {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Pod, Zeroable)]
        pub struct $name {
            pub head: [u32; DATED_INTS],
            pub vals: [$t; DATED_VALS],
        }
    };
}

gpu_dated!(
    /// One dated record for the WGSL kernel (f32): 1,024 bytes.
    GpuDated,
    f32
);
gpu_dated!(
    /// One dated record for the CUDA C kernel (f64): 1,792 bytes.
    GpuDated64,
    f64
);

const _: () = assert!(DATED_OUTPUTS <= EXTENSION_OUTPUTS && DATED_INTS.is_multiple_of(4));

/// Whether the GPU engines price `trade`: a dated trade on one
/// underlying, exercised at expiry only.
pub fn takes(trade: &Trade) -> bool {
    trade.dated.as_ref().is_some_and(|d| {
        d.assets.len() == 1
            && d.exercise.is_empty()
            && matches!(d.terms.payoff, DatedPayoff::One(_))
    })
}

/// The one payoff of a dated trade the GPU engines take.
fn payoff_of(path: &DatedPath) -> Option<&PayoffSpec> {
    match &path.terms.payoff {
        DatedPayoff::One(p) => Some(p),
        DatedPayoff::Many(_) => None,
    }
}

/// The kernel (one a payoff kind) that prices `trade`.
pub fn kind_of(trade: &Trade) -> Option<PayoffKind> {
    trade
        .dated
        .as_deref()
        .and_then(payoff_of)
        .map(PayoffSpec::kind)
}

/// What a record is for: a price with Greeks, or a scenario record whose
/// outputs are the base and the moved families less it.
enum Use {
    Price,
    /// Which of the trade's distinct moves its moved families are.
    Scenario(Vec<usize>),
}

/// The dated trades of a batch on one payoff kind, as one kernel prices them.
pub struct DatedPlan {
    pub kind: PayoffKind,
    /// Per record: its trade's batch index and what it is for.
    trades: Vec<usize>,
    uses: Vec<Use>,
    /// Per record: its families' count (its outputs).
    outputs: Vec<usize>,
    pub records: Vec<u8>,
    /// The step and table values (f32 or f64 bytes); never empty.
    pub values: Vec<u8>,
    /// The block table: each record's first block, then the total.
    pub starts: Vec<u32>,
    pub key: [u32; 2],
    f64: bool,
    values_len: usize,
}

/// A `u32` of a table offset, or the error.
fn offset(engine: &'static str, at: usize) -> Result<u32, EngineError> {
    u32::try_from(at).map_err(|_| EngineError::Failed {
        engine,
        reason: "dated trades: a value table beyond 2^32 entries".into(),
        source: None,
    })
}

impl DatedPlan {
    fn new(kind: PayoffKind, req: &PricingRequest, f64: bool) -> DatedPlan {
        DatedPlan {
            kind,
            trades: Vec::new(),
            uses: Vec::new(),
            outputs: Vec::new(),
            records: Vec::new(),
            values: Vec::new(),
            starts: vec![0],
            key: key_of(req.seed),
            f64,
            values_len: 0,
        }
    }

    fn push_value(&mut self, v: f64) {
        if self.f64 {
            self.values.extend_from_slice(&v.to_ne_bytes());
        } else {
            self.values.extend_from_slice(&(v as f32).to_ne_bytes());
        }
        self.values_len += 1;
    }

    /// Values `families` add to a plan's table.
    fn values_of(families: &[Arc<DatedPath>]) -> usize {
        families
            .iter()
            .map(|p| {
                let lv = matches!(p.assets[0].model, AssetModel::LocalVol { .. });
                p.steps() * (STEP_VALS + if lv { NODES } else { 0 })
            })
            .sum()
    }

    /// Appends a record of `trade` (batch index `index`) over `families`
    /// with the outputs `coef[q][f]`.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        engine: &'static str,
        index: usize,
        trade: &Trade,
        families: &[Arc<DatedPath>],
        coef: &[Vec<f64>],
        what: Use,
        req: &PricingRequest,
        samples_per_block: u64,
    ) -> Result<(), EngineError> {
        let mut ints = [0u32; DATED_INTS];
        let mut vals = [0.0f64; DATED_VALS];
        let mut pvals = Vec::with_capacity(families.len());
        for (f, path) in families.iter().enumerate() {
            let Some(payoff) = payoff_of(path) else {
                return Err(EngineError::BadTrade {
                    id: trade.id.clone(),
                    message: "a dated payoff on several underlyings: the GPU engines take one"
                        .into(),
                });
            };
            let asset = &path.assets[0];
            let (spec, rebate) = at_spot(payoff, asset.spot);
            let steps = path.steps();
            let last = path.discount[steps];
            let fi = &mut ints[DATED_HEAD + f * FAMILY_INTS..DATED_HEAD + (f + 1) * FAMILY_INTS];
            let fv = &mut vals[f * FAMILY_VALS..(f + 1) * FAMILY_VALS];
            // The payoff's constants in the kernel's precision, prepared
            // at this family's spot.
            let (consts, flags) = if self.f64 {
                let (c, fl) = spec
                    .prepare::<f64>(asset.spot, path.observations.max(1))
                    .gpu_consts();
                (c.map(|v| v.to_f64()), fl)
            } else {
                let (c, fl) = spec
                    .prepare::<f32>(asset.spot, path.observations.max(1))
                    .gpu_consts();
                (c.map(|v| v.to_f64()), fl)
            };
            fv[..8].copy_from_slice(&consts);
            fi[1] = flags;
            fi[2] = match rebate {
                Some(_) => D_REBATE,
                None if spec.kind() != payoff.kind() => D_EUROPEAN,
                None => 0,
            } | if bridges(path) { D_BRIDGE } else { 0 };
            fv[F_DISCOUNT] = last;
            fv[F_REBATE] = rebate.map_or(0.0, |r| r * last);
            fi[4] = offset(engine, self.values_len)?;
            fi[0] = match &asset.model {
                AssetModel::Black { .. } => M_BLACK,
                AssetModel::LocalVol { grid, .. } => {
                    fv[F_K0] = grid.k0;
                    fv[F_INV_DK] = grid.inv_dk;
                    M_LOCAL_VOL
                }
                AssetModel::Heston(h) => {
                    let rho_bar = (1.0 - h.rho * h.rho).sqrt();
                    fv[F_HESTON..F_HESTON + 6]
                        .copy_from_slice(&[h.v0, h.kappa, h.theta, h.xi, h.rho, rho_bar]);
                    M_HESTON
                }
            };
            pvals.push(path.clone());
            for i in 0..steps {
                let a = match &asset.model {
                    AssetModel::Black { var } => var[i],
                    AssetModel::LocalVol { kshift, .. } => kshift[i],
                    AssetModel::Heston(_) => path.times[i + 1] - path.times[i],
                };
                let d = asset.dividend[i + 1];
                let step_flags = if path.observe[i + 1] { S_OBSERVE } else { 0 }
                    | if d > 0.0 { S_DIVIDEND } else { 0 };
                self.push_value(asset.carry[i]);
                self.push_value(a);
                self.push_value(if d > 0.0 { d / asset.spot } else { 0.0 });
                self.push_value(step_flags as f64);
            }
            fi[5] = offset(engine, self.values_len)?;
            if let Some(Some(table)) = step_tables(path).into_iter().next() {
                for v in table {
                    self.push_value(v);
                }
            }
        }
        let nf = families.len();
        for (q, row) in coef.iter().enumerate().take(DATED_OUTPUTS) {
            for (f, c) in row.iter().enumerate().take(nf) {
                vals[DATED_COEF + q * DATED_FAMILIES + f] = *c;
            }
        }
        let base = &families[0];
        let samples = if req.antithetic {
            trade.paths / 2
        } else {
            trade.paths
        };
        ints[..DATED_HEAD].copy_from_slice(&[
            base.steps() as u32,
            nf as u32,
            if req.antithetic { D_ANTITHETIC } else { 0 },
            samples as u32,
            trade.stream as u32,
            (trade.stream >> 32) as u32,
            base.normals_per_step() as u32,
            coef.len().min(DATED_OUTPUTS) as u32,
        ]);
        if self.f64 {
            let r = GpuDated64 { head: ints, vals };
            self.records.extend_from_slice(bytemuck::bytes_of(&r));
        } else {
            let r = GpuDated {
                head: ints,
                vals: vals.map(|v| v as f32),
            };
            self.records.extend_from_slice(bytemuck::bytes_of(&r));
        }
        let total = *self.starts.last().unwrap_or(&0) as u64 + samples.div_ceil(samples_per_block);
        self.starts
            .push(u32::try_from(total).map_err(|_| EngineError::Failed {
                engine,
                reason: "block table: more than 2^32 blocks of dated trades in one batch".into(),
                source: None,
            })?);
        self.trades.push(index);
        self.outputs.push(coef.len().min(DATED_OUTPUTS));
        self.uses.push(what);
        Ok(())
    }

    /// The batch an engine launches.
    pub fn batch(&self) -> SideBatch<'_> {
        SideBatch {
            kernel: SideKernel::Dated(self.kind),
            records: &self.records,
            starts: &self.starts,
            dates: &[0],
            coefs: &self.values,
            key: self.key,
            trades: &self.trades,
        }
    }

    /// Each record's outputs, its blocks merged in path order.
    pub fn merged(&self, blocks: &[Moments]) -> Vec<Acc> {
        (0..self.trades.len())
            .map(|k| {
                let m = self.outputs[k];
                let mut acc = Acc::new(m);
                for (n, mean, m2) in &blocks[self.starts[k] as usize..self.starts[k + 1] as usize] {
                    acc.merge_moments(*n, &mean[..m], &m2[..m]);
                }
                acc
            })
            .collect()
    }
}

/// What the dated planners need of the engine that runs their batches.
#[derive(Clone, Copy, Debug)]
pub struct SideTarget {
    /// Its name in errors.
    pub engine: &'static str,
    /// Samples (paths, or antithetic pairs) per block of its kernels.
    pub samples_per_block: u64,
    /// Whether its kernels read f64 values (CUDA C) or f32 (WGSL).
    pub f64: bool,
    /// The most bytes one table of a batch (records, values) may hold:
    /// the adapter's storage binding for wgpu.
    pub max_binding: u64,
}

impl SideTarget {
    /// Whether a plan holding `values` values and `record_bytes` of
    /// records may take `more` values and one `record` more.
    pub fn fits(&self, values: usize, more: usize, record_bytes: usize, record: usize) -> bool {
        let width = if self.f64 { 8 } else { 4 };
        values + more <= PLAN_VALUES
            && ((values + more) * width) as u64 <= self.max_binding
            && (record_bytes + record) as u64 <= self.max_binding
    }
}

/// The plans of the dated trades `share` of `trades` priced with the
/// request's Greeks, or of `scenario` records; cut where a plan's table
/// would pass [`PLAN_VALUES`] or a binding of the engine.
struct Planner {
    target: SideTarget,
    plans: Vec<DatedPlan>,
}

impl Planner {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        index: usize,
        trade: &Trade,
        families: &[Arc<DatedPath>],
        coef: &[Vec<f64>],
        what: Use,
        req: &PricingRequest,
    ) -> Result<(), EngineError> {
        let Some(kind) = kind_of(trade) else {
            return Err(EngineError::BadTrade {
                id: trade.id.clone(),
                message: "not a dated trade on one underlying".into(),
            });
        };
        let need = DatedPlan::values_of(families);
        let record = if self.target.f64 {
            std::mem::size_of::<GpuDated64>()
        } else {
            std::mem::size_of::<GpuDated>()
        };
        let k = match self.plans.iter().rposition(|p| {
            p.kind == kind
                && (p.trades.is_empty()
                    || self
                        .target
                        .fits(p.values_len, need, p.records.len(), record))
        }) {
            Some(k) => k,
            None => {
                self.plans.push(DatedPlan::new(kind, req, self.target.f64));
                self.plans.len() - 1
            }
        };
        self.plans[k].push(
            self.target.engine,
            index,
            trade,
            families,
            coef,
            what,
            req,
            self.target.samples_per_block,
        )
    }

    fn finish(mut self) -> Vec<DatedPlan> {
        for p in &mut self.plans {
            if p.values.is_empty() {
                p.push_value(0.0);
            }
        }
        self.plans
    }
}

/// What an engine does with a batch: each block's moments, and the seconds.
pub type RunSide<'a> = dyn FnMut(&SideBatch) -> Result<(Vec<Moments>, f64), EngineError> + 'a;

/// Prices the dated trades `share` of `trades` with the request's Greeks,
/// through `run`: `(batch index, result)` each.
pub fn price(
    target: SideTarget,
    trades: &[Trade],
    share: &[usize],
    req: &PricingRequest,
    run: &mut RunSide<'_>,
) -> Result<Vec<(usize, TradeResult)>, EngineError> {
    let mut planner = Planner {
        target,
        plans: Vec::new(),
    };
    for &i in share {
        let t = &trades[i];
        let (families, coef) = greek_families(t, req)?;
        if families.len() > DATED_FAMILIES || families[0].0.assets.len() != 1 {
            return Err(EngineError::BadTrade {
                id: t.id.clone(),
                message: "a dated trade on several underlyings: the GPU engines take one".into(),
            });
        }
        let paths: Vec<Arc<DatedPath>> = families.into_iter().map(|(p, _)| p).collect();
        planner.add(i, t, &paths, &coef, Use::Price, req)?;
    }
    let mut out = Vec::with_capacity(share.len());
    for plan in planner.finish() {
        let (blocks, secs) = run(&plan.batch())?;
        let merged = plan.merged(&blocks);
        let work: f64 = plan.trades.iter().map(|&i| trades[i].path_steps()).sum();
        for (&i, acc) in plan.trades.iter().zip(&merged) {
            let share = secs * trades[i].path_steps() / work.max(1.0);
            out.push((i, greek_result(&trades[i], req, 1, acc, share)));
        }
    }
    Ok(out)
}

/// Revalues the dated trades under their scenarios through `run`: each
/// trade's distinct moves in records of up to `DATED_FAMILIES - 1` beside
/// the base, on the same normals, so each P&L is the CPU's per-path
/// difference. Every trade of `trades` is dated and taken ([`takes`]).
pub fn revalue(
    target: SideTarget,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: &mut RunSide<'_>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    let started = std::time::Instant::now();
    let plain = PricingRequest {
        greeks: GreekSet::default(),
        ..req.clone()
    };
    let mut planner = Planner {
        target,
        plans: Vec::new(),
    };
    let mut of_trade = Vec::with_capacity(trades.len());
    for (i, (t, sc)) in trades.iter().zip(scenarios).enumerate() {
        let (of, records) = scenario_records(t, sc, DATED_FAMILIES - 1)?;
        for (families, coef, moves) in records {
            planner.add(i, t, &families, &coef, Use::Scenario(moves), &plain)?;
        }
        of_trade.push(of);
    }
    let mut merged = Vec::new();
    let plans = planner.finish();
    for plan in &plans {
        let (blocks, _) = run(&plan.batch())?;
        merged.push(plan.merged(&blocks));
    }
    let records = plans.iter().zip(&merged).flat_map(|(plan, accs)| {
        plan.trades
            .iter()
            .zip(&plan.uses)
            .zip(accs)
            .map(|((&i, what), acc)| match what {
                Use::Scenario(ks) => (i, ks.as_slice(), acc),
                Use::Price => (i, &[][..], acc),
            })
    });
    let seconds = started.elapsed().as_secs_f64();
    let work: f64 = trades.iter().map(Trade::path_steps).sum::<f64>().max(1.0);
    Ok(scenario_results(trades, &of_trade, records, |i| {
        seconds * trades[i].path_steps() / work
    }))
}

/// A trade's scenario records: which distinct move each scenario is
/// (`None`: no move), then per record the base and up to `per_record` moved
/// markets, the coefficients that make its outputs the base value and each
/// moved value less it, and which distinct moves they are.
#[allow(clippy::type_complexity)]
pub(crate) fn scenario_records(
    t: &Trade,
    sc: &TradeScenarios,
    per_record: usize,
) -> Result<
    (
        Vec<Option<usize>>,
        Vec<(Vec<Arc<DatedPath>>, Vec<Vec<f64>>, Vec<usize>)>,
    ),
    EngineError,
> {
    let bad = |message: String| EngineError::BadTrade {
        id: t.id.clone(),
        message,
    };
    let Some(base) = t.dated.clone() else {
        return Err(bad("not a dated trade".into()));
    };
    let (of, distinct) = distinct_moves(sc);
    let mut moved = Vec::with_capacity(distinct.len());
    for (k, moves) in distinct {
        let p = base
            .moved(moves)
            .map_err(|e| bad(format!("in scenario {}: {e}", k + 1)))?;
        moved.push(Arc::new(p));
    }
    let ids: Vec<usize> = (0..moved.len()).collect();
    let chunks: Vec<&[usize]> = if ids.is_empty() {
        vec![&[]]
    } else {
        ids.chunks(per_record).collect()
    };
    let records = chunks
        .into_iter()
        .map(|chunk| {
            let mut families = vec![base.clone()];
            families.extend(chunk.iter().map(|&k| moved[k].clone()));
            let nf = families.len();
            let mut coef = vec![vec![0.0; nf]; nf];
            coef[0][0] = 1.0;
            for (q, c) in coef.iter_mut().enumerate().skip(1) {
                c[q] = 1.0;
                c[0] = -1.0;
            }
            (families, coef, chunk.to_vec())
        })
        .collect();
    Ok((of, records))
}

/// Each trade's scenario results from its records' merged outputs
/// (`records`: the trade's index, the distinct moves of the record, its
/// sums, output 0 the base and `1 + q` its `q`-th move's P&L), with the
/// seconds `seconds(i)` gives trade `i`.
pub(crate) fn scenario_results<'a>(
    trades: &[Trade],
    of_trade: &[Vec<Option<usize>>],
    records: impl IntoIterator<Item = (usize, &'a [usize], &'a Acc)>,
    seconds: impl Fn(usize) -> f64,
) -> Vec<ScenarioResult> {
    // Per trade: its base (the first record's) and each distinct move's P&L.
    let mut base: Vec<Option<Estimate>> = vec![None; trades.len()];
    let mut pnl: Vec<Vec<Estimate>> = of_trade
        .iter()
        .map(|of| vec![Estimate::ZERO; of.iter().flatten().map(|k| k + 1).max().unwrap_or(0)])
        .collect();
    for (i, ks, acc) in records {
        if base[i].is_none() {
            base[i] = Some(acc.estimate(0));
        }
        for (q, &k) in ks.iter().enumerate() {
            pnl[i][k] = acc.estimate(1 + q);
        }
    }
    trades
        .iter()
        .enumerate()
        .map(|(i, t)| ScenarioResult {
            base: base[i].unwrap_or(Estimate::ZERO),
            pnl: of_trade[i]
                .iter()
                .map(|k| k.map_or(Estimate::ZERO, |k| pnl[i][k]))
                .collect(),
            paths: t.paths,
            seconds: seconds(i),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::extension::EXTENSION_PARTIAL;

    #[test]
    fn records_have_the_kernels_layout() {
        assert_eq!(
            std::mem::size_of::<GpuDated>(),
            4 * DATED_INTS + 4 * DATED_VALS
        );
        assert_eq!(
            std::mem::size_of::<GpuDated64>(),
            4 * DATED_INTS + 8 * DATED_VALS
        );
        assert_eq!(std::mem::offset_of!(GpuDated64, vals), 256);
        assert!(DATED_OUTPUTS <= EXTENSION_PARTIAL);
    }
}
