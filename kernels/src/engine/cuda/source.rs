//! The CUDA C source of every kernel, assembled from `kernels/cuda/`: the
//! shared files, each model and payoff, the fused kernel, and one
//! `extern "C"` wrapper per model x payoff x precision, so one NVRTC
//! compile serves every trade a node will see.

use crate::engine::Precision;
use crate::portfolio::{MODEL_NAMES, PAYOFF_NAMES};

/// The CUDA C structs of the models and payoffs, by kind (as in `portfolio`).
const MODEL_STRUCTS: [&str; 3] = ["Gbm", "Heston", "SvFx"];
const PAYOFF_STRUCTS: [&str; 6] = [
    "European",
    "Digital",
    "Asian",
    "Barrier",
    "Lookback",
    "FxWarrant",
];

const FILES: [&str; 13] = [
    include_str!("../../../cuda/common.cuh"),
    include_str!("../../../cuda/math.cuh"),
    include_str!("../../../cuda/rng.cuh"),
    include_str!("../../../cuda/gbm.cuh"),
    include_str!("../../../cuda/heston.cuh"),
    include_str!("../../../cuda/sv_fx.cuh"),
    include_str!("../../../cuda/european.cuh"),
    include_str!("../../../cuda/digital.cuh"),
    include_str!("../../../cuda/asian.cuh"),
    include_str!("../../../cuda/barrier.cuh"),
    include_str!("../../../cuda/lookback.cuh"),
    include_str!("../../../cuda/fx_warrant.cuh"),
    include_str!("../../../cuda/kernel.cu"),
];

/// Appended to a kernel's name: its variant for trades with one model
/// family and one fold (no Greeks), `PV_ONLY` in `kernel.cu`.
pub const PV_ONLY_SUFFIX: &str = "_pv";

/// The name of the kernel for a model x payoff kind in a precision.
pub fn kernel_name(model: usize, payoff: usize, precision: Precision) -> String {
    format!(
        "price_{}_{}_{}",
        MODEL_NAMES[model],
        PAYOFF_NAMES[payoff],
        precision.name()
    )
}

/// The whole translation unit handed to NVRTC; with `fast_math`, its
/// float special functions are the chip's (`RP_FAST_MATH` in `math.cuh`).
pub fn full_source(fast_math: bool) -> String {
    let mut src = if fast_math {
        "#define RP_FAST_MATH 1\n".to_string()
    } else {
        String::new()
    };
    src.push_str(&FILES.join("\n"));
    for (m, model) in MODEL_STRUCTS.iter().enumerate() {
        for (p, payoff) in PAYOFF_STRUCTS.iter().enumerate() {
            for (precision, ty) in [(Precision::F32, "float"), (Precision::F64, "double")] {
                src.push_str(&format!(
                    "RP_KERNEL({model}, {payoff}, {ty}, {})\n",
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
    for m in 0..MODEL_NAMES.len() {
        for p in 0..PAYOFF_NAMES.len() {
            for precision in [Precision::F32, Precision::F64] {
                let name = kernel_name(m, p, precision);
                v.push(format!("{name}{PV_ONLY_SUFFIX}"));
                v.push(name);
            }
        }
    }
    v
}
