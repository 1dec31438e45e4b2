//! One-pass Greeks (`--greeks-method pathwise`) on the GPU engines: the
//! host side of the kernels `engine/cuda/one_pass.cu` and
//! `engine/wgpu/one_pass.wgsl`, twins of the CPU kernel's dual-number
//! path (`engine/cpu/lanes.rs` on [`crate::tangent::Dual`]).
//!
//! **What runs here.** A one-asset inline trade whose plan
//! ([`Revaluations::for_method`], the CPU engine's own) carries tangents
//! or likelihood-ratio scores ([`one_pass_plan`]). Its record is the
//! pricing kernel's ([`GpuTrade`]: the model families, folds and fold
//! coefficients of the Greeks still bumped) followed by the one-pass
//! section: the base family's constants' derivatives in the vol
//! parameter, each fold's seeds (the derivatives of its `x0`, `dx` and
//! discount along delta, vega and rho), each output's coefficients of the
//! folds' tangents, and each output's likelihood-ratio weight
//! ([`LrWeight`] as a kind and its constants). The kernels carry every
//! path state as a dual number (a value and three tangents), so the PV is
//! the same arithmetic as the pricing kernel's, and the outputs are
//! `sum coef * value + sum tcoef * tangent + weight(scores) * value[0]`,
//! as on the CPU.
//!
//! Trades whose every Greek is bumped (the plan has neither) run on the
//! pricing kernel as before; several assets, early exercise and dated
//! trades bump on the GPU engines (their estimators say so).

use bytemuck::{Pod, Zeroable};

use super::record::{GpuTrade, GpuTrade64, MODEL_CONSTS};
use crate::greeks::{GreeksMethod, LrWeight, Revaluations, MAX_FOLDS, OUTPUTS};
use crate::instrument::Trade;
use crate::tangent::TANGENTS;
use crate::PricingRequest;

/// Values per fold's seeds: `x0`, `dx`, `discount` along each of the
/// [`TANGENTS`] directions, padded to whole vec4s.
pub const SEED_STRIDE: usize = 12;
/// Values per (output, fold) tangent coefficients: one a direction, padded.
pub const TCOEF_STRIDE: usize = 4;
/// `u32`s of the likelihood-ratio kinds: one an output, padded.
pub const LR_KINDS: usize = 8;
/// An output's likelihood-ratio constants: `[scale, spot, t, vol]`.
pub const LR_CONSTS: usize = 4;

/// The likelihood-ratio weights ([`LrWeight`]) as the kernels read them.
pub const LR_NONE: u32 = 0;
pub const LR_DELTA: u32 = 1;
pub const LR_GAMMA: u32 = 2;
pub const LR_DELTA_TERMINAL: u32 = 3;
pub const LR_GAMMA_TERMINAL: u32 = 4;
pub const LR_VEGA_TERMINAL: u32 = 5;
pub const LR_RHO: u32 = 6;

/// A weight's kind and its `[spot, t, vol]` (unused ones 0).
fn lr_of(w: LrWeight) -> (u32, [f64; 3]) {
    match w {
        LrWeight::Delta { spot } => (LR_DELTA, [spot, 0.0, 0.0]),
        LrWeight::Gamma { spot } => (LR_GAMMA, [spot, 0.0, 0.0]),
        LrWeight::DeltaTerminal { spot, t } => (LR_DELTA_TERMINAL, [spot, t, 0.0]),
        LrWeight::GammaTerminal { spot, t, vol } => (LR_GAMMA_TERMINAL, [spot, t, vol]),
        LrWeight::VegaTerminal { t, vol } => (LR_VEGA_TERMINAL, [0.0, t, vol]),
        LrWeight::Rho { t } => (LR_RHO, [0.0, t, 0.0]),
    }
}

/// The one-pass plan of `trade` under `req`, where it has one: a one-asset
/// inline trade, Greeks asked for by [`GreeksMethod::Pathwise`], and a plan
/// that carries tangents or likelihood-ratio scores.
pub fn one_pass_plan(trade: &Trade, req: &PricingRequest) -> Option<Revaluations> {
    if req.greeks_method != GreeksMethod::Pathwise
        || req.greeks.is_empty()
        || trade.extension.is_some()
        || trade.dated.is_some()
    {
        return None;
    }
    let plan = Revaluations::for_method(trade, &req.greeks, &req.bumps, req.greeks_method);
    (plan.tangents.is_some() || plan.needs_scores()).then_some(plan)
}

/// `share` split into the trades that price in one pass and the rest
/// (the pricing kernel's); with `plans` given (scenario passes, bumped by
/// their plans) every trade is the rest.
pub fn split(
    trades: &[Trade],
    plans: Option<&[Revaluations]>,
    share: Vec<usize>,
    req: &PricingRequest,
) -> (Vec<usize>, Vec<usize>) {
    match plans {
        Some(_) => (Vec::new(), share),
        None => share
            .into_iter()
            .partition(|&i| one_pass_plan(&trades[i], req).is_some()),
    }
}

/// Declares a one-pass record in one precision (the CUDA C template
/// `OnePassTrade<R>` and WGSL's `struct OnePassTrade`, emitted by
/// [`super::prelude`], have its layout).
macro_rules! gpu_one_pass {
    ($(#[$doc:meta])* $name:ident, $trade:ty, $t:ty) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Pod, Zeroable)]
        pub struct $name {
            /// The pricing kernel's record: families, folds, payoff, and
            /// the fold coefficients (the PV and any bumped Greek).
            pub trade: $trade,
            /// Per output: its likelihood-ratio weight (`LR_*`).
            pub lr_kind: [u32; LR_KINDS],
            /// Per output: `[scale, spot, t, vol]` of that weight.
            pub lr: [[$t; LR_CONSTS]; OUTPUTS],
            /// `[dt, 1 if the kernel sums the scores, 0, 0]`.
            pub misc: [$t; 4],
            /// The base family's constants' derivatives in the vol parameter.
            pub vega: [$t; MODEL_CONSTS],
            /// Per fold: `x0`, `dx`, `discount`, each along delta, vega, rho.
            pub seeds: [[$t; SEED_STRIDE]; MAX_FOLDS],
            /// Per output and fold: the coefficients of its tangents.
            pub tcoef: [[[$t; TCOEF_STRIDE]; MAX_FOLDS]; OUTPUTS],
        }

        impl $name {
            /// The record of `trade` priced by `plan` (a one-pass plan,
            /// [`one_pass_plan`]).
            pub fn with_plan(trade: &Trade, plan: &Revaluations, req: &PricingRequest) -> $name {
                let mut g = $name::zeroed();
                g.trade = <$trade>::with_plan(trade, plan, req);
                // Tangent coefficients as the pricing record's fold
                // coefficients (record.rs): none rounded away.
                let kept = |c: f64| -> $t {
                    if c != 0.0 && (c as $t).abs() < <$t>::MIN_POSITIVE {
                        (c.signum() as $t) * <$t>::MIN_POSITIVE
                    } else {
                        c as $t
                    }
                };
                let dt = trade.maturity / trade.steps as f64;
                for (q, lr) in plan.likelihood.iter().enumerate() {
                    if let (Some(lr), true) = (lr, plan.active[q]) {
                        let (kind, [spot, t, vol]) = lr_of(lr.weight);
                        g.lr_kind[q] = kind;
                        g.lr[q] = [lr.scale as $t, spot as $t, t as $t, vol as $t];
                    }
                }
                g.misc = [dt as $t, if plan.needs_scores() { 1.0 } else { 0.0 }, 0.0, 0.0];
                if let Some(tg) = &plan.tangents {
                    if tg.vega {
                        g.vega = trade.model.vega_slots(dt).map(|d| d as $t);
                    }
                    for (k, f) in tg.folds.iter().enumerate().take(MAX_FOLDS) {
                        for j in 0..TANGENTS {
                            g.seeds[k][j] = f.x0[j] as $t;
                            g.seeds[k][TANGENTS + j] = f.dx[j] as $t;
                            g.seeds[k][2 * TANGENTS + j] = f.discount[j] as $t;
                        }
                    }
                    for q in 0..OUTPUTS {
                        if !plan.active[q] {
                            continue;
                        }
                        for k in 0..MAX_FOLDS {
                            for j in 0..TANGENTS {
                                g.tcoef[q][k][j] = kept(tg.coef[q][k][j]);
                            }
                        }
                    }
                }
                g
            }
        }
    };
}

gpu_one_pass!(
    /// A one-pass trade for an f32 kernel: 1,552 bytes, every field
    /// 16-byte aligned.
    GpuOnePass,
    GpuTrade,
    f32
);
gpu_one_pass!(
    /// A one-pass trade for an f64 kernel (CUDA `--precision f64`).
    GpuOnePass64,
    GpuTrade64,
    f64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<GpuOnePass>(), 1568);
        assert_eq!(std::mem::size_of::<GpuOnePass>() % 16, 0);
        assert_eq!(std::mem::offset_of!(GpuOnePass, lr_kind), 496);
        assert_eq!(std::mem::offset_of!(GpuOnePass, tcoef), 1008);
        assert_eq!(std::mem::size_of::<GpuOnePass64>() % 8, 0);
    }
}
