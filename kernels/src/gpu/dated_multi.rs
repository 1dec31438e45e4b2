//! Dated trades with early exercise or on several underlyings on the GPU
//! engines: the host side of `engine/cuda/dated_multi.cu` and
//! `engine/wgpu/dated_multi.wgsl`, twins of the CPU's dated pricer
//! (`engine/cpu/dated.rs`: its walk over several correlated underlyings
//! and `Pricer::value`'s exercise) on the same grid, normals, families
//! and policies. The dated trades on one underlying exercised at expiry
//! have their own, lighter kernel ([`super::dated`]).
//!
//! **Policies.** Each trade is prepared by the CPU pricer's own
//! `Pricer::new`: its families, and for early exercise its
//! Longstaff-Schwartz policies fitted on the host in f64 (the base policy,
//! which every Greek's family exercises by in the base's normalisation; a
//! scenario's family its own, refitted on its market), so the coefficients
//! are the CPU's bits. The device runs the pricing pass only.
//!
//! **Layout.** A record ([`GpuDatedMulti`]) is a head of `u32`s; the rest
//! is in two tables. The `u32` table: per family `FI_ASSETS +
//! FI_PER_ASSET n` (where its values, policy and steps start, and per
//! underlying its model, local-volatility table and path state slot),
//! then the trade's exercise nodes. The value table: the trade's block
//! (the strike, the basket's weights, the lower correlation factor `n x
//! n`, the outputs' coefficients `coef[q][f]`), each
//! family's values (per underlying: spot, local-volatility columns,
//! Heston's parameters, the spot its state is normalised by), its steps
//! (per step `[observed (1 or 0), discount at the node]` then per
//! underlying `[carry, variance | ln(S0/F) | dt, dividend / spot]`, a
//! dividend paid where that is above 0), its
//! local-volatility step tables, and each policy's coefficients (per
//! exercise date but the last: `[fitted, beta...]`).
//!
//! **Path states, shared.** A family moves the trade's market; most move
//! one underlying (a spot, vega bump) or none that its step reads (a
//! spot bump under black vols without dividends: the spot only scales
//! the state at a date). A family's underlying whose step reads the same
//! values as the base family's, bit for bit, steps to the same states on
//! the same normals, so it reads the base's state (its *slot*) rather
//! than walk its own: a thread walks `n` states plus one for each
//! underlying a family moves ([`slots`]: every Greek on 32 underlyings
//! moves about 7 x 32), not families x underlyings (131 x 32). The base
//! family's states are stepped while any family is live, even once it is
//! valued itself. A record whose families would need more states than
//! its kernel's width holds is refused as unavailable, naming the trade.
//!
//! **Widths.** A trade on up to [`super::extension::NARROW_ASSETS`]
//! underlyings runs the narrow kernel, more the wide one
//! ([`super::extension::Width`]: per-thread arrays, outputs, families).
//!
//! **Precision.** As for [`super::dated`]: CUDA C in f64 (the CPU's paths),
//! WGSL in f32 (the f32 contract; near the exercise boundary a rounding
//! may exercise a path one date apart, which the SE allowance covers).

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::dated::{scenario_records, scenario_results, RunSide, SideTarget, D_ANTITHETIC};
use super::extension::{Moments, SideBatch, SideKernel, Width};
use crate::correlation::MAX_ASSETS;
use crate::engine::cpu::dated::{greek_families, greek_result, step_tables, Pricer};
use crate::engine::cpu::extension::Acc;
use crate::engine::{EngineError, PricingRequest, TradeResult};
use crate::greeks::GreekSet;
use crate::instrument::Trade;
use crate::market::path::{AssetModel, DatedPath};
use crate::multi::MultiPayoff;
use crate::rng::key_of;
use crate::scenario::{ScenarioResult, TradeScenarios};

/// Families a record carries at most (the base, spot and vol up and down
/// per underlying, rate up and down) and outputs it writes (pv, delta,
/// gamma, vega, rho, then delta, gamma and vega per underlying) are its
/// kernel width's: [`Width::states`], [`Width::outputs`].
///
/// Path states (one per underlying of the base family, and one per
/// underlying a family moves) a thread of a width carries: the narrow
/// kernel's every family moving every underlying (35 x 8), so any record
/// it took before states were shared still fits; the wide kernel's eight
/// per underlying (every Greek on 32 underlyings takes about 7 x 32:
/// the base, and a spot, vega and rho bump moving one underlying each, or
/// every one for rho).
pub const fn slots(w: Width) -> usize {
    match w {
        Width::Narrow => w.states() * w.assets(),
        Width::Wide => 8 * w.assets(),
    }
}
/// `u32`s of a record: `[steps, families, flags, samples, stream lo,
/// stream hi, normals a step, outputs, underlyings, first family int,
/// first trade value, exercise dates, first date, basis terms, payoff
/// flags, 0]`.
pub const MULTI_HEAD: usize = 16;
/// The trade's values: the strike, the weights (`n`), then the lower
/// factor (`n x n`, row-major) and the outputs' coefficients, where the
/// kernels count them from `n`.
pub const T_STRIKE: usize = 0;
pub const T_WEIGHTS: usize = 1;
/// A family's `u32`s: `[first value, first policy value (or NO_POLICY),
/// first step value, 0]`, then per underlying `[model, first table value,
/// path state slot]`.
pub const FI_ASSETS: usize = 4;
pub const FI_PER_ASSET: usize = 3;
/// No policy: exercised at expiry.
pub const NO_POLICY: u32 = u32::MAX;
/// Values per underlying of a family: spot, k0, 1/dk, v0, kappa, theta,
/// xi, rho, sqrt(1 - rho^2), the spot its state is normalised by.
pub const MULTI_ASSET_VALS: usize = 10;
pub const A_NORM: usize = 9;
/// Values a step of a family starts with (flags, discount), before its
/// underlyings' three each.
pub const STEP_HEAD: usize = 2;

/// One record (either precision: its floats are in the value table).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuDatedMulti {
    pub head: [u32; MULTI_HEAD],
}

/// Whether the multi kernel prices `trade`: a dated trade the one-asset
/// kernel does not ([`super::dated::takes`]).
pub fn takes(trade: &Trade) -> bool {
    trade.dated.is_some() && !super::dated::takes(trade)
}

/// The dated trades with exercise or several underlyings of a batch, as
/// the one kernel prices them.
pub struct MultiPlan {
    /// The kernel width of its records' underlyings.
    width: Width,
    trades: Vec<usize>,
    /// Per record: its outputs, and for a scenario record the distinct
    /// moves its moved families are.
    outputs: Vec<usize>,
    moves: Vec<Vec<usize>>,
    pub records: Vec<u8>,
    pub ints: Vec<u32>,
    pub values: Vec<u8>,
    pub starts: Vec<u32>,
    pub key: [u32; 2],
    f64: bool,
    values_len: usize,
    /// Per record: the seconds its policies took to fit.
    fit_seconds: Vec<f64>,
}

fn failed(engine: &'static str, reason: &str) -> EngineError {
    EngineError::Failed {
        engine,
        reason: reason.into(),
        source: None,
    }
}

impl MultiPlan {
    fn new(req: &PricingRequest, f64: bool, width: Width) -> MultiPlan {
        MultiPlan {
            width,
            trades: Vec::new(),
            outputs: Vec::new(),
            moves: Vec::new(),
            records: Vec::new(),
            ints: Vec::new(),
            values: Vec::new(),
            starts: vec![0],
            key: key_of(req.seed),
            f64,
            values_len: 0,
            fit_seconds: Vec::new(),
        }
    }

    fn value(&mut self, v: f64) {
        if self.f64 {
            self.values.extend_from_slice(&v.to_ne_bytes());
        } else {
            self.values.extend_from_slice(&(v as f32).to_ne_bytes());
        }
        self.values_len += 1;
    }

    fn at(&self, engine: &'static str) -> Result<u32, EngineError> {
        u32::try_from(self.values_len)
            .map_err(|_| failed(engine, "dated trades: a value table beyond 2^32 entries"))
    }

    /// Appends a record of `trade` (batch index `index`) over the prepared
    /// families of `pricer`, with the outputs `coef[q][f]`.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        engine: &'static str,
        index: usize,
        trade: &Trade,
        pricer: &Pricer,
        coef: &[Vec<f64>],
        moves: Vec<usize>,
        req: &PricingRequest,
        samples_per_block: u64,
    ) -> Result<(), EngineError> {
        let bad = |message: &str| EngineError::BadTrade {
            id: trade.id.clone(),
            message: message.into(),
        };
        let families = &pricer.families;
        let nf = families.len();
        let base: &Arc<DatedPath> = &families[0].path;
        let n = base.assets.len();
        if n > MAX_ASSETS {
            return Err(bad(&format!(
                "{n} underlyings: the {engine} kernels take at most {MAX_ASSETS}"
            )));
        }
        let w = self.width;
        if nf > w.states() || coef.len() > w.outputs() {
            return Err(bad("more revaluations than the GPU kernels carry"));
        }
        let Some(payoff) = families[0].many.clone() else {
            return Err(bad("no payoff on several underlyings to exercise"));
        };
        // The trade's block.
        let first_value = self.at(engine)?;
        let t_factor = T_WEIGHTS + n;
        let t_coef = t_factor + n * n;
        let mut block = vec![0.0f64; t_coef + w.outputs() * nf];
        block[t_factor..t_coef].copy_from_slice(&base.factor[..n * n]);
        let (flags, strike) = super::extension::payoff_flags(&payoff, |j, wt| {
            if j < n {
                block[T_WEIGHTS + j] = wt;
            }
        });
        block[T_STRIKE] = strike;
        for (q, row) in coef.iter().enumerate() {
            for (f, c) in row.iter().enumerate() {
                block[t_coef + q * nf + f] = *c;
            }
        }
        for v in block {
            self.value(v);
        }
        // The policies' coefficients.
        let terms = payoff.basis(n).len();
        if !self.f64 {
            let spots: Vec<f64> = base.assets.iter().map(|a| a.spot).collect();
            f32_policies(
                engine,
                trade,
                pricer.policies.iter().flatten(),
                &payoff,
                &spots,
            )?;
        }
        let nd = base.exercise.len();
        let mut policy_at = Vec::with_capacity(pricer.policies.len());
        for policy in &pricer.policies {
            let Some(policy) = policy else {
                policy_at.push(NO_POLICY);
                continue;
            };
            policy_at.push(self.at(engine)?);
            for k in 0..nd.saturating_sub(1) {
                let beta = policy.coefficients.get(k).and_then(|c| c.as_ref());
                self.value(if beta.is_some() { 1.0 } else { 0.0 });
                for q in 0..terms {
                    self.value(beta.map_or(0.0, |b| b[q]));
                }
            }
        }
        // The families.
        let first_int = self.ints.len();
        // Each family's underlyings' path states: the base's where its
        // step reads the base's values (see the module's notes).
        let mut shared = SharedStates::default();
        for fam in families {
            let path = &*fam.path;
            let tables = step_tables(path);
            let state_of = shared.states_of(path, &tables);
            let mut fi = vec![0u32; FI_ASSETS + FI_PER_ASSET * n];
            fi[0] = self.at(engine)?;
            fi[1] = fam
                .policy
                .and_then(|p| policy_at.get(p).copied())
                .unwrap_or(NO_POLICY);
            for (j, a) in path.assets.iter().enumerate() {
                let mut v = [0.0f64; MULTI_ASSET_VALS];
                v[0] = a.spot;
                fi[FI_ASSETS + FI_PER_ASSET * j + 2] = state_of[j] as u32;
                fi[FI_ASSETS + FI_PER_ASSET * j] = match &a.model {
                    AssetModel::Black { .. } => super::dated::M_BLACK,
                    AssetModel::LocalVol { grid, .. } => {
                        v[1] = grid.k0;
                        v[2] = grid.inv_dk;
                        super::dated::M_LOCAL_VOL
                    }
                    AssetModel::Heston(h) => {
                        v[3..9].copy_from_slice(&[
                            h.v0,
                            h.kappa,
                            h.theta,
                            h.xi,
                            h.rho,
                            (1.0 - h.rho * h.rho).sqrt(),
                        ]);
                        super::dated::M_HESTON
                    }
                };
                v[A_NORM] = fam.norm.get(j).copied().unwrap_or(a.spot);
                for x in v {
                    self.value(x);
                }
            }
            fi[2] = self.at(engine)?;
            for i in 0..path.steps() {
                // The node's flags: whether it is observed. An underlying's
                // dividend is its own value (no bit a one: 32 of them do
                // not fit an f32 exactly), paid where it is above 0.
                self.value(if path.observe[i + 1] { 1.0 } else { 0.0 });
                self.value(path.discount[i + 1]);
                for a in &path.assets {
                    let m = match &a.model {
                        AssetModel::Black { var } => var[i],
                        AssetModel::LocalVol { kshift, .. } => kshift[i],
                        AssetModel::Heston(_) => path.times[i + 1] - path.times[i],
                    };
                    let d = a.dividend[i + 1];
                    self.value(a.carry[i]);
                    self.value(m);
                    self.value(if d > 0.0 { d / a.spot } else { 0.0 });
                }
            }
            for (j, table) in tables.into_iter().enumerate() {
                fi[FI_ASSETS + FI_PER_ASSET * j + 1] = self.at(engine)?;
                for v in table.into_iter().flatten() {
                    self.value(v);
                }
            }
            self.ints.extend_from_slice(&fi);
        }
        if shared.states > slots(w) {
            return Err(EngineError::unavailable(
                engine,
                format!(
                    "trade `{}`: its {nf} revaluations walk {} underlying paths a sample, over the {} a thread of the {engine} kernels carries (revaluations x the underlyings each moves): use the cpu engine, or fewer Greeks or scenarios a trade",
                    trade.id,
                    shared.states,
                    slots(w)
                ),
            ));
        }
        let first_date = self.ints.len();
        self.ints.extend_from_slice(&base.exercise);
        let samples = if req.antithetic {
            trade.paths / 2
        } else {
            trade.paths
        };
        let int = |v: usize| {
            u32::try_from(v)
                .map_err(|_| failed(engine, "dated trades: a table beyond 2^32 entries"))
        };
        let r = GpuDatedMulti {
            head: [
                base.steps() as u32,
                nf as u32,
                if req.antithetic { D_ANTITHETIC } else { 0 },
                samples as u32,
                trade.stream as u32,
                (trade.stream >> 32) as u32,
                base.normals_per_step() as u32,
                coef.len() as u32,
                n as u32,
                int(first_int)?,
                first_value,
                nd as u32,
                int(first_date)?,
                terms as u32,
                flags,
                0,
            ],
        };
        self.records.extend_from_slice(bytemuck::bytes_of(&r));
        let total = *self.starts.last().unwrap_or(&0) as u64 + samples.div_ceil(samples_per_block);
        self.starts.push(u32::try_from(total).map_err(|_| {
            failed(
                engine,
                "block table: more than 2^32 blocks of dated trades in one batch",
            )
        })?);
        self.trades.push(index);
        self.outputs.push(coef.len());
        self.moves.push(moves);
        self.fit_seconds.push(pricer.fit_seconds);
        Ok(())
    }

    fn finish(mut self) -> MultiPlan {
        if self.values.is_empty() {
            self.value(0.0);
        }
        if self.ints.is_empty() {
            self.ints.push(0);
        }
        self
    }

    /// The batch an engine launches.
    pub fn batch(&self) -> SideBatch<'_> {
        SideBatch {
            kernel: SideKernel::DatedMulti(self.width),
            records: &self.records,
            starts: &self.starts,
            dates: &self.ints,
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

/// Refuses (unavailable: `--engine auto` goes on with the CPU engine) a
/// trade whose policies an f32 kernel cannot apply to the contract
/// ([`crate::exercise::F32_CANCELLATION`]), naming it and the way out.
/// The payoff's size: its strike, or its underlying value at `spots` (the
/// basket's absolute weights times the spots, the largest spot), the
/// larger.
pub(crate) fn f32_policies<'a>(
    engine: &'static str,
    trade: &Trade,
    policies: impl Iterator<Item = &'a crate::exercise::Policy>,
    payoff: &MultiPayoff,
    spots: &[f64],
) -> Result<(), EngineError> {
    let (strike, level) = match payoff {
        MultiPayoff::Basket {
            strike, weights, ..
        } => (
            *strike,
            weights.iter().zip(spots).map(|(w, s)| (w * s).abs()).sum(),
        ),
        MultiPayoff::Rainbow { strike, .. } => (*strike, spots.iter().copied().fold(0.0, f64::max)),
    };
    let scale = strike.abs().max(level).max(f64::MIN_POSITIVE);
    let intrinsic = payoff.intrinsic(spots);
    let worst = policies
        .map(|p| p.cancellation(intrinsic, scale))
        .fold(0.0, f64::max);
    if worst > crate::exercise::F32_CANCELLATION || worst.is_nan() {
        return Err(EngineError::unavailable(
            engine,
            format!(
                "trade `{}`: its exercise policy's continuation value cancels by {worst:.1e} (regression terms nearly collinear: underlyings correlated near 1?), beyond what the f32 kernels apply to the contract: use --engine cpu or cuda",
                trade.id
            ),
        ));
    }
    Ok(())
}

/// The plans `add` fills: a new one where the last could not take a
/// record within the engine's bindings ([`SideTarget::fits`]).
struct Plans {
    plans: Vec<MultiPlan>,
    target: SideTarget,
}

impl Plans {
    /// Appends a record (see [`MultiPlan::push`]) to the last plan, or to a
    /// new one where the last cannot take it.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        index: usize,
        trade: &Trade,
        pricer: &Pricer,
        coef: &[Vec<f64>],
        moves: Vec<usize>,
        req: &PricingRequest,
    ) -> Result<(), EngineError> {
        let (values, ints) = need(pricer);
        let record = std::mem::size_of::<GpuDatedMulti>();
        let t = self.target;
        let n = pricer.families.first().map_or(1, |f| f.path.assets.len());
        let width = Width::of(n);
        // The last plan of the trade's kernel width, if it takes the record.
        let last = self.plans.iter().rposition(|p| p.width == width);
        let k = match last {
            Some(k)
                if self.plans[k].trades.is_empty() || {
                    let p = &self.plans[k];
                    t.fits(p.values_len, values, p.records.len(), record)
                        && t.fits(0, 0, 4 * (p.ints.len() + ints), 0)
                } =>
            {
                k
            }
            _ => {
                self.plans.push(MultiPlan::new(req, t.f64, width));
                self.plans.len() - 1
            }
        };
        self.plans[k].push(
            t.engine,
            index,
            trade,
            pricer,
            coef,
            moves,
            req,
            t.samples_per_block,
        )
    }
}

/// The values and `u32`s a record of `pricer`'s families adds to the tables.
fn need(pricer: &Pricer) -> (usize, usize) {
    let families = &pricer.families;
    let nf = families.len();
    let Some(base) = families.first().map(|f| &f.path) else {
        return (0, 0);
    };
    let n = base.assets.len();
    let nd = base.exercise.len();
    let terms = families[0]
        .many
        .as_ref()
        .map_or(2 * n + 2, |p| p.basis(n).len());
    let w = Width::of(n);
    let mut values =
        T_WEIGHTS + n + n * n + w.outputs() * nf + pricer.policies.len() * nd * (1 + terms);
    for f in families {
        let lv = f
            .path
            .assets
            .iter()
            .filter(|a| matches!(a.model, AssetModel::LocalVol { .. }))
            .count();
        values += n * MULTI_ASSET_VALS
            + f.path.steps() * (STEP_HEAD + 3 * n + lv * crate::market::local_vol::NODES);
    }
    (values, nf * (FI_ASSETS + FI_PER_ASSET * n) + nd)
}

/// Distinct scenario moves a record of a trade on `n` underlyings carries
/// beside its base: as many as its outputs hold (28 for the narrow
/// kernel), and no more than its path states hold should every move move
/// every underlying (the wide kernel: 7 on 32 underlyings).
pub fn moves_a_record(n: usize) -> usize {
    let w = Width::of(n);
    (w.outputs() - 1).min(slots(w) / n.max(1) - 1)
}

/// Assigns each family's underlyings their path states: the base family's
/// own (`0..n`); then a family's underlying reads the base's state where
/// its step reads the same values as the base's, bit for bit ([`step_bits`],
/// and the same models before it: a Heston underlying's variance normal
/// is counted along them), else a state of its own, numbered on.
#[derive(Default)]
struct SharedStates {
    /// The base family's underlyings: their models and step values.
    base: Vec<(u8, Vec<u64>)>,
    /// States assigned so far.
    states: usize,
}

impl SharedStates {
    /// The states of `path`'s underlyings (the base family's first),
    /// `tables` its local-volatility step tables.
    fn states_of(&mut self, path: &DatedPath, tables: &[Option<Vec<f64>>]) -> Vec<usize> {
        let n = path.assets.len();
        let bits: Vec<(u8, Vec<u64>)> = (0..n)
            .map(|j| step_bits(path, j, tables.get(j).and_then(|t| t.as_deref())))
            .collect();
        if self.base.is_empty() {
            self.base = bits;
            self.states = n;
            return (0..n).collect();
        }
        let same_models = bits.iter().zip(&self.base).all(|(a, b)| a.0 == b.0);
        bits.iter()
            .zip(&self.base)
            .enumerate()
            .map(|(j, (mine, base))| {
                if same_models && mine == base {
                    j
                } else {
                    self.states += 1;
                    self.states - 1
                }
            })
            .collect()
    }
}

/// What stepping underlying `j` of `path` reads, as bits, and its model:
/// the model's constants and initial variance, each step's carry, variance
/// (black), shift (local volatility) or time (Heston), its dividend as the
/// kernels take it, and its local-volatility rows (`table`). Two families
/// whose underlying `j` read the same bits step it to the same states on
/// the same normals.
fn step_bits(path: &DatedPath, j: usize, table: Option<&[f64]>) -> (u8, Vec<u64>) {
    let a = &path.assets[j];
    let steps = path.steps();
    let mut v: Vec<f64> = Vec::with_capacity(8 + 4 * steps + table.map_or(0, <[f64]>::len));
    let model = match &a.model {
        AssetModel::Black { .. } => 0,
        AssetModel::LocalVol { grid, .. } => {
            v.extend([grid.k0, grid.inv_dk]);
            1
        }
        AssetModel::Heston(h) => {
            v.extend([h.v0, h.kappa, h.theta, h.xi, h.rho]);
            2
        }
    };
    for i in 0..steps {
        // As `MultiPlan::push` writes them.
        let m = match &a.model {
            AssetModel::Black { var } => var[i],
            AssetModel::LocalVol { kshift, .. } => kshift[i],
            AssetModel::Heston(_) => path.times[i + 1] - path.times[i],
        };
        let d = a.dividend[i + 1];
        v.extend([
            a.carry[i],
            m,
            if d > 0.0 { 1.0 } else { 0.0 },
            if d > 0.0 { d / a.spot } else { 0.0 },
        ]);
    }
    if let Some(t) = table {
        v.extend_from_slice(t);
    }
    (model, v.into_iter().map(f64::to_bits).collect())
}

/// Prices the dated trades `share` of `trades` (each one [`takes`]) with
/// the request's Greeks through `run`: `(batch index, result)` each.
pub fn price(
    target: SideTarget,
    trades: &[Trade],
    share: &[usize],
    req: &PricingRequest,
    run: &mut RunSide<'_>,
) -> Result<Vec<(usize, TradeResult)>, EngineError> {
    let mut plans = Plans {
        plans: Vec::new(),
        target,
    };
    for &i in share {
        let t = &trades[i];
        let (families, coef) = greek_families(t, req)?;
        let pricer = Pricer::new(t, req, families, coef.clone());
        plans.add(i, t, &pricer, &coef, Vec::new(), req)?;
    }
    let mut out = Vec::with_capacity(share.len());
    for plan in plans.plans {
        let plan = plan.finish();
        let (blocks, secs) = run(&plan.batch())?;
        let merged = plan.merged(&blocks);
        let work: f64 = plan.trades.iter().map(|&i| trades[i].path_steps()).sum();
        for ((&i, acc), fit) in plan.trades.iter().zip(&merged).zip(&plan.fit_seconds) {
            let n = trades[i].dated.as_ref().map_or(1, |d| d.assets.len());
            let share = fit + secs * trades[i].path_steps() / work.max(1.0);
            out.push((i, greek_result(&trades[i], req, n, acc, share)));
        }
    }
    Ok(out)
}

/// Revalues the dated trades (each one [`takes`]) under their scenarios
/// through `run`: each trade's distinct moves in records of up to
/// [`moves_a_record`] beside the base, each exercising by its own policy,
/// as the CPU pricer's `revalue`.
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
    let mut plans = Plans {
        plans: Vec::new(),
        target,
    };
    let mut of_trade = Vec::with_capacity(trades.len());
    let mut fits = vec![0.0; trades.len()];
    for (i, (t, sc)) in trades.iter().zip(scenarios).enumerate() {
        let n = t.dated.as_ref().map_or(1, |d| d.assets.len());
        let (of, records) = scenario_records(t, sc, moves_a_record(n))?;
        for (families, coef, moves) in records {
            // Each family fits its own policy, as the CPU pricer's revalue.
            let families = families.into_iter().map(|p| (p, true)).collect();
            let pricer = Pricer::new(t, &plain, families, coef.clone());
            fits[i] += pricer.fit_seconds;
            plans.add(i, t, &pricer, &coef, moves, &plain)?;
        }
        of_trade.push(of);
    }
    let plans: Vec<MultiPlan> = plans.plans.into_iter().map(MultiPlan::finish).collect();
    let mut merged = Vec::new();
    for plan in &plans {
        let (blocks, _) = run(&plan.batch())?;
        merged.push(plan.merged(&blocks));
    }
    let records = plans.iter().zip(&merged).flat_map(|(plan, accs)| {
        plan.trades
            .iter()
            .zip(&plan.moves)
            .zip(accs)
            .map(|((&i, ks), acc)| (i, ks.as_slice(), acc))
    });
    let seconds = started.elapsed().as_secs_f64() - fits.iter().sum::<f64>();
    let work: f64 = trades.iter().map(Trade::path_steps).sum::<f64>().max(1.0);
    Ok(scenario_results(trades, &of_trade, records, |i| {
        fits[i] + seconds.max(0.0) * trades[i].path_steps() / work
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::greeks::Greek;
    use crate::market::dated::{resolve, DatedTerms};
    use crate::market::Market;
    use crate::payoff::OptionType;
    use crate::scenario::MarketMove;

    /// A dated basket call on `n` black underlyings on flat vols, every
    /// second paying a cash dividend.
    fn basket_on(n: usize) -> Trade {
        let unds: Vec<String> = (0..n)
            .map(|i| {
                let dividend = if i % 2 == 1 {
                    r#", "dividends": [{"ex_date": "2027-06-04", "amount": 1.0}]"#
                } else {
                    ""
                };
                format!(
                    r#""U{i}": {{"spot": {}, "currency": "USD", "vol": {{"flat": 0.2}}{dividend}}}"#,
                    60 + i
                )
            })
            .collect();
        let json = format!(
            r#"{{"valuation_date": "2026-12-04", "curves": {{"USD": {{"dates": ["2027-12-04"], "zero_rates": [0.03]}}}}, "underlyings": {{{}}}, "correlations": []}}"#,
            unds.join(", ")
        );
        let market = std::sync::Arc::new(Market::from_json(&json).unwrap());
        let terms = DatedTerms {
            id: format!("basket-{n}"),
            underlyings: (0..n).map(|i| format!("U{i}")).collect(),
            model: None,
            payoff: crate::market::dated::DatedPayoff::Many(MultiPayoff::Basket {
                option: OptionType::Call,
                strike: 70.0,
                weights: vec![1.0 / n as f64; n],
            }),
            expiry: "2027-12-04".into(),
            fixings: None,
            steps_per_year: 4,
            paths: 64,
            exercise: None,
        };
        resolve(&market, &terms).unwrap()
    }

    /// Every Greek on 32 underlyings: a spot bump moves the step of a
    /// dividend payer only (its dividend over its spot), a vega bump its
    /// one underlying, a rate bump every one: 32 + 2 x 16 + 2 x 32 + 2 x 32
    /// states, within the wide kernel's 256 (131 x 32 unshared).
    #[test]
    fn greeks_share_the_base_s_path_states_where_they_step_alike() {
        let t = basket_on(32);
        let req = PricingRequest {
            greeks: GreekSet(Greek::ALL.to_vec()),
            ..PricingRequest::default()
        };
        let (families, coef) = greek_families(&t, &req).unwrap();
        let pricer = Pricer::new(&t, &req, families, coef.clone());
        assert_eq!(pricer.families.len(), Width::Wide.states());
        let mut shared = SharedStates::default();
        for f in &pricer.families {
            shared.states_of(&f.path, &step_tables(&f.path));
        }
        assert_eq!(shared.states, 32 + 2 * 16 + 2 * 32 + 2 * 32);
        let mut plan = MultiPlan::new(&req, true, Width::Wide);
        plan.push("cuda", 0, &t, &pricer, &coef, Vec::new(), &req, 512)
            .unwrap();
        // Each family's slot of underlying 0 (no dividend): the base's but
        // for the vega bumps of it and the rate bumps.
        let stride = FI_ASSETS + FI_PER_ASSET * 32;
        let own: Vec<usize> = (0..pricer.families.len())
            .filter(|f| plan.ints[f * stride + FI_ASSETS + 2] != 0)
            .collect();
        assert_eq!(own.len(), 4, "{own:?}");
    }

    /// A record of more moves than its path states hold, each moving every
    /// underlying (a rate), is refused as unavailable naming the trade; as
    /// many as [`moves_a_record`] take fit.
    #[test]
    fn a_record_past_its_path_states_is_refused_naming_the_trade() {
        let t = basket_on(32);
        let req = PricingRequest::default();
        let moves = (1..=9)
            .map(|k| {
                let mv = MarketMove {
                    spot: 0.0,
                    vol: 0.0,
                    rate: 1e-4 * k as f64,
                };
                vec![mv; 32]
            })
            .collect();
        let sc = TradeScenarios { moves };
        for (per_record, fits) in [(9, false), (moves_a_record(32), true)] {
            let (_, records) = scenario_records(&t, &sc, per_record).unwrap();
            let (families, coef, moves) = records.into_iter().next().unwrap();
            let families = families.into_iter().map(|p| (p, true)).collect();
            let pricer = Pricer::new(&t, &req, families, coef.clone());
            let mut plan = MultiPlan::new(&req, false, Width::Wide);
            let got = plan.push("wgpu", 0, &t, &pricer, &coef, moves, &req, 64);
            match got {
                Ok(()) => assert!(fits),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!fits, "{e}");
                    assert!(
                        e.contains("basket-32")
                            && e.contains("320 underlying paths")
                            && e.contains("256"),
                        "{e}"
                    );
                }
            }
        }
    }

    #[test]
    fn records_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<GpuDatedMulti>(), 4 * MULTI_HEAD);
        assert_eq!(Width::Narrow.states(), 35);
        assert_eq!(Width::Wide.states(), 131);
        assert_eq!(slots(Width::Narrow), 280);
        assert_eq!(slots(Width::Wide), 256);
        // A scenario record's families, each moving every underlying, fit.
        for n in 1..=MAX_ASSETS {
            let w = Width::of(n);
            assert!((1 + moves_a_record(n)) * n <= slots(w), "{n}");
            assert!(moves_a_record(n) < w.outputs().min(w.states()), "{n}");
        }
        assert_eq!(moves_a_record(8), 28);
    }
}
