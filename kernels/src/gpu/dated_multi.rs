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
//! is in two tables. The `u32` table: per family [`MULTI_FAMILY_INTS`] (where
//! its values, policy and steps start, and per underlying its model and
//! local-volatility table), then the trade's exercise nodes. The value
//! table: the trade's block (the lower correlation factor, the basket's
//! weights and strike, the outputs' coefficients `coef[q][f]`), each
//! family's values (per underlying: spot, local-volatility columns,
//! Heston's parameters, the spot its state is normalised by), its steps
//! (per step `[observe and dividend flags, discount at the node]` then per
//! underlying `[carry, variance | ln(S0/F) | dt, dividend / spot]`), its
//! local-volatility step tables, and each policy's coefficients (per
//! exercise date but the last: `[fitted, beta...]`).
//!
//! **Precision.** As for [`super::dated`]: CUDA C in f64 (the CPU's paths),
//! WGSL in f32 (the f32 contract; near the exercise boundary a rounding
//! may exercise a path one date apart, which the SE allowance covers).

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::dated::{scenario_records, scenario_results, RunSide, SideTarget, D_ANTITHETIC};
use super::extension::{
    Moments, SideBatch, SideKernel, EXTENSION_OUTPUTS, E_MAX, E_MIN, E_PUT, E_SORTED,
};
use crate::correlation::MAX_ASSETS;
use crate::engine::cpu::dated::{greek_families, greek_result, step_tables, Pricer};
use crate::engine::cpu::extension::Acc;
use crate::engine::{EngineError, PricingRequest, TradeResult};
use crate::greeks::GreekSet;
use crate::instrument::Trade;
use crate::market::path::{AssetModel, DatedPath};
use crate::multi::{MultiPayoff, RainbowKind};
use crate::payoff::OptionType;
use crate::rng::key_of;
use crate::scenario::{ScenarioResult, TradeScenarios};

/// Families a record carries at most: the base, spot and vol up and down
/// per underlying, rate up and down.
pub const MULTI_FAMILIES: usize = 4 * MAX_ASSETS + 3;
/// Outputs a record writes at most (pv, delta, gamma, vega, rho, then
/// delta, gamma and vega per underlying: the extension's).
pub const MULTI_OUTPUTS: usize = EXTENSION_OUTPUTS;
/// `u32`s of a record: `[steps, families, flags, samples, stream lo,
/// stream hi, normals a step, outputs, underlyings, first family int,
/// first trade value, exercise dates, first date, basis terms, payoff
/// flags, 0]`.
pub const MULTI_HEAD: usize = 16;
/// Where the trade's values start: the factor (`MAX_ASSETS` wide), the
/// weights, the strike, then the coefficients.
pub const T_FACTOR: usize = 0;
pub const T_WEIGHTS: usize = T_FACTOR + MAX_ASSETS * MAX_ASSETS;
pub const T_STRIKE: usize = T_WEIGHTS + MAX_ASSETS;
pub const T_COEF: usize = T_STRIKE + 1;
/// A family's `u32`s: `[first value, first policy value (or NO_POLICY),
/// first step value, 0]`, then per underlying `[model, first table value]`.
pub const MULTI_FAMILY_INTS: usize = 4 + 2 * MAX_ASSETS;
pub const FI_ASSETS: usize = 4;
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
    fn new(req: &PricingRequest, f64: bool) -> MultiPlan {
        MultiPlan {
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
        if nf > MULTI_FAMILIES || coef.len() > MULTI_OUTPUTS {
            return Err(bad("more revaluations than the GPU kernels carry"));
        }
        let base: &Arc<DatedPath> = &families[0].path;
        let n = base.assets.len();
        if n > MAX_ASSETS {
            return Err(bad(&format!(
                "{n} underlyings: the {engine} kernels take at most {MAX_ASSETS}"
            )));
        }
        let Some(payoff) = families[0].many.clone() else {
            return Err(bad("no payoff on several underlyings to exercise"));
        };
        // The trade's block.
        let first_value = self.at(engine)?;
        let mut block = vec![0.0f64; T_COEF + MULTI_OUTPUTS * nf];
        for j in 0..n {
            for m in 0..=j {
                block[T_FACTOR + j * MAX_ASSETS + m] = base.factor[j * n + m];
            }
        }
        let (flags, strike) = match &payoff {
            MultiPayoff::Basket {
                option,
                strike,
                weights,
            } => {
                for (j, w) in weights.iter().enumerate().take(MAX_ASSETS) {
                    block[T_WEIGHTS + j] = *w;
                }
                (put(*option), *strike)
            }
            MultiPayoff::Rainbow {
                option,
                strike,
                kind,
            } => (
                put(*option)
                    | E_SORTED
                    | match kind {
                        RainbowKind::Max => E_MAX,
                        RainbowKind::Min => E_MIN,
                    },
                *strike,
            ),
        };
        block[T_STRIKE] = strike;
        for (q, row) in coef.iter().enumerate() {
            for (f, c) in row.iter().enumerate() {
                block[T_COEF + q * nf + f] = *c;
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
        for fam in families {
            let path = &*fam.path;
            let mut fi = [0u32; MULTI_FAMILY_INTS];
            fi[0] = self.at(engine)?;
            fi[1] = fam
                .policy
                .and_then(|p| policy_at.get(p).copied())
                .unwrap_or(NO_POLICY);
            for (j, a) in path.assets.iter().enumerate() {
                let mut v = [0.0f64; MULTI_ASSET_VALS];
                v[0] = a.spot;
                fi[FI_ASSETS + 2 * j] = match &a.model {
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
                let mut flags = if path.observe[i + 1] { 1u32 } else { 0 };
                for (j, a) in path.assets.iter().enumerate() {
                    if a.dividend[i + 1] > 0.0 {
                        flags |= 2 << j;
                    }
                }
                self.value(flags as f64);
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
            for (j, table) in step_tables(path).into_iter().enumerate() {
                fi[FI_ASSETS + 2 * j + 1] = self.at(engine)?;
                for v in table.into_iter().flatten() {
                    self.value(v);
                }
            }
            self.ints.extend_from_slice(&fi);
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
            kernel: SideKernel::DatedMulti,
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

fn put(o: OptionType) -> u32 {
    match o {
        OptionType::Put => E_PUT,
        OptionType::Call => 0,
    }
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
        let full = self.plans.last().is_none_or(|p| {
            !p.trades.is_empty()
                && !(t.fits(p.values_len, values, p.records.len(), record)
                    && t.fits(0, 0, 4 * (p.ints.len() + ints), 0))
        });
        if full {
            self.plans.push(MultiPlan::new(req, t.f64));
        }
        let k = self.plans.len() - 1;
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
    let mut values = T_COEF + MULTI_OUTPUTS * nf + pricer.policies.len() * nd * (1 + terms);
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
    (values, nf * MULTI_FAMILY_INTS + nd)
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
/// `MULTI_OUTPUTS - 1` beside the base, each exercising by its own
/// policy, as the CPU pricer's `revalue`.
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
        let (of, records) = scenario_records(t, sc, MULTI_OUTPUTS - 1)?;
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

    #[test]
    fn records_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<GpuDatedMulti>(), 4 * MULTI_HEAD);
        assert_eq!(MULTI_FAMILIES, 35);
        assert!(T_COEF + MULTI_OUTPUTS * MULTI_FAMILIES < 1 << 12);
    }
}
