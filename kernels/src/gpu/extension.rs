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
//! the base state and every bumped state; no path is stored. Under
//! one-pass Greeks ([`E_ONE_PASS`]) the thread also differentiates the
//! payoff where the base state and each spot state exercise, as the CPU
//! pricer's `Pathwise` does, into the same outputs.
//!
//! **Memory per trade on the device**: one record as wide as its kernel
//! ([`Width::record_bytes`]: the step constants of every asset in its
//! three vol families, spots, weights and bumps; narrow 1,328 bytes in f32
//! for WGSL, 2,608 in f64 for CUDA C; wide 5,072 and 10,096), the lower
//! correlation factor in the coefficient table (`n x n` values, f32 or
//! f64: 8 KiB for 32 assets in f64; the record holds where), one `u32` per
//! exercise date (its step, with [`FITTED`] where the date has
//! coefficients), and `(dates - 1) x (2 assets + 2)` coefficients (f32 or
//! f64): an American trade of 252 steps on 5 assets takes 251 x 12
//! coefficients, 24 KiB in f64. Each block of paths writes
//! [`Width::partial`] slots (60 narrow, 204 wide).
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

/// The two widths the several-asset kernels are built in, each its own
/// compiled kernel: per-thread state (each asset's path, each
/// revaluation's value, a path's outputs) has a fixed size on a GPU, and
/// sizing every kernel for [`MAX_ASSETS`] would cost the trades of a few
/// assets, which are most of them: fixed arrays four times longer, and on
/// lavapipe loops over the assets that no longer unroll (its cap on loop
/// iterations then cuts a 252-date walk short). So a trade of up to
/// [`NARROW_ASSETS`] assets runs the narrow kernels (the loops over the
/// assets unrolled, as before the limit was lifted), and one of more the
/// wide kernels, whose loops over the assets end at the trade's count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    Narrow,
    Wide,
}

/// The most assets the narrow kernels take.
pub const NARROW_ASSETS: usize = 8;

impl Width {
    pub const ALL: [Width; 2] = [Width::Narrow, Width::Wide];

    /// The width that takes a trade of `assets` assets (at most [`MAX_ASSETS`]).
    pub const fn of(assets: usize) -> Width {
        if assets <= NARROW_ASSETS {
            Width::Narrow
        } else {
            Width::Wide
        }
    }

    /// The most assets its kernels take.
    pub const fn assets(self) -> usize {
        match self {
            Width::Narrow => NARROW_ASSETS,
            Width::Wide => MAX_ASSETS,
        }
    }

    /// Outputs per sample: pv, the summed delta, gamma, vega, rho, then
    /// delta, gamma and vega per asset (`5 + 3n` used, as the CPU pricer's).
    pub const fn outputs(self) -> usize {
        5 + 3 * self.assets()
    }

    /// Revaluations per path at most: base, spot up/down and vol up/down
    /// per asset, rate up/down (the dated kernel's families likewise).
    pub const fn states(self) -> usize {
        1 + 4 * self.assets() + 2
    }

    /// A block's partial: `[n, a_0.., b_0.., cut]` over its outputs (CUDA:
    /// sums and sums of squares in f64, `cut` 0; WGSL: mean and M2 in f32,
    /// `cut` the invocations whose walk the device cut short). The narrow
    /// kernels' stays 60 slots, so a batch of a few assets reads back no
    /// more than before the wide kernels.
    pub const fn partial(self) -> usize {
        2 + 2 * self.outputs()
    }

    /// Where a record's per-asset values start: spots, basket weights and
    /// vega bumps ([`V_SPOTS`] on), then each asset's step constants for
    /// its base, vol-up and vol-down families.
    pub const fn v_weights(self) -> usize {
        V_SPOTS + self.assets()
    }
    pub const fn v_dvol(self) -> usize {
        V_SPOTS + 2 * self.assets()
    }
    pub const fn v_model(self) -> usize {
        V_SPOTS + 3 * self.assets()
    }

    /// Values of a record.
    pub const fn vals(self) -> usize {
        self.v_model() + 3 * self.assets() * EXTENSION_MODEL_CONSTS
    }

    /// Bytes of a record: `f64` values (CUDA C) or f32 (WGSL).
    pub const fn record_bytes(self, f64: bool) -> usize {
        4 * EXTENSION_HEAD + self.vals() * if f64 { 8 } else { 4 }
    }

    /// Appended to its kernels' names.
    pub const fn suffix(self) -> &'static str {
        match self {
            Width::Narrow => "",
            Width::Wide => "_wide",
        }
    }
}

/// `u32`s of a record's head: `[steps, assets, flags, dates, stream lo,
/// stream hi, samples, first date, first coefficient, terms, first moved
/// coefficient (a scenario record's), first factor value]`.
pub const EXTENSION_HEAD: usize = 12;
/// Model constants per asset and vol family (as [`super::record::MODEL_CONSTS`]).
pub const EXTENSION_MODEL_CONSTS: usize = super::record::MODEL_CONSTS;
/// Where each part of a record's values sits: the scalars `[dt, rate,
/// h_spot, dr, scale, strike, moved rate, 0]`, then the per-asset values
/// (as wide as the kernel's [`Width`]: [`Width::v_weights`] and on). The
/// lower correlation factor is not in the record: it is `n x n` values
/// (row-major, stride `n`) of the coefficient table, from the head's last
/// entry, so a record's size does not grow with the square of the width.
pub const V_SPOTS: usize = 8;
/// The narrow kernels' outputs and partial ([`Width::partial`]), which the
/// one-underlying dated kernel writes too ([`super::dated`]).
pub const EXTENSION_OUTPUTS: usize = Width::Narrow.outputs();
pub const EXTENSION_PARTIAL: usize = Width::Narrow.partial();

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
/// One-pass Greeks (`--greeks-method pathwise`, see
/// `engine/cpu/extension.rs`'s `Pathwise`): the payoff is differentiated
/// at each state's exercise; delta asked ([`E_PW_DELTA`]), gbm's vega
/// pathwise ([`E_PW_VEGA`]; else a bumped vega rides [`E_VEGA`]'s states),
/// rho asked ([`E_PW_RHO`]); gamma from the spot states of [`E_SPOT`].
pub const E_ONE_PASS: u32 = 1024;
pub const E_PW_DELTA: u32 = 2048;
pub const E_PW_VEGA: u32 = 4096;
pub const E_PW_RHO: u32 = 8192;
/// Set on an exercise date's step where the policy has coefficients there.
pub const FITTED: u32 = 1 << 31;
/// Set where a scenario record's moved policy has coefficients there.
pub const MOVED_FITTED: u32 = 1 << 30;
/// The scalar slot of a scenario record's moved rate (its moved spots are
/// in the vega bumps' slots, [`Width::v_dvol`]: a scenario record carries
/// no Greeks).
pub const S_MOVED_RATE: usize = 6;

/// The record of a prepared trade `p` in kernels of width `w`, its head and
/// values (f64, rounded to f32 by the caller for WGSL): its dates start at
/// `first_date`, coefficients at `first_coef` and correlation factor at
/// `first_factor` in the batch's tables; `moved` (with its first
/// coefficient): a scenario record.
#[allow(clippy::too_many_arguments)]
fn record(
    w: Width,
    p: &Prepared,
    moved: Option<(&Prepared, usize)>,
    trade: &Trade,
    req: &PricingRequest,
    first_date: usize,
    first_coef: usize,
    first_factor: usize,
) -> ([u32; EXTENSION_HEAD], Vec<f64>) {
    let mut vals = vec![0.0f64; w.vals()];
    let n = p.n;
    let (flags, strike) = payoff_flags(&p.payoff, |j, wt| vals[w.v_weights() + j] = wt);
    let consts_of = |steps: &Steps, j: usize, fam: usize| match steps {
        Steps::Gbm(s) => s[j][fam].gpu_consts(),
        Steps::Heston(s) => s[j][fam].gpu_consts(),
    };
    for j in 0..n {
        for fam in 0..3 {
            let at = w.v_model() + (j * 3 + fam) * EXTENSION_MODEL_CONSTS;
            for (slot, c) in vals[at..at + EXTENSION_MODEL_CONSTS]
                .iter_mut()
                .zip(consts_of(&p.steps, j, fam))
            {
                *slot = c;
            }
        }
    }
    let flags = flags
        | if p.antithetic { E_ANTITHETIC } else { 0 }
        | if p.spot { E_SPOT } else { 0 }
        | if p.vega { E_VEGA } else { 0 }
        | if p.rho { E_RHO } else { 0 }
        | if moved.is_some() { E_SCENARIO } else { 0 }
        | one_pass_flags(p);
    let scalars = [p.dt, p.rate, p.h_spot, p.dr, p.scale, strike];
    vals[..scalars.len()].copy_from_slice(&scalars);
    for j in 0..n {
        vals[V_SPOTS + j] = p.spots[j];
        vals[w.v_dvol() + j] = p.dvol[j];
    }
    if let Some((m, _)) = moved {
        // The moved trade: its family in the vol-up slots, its spots in
        // the vega bumps', its rate.
        for j in 0..n {
            let at = w.v_model() + (j * 3 + 1) * EXTENSION_MODEL_CONSTS;
            for (slot, c) in vals[at..at + EXTENSION_MODEL_CONSTS]
                .iter_mut()
                .zip(consts_of(&m.steps, j, 0))
            {
                *slot = c;
            }
            vals[w.v_dvol() + j] = m.spots[j];
        }
        vals[S_MOVED_RATE] = m.rate;
    }
    let samples = if req.antithetic {
        trade.paths / 2
    } else {
        trade.paths
    };
    let head = [
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
        first_factor as u32,
    ];
    (head, vals)
}

/// The one-pass flag bits of a prepared trade (none where it bumps).
fn one_pass_flags(p: &Prepared) -> u32 {
    let Some(pw) = p.pathwise else {
        return 0;
    };
    let [delta, _, vega, rho] = p.asked;
    E_ONE_PASS
        | if delta { E_PW_DELTA } else { 0 }
        | if vega && pw.vega { E_PW_VEGA } else { 0 }
        | if rho { E_PW_RHO } else { 0 }
}

/// A several-asset payoff's flag bits (`E_PUT`, and a rainbow's
/// `E_SORTED` with `E_MAX` or `E_MIN`) and its strike, as both several-asset
/// kernels read them (`extension.*`, `dated_multi.*`); a basket's weights go
/// to `weight(asset, weight)`.
pub(super) fn payoff_flags(payoff: &MultiPayoff, mut weight: impl FnMut(usize, f64)) -> (u32, f64) {
    let put = |o: &OptionType| match o {
        OptionType::Put => E_PUT,
        OptionType::Call => 0,
    };
    match payoff {
        MultiPayoff::Basket {
            option,
            strike,
            weights,
        } => {
            for (j, wt) in weights.iter().enumerate() {
                weight(j, *wt);
            }
            (put(option), *strike)
        }
        MultiPayoff::Rainbow {
            option,
            strike,
            kind,
        } => (
            put(option)
                | E_SORTED
                | match kind {
                    RainbowKind::Max => E_MAX,
                    RainbowKind::Min => E_MIN,
                },
            *strike,
        ),
    }
}

/// Whether a model step's constants fill no more than a record's slot,
/// and each width's record is whole vec4s (WGSL's struct).
const _: () = assert!(EXTENSION_MODEL_CONSTS == 12 && (EXTENSION_HEAD * 4).is_multiple_of(16));
const _: () = assert!(
    Width::Narrow.vals().is_multiple_of(4)
        && Width::Wide.vals().is_multiple_of(4)
        && EXTENSION_PARTIAL.is_multiple_of(2)
);

/// The trades of a batch with several assets or early exercise on one
/// model (`gbm_multi`: one normal an asset a step; `heston_multi`: two),
/// as one kernel prices them.
pub struct ExtensionPlan {
    /// `heston_multi` (else `gbm_multi`).
    pub heston: bool,
    /// The kernels' width its trades' assets take.
    pub width: Width,
    /// Batch indices of its trades, in the order of its records (a
    /// scenario record's is its base trade's).
    pub trades: Vec<usize>,
    prepared: Vec<Prepared>,
    /// Per record: the fit seconds of its scenario's moved policy.
    moved_fit: Vec<f64>,
    /// The records ([`Width::record_bytes`] each).
    pub records: Vec<u8>,
    pub record_size: usize,
    /// Every trade's exercise steps (with [`FITTED`]), trade after trade;
    /// never empty (a binding needs a size).
    pub dates: Vec<u32>,
    /// Every trade's correlation factor (`n x n`, row-major) and
    /// coefficients (f32 or f64 bytes), date after date,
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

    /// Which plan of `plans` takes `p`'s model and width, added where there
    /// is none.
    fn of_model(
        plans: &mut Vec<ExtensionPlan>,
        p: &Prepared,
        req: &PricingRequest,
        f64: bool,
    ) -> usize {
        let heston = matches!(p.steps, Steps::Heston(_));
        let width = Width::of(p.n);
        let k = match plans
            .iter()
            .position(|q| q.heston == heston && q.width == width)
        {
            Some(k) => k,
            None => {
                plans.push(ExtensionPlan {
                    heston,
                    width,
                    trades: Vec::new(),
                    prepared: Vec::new(),
                    moved_fit: Vec::new(),
                    records: Vec::new(),
                    record_size: width.record_bytes(f64),
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

    /// Appends a value to the coefficient table, in f64 or f32.
    fn push_value(&mut self, v: f64, f64: bool) {
        if f64 {
            self.coefs.extend_from_slice(&v.to_ne_bytes());
        } else {
            self.coefs.extend_from_slice(&(v as f32).to_ne_bytes());
        }
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
                    self.push_value(beta.map_or(0.0, |b| b[q]), f64);
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
        // The factor, beside the coefficients (the record would otherwise
        // carry `MAX_ASSETS^2` values, most of them unused).
        let first_factor = self.coefs.len() / if f64 { 8 } else { 4 };
        for &v in &p.factor {
            self.push_value(v, f64);
        }
        let with = moved.as_ref().zip(moved_coefs.as_ref().map(|(c, _)| *c));
        let (head, vals) = record(
            self.width,
            &p,
            with,
            t,
            req,
            first_date,
            first_coef,
            first_factor,
        );
        self.records
            .extend_from_slice(bytemuck::cast_slice::<u32, u8>(&head));
        for v in vals {
            if f64 {
                self.records.extend_from_slice(&v.to_ne_bytes());
            } else {
                self.records.extend_from_slice(&(v as f32).to_ne_bytes());
            }
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
                width: self.width,
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
/// [`SideKernel::partial`] slots a block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SideKernel {
    /// Several assets or early exercise, on `heston_multi` or `gbm_multi`,
    /// in the kernels of a width.
    Extension { heston: bool, width: Width },
    /// Dated trades of one payoff kind ([`super::dated`]).
    Dated(crate::payoff::PayoffKind),
    /// Dated trades with early exercise or several underlyings
    /// ([`super::dated_multi`]), in the kernel of a width.
    DatedMulti(Width),
}

impl SideKernel {
    /// Slots of a block's partial: its width's; the one-underlying dated
    /// kernel's the narrow one's.
    pub fn partial(self) -> usize {
        match self {
            SideKernel::Extension { width, .. } | SideKernel::DatedMulti(width) => width.partial(),
            SideKernel::Dated(_) => EXTENSION_PARTIAL,
        }
    }
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

    /// Slots of one block's partial.
    pub fn partial(&self) -> usize {
        self.kernel.partial()
    }

    /// Slots of partials its blocks write.
    pub fn partials_len(&self) -> usize {
        self.blocks() as usize * self.partial()
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
        partials.chunks(self.partial()).map(decode).collect()
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

/// A CUDA block's partial (of any width): `n`, then each output's sum and
/// sum of squares.
pub fn from_sums(p: &[f64]) -> (u64, Vec<f64>, Vec<f64>) {
    let n = p[0];
    let m = (p.len() - 2) / 2;
    let sum = &p[1..1 + m];
    let sq = &p[1 + m..1 + 2 * m];
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1.0)).collect();
    let m2 = sum
        .iter()
        .zip(sq)
        .zip(&mean)
        .map(|((s, q), m)| (q - s * m).max(0.0))
        .collect();
    (n as u64, mean, m2)
}

/// A WGSL workgroup's partial (of any width): `n`, then each output's mean
/// and M2.
pub fn from_mean_m2(p: &[f32]) -> (u64, Vec<f64>, Vec<f64>) {
    let m = (p.len() - 2) / 2;
    let mean = p[1..1 + m].iter().map(|&v| v as f64).collect();
    let m2 = p[1 + m..1 + 2 * m].iter().map(|&v| v as f64).collect();
    (p[0] as u64, mean, m2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_kernels_layout() {
        // The narrow kernels' record, and the wide kernels' (docs/formats.md).
        assert_eq!(Width::Narrow.record_bytes(false), 1328);
        assert_eq!(Width::Narrow.record_bytes(true), 2608);
        assert_eq!(Width::Wide.record_bytes(false), 5072);
        assert_eq!(Width::Wide.record_bytes(true), 10096);
        // f64 values start 8-byte aligned after the head.
        assert_eq!((4 * EXTENSION_HEAD) % 8, 0);
        assert_eq!(EXTENSION_PARTIAL, 60);
        assert_eq!(Width::Wide.partial(), 204);
        assert_eq!(Width::of(8), Width::Narrow);
        assert_eq!(Width::of(9), Width::Wide);
        assert_eq!(Width::Wide.assets(), MAX_ASSETS);
    }
}
