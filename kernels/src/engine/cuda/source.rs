//! The CUDA C source of every kernel, assembled from the prelude emitted
//! from Rust ([`crate::gpu::prelude`]), the shared files beside this one
//! (`common.cuh`, `kernel.cu`), the stream and special functions
//! (`rng.cuh`, `math.cuh` beside `rng.rs` and `real.rs`), each model's and
//! payoff's file beside its Rust twin (`model/NAME.cuh`,
//! `payoff/NAME.cuh`), and one `extern "C"` wrapper per model x payoff x
//! precision, so one NVRTC compile serves every trade a node will see.

use super::{PATHS_PER_BLOCK, THREADS};
use crate::engine::Precision;
use crate::gpu::extension::Width;
use crate::gpu::plan::KindPlan;
use crate::gpu::prelude;
use crate::model::ModelKind;
use crate::payoff::PayoffKind;

/// What every kernel shares, in the order the translation unit needs.
pub(crate) const COMMON: [&str; 4] = [
    include_str!("common.cuh"),
    include_str!("../../math.cuh"),
    include_str!("../../rng.cuh"),
    include_str!("../../qmc/qmc.cuh"),
];
/// The fused kernel, after the models and payoffs.
pub(crate) const KERNEL: &str = include_str!("kernel.cu");
/// Dual numbers (the twin of `tangent.rs`), before the models, and the
/// one-pass kernel after the fused one ([`crate::gpu::one_pass`]).
pub(crate) const TANGENT: &str = include_str!("../../tangent.cuh");
pub(crate) const ONE_PASS: &str = include_str!("one_pass.cu");
/// Several assets and early exercise, after the fused kernel: the
/// correlated step, the payoffs on several assets, the continuation value
/// and their kernel ([`crate::gpu::extension`]).
pub(crate) const EXTENSION: [&str; 4] = [
    include_str!("../../model/multi.cuh"),
    include_str!("../../payoff/multi.cuh"),
    include_str!("../../exercise.cuh"),
    include_str!("extension.cu"),
];

/// Dated trades on one underlying ([`crate::gpu::dated`]): their kernel,
/// one a payoff kind, after the payoffs.
pub(crate) const DATED: &str = include_str!("dated.cu");
/// The step both dated kernels share, before them.
pub(crate) const DATED_STEP: &str = include_str!("dated_step.cuh");

/// Dated trades with early exercise or several underlyings
/// ([`crate::gpu::dated_multi`]): their kernel, one a width, after `DATED`.
pub(crate) const DATED_MULTI: &str = include_str!("dated_multi.cu");

/// The kernel of the dated trades with early exercise or several
/// underlyings, of a width (f64 whatever the precision).
pub fn dated_multi_kernel_name(width: Width) -> String {
    format!("price_dated_multi{}", width.suffix())
}

/// The kernel of the dated trades of a payoff kind (f64 whatever the
/// precision).
pub fn dated_kernel_name(payoff: PayoffKind) -> String {
    format!("price_dated_{}", payoff.name())
}

/// The kernel of the trades with several assets or early exercise on a
/// `heston_multi` model (else `gbm_multi`; a one-asset trade as its one
/// asset), of a width: f64 whatever the precision.
pub fn extension_kernel_name(heston: bool, width: Width) -> String {
    format!(
        "price_extension_{}_multi{}",
        if heston { "heston" } else { "gbm" },
        width.suffix()
    )
}

/// The kernel of a side batch.
pub fn side_kernel_name(kernel: crate::gpu::extension::SideKernel) -> String {
    use crate::gpu::extension::SideKernel;
    match kernel {
        SideKernel::Extension { heston, width } => extension_kernel_name(heston, width),
        SideKernel::Dated(p) => dated_kernel_name(p),
        SideKernel::DatedMulti(width) => dated_multi_kernel_name(width),
    }
}

/// Appended to a kernel's name: its variant for trades with one model
/// family and one fold (no Greeks), `PV_ONLY` in `kernel.cu`.
pub const PV_ONLY_SUFFIX: &str = "_pv";

/// The name of the kernel for a model x payoff kind in a precision.
pub fn kernel_name(model: ModelKind, payoff: PayoffKind, precision: Precision) -> String {
    format!(
        "price_{}_{}_{}",
        model.name(),
        payoff.name(),
        precision.name()
    )
}

/// Appended to a kernel's name: its one-pass variant (`one_pass.cu`,
/// [`crate::gpu::one_pass`]).
pub const ONE_PASS_SUFFIX: &str = "_one_pass";

/// Appended to a kernel's name (after `_one_pass`): its variant for trades
/// on Sobol points (`qmc.cuh`), kept apart because the bridge's stack is
/// in local memory.
pub const SOBOL_SUFFIX: &str = "_sobol";

/// The kernel a kind of a plan runs: its `_pv` variant where every trade
/// of the kind has one family and one fold, its `_one_pass` variant for
/// one-pass records, and either's `_sobol` for trades on Sobol points.
pub fn kernel_of(k: &KindPlan, precision: Precision) -> String {
    let name = kernel_name(k.model, k.payoff, precision);
    if k.sobol {
        let pass = if k.one_pass { ONE_PASS_SUFFIX } else { "" };
        return format!("{name}{pass}{SOBOL_SUFFIX}");
    }
    if k.one_pass {
        name + ONE_PASS_SUFFIX
    } else if k.pv_only {
        name + PV_ONLY_SUFFIX
    } else {
        name
    }
}

/// The whole translation unit handed to NVRTC; with `fast_math`, its
/// float special functions are the chip's (`RP_FAST_MATH` in `math.cuh`).
pub fn full_source(fast_math: bool) -> String {
    let mut src = if fast_math {
        "#define RP_FAST_MATH 1\n".to_string()
    } else {
        String::new()
    };
    src.push_str(&prelude::cuda(
        THREADS,
        (PATHS_PER_BLOCK / THREADS as u64) as u32,
    ));
    src.push('\n');
    let models = ModelKind::ALL.iter().map(|m| m.cuda().0);
    let payoffs = PayoffKind::ALL.iter().map(|p| p.cuda().0);
    let files: Vec<&str> = COMMON
        .into_iter()
        .chain([TANGENT])
        .chain(models)
        .chain(payoffs)
        .chain([KERNEL, ONE_PASS])
        .chain(EXTENSION)
        .chain([DATED_STEP, DATED, DATED_MULTI])
        .collect();
    src.push_str(&files.join("\n"));
    for &p in PayoffKind::ALL {
        src.push_str(&format!(
            "RP_DATED_KERNEL({}, {})\n",
            p.cuda().1,
            dated_kernel_name(p)
        ));
    }
    for &m in ModelKind::ALL {
        for &p in PayoffKind::ALL {
            for (precision, ty) in [(Precision::F32, "float"), (Precision::F64, "double")] {
                src.push_str(&format!(
                    "RP_KERNEL({}, {}, {ty}, {})\n",
                    m.cuda().1,
                    p.cuda().1,
                    kernel_name(m, p, precision)
                ));
                src.push_str(&format!(
                    "RP_ONE_PASS_KERNEL({}, {}, {ty}, {}{ONE_PASS_SUFFIX})\n",
                    m.cuda().1,
                    p.cuda().1,
                    kernel_name(m, p, precision)
                ));
            }
        }
    }
    src
}

/// Every kernel name in [`full_source`].
pub fn all_kernel_names() -> Vec<String> {
    let mut v = vec!["rp_kat".to_string()];
    for w in Width::ALL {
        v.push(extension_kernel_name(false, w));
        v.push(extension_kernel_name(true, w));
    }
    v.extend(PayoffKind::ALL.iter().map(|&p| dated_kernel_name(p)));
    v.extend(Width::ALL.map(dated_multi_kernel_name));
    for &m in ModelKind::ALL {
        for &p in PayoffKind::ALL {
            for precision in [Precision::F32, Precision::F64] {
                let name = kernel_name(m, p, precision);
                v.push(format!("{name}{PV_ONLY_SUFFIX}"));
                v.push(format!("{name}{ONE_PASS_SUFFIX}"));
                v.push(format!("{name}{SOBOL_SUFFIX}"));
                v.push(format!("{name}{ONE_PASS_SUFFIX}{SOBOL_SUFFIX}"));
                v.push(name);
            }
        }
    }
    v
}
