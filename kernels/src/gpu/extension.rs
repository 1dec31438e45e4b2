//! Several correlated assets and early exercise on the GPU engines: the
//! host side of the kernels `engine/cuda/extension.cu` and
//! `engine/wgpu/extension.wgsl`, twins of the CPU pricer
//! `engine/cpu/extension.rs` (same streams, same bumps, same policy).
//!
//! **Where the regression runs: on the host.** Each trade is prepared by
//! the CPU pricer's own `Prepared::new` (`engine/cpu/extension.rs`): its
//! correlation factor (Cholesky, f64, once per trade) and, for early
//! exercise, its Longstaff-Schwartz policy, fitted once on the host in
//! f64 on the trade's regression paths (their own stream). So the coefficients are
//! bit-identical whichever engine prices, and the regression's states
//! (`R x dates x (assets + 1)` f64, at most
//! [`crate::multi::REGRESSION_STATE_BUDGET`], 64 MiB) never reach the
//! device. The GPU runs only the pricing pass, fused: each thread walks its
//! path (or antithetic pair), and at each exercise date evaluates the
//! basis and compares the continuation value with the intrinsic value for
//! the base state and every bumped state; no path is stored.
//!
//! **Memory per trade on the device**: one record ([`GpuExtension`], 1,584
//! bytes in f32 for WGSL; [`GpuEarly64`], 3,120 bytes in f64 for CUDA C:
//! the step constants of every asset in its three vol families, the
//! factor, spots, weights and bumps), one `u32` per exercise date (its
//! step, with [`FITTED`] where the date has coefficients), and
//! `(dates - 1) x (2 assets + 2)` coefficients (f32 or f64): an American
//! trade of 252 steps on 5 assets takes 251 x 12 coefficients, 24 KiB in
//! f64. Each block of paths writes [`EXTENSION_PARTIAL`] slots.
//!
//! **Scenarios** ([`revalue_extended`]): a scenario record ([`E_SCENARIO`])
//! carries the base trade and one distinct moved trade (its step constants
//! in the vol-up family's slots, its spots in the vega bumps', its rate,
//! and its own policy's coefficients after the base's, flagged
//! [`MOVED_FITTED`]); the kernel walks both on the same normals, each
//! exercising by its own policy, and writes the base value and the moved
//! one less it. Per path these are the CPU pricer's values, so the P&L
//! and its standard error agree with it to the precision contract.
//!
//! **A trade too big for one pass** is split by path ranges: its samples
//! (paths, or antithetic pairs) go in blocks of a fixed size, any number of
//! blocks per launch (the engines split a plan's blocks into launches or
//! dispatches under their limits), and the blocks' partial sums are merged
//! on the host in path order ([`ExtensionPlan::results`]), so results do not
//! depend on how the work was split.
//!
//! **A device's cap on loop iterations.** lavapipe (Mesa's software
//! Vulkan, CI's wgpu adapter) ends every loop of an invocation once the
//! invocation has run 65,535 loop iterations in all. The WGSL's loops
//! over the assets unroll (constant bounds), so a step costs a few dozen
//! iterations and W5's shape (252 dates, every Greek) fits; an antithetic
//! pair walks twice. An invocation whose walk was cut short (a
//! revaluation left unpaid after the last date, or a canary loop with a
//! run-time bound that no longer runs its rounds) is reported in its
//! block's last slot, and the engine refuses the trade as unavailable
//! with the reason rather than return its sums.
//!
//! **Precision.** The CUDA C kernel runs in f64 whatever `--precision`
//! says, as the CPU pricer does: built for the CPU without contraction it
//! conforms to it to 1e-9 (1e-14 seen); a GPU contracts multiply-adds,
//! which may move a path's exercise by a date at the boundary. WGSL has no
//! f64: the WGSL kernel runs f32 path state (normals, steps, basis,
//! comparisons) with the coefficients rounded to f32, so it conforms to
//! the f32 contract (1e-4 relative or 0.1 SE); near the exercise boundary
//! a rounding may exercise a path one date apart, which the SE allowance
//! covers for the PV; a bumped Greek, a difference of two such
//! revaluations, is held to 0.3 SE (docs/formats.md).

use bytemuck::{Pod, Zeroable};

use crate::correlation::MAX_ASSETS;
use crate::engine::cpu::extension::{scenario_markets, Acc, Prepared, Steps};
use crate::engine::{EngineError, PricingRequest, TradeResult};
use crate::exercise::Policy;
use crate::greeks::GreekSet;
use crate::instrument::Trade;
use crate::multi::{MultiPayoff, RainbowKind};
use crate::payoff::OptionType;
use crate::rng::key_of;
use crate::scenario::{ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// `u32`s of a record's head: `[steps, assets, flags, dates, stream lo,
/// stream hi, samples, first date, first coefficient, terms, first moved
/// coefficient (a scenario record's), 0]`.
pub const EXTENSION_HEAD: usize = 12;
/// Model constants per asset and vol family (as [`super::record::MODEL_CONSTS`]).
pub const EXTENSION_MODEL_CONSTS: usize = super::record::MODEL_CONSTS;
/// Where each part of a record's values sits: the scalars `[dt, rate,
/// h_spot, dr, scale, strike, moved rate, 0]`, then per asset its spot,
/// basket weight and vega bump (a scenario record's moved spot), the lower
/// factor (row-major, `MAX_ASSETS` wide), then each asset's step constants
/// for its base, vol-up (a scenario record's moved family) and vol-down
/// families.
pub const V_SPOTS: usize = 8;
pub const V_WEIGHTS: usize = V_SPOTS + MAX_ASSETS;
pub const V_DVOL: usize = V_WEIGHTS + MAX_ASSETS;
pub const V_FACTOR: usize = V_DVOL + MAX_ASSETS;
pub const V_MODEL: usize = V_FACTOR + MAX_ASSETS * MAX_ASSETS;
/// Values of a record.
pub const EXTENSION_VALS: usize = V_MODEL + 3 * MAX_ASSETS * EXTENSION_MODEL_CONSTS;
/// Outputs per sample: pv, the summed delta, gamma, vega, rho, then
/// delta, gamma and vega per asset (`5 + 3n` used, as the CPU pricer's).
pub const EXTENSION_OUTPUTS: usize = 5 + 3 * MAX_ASSETS;
/// Revaluations per path at most: base, spot up/down and vol up/down per
/// asset, rate up/down.
pub const EXTENSION_STATES: usize = 1 + 4 * MAX_ASSETS + 2;
/// A block's partial: `[n, a_0.., b_0.., cut]` over [`EXTENSION_OUTPUTS`]
/// (CUDA: sums and sums of squares in f64, `cut` 0; WGSL: mean and M2 in
/// f32, `cut` the invocations whose walk the device cut short).
pub const EXTENSION_PARTIAL: usize = 2 + 2 * EXTENSION_OUTPUTS;

/// Flag bits of `head[2]` (the model is the kernel's: one a model).
pub const E_PUT: u32 = 2;
pub const E_MAX: u32 = 4;
pub const E_MIN: u32 = 8;
pub const E_SORTED: u32 = 16;
pub const E_ANTITHETIC: u32 = 32;
pub const E_SPOT: u32 = 64;
pub const E_VEGA: u32 = 128;
pub const E_RHO: u32 = 256;
/// A scenario record: the base trade and one moved trade, side by side
/// on the same normals (see [`revalue_extended`]).
pub const E_SCENARIO: u32 = 512;
/// Set on an exercise date's step where the policy has coefficients there.
pub const FITTED: u32 = 1 << 31;
/// Set where a scenario record's moved policy has coefficients there.
pub const MOVED_FITTED: u32 = 1 << 30;
/// A scenario record's moved spots, in the vega bumps' slots (a scenario
/// record carries no Greeks).
pub const V_MOVED_SPOTS: usize = V_DVOL;
/// The scalar slot of a scenario record's moved rate.
pub const S_MOVED_RATE: usize = 6;

macro_rules! gpu_extension {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Pod, Zeroable)]
        pub struct $name {
            pub head: [u32; EXTENSION_HEAD],
            pub vals: [$t; EXTENSION_VALS],
        }

        impl $name {
            /// The record of a prepared trade whose dates start at
            /// `first_date` and coefficients at `first_coef` in the batch's
            /// tables.
            /// `moved` (with its first coefficient): a scenario record.
            fn new(
                p: &Prepared,
                moved: Option<(&Prepared, usize)>,
                trade: &Trade,
                req: &PricingRequest,
                first_date: usize,
                first_coef: usize,
            ) -> $name {
                let mut r = $name::zeroed();
                let n = p.n;
                let (flags, strike) = match &p.payoff {
                    MultiPayoff::Basket { option, strike, weights } => {
                        for (j, w) in weights.iter().enumerate() {
                            r.vals[V_WEIGHTS + j] = *w as $t;
                        }
                        (put(*option), *strike)
                    }
                    MultiPayoff::Rainbow { option, strike, kind } => (
                        put(*option)
                            | E_SORTED
                            | match kind {
                                RainbowKind::Max => E_MAX,
                                RainbowKind::Min => E_MIN,
                            },
                        *strike,
                    ),
                };
                for (j, fam) in (0..n).flat_map(|j| (0..3).map(move |f| (j, f))) {
                    let consts = match &p.steps {
                        Steps::Gbm(s) => s[j][fam].gpu_consts(),
                        Steps::Heston(s) => s[j][fam].gpu_consts(),
                    };
                    let at = V_MODEL + (j * 3 + fam) * EXTENSION_MODEL_CONSTS;
                    for (slot, c) in r.vals[at..at + EXTENSION_MODEL_CONSTS].iter_mut().zip(consts) {
                        *slot = c as $t;
                    }
                }
                let flags = flags | if p.antithetic { E_ANTITHETIC } else { 0 }
                    | if p.spot { E_SPOT } else { 0 }
                    | if p.vega { E_VEGA } else { 0 }
                    | if p.rho { E_RHO } else { 0 }
                    | if moved.is_some() { E_SCENARIO } else { 0 };
                let scalars = [p.dt, p.rate, p.h_spot, p.dr, p.scale, strike];
                for (slot, v) in r.vals.iter_mut().zip(scalars) {
                    *slot = v as $t;
                }
                for j in 0..n {
                    r.vals[V_SPOTS + j] = p.spots[j] as $t;
                    r.vals[V_DVOL + j] = p.dvol[j] as $t;
                    for l in 0..=j {
                        r.vals[V_FACTOR + j * MAX_ASSETS + l] = p.factor[j * n + l] as $t;
                    }
                }
                if let Some((m, _)) = moved {
                    // The moved trade: its family in the vol-up slots, its
                    // spots in the vega bumps', its rate.
                    for j in 0..n {
                        let consts = match &m.steps {
                            Steps::Gbm(s) => s[j][0].gpu_consts(),
                            Steps::Heston(s) => s[j][0].gpu_consts(),
                        };
                        let at = V_MODEL + (j * 3 + 1) * EXTENSION_MODEL_CONSTS;
                        for (slot, c) in r.vals[at..at + EXTENSION_MODEL_CONSTS].iter_mut().zip(consts) {
                            *slot = c as $t;
                        }
                        r.vals[V_MOVED_SPOTS + j] = m.spots[j] as $t;
                    }
                    r.vals[S_MOVED_RATE] = m.rate as $t;
                }
                let samples = if req.antithetic { trade.paths / 2 } else { trade.paths };
                r.head = [
                    p.nsteps,
                    n as u32,
                    flags,
                    p.dates.len() as u32,
                    p.stream as u32,
                    (p.stream >> 32) as u32,
                    samples as u32,
                    first_date as u32,
                    first_coef as u32,
                    p.payoff.basis(n).len() as u32,
                    moved.map_or(0, |(_, c)| c as u32),
                    0,
                ];
                r
            }
        }
    };
}

gpu_extension!(
    /// One trade for the WGSL kernel (f32): 1,584 bytes, 16-byte aligned fields.
    GpuExtension,
    f32
);
gpu_extension!(
    /// One trade for the CUDA C kernel (f64): 3,120 bytes.
    GpuEarly64,
    f64
);

fn put(o: OptionType) -> u32 {
    match o {
        OptionType::Put => E_PUT,
        OptionType::Call => 0,
    }
}

/// Whether a model step's constants fill no more than a record's slot.
const _: () = assert!(EXTENSION_MODEL_CONSTS == 12 && (EXTENSION_HEAD * 4).is_multiple_of(16));
const _: () = assert!(EXTENSION_VALS.is_multiple_of(4) && EXTENSION_PARTIAL.is_multiple_of(2));

/// The trades of a batch with several assets or early exercise on one
/// model (`gbm_multi`: one normal an asset a step; `heston_multi`: two),
/// as one kernel prices them.
pub struct ExtensionPlan {
    /// `heston_multi` (else `gbm_multi`).
    pub heston: bool,
    /// Batch indices of its trades, in the order of its records (a
    /// scenario record's is its base trade's).
    pub trades: Vec<usize>,
    prepared: Vec<Prepared>,
    /// Per record: the fit seconds of its scenario's moved policy.
    moved_fit: Vec<f64>,
    /// The records ([`GpuExtension`] or [`GpuEarly64`]).
    pub records: Vec<u8>,
    pub record_size: usize,
    /// Every trade's exercise steps (with [`FITTED`]), trade after trade;
    /// never empty (a binding needs a size).
    pub dates: Vec<u32>,
    /// Every trade's coefficients (f32 or f64 bytes), date after date,
    /// [`crate::exercise::Basis::len`] each; never empty.
    pub coefs: Vec<u8>,
    /// The block table: each trade's first block, then the total.
    pub starts: Vec<u32>,
    pub key: [u32; 2],
}

impl ExtensionPlan {
    /// The plans of the trades `share` of `trades` (every one with an
    /// extension), one a model, in blocks of `samples_per_block` samples;
    /// records in f64 with `f64`.
    pub fn new(
        engine: &'static str,
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
        samples_per_block: u64,
        f64: bool,
    ) -> Result<Vec<ExtensionPlan>, EngineError> {
        let mut plans: Vec<ExtensionPlan> = Vec::new();
        for &i in share {
            let t = &trades[i];
            let p = prepare(engine, t, req)?;
            let k = ExtensionPlan::of_model(&mut plans, &p, req, f64);
            plans[k].push(engine, i, t, p, None, req, samples_per_block, f64)?;
        }
        Ok(ExtensionPlan::finish(plans))
    }

    /// Which plan of `plans` takes `p`'s model, added where there is none.
    fn of_model(
        plans: &mut Vec<ExtensionPlan>,
        p: &Prepared,
        req: &PricingRequest,
        f64: bool,
    ) -> usize {
        let heston = matches!(p.steps, Steps::Heston(_));
        let k = match plans.iter().position(|q| q.heston == heston) {
            Some(k) => k,
            None => {
                plans.push(ExtensionPlan {
                    heston,
                    trades: Vec::new(),
                    prepared: Vec::new(),
                    moved_fit: Vec::new(),
                    records: Vec::new(),
                    record_size: if f64 {
                        std::mem::size_of::<GpuEarly64>()
                    } else {
                        std::mem::size_of::<GpuExtension>()
                    },
                    dates: Vec::new(),
                    coefs: Vec::new(),
                    starts: vec![0],
                    key: key_of(req.seed),
                });
                plans.len() - 1
            }
        };
        k
    }

    /// The plans, their tables given a size (a binding needs one).
    fn finish(mut plans: Vec<ExtensionPlan>) -> Vec<ExtensionPlan> {
        for plan in &mut plans {
            plan.dates.push(0);
            plan.coefs.extend_from_slice(&[0; 8]);
        }
        plans
    }

    /// Appends a policy's coefficients (zeros where a date has none; no
    /// row for maturity): its first coefficient and which dates it fits.
    fn push_coefs(
        &mut self,
        p: &Prepared,
        policy: Option<&Policy>,
        f64: bool,
    ) -> (usize, Vec<bool>) {
        let width = if f64 { 8 } else { 4 };
        let first = self.coefs.len() / width;
        let terms = p.payoff.basis(p.n).len();
        let mut fitted = Vec::with_capacity(p.dates.len());
        for k in 0..p.dates.len() {
            let beta = policy
                .and_then(|pol| pol.coefficients.get(k))
                .and_then(|c| c.as_ref());
            fitted.push(beta.is_some());
            if k + 1 < p.dates.len() {
                for q in 0..terms {
                    let b = beta.map_or(0.0, |b| b[q]);
                    if f64 {
                        self.coefs.extend_from_slice(&b.to_ne_bytes());
                    } else {
                        self.coefs.extend_from_slice(&(b as f32).to_ne_bytes());
                    }
                }
            }
        }
        (first, fitted)
    }

    /// Appends trade `t` (batch index `index`) as a record; with `moved`,
    /// a scenario record of it and that moved trade.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        engine: &'static str,
        index: usize,
        t: &Trade,
        p: Prepared,
        moved: Option<Prepared>,
        req: &PricingRequest,
        samples_per_block: u64,
        f64: bool,
    ) -> Result<(), EngineError> {
        if !f64 {
            let policies = p
                .policy
                .iter()
                .chain(moved.iter().filter_map(|m| m.policy.as_ref()));
            super::dated_multi::f32_policies(engine, t, policies, &p.payoff, &p.spots)?;
        }
        let first_date = self.dates.len();
        let (first_coef, fitted) = self.push_coefs(&p, p.policy.as_ref(), f64);
        let moved_coefs = moved
            .as_ref()
            .map(|m| self.push_coefs(&p, m.policy.as_ref(), f64));
        for (k, &step) in p.dates.iter().enumerate() {
            let moved_fitted = moved_coefs.as_ref().is_some_and(|(_, f)| f[k]);
            self.dates.push(
                step | if fitted[k] { FITTED } else { 0 }
                    | if moved_fitted { MOVED_FITTED } else { 0 },
            );
        }
        let with = moved.as_ref().zip(moved_coefs.as_ref().map(|(c, _)| *c));
        if f64 {
            let r = GpuEarly64::new(&p, with, t, req, first_date, first_coef);
            self.records.extend_from_slice(bytemuck::bytes_of(&r));
        } else {
            let r = GpuExtension::new(&p, with, t, req, first_date, first_coef);
            self.records.extend_from_slice(bytemuck::bytes_of(&r));
        }
        let samples = if req.antithetic { t.paths / 2 } else { t.paths };
        let total = *self.starts.last().unwrap_or(&0) as u64 + samples.div_ceil(samples_per_block);
        self.starts
            .push(
                u32::try_from(total).map_err(|_| EngineError::Failed {
                    engine,
                    reason:
                        "block table: more than 2^32 blocks of several-asset trades in one batch"
                            .into(),
                    source: None,
                })?,
            );
        self.trades.push(index);
        self.moved_fit.push(moved.map_or(0.0, |m| m.fit_seconds));
        self.prepared.push(p);
        Ok(())
    }

    /// The batch an engine launches.
    pub fn batch(&self) -> SideBatch<'_> {
        SideBatch {
            kernel: SideKernel::Extension {
                heston: self.heston,
            },
            records: &self.records,
            starts: &self.starts,
            dates: &self.dates,
            coefs: &self.coefs,
            key: self.key,
            trades: &self.trades,
        }
    }

    /// Each record's outputs, its blocks' moments merged in path order.
    pub fn merged(&self, blocks: &[Moments]) -> Vec<Acc> {
        let mut out = Vec::with_capacity(self.trades.len());
        for (k, p) in self.prepared.iter().enumerate() {
            let mut acc = Acc::new(p.outputs());
            for (n, mean, m2) in &blocks[self.starts[k] as usize..self.starts[k + 1] as usize] {
                acc.merge_moments(*n, mean, m2);
            }
            out.push(acc);
        }
        out
    }

    /// Each trade's result, `(batch index, result)`, from its record's
    /// merged outputs (`merged`); `seconds` shared over the trades by
    /// path-steps.
    pub fn results(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
        merged: &[Acc],
        seconds: f64,
    ) -> Vec<(usize, TradeResult)> {
        let work: f64 = self.trades.iter().map(|&i| trades[i].path_steps()).sum();
        let mut out = Vec::with_capacity(self.trades.len());
        for ((&i, p), acc) in self.trades.iter().zip(&self.prepared).zip(merged) {
            let share = seconds * trades[i].path_steps() / work.max(1.0);
            out.push((i, p.result(&trades[i], req, acc, share)));
        }
        out
    }
}

/// One block's `(n, mean, M2)` per output, as an engine decoded it.
pub type Moments = (u64, Vec<f64>, Vec<f64>);

/// The kernels beside the fused pricing kernel, which take the same
/// bindings (records, block table, `u32` table, value table, partials in
/// [`EXTENSION_PARTIAL`] slots a block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SideKernel {
    /// Several assets or early exercise, on `heston_multi` or `gbm_multi`.
    Extension { heston: bool },
    /// Dated trades of one payoff kind ([`super::dated`]).
    Dated(crate::payoff::PayoffKind),
    /// Dated trades with early exercise or several underlyings
    /// ([`super::dated_multi`]).
    DatedMulti,
}

/// What an engine launches for a side kernel: its records, the block
/// table (each record's first block, then the total), the `u32` and value
/// tables, the key, and the batch index of each record's trade.
pub struct SideBatch<'a> {
    pub kernel: SideKernel,
    pub records: &'a [u8],
    pub starts: &'a [u32],
    pub dates: &'a [u32],
    pub coefs: &'a [u8],
    pub key: [u32; 2],
    pub trades: &'a [usize],
}

impl SideBatch<'_> {
    /// Blocks in all.
    pub fn blocks(&self) -> u64 {
        *self.starts.last().unwrap_or(&0) as u64
    }

    /// Slots of partials its blocks write.
    pub fn partials_len(&self) -> usize {
        self.blocks() as usize * EXTENSION_PARTIAL
    }

    /// Its records.
    pub fn n_trades(&self) -> u32 {
        self.trades.len() as u32
    }

    /// The trade (batch index) whose record holds global block `block`.
    pub fn trade_of_block(&self, block: usize) -> usize {
        let k = self.starts.partition_point(|&s| s as usize <= block) - 1;
        self.trades[k.min(self.trades.len().saturating_sub(1))]
    }

    /// Each block's moments from `partials`, decoded by `decode`.
    pub fn decode<T>(&self, partials: &[T], decode: impl Fn(&[T]) -> Moments) -> Vec<Moments> {
        partials.chunks(EXTENSION_PARTIAL).map(decode).collect()
    }
}

/// What an engine does with a batch: each block's moments, and the seconds.
pub type RunPlan<'a> = super::dated::RunSide<'a>;

/// [`crate::Engine::revalue`] of the trades with an extension on a GPU
/// engine, to the CPU pricer's contract ([`Prepared::revalue`]): every
/// distinct moved trade of a trade's scenarios is prepared as the CPU's
/// ([`scenario_markets`]: its own policy, refitted on the host) and priced
/// beside the base trade in one scenario record ([`E_SCENARIO`]: the base
/// path and the moved path on the same normals, outputs the base value and
/// the per-path difference). So each P&L is the CPU's per-path difference,
/// its standard error from the same differences; the base is walked once
/// per scenario (a trade no scenario moves: once). `run` prices a plan.
#[allow(clippy::too_many_arguments)]
pub fn revalue_extended(
    engine: &'static str,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    samples_per_block: u64,
    f64: bool,
    run: &mut RunPlan<'_>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    let started = std::time::Instant::now();
    let plain = PricingRequest {
        greeks: GreekSet::default(),
        ..req.clone()
    };
    let mut plans: Vec<ExtensionPlan> = Vec::new();
    let mut layout: Vec<Records> = Vec::new();
    for (i, (t, sc)) in trades.iter().zip(scenarios).enumerate() {
        let bad = |message: String| EngineError::BadTrade {
            id: t.id.clone(),
            message,
        };
        let (of, moved) = scenario_markets(t, sc, &plain).map_err(bad)?;
        // The base, prepared (its policy fitted) once for all its records.
        let base = prepare(engine, t, &plain)?;
        let mut at = Vec::new();
        let mut push = |moved: Option<Prepared>| -> Result<(), EngineError> {
            let p = base.clone();
            let k = ExtensionPlan::of_model(&mut plans, &p, &plain, f64);
            at.push((k, plans[k].trades.len()));
            plans[k].push(engine, i, t, p, moved, &plain, samples_per_block, f64)?;
            Ok(())
        };
        if moved.is_empty() {
            push(None)?;
        } else {
            for m in moved {
                push(Some(m))?;
            }
        }
        layout.push(Records { of, at });
    }
    let plans = ExtensionPlan::finish(plans);
    let mut merged = Vec::with_capacity(plans.len());
    for plan in &plans {
        merged.push(plan.merged(&run(&plan.batch())?.0));
    }
    let seconds = started.elapsed().as_secs_f64();
    let work: f64 = trades.iter().map(Trade::path_steps).sum::<f64>().max(1.0);
    let mut out = Vec::with_capacity(trades.len());
    for (t, Records { of, at }) in trades.iter().zip(layout) {
        let acc = |k: usize| &merged[at[k].0][at[k].1];
        // The base was fitted once (its records carry copies of it).
        let fit: f64 = plans[at[0].0].prepared[at[0].1].fit_seconds
            + at.iter().map(|&(p, r)| plans[p].moved_fit[r]).sum::<f64>();
        out.push(ScenarioResult {
            base: acc(0).estimate(0),
            pnl: of
                .iter()
                .map(|k| k.map_or(Estimate::ZERO, |k| acc(k).estimate(1)))
                .collect(),
            paths: t.paths,
            seconds: fit + seconds * t.path_steps() / work,
        });
    }
    Ok(out)
}

/// A trade's scenario records: which distinct move each scenario is, and
/// where each distinct move's record is, `(plan, record)` (a trade no
/// scenario moves: its one pricing record).
struct Records {
    of: Vec<Option<usize>>,
    at: Vec<(usize, usize)>,
}

/// A trade prepared for the GPU kernels, or why it cannot be.
fn prepare(engine: &'static str, t: &Trade, req: &PricingRequest) -> Result<Prepared, EngineError> {
    let p = Prepared::new(t, req).ok_or_else(|| EngineError::BadTrade {
        id: t.id.clone(),
        message: crate::engine::cpu::extension::UNPRICEABLE.into(),
    })?;
    if p.n > MAX_ASSETS {
        return Err(EngineError::BadTrade {
            id: t.id.clone(),
            message: format!(
                "{} assets: the {engine} kernels take at most {MAX_ASSETS}",
                p.n
            ),
        });
    }
    Ok(p)
}

/// A CUDA block's partial: `n`, then each output's sum and sum of squares.
pub fn from_sums(p: &[f64]) -> (u64, Vec<f64>, Vec<f64>) {
    let n = p[0];
    let sum = &p[1..1 + EXTENSION_OUTPUTS];
    let sq = &p[1 + EXTENSION_OUTPUTS..1 + 2 * EXTENSION_OUTPUTS];
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1.0)).collect();
    let m2 = sum
        .iter()
        .zip(sq)
        .zip(&mean)
        .map(|((s, q), m)| (q - s * m).max(0.0))
        .collect();
    (n as u64, mean, m2)
}

/// A WGSL workgroup's partial: `n`, then each output's mean and M2.
pub fn from_mean_m2(p: &[f32]) -> (u64, Vec<f64>, Vec<f64>) {
    let mean = p[1..1 + EXTENSION_OUTPUTS]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let m2 = p[1 + EXTENSION_OUTPUTS..1 + 2 * EXTENSION_OUTPUTS]
        .iter()
        .map(|&v| v as f64)
        .collect();
    (p[0] as u64, mean, m2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<GpuExtension>(), 1584);
        assert_eq!(std::mem::size_of::<GpuEarly64>(), 3120);
        assert_eq!(std::mem::offset_of!(GpuEarly64, vals), 48);
        assert_eq!(EXTENSION_PARTIAL, 60);
    }
}
