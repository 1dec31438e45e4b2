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
//! covers.

use bytemuck::{Pod, Zeroable};

use crate::correlation::MAX_ASSETS;
use crate::engine::cpu::extension::{Acc, Prepared, Steps};
use crate::engine::{EngineError, PricingRequest, TradeResult};
use crate::instrument::Trade;
use crate::multi::{MultiPayoff, RainbowKind};
use crate::payoff::OptionType;
use crate::rng::key_of;

/// `u32`s of a record's head: `[steps, assets, flags, dates, stream lo,
/// stream hi, samples, first date, first coefficient, terms, 0, 0]`.
pub const EXTENSION_HEAD: usize = 12;
/// Model constants per asset and vol family (as [`super::record::MODEL_CONSTS`]).
pub const EXTENSION_MODEL_CONSTS: usize = super::record::MODEL_CONSTS;
/// Where each part of a record's values sits: the scalars `[dt, rate,
/// h_spot, dr, scale, strike, 0, 0]`, then per asset its spot, basket
/// weight and vega bump, the lower factor (row-major, `MAX_ASSETS` wide),
/// then each asset's step constants for its base, vol-up and vol-down
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
/// Set on an exercise date's step where the policy has coefficients there.
pub const FITTED: u32 = 1 << 31;

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
            fn new(p: &Prepared, trade: &Trade, req: &PricingRequest, first_date: usize, first_coef: usize) -> $name {
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
                    | if p.rho { E_RHO } else { 0 };
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
                    0,
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
    /// Batch indices of its trades, in the order of its records.
    pub trades: Vec<usize>,
    prepared: Vec<Prepared>,
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
            let p = Prepared::new(t, req).ok_or_else(|| EngineError::BadTrade {
                id: t.id.clone(),
                message: "several assets and early exercise need a gbm or heston model and a european, basket or rainbow payoff".into(),
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
            let heston = matches!(p.steps, Steps::Heston(_));
            let plan = match plans.iter_mut().position(|q| q.heston == heston) {
                Some(k) => &mut plans[k],
                None => {
                    plans.push(ExtensionPlan {
                        heston,
                        trades: Vec::new(),
                        prepared: Vec::new(),
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
                    plans.last_mut().expect("just pushed")
                }
            };
            plan.push(engine, i, t, p, req, samples_per_block, f64)?;
        }
        for plan in &mut plans {
            // A binding needs a size.
            plan.dates.push(0);
            plan.coefs.extend_from_slice(&[0; 8]);
        }
        Ok(plans)
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        engine: &'static str,
        index: usize,
        t: &Trade,
        p: Prepared,
        req: &PricingRequest,
        samples_per_block: u64,
        f64: bool,
    ) -> Result<(), EngineError> {
        let width = if f64 { 8 } else { 4 };
        let first_date = self.dates.len();
        let first_coef = self.coefs.len() / width;
        let terms = p.payoff.basis(p.n).len();
        for (k, &step) in p.dates.iter().enumerate() {
            let beta = p
                .policy
                .as_ref()
                .and_then(|pol| pol.coefficients.get(k))
                .and_then(|c| c.as_ref());
            self.dates
                .push(step | if beta.is_some() { FITTED } else { 0 });
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
        if f64 {
            let r = GpuEarly64::new(&p, t, req, first_date, first_coef);
            self.records.extend_from_slice(bytemuck::bytes_of(&r));
        } else {
            let r = GpuExtension::new(&p, t, req, first_date, first_coef);
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
        self.prepared.push(p);
        Ok(())
    }

    /// Blocks in all.
    pub fn blocks(&self) -> u64 {
        *self.starts.last().unwrap_or(&0) as u64
    }

    /// Slots of partials the plan's blocks write.
    pub fn partials_len(&self) -> usize {
        self.blocks() as usize * EXTENSION_PARTIAL
    }

    /// Each trade's result, `(batch index, result)`, from its blocks'
    /// `partials` merged in path order, each block decoded by `decode`
    /// into `(n, mean, M2)`; `seconds` shared over the trades by path-steps.
    pub fn results<T>(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
        partials: &[T],
        decode: impl Fn(&[T]) -> (u64, Vec<f64>, Vec<f64>),
        seconds: f64,
    ) -> Vec<(usize, TradeResult)> {
        let work: f64 = self.trades.iter().map(|&i| trades[i].path_steps()).sum();
        let mut out = Vec::with_capacity(self.trades.len());
        for (k, (&i, p)) in self.trades.iter().zip(&self.prepared).enumerate() {
            let mut acc = Acc::new(p.outputs());
            for b in self.starts[k] as usize..self.starts[k + 1] as usize {
                let (n, mean, m2) =
                    decode(&partials[b * EXTENSION_PARTIAL..(b + 1) * EXTENSION_PARTIAL]);
                acc.merge_moments(n, &mean, &m2);
            }
            let share = seconds * trades[i].path_steps() / work.max(1.0);
            out.push((i, p.result(&trades[i], req, &acc, share)));
        }
        out
    }
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
