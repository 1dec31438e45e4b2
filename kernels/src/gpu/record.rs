//! Trades as the GPU engines read them: grouped by model and payoff kind
//! (one kernel per pair) into plain `#[repr(C)]` records, laid out the same
//! in Rust, WGSL and CUDA C: their `struct Trade` is emitted from the
//! constants here by [`super::prelude`].
//!
//! Everything a kernel needs is precomputed here in f64 and rounded once to
//! f32, exactly as the CPU engine's f32 kernel receives it, so the engines
//! start from the same bits.

use bytemuck::{Pod, Zeroable};

use crate::greeks::{Revaluations, MAX_FAMILIES, MAX_FOLDS, OUTPUTS};
use crate::instrument::Trade;
use crate::model::ModelKind;
use crate::payoff::PayoffKind;
use crate::rng::key_of;
use crate::PricingRequest;

/// Flag bit (in `head[3]`, beside the payoff's flags) for antithetic pairs.
pub const ANTITHETIC: u32 = 1 << 16;
/// Flag bit (in `head[3]`) for a trade whose normals are Sobol points
/// (one replicate: `qmc`).
pub const SOBOL: u32 = 1 << 17;
/// Words of `head`, `ids` and `qmc`.
pub const HEAD: usize = 4;
/// A model family's constants (`ModelStep::gpu_consts`).
pub const MODEL_CONSTS: usize = 12;
/// A fold's constants: family, x0, dx, discount.
pub const FOLD_CONSTS: usize = 4;
/// The payoff's constants (`PayoffStep::gpu_consts`).
pub const PAYOFF_CONSTS: usize = 8;
/// An output's fold coefficients: [`MAX_FOLDS`], padded to whole vec4s.
pub const COEF_STRIDE: usize = MAX_FOLDS.next_multiple_of(4);

/// Declares a trade record in one precision; the CUDA C template
/// `Trade<R>` has the same layout for `float` and `double`, and WGSL's
/// `struct Trade` for f32 (both emitted by [`super::prelude`]).
macro_rules! gpu_trade {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Pod, Zeroable)]
        pub struct $name {
            /// `[steps, n_families, n_folds, flags]`.
            pub head: [u32; HEAD],
            /// `[stream lo, stream hi, paths lo, paths hi]`.
            pub ids: [u32; HEAD],
            /// `[replicate, first sweep node, 0, 0]` of a Sobol trade
            /// ([`SOBOL`]; [`super::plan::SobolTables`]).
            pub qmc: [u32; HEAD],
            /// Per model family (base, vol up, vol down): the model's constants.
            pub families: [[$t; MODEL_CONSTS]; MAX_FAMILIES],
            /// Per fold: `[family, x0, dx, discount]`.
            pub folds: [[$t; FOLD_CONSTS]; MAX_FOLDS],
            /// The payoff's constants.
            pub payoff: [$t; PAYOFF_CONSTS],
            /// Per output (PV, delta, gamma, vega, rho): the fold coefficients.
            pub coef: [[$t; COEF_STRIDE]; OUTPUTS],
        }

        impl $name {
            pub fn new(trade: &Trade, req: &PricingRequest) -> $name {
                $name::with_plan(trade, &Revaluations::new(trade, &req.greeks, &req.bumps), req)
            }

            /// The record of `trade` revalued as `plan` says (scenario
            /// passes: [`crate::revalue`]).
            pub fn with_plan(trade: &Trade, plan: &Revaluations, req: &PricingRequest) -> $name {
                let dt = trade.maturity / trade.steps as f64;
                let mut g = $name::zeroed();
                let payoff = trade.payoff.prepare::<$t>(trade.model.spot(), trade.steps);
                let (consts, flags) = payoff.gpu_consts();
                let replicate = match crate::engine::replicates::rng_of(trade, req) {
                    crate::qmc::Rng::SobolReplicate { index } => Some(index),
                    _ => None,
                };
                g.head = [
                    trade.steps,
                    plan.families.len() as u32,
                    plan.folds.len() as u32,
                    flags
                        | if req.antithetic { ANTITHETIC } else { 0 }
                        | if replicate.is_some() { SOBOL } else { 0 },
                ];
                g.qmc = [replicate.unwrap_or(0), 0, 0, 0];
                g.ids = [trade.stream as u32, (trade.stream >> 32) as u32, trade.paths as u32, (trade.paths >> 32) as u32];
                for (slot, m) in g.families.iter_mut().zip(&plan.families) {
                    *slot = m.prepare::<$t>(dt).gpu_consts();
                }
                for (slot, f) in g.folds.iter_mut().zip(&plan.folds) {
                    *slot = [f.family as $t, f.x0 as $t, f.dx as $t, f.discount as $t];
                }
                g.payoff = consts;
                // A coefficient the precision rounds to 0 or a subnormal
                // (a vega bump's 1 / (2 h vol) at a vol of 1e308 in f32)
                // is kept at the smallest normal: the kernels skip a zero
                // coefficient, so its fold's NaN (a path that is not
                // finite) would give a Greek of 0 where the CPU's f64
                // coefficient gives NaN.
                let kept = |c: f64| -> $t {
                    if c != 0.0 && (c as $t).abs() < <$t>::MIN_POSITIVE {
                        (c.signum() as $t) * <$t>::MIN_POSITIVE
                    } else {
                        c as $t
                    }
                };
                for q in 0..OUTPUTS {
                    for k in 0..MAX_FOLDS {
                        g.coef[q][k] = if plan.active[q] { kept(plan.coef[q][k]) } else { 0.0 };
                    }
                }
                g
            }

            /// Points its bridge's sweep at `first` in the batch's table
            /// (a Sobol trade's).
            pub fn set_sweep(&mut self, first: u32) {
                self.qmc[1] = first;
            }

            /// Paths of the trade.
            pub fn paths(&self) -> u64 {
                self.ids[2] as u64 | ((self.ids[3] as u64) << 32)
            }

            /// One model family and one fold, the base one (no per-step
            /// shift): a price with no Greeks, which the GPU engines run on
            /// their PV-only kernels.
            pub fn pv_only(&self) -> bool {
                self.head[1] == 1 && self.head[2] == 1 && self.folds[0][2] == 0.0
            }
        }
    };
}

gpu_trade!(
    /// One trade for an f32 kernel: 496 bytes, every field 16-byte aligned.
    GpuTrade,
    f32
);
gpu_trade!(
    /// One trade for an f64 kernel (CUDA `--precision f64`): 944 bytes.
    GpuTrade64,
    f64
);

/// Trades of one model x payoff kind, with their places in the batch.
pub struct KindGroup {
    pub model: ModelKind,
    pub payoff: PayoffKind,
    /// Its trades draw Sobol points (one replicate each): the CUDA engine
    /// runs them on their own kernels (`_sobol`), whose bridge stack lives
    /// in local memory, so that Philox's keep every state in registers.
    pub sobol: bool,
    pub indices: Vec<usize>,
}

/// Whether a trade the engines price is a replicate of Sobol points.
pub fn is_sobol(t: &Trade) -> bool {
    matches!(t.rng, Some(crate::qmc::Rng::SobolReplicate { .. }))
}

/// Groups a batch by kernel kind, keeping the batch order inside a group.
pub fn group<'a>(trades: impl IntoIterator<Item = &'a Trade>) -> Vec<KindGroup> {
    let mut groups: Vec<KindGroup> = Vec::new();
    for (i, t) in trades.into_iter().enumerate() {
        let (m, p, q) = (t.model.kind(), t.payoff.kind(), is_sobol(t));
        let g = match groups
            .iter_mut()
            .position(|g| g.model == m && g.payoff == p && g.sobol == q)
        {
            Some(k) => &mut groups[k],
            None => {
                groups.push(KindGroup {
                    model: m,
                    payoff: p,
                    sobol: q,
                    indices: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        g.indices.push(i);
    }
    groups
}

/// The Philox key of a request, as the kernels take it.
pub fn gpu_key(req: &PricingRequest) -> [u32; 2] {
    key_of(req.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name_and_has_its_own_number() {
        for (i, &k) in ModelKind::ALL.iter().enumerate() {
            assert_eq!(ModelKind::parse(k.name()), Some(k));
            assert_eq!(k.gpu_id() as usize, i);
        }
        for (i, &k) in PayoffKind::ALL.iter().enumerate() {
            assert_eq!(PayoffKind::parse(k.name()), Some(k));
            assert_eq!(k.gpu_id() as usize, i);
        }
        assert_eq!(
            PayoffKind::parse("double_barrier"),
            Some(PayoffKind::DoubleBarrier)
        );
        assert_eq!(ModelKind::parse("Gbm"), None);
    }

    #[test]
    fn records_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<GpuTrade>(), 496);
        assert_eq!(std::mem::align_of::<GpuTrade>(), 4);
        assert_eq!(std::mem::size_of::<GpuTrade64>(), 944);
        assert_eq!(std::mem::offset_of!(GpuTrade64, families), 48);
    }
}
