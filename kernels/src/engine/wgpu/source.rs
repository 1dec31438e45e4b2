//! The WGSL sources the wgpu engine assembles its kernels from, each a twin
//! of a Rust module and a CUDA C file (`cuda/source.rs`).

use super::*;
use crate::gpu::extension::Width;
use crate::gpu::prelude;
use crate::model::ModelKind;
use crate::payoff::PayoffKind;

/// The WGSL shared by every kernel: the random stream and the special functions.
pub(crate) const RNG: &str = include_str!("../../rng.wgsl");
pub(crate) const MATH: &str = include_str!("../../math.wgsl");
/// Sobol points and their bridge (the twin of `crate::qmc`), for the
/// pricing and one-pass kernels, after the stream and the functions.
pub(crate) const QMC: &str = include_str!("../../qmc/qmc.wgsl");
/// What the pricing, early-exercise and dated kernels share (which trade a
/// workgroup's block belongs to, the payoffs' constants and the vanilla
/// payoff), the twin of `cuda/common.cuh`.
pub(crate) const COMMON: &str = include_str!("common.wgsl");
/// The pricing kernel and the known-answer kernel.
pub(crate) const KERNEL: &str = include_str!("kernel.wgsl");
/// Dual numbers (the twin of `tangent.rs`), before the models and payoffs,
/// whose one-pass twins (`model_step_d`, `payoff_*_d`) use them.
pub(crate) const TANGENT: &str = include_str!("../../tangent.wgsl");
/// The reduction both pricing kernels end with (kernel.wgsl, one_pass.wgsl).
pub(crate) const PRICE_REDUCE: &str = include_str!("price_reduce.wgsl");
/// The one-pass kernel ([`crate::gpu::one_pass`]).
pub(crate) const ONE_PASS: &str = include_str!("one_pass.wgsl");
pub(crate) const KAT: &str = include_str!("kat.wgsl");
/// Several assets and early exercise: the correlated step, the payoffs on
/// several assets, the continuation value and their kernel
/// ([`crate::gpu::extension`]).
pub(crate) const EXTENSION: [&str; 5] = [
    include_str!("../../model/multi.wgsl"),
    include_str!("../../payoff/multi.wgsl"),
    include_str!("../../exercise.wgsl"),
    SIDE_REDUCE,
    include_str!("extension.wgsl"),
];

/// The workgroup reduction both side kernels end with (extension.wgsl,
/// dated_multi.wgsl).
pub(crate) const SIDE_REDUCE: &str = include_str!("side_reduce.wgsl");

/// The kernel of the trades with several assets or early exercise on a
/// `heston_multi` model (else `gbm_multi`), of a width: the prelude and the
/// width's, the stream, the special functions, `COMMON`, the one-asset
/// model each asset steps as, then `EXTENSION` (the several-asset WGSL
/// files).
pub fn extension_shader(heston: bool, width: Width) -> String {
    let model = if heston {
        ModelKind::Heston
    } else {
        ModelKind::Gbm
    };
    let mut parts = vec![
        prelude::wgsl(PATHS_PER_BLOCK),
        prelude::wgsl_width(width),
        RNG.to_string(),
        MATH.to_string(),
        COMMON.to_string(),
        TANGENT.to_string(),
        model.wgsl().to_string(),
    ];
    parts.extend(EXTENSION.iter().map(|s| s.to_string()));
    parts.join("\n")
}

/// Dated trades on one underlying ([`crate::gpu::dated`]), after one payoff
/// file and the step both dated kernels share (`DATED_STEP`).
pub(crate) const DATED: &str = include_str!("dated.wgsl");
pub(crate) const DATED_STEP: &str = include_str!("dated_step.wgsl");

/// The kernel of the dated trades of one payoff kind: the prelude, the
/// stream, the special functions, `COMMON`, the payoff and `DATED`.
pub fn dated_shader(payoff: PayoffKind) -> String {
    [
        &prelude::wgsl(PATHS_PER_BLOCK),
        RNG,
        MATH,
        COMMON,
        TANGENT,
        payoff.wgsl(),
        DATED_STEP,
        DATED,
    ]
    .join("\n")
}

/// Dated trades with early exercise or several underlyings
/// ([`crate::gpu::dated_multi`]), after the continuation value.
pub(crate) const DATED_MULTI: &str = include_str!("dated_multi.wgsl");

/// The kernel of the dated trades with early exercise or several
/// underlyings, of a width: the prelude and the width's, the stream, the
/// special functions, `COMMON`, the payoff on several assets, the
/// continuation value and `DATED_MULTI`.
pub fn dated_multi_shader(width: Width) -> String {
    [
        &prelude::wgsl(PATHS_PER_BLOCK),
        &prelude::wgsl_width(width),
        RNG,
        MATH,
        COMMON,
        include_str!("../../payoff/multi.wgsl"),
        include_str!("../../exercise.wgsl"),
        DATED_STEP,
        SIDE_REDUCE,
        DATED_MULTI,
    ]
    .join("\n")
}

/// The pricing kernel for one model x payoff pair: the prelude emitted from
/// Rust, then the stream, the special functions, the Sobol draws,
/// `COMMON`, the model, the payoff and the kernel.
pub fn pricing_shader(model: ModelKind, payoff: PayoffKind) -> String {
    [
        &prelude::wgsl(PATHS_PER_BLOCK),
        RNG,
        MATH,
        QMC,
        COMMON,
        TANGENT,
        model.wgsl(),
        payoff.wgsl(),
        PRICE_REDUCE,
        KERNEL,
    ]
    .join("\n")
}

/// The one-pass kernel for one model x payoff pair: as
/// [`pricing_shader`], `ONE_PASS` in place of the pricing kernel.
pub fn one_pass_shader(model: ModelKind, payoff: PayoffKind) -> String {
    [
        &prelude::wgsl(PATHS_PER_BLOCK),
        RNG,
        MATH,
        QMC,
        COMMON,
        TANGENT,
        model.wgsl(),
        payoff.wgsl(),
        PRICE_REDUCE,
        ONE_PASS,
    ]
    .join("\n")
}
