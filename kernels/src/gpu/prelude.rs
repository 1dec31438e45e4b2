//! The constants and the trade record the WGSL and CUDA C kernels share
//! with the Rust, emitted from the Rust definitions ([`super::record`],
//! [`crate::payoff::gpu`], [`crate::greeks`]) into a prelude that each
//! assembled source starts with. No source file writes them again (the
//! tests check it), so a slot added to the record or a flag bit moved is
//! one edit, in Rust.
//!
//! | emitted | WGSL | CUDA C |
//! |---|---|---|
//! | payoff flag bits, `ANTITHETIC` and `SOBOL` | `const PUT: u32` ... | `#define RP_PUT 1u` ... |
//! | Sobol draws ([`QMC_CONSTS`]): the scrambling key's words, a bridge sweep's stack | `const` | `#define RP_...` |
//! | record sizes: `MAX_FAMILIES`, `MAX_FOLDS`, `MODEL_CONSTS`, `FOLD_CONSTS`, `PAYOFF_CONSTS`, `COEF_STRIDE` | `const` (u32) | `#define RP_...` |
//! | `OUTPUTS`, `PARTIAL` (slots of a block's partial sums) | `const` | `#define RP_...` |
//! | paths per block | `WG` | `RP_BLOCK`, `RP_PATHS_PER_THREAD` |
//! | the record | `struct Trade` (vec4 arrays, 16-byte aligned) | `template <typename R> struct Trade` |
//! | several assets and early exercise ([`super::early`]): the record's head, outputs and partial, its flag bits | `const` | `#define RP_...` |
//! | a kernel width's sizes and record offsets ([`extension::Width`], [`width_sizes`]): `ASSETS`, `SIDE_OUTPUTS`, `V_MODEL`, ... | `const` in that width's kernels ([`wgsl_width`]) | members of `struct RpNarrow`, `struct RpWide` |
//! | their record | `struct ExtensionTrade` (f32, in a width's kernels) | `template <typename R, class W> struct ExtensionTrade` |
//! | dated trades ([`super::dated`]): the record's sizes and offsets, models, flag bits, the local-volatility columns | `const` | `#define RP_...` |
//! | their record | `struct DatedTrade` (f32) | `template <typename R> struct DatedTrade` |
//! | one-pass Greeks ([`super::one_pass`]): the likelihood-ratio weights, the record's sizes | `const` | `#define RP_...` |
//! | their record | `struct OnePassTrade` (f32) | `template <typename R> struct OnePassTrade` |

use std::fmt::Write;

use super::record::{
    ANTITHETIC, COEF_STRIDE, FOLD_CONSTS, HEAD, MODEL_CONSTS, PAYOFF_CONSTS, SOBOL,
};
use super::{dated, dated_multi, extension, one_pass, PARTIAL};
use crate::greeks::{MAX_FAMILIES, MAX_FOLDS, OUTPUTS};
use crate::payoff::gpu;

/// The flag bits of a record's `head[3]`: the payoffs', antithetic and
/// Sobol points.
pub const FLAGS: [(&str, u32); 8] = [
    ("PUT", gpu::PUT),
    ("GEOMETRIC", gpu::GEOMETRIC),
    ("DOWN", gpu::DOWN),
    ("KNOCK_IN", gpu::KNOCK_IN),
    ("CONTINUOUS", gpu::CONTINUOUS),
    ("FIXED_STRIKE", gpu::FIXED_STRIKE),
    ("ANTITHETIC", ANTITHETIC),
    ("SOBOL", SOBOL),
];

/// What the Sobol draws take from [`crate::qmc`]: the scrambling seeds'
/// key (the run's Philox key XOR these words), the stack of a bridge's
/// sweep.
pub const QMC_CONSTS: [(&str, u32); 3] = [
    ("SOBOL_KEY_LO", crate::qmc::sobol::SCRAMBLE_KEY as u32),
    (
        "SOBOL_KEY_HI",
        (crate::qmc::sobol::SCRAMBLE_KEY >> 32) as u32,
    ),
    ("SWEEP_DEPTH", crate::qmc::bridge::SWEEP_DEPTH as u32),
];

/// The sizes both languages' kernels are written against.
pub const SIZES: [(&str, usize); 8] = [
    ("MAX_FAMILIES", MAX_FAMILIES),
    ("MAX_FOLDS", MAX_FOLDS),
    ("MODEL_CONSTS", MODEL_CONSTS),
    ("FOLD_CONSTS", FOLD_CONSTS),
    ("PAYOFF_CONSTS", PAYOFF_CONSTS),
    ("COEF_STRIDE", COEF_STRIDE),
    ("OUTPUTS", OUTPUTS),
    ("PARTIAL", PARTIAL),
];

/// The early-exercise and multi-asset kernels' flag bits ([`super::early`]).
pub const EXTENSION_FLAGS: [(&str, u32); 15] = [
    ("E_PUT", extension::E_PUT),
    ("E_MAX", extension::E_MAX),
    ("E_MIN", extension::E_MIN),
    ("E_SORTED", extension::E_SORTED),
    ("E_ANTITHETIC", extension::E_ANTITHETIC),
    ("E_SPOT", extension::E_SPOT),
    ("E_VEGA", extension::E_VEGA),
    ("E_RHO", extension::E_RHO),
    ("E_SCENARIO", extension::E_SCENARIO),
    ("E_ONE_PASS", extension::E_ONE_PASS),
    ("E_PW_DELTA", extension::E_PW_DELTA),
    ("E_PW_VEGA", extension::E_PW_VEGA),
    ("E_PW_RHO", extension::E_PW_RHO),
    ("FITTED", extension::FITTED),
    ("MOVED_FITTED", extension::MOVED_FITTED),
];

/// The early-exercise and multi-asset kernels' sizes and record offsets
/// that do not depend on their width.
pub const EXTENSION_SIZES: [(&str, usize); 7] = [
    ("MAX_ASSETS", crate::correlation::MAX_ASSETS),
    ("EXTENSION_HEAD", extension::EXTENSION_HEAD),
    ("EXTENSION_MODEL_CONSTS", extension::EXTENSION_MODEL_CONSTS),
    ("EXTENSION_OUTPUTS", extension::EXTENSION_OUTPUTS),
    ("EXTENSION_PARTIAL", extension::EXTENSION_PARTIAL),
    ("V_SPOTS", extension::V_SPOTS),
    ("S_MOVED_RATE", extension::S_MOVED_RATE),
];

/// The sizes and record offsets of the several-asset kernels of width `w`
/// ([`extension::Width`]): the assets their per-thread arrays hold, their
/// outputs and the slots of a block's partial, revaluations (the dated
/// kernel's families), the dated kernel's per-thread path states
/// ([`dated_multi::slots`]), the normals of a step, the outputs a
/// workgroup reduces at a time (WGSL: its shared array stays within 8
/// KiB), and the record's per-asset offsets.
pub fn width_sizes(w: extension::Width) -> [(&'static str, usize); 12] {
    [
        ("ASSETS", w.assets()),
        ("SIDE_OUTPUTS", w.outputs()),
        ("SIDE_PARTIAL", w.partial()),
        ("SIDE_STATES", w.states()),
        ("SIDE_SLOTS", dated_multi::slots(w)),
        ("SIDE_NORMALS", 2 * w.assets()),
        ("OUT_CHUNK", w.outputs().min(32)),
        ("V_WEIGHTS", w.v_weights()),
        ("V_DVOL", w.v_dvol()),
        ("V_MOVED_SPOTS", w.v_dvol()),
        ("V_MODEL", w.v_model()),
        ("EXTENSION_VALS", w.vals()),
    ]
}

/// The one-pass kernels' likelihood-ratio weights and sizes
/// ([`super::one_pass`]).
pub const ONE_PASS_CONSTS: [(&str, usize); 11] = [
    ("LR_NONE", one_pass::LR_NONE as usize),
    ("LR_DELTA", one_pass::LR_DELTA as usize),
    ("LR_GAMMA", one_pass::LR_GAMMA as usize),
    ("LR_DELTA_TERMINAL", one_pass::LR_DELTA_TERMINAL as usize),
    ("LR_GAMMA_TERMINAL", one_pass::LR_GAMMA_TERMINAL as usize),
    ("LR_VEGA_TERMINAL", one_pass::LR_VEGA_TERMINAL as usize),
    ("LR_RHO", one_pass::LR_RHO as usize),
    ("SEED_STRIDE", one_pass::SEED_STRIDE),
    ("TCOEF_STRIDE", one_pass::TCOEF_STRIDE),
    ("LR_KINDS", one_pass::LR_KINDS),
    ("LR_CONSTS", one_pass::LR_CONSTS),
];

/// The dated kernels' flag bits and models ([`super::dated`]).
pub const DATED_FLAGS: [(&str, u32); 10] = [
    ("M_BLACK", dated::M_BLACK),
    ("M_LOCAL_VOL", dated::M_LOCAL_VOL),
    ("M_HESTON", dated::M_HESTON),
    ("D_REBATE", dated::D_REBATE),
    ("D_EUROPEAN", dated::D_EUROPEAN),
    ("D_BRIDGE", dated::D_BRIDGE),
    ("D_ANTITHETIC", dated::D_ANTITHETIC),
    ("S_OBSERVE", dated::S_OBSERVE),
    ("S_DIVIDEND", dated::S_DIVIDEND),
    ("NO_POLICY", dated_multi::NO_POLICY),
];

/// The dated kernels' sizes and record offsets.
pub const DATED_SIZES: [(&str, usize); 15] = [
    ("DATED_FAMILIES", dated::DATED_FAMILIES),
    ("DATED_OUTPUTS", dated::DATED_OUTPUTS),
    ("DATED_HEAD", dated::DATED_HEAD),
    ("DATED_INTS", dated::DATED_INTS),
    ("DATED_VALS", dated::DATED_VALS),
    ("DATED_COEF", dated::DATED_COEF),
    ("FAMILY_INTS", dated::FAMILY_INTS),
    ("FAMILY_VALS", dated::FAMILY_VALS),
    ("F_HESTON", dated::F_HESTON),
    ("F_DISCOUNT", dated::F_DISCOUNT),
    ("F_REBATE", dated::F_REBATE),
    ("F_K0", dated::F_K0),
    ("F_INV_DK", dated::F_INV_DK),
    ("STEP_VALS", dated::STEP_VALS),
    ("NODES", crate::market::local_vol::NODES),
];

/// The several-underlying and early-exercise dated kernel's sizes and
/// offsets ([`super::dated_multi`]; its per-thread sizes are its width's,
/// [`width_sizes`]).
pub const DATED_MULTI_SIZES: [(&str, usize); 8] = [
    ("MULTI_HEAD", dated_multi::MULTI_HEAD),
    ("T_STRIKE", dated_multi::T_STRIKE),
    ("T_WEIGHTS", dated_multi::T_WEIGHTS),
    ("FI_ASSETS", dated_multi::FI_ASSETS),
    ("FI_PER_ASSET", dated_multi::FI_PER_ASSET),
    ("MULTI_ASSET_VALS", dated_multi::MULTI_ASSET_VALS),
    ("A_NORM", dated_multi::A_NORM),
    ("STEP_HEAD", dated_multi::STEP_HEAD),
];

const HEADER: &str = "emitted by riskpool-kernels (src/gpu/prelude.rs) from the Rust definitions";

/// The CUDA C prelude, for blocks of `threads` threads each pricing
/// `paths_per_thread` paths.
pub fn cuda(threads: u32, paths_per_thread: u32) -> String {
    let mut s = format!("// {HEADER}\n");
    for (name, bit) in FLAGS {
        writeln!(s, "#define RP_{name} {bit}u").expect("a String");
    }
    for (name, bit) in EXTENSION_FLAGS
        .iter()
        .chain(&DATED_FLAGS)
        .chain(&QMC_CONSTS)
    {
        writeln!(s, "#define RP_{name} {bit}u").expect("a String");
    }
    for (name, n) in SIZES
        .iter()
        .chain(&EXTENSION_SIZES)
        .chain(&DATED_SIZES)
        .chain(&DATED_MULTI_SIZES)
        .chain(&ONE_PASS_CONSTS)
    {
        writeln!(s, "#define RP_{name} {n}").expect("a String");
    }
    // Each width's sizes, as members of a struct the kernels take as a
    // template parameter (`extension.cu`, `dated_multi.cu`).
    for (w, name) in [
        (extension::Width::Narrow, "RpNarrow"),
        (extension::Width::Wide, "RpWide"),
    ] {
        let members: Vec<String> = width_sizes(w)
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        writeln!(
            s,
            "struct {name} {{\n    static constexpr unsigned {};\n}};",
            members.join(", ")
        )
        .expect("a String");
    }
    writeln!(s, "#define RP_BLOCK {threads}").expect("a String");
    writeln!(s, "#define RP_PATHS_PER_THREAD {paths_per_thread}").expect("a String");
    writeln!(
        s,
        "\n// GpuTrade (float) and GpuTrade64 (double).\n\
         template <typename R> struct Trade {{\n\
         \x20   unsigned head[{HEAD}];  // steps, n_families, n_folds, flags\n\
         \x20   unsigned ids[{HEAD}];   // stream lo, stream hi, paths lo, paths hi\n\
         \x20   unsigned qmc[{HEAD}];   // replicate, first sweep node, 0, 0 (a Sobol trade's)\n\
         \x20   R families[RP_MAX_FAMILIES][RP_MODEL_CONSTS];  // per family (base, vol up, vol down)\n\
         \x20   R folds[RP_MAX_FOLDS][RP_FOLD_CONSTS];         // family, x0, dx, discount\n\
         \x20   R payoff[RP_PAYOFF_CONSTS];\n\
         \x20   R coef[RP_OUTPUTS][RP_COEF_STRIDE];           // outputs (pv, delta, gamma, vega, rho) x folds\n\
         }};\n\n\
         // GpuOnePass (float) and GpuOnePass64 (double): a trade priced in one pass.\n\
         template <typename R> struct OnePassTrade {{\n\
         \x20   Trade<R> t;\n\
         \x20   unsigned lr_kind[RP_LR_KINDS];             // per output, its likelihood-ratio weight (RP_LR_*)\n\
         \x20   R lr[RP_OUTPUTS][RP_LR_CONSTS];            // per output: scale, spot, t, vol\n\
         \x20   R misc[4];                                 // dt, scored, 0, 0\n\
         \x20   R vega[RP_MODEL_CONSTS];                   // the base family's constants' derivatives in the vol parameter\n\
         \x20   R seeds[RP_MAX_FOLDS][RP_SEED_STRIDE];     // per fold: x0, dx, discount along delta, vega, rho\n\
         \x20   R tcoef[RP_OUTPUTS][RP_MAX_FOLDS][RP_TCOEF_STRIDE];  // per output and fold: its tangents' coefficients\n\
         }};\n\n\
         // A several-asset trade (double for CUDA C) in the kernels of width W (RpNarrow, RpWide).\n\
         template <typename R, class W> struct ExtensionTrade {{\n\
         \x20   unsigned head[RP_EXTENSION_HEAD];  // steps, assets, flags, dates, stream lo, stream hi, samples, first date, first coef, terms, first moved coef, first factor value\n\
         \x20   R vals[W::EXTENSION_VALS];         // scalars, spots, weights, vega bumps, step constants\n\
         }};\n\n\
         // GpuDatedMulti: dated trades with early exercise or several underlyings.\n\
         struct DatedMultiTrade {{\n\
         \x20   unsigned head[RP_MULTI_HEAD];  // steps, families, flags, samples, stream lo, stream hi, normals a step, outputs, underlyings, first family int, first trade value, dates, first date, terms, payoff flags\n\
         }};\n\n\
         // GpuDated (float) and GpuDated64 (double): dated trades on one underlying.\n\
         template <typename R> struct DatedTrade {{\n\
         \x20   unsigned head[RP_DATED_INTS];  // steps, families, flags, samples, stream lo, stream hi, normals a step, outputs; per family its ints\n\
         \x20   R vals[RP_DATED_VALS];         // per family its values, then the outputs' coefficients\n\
         }};"
    )
    .expect("a String");
    s
}

/// The WGSL prelude, for workgroups of `wg` threads (one path each).
pub fn wgsl(wg: u64) -> String {
    let mut s = format!("// {HEADER}\n");
    for (name, bit) in FLAGS {
        writeln!(s, "const {name}: u32 = {bit}u;").expect("a String");
    }
    for (name, bit) in EXTENSION_FLAGS
        .iter()
        .chain(&DATED_FLAGS)
        .chain(&QMC_CONSTS)
    {
        writeln!(s, "const {name}: u32 = {bit}u;").expect("a String");
    }
    for (name, n) in SIZES
        .iter()
        .chain(&EXTENSION_SIZES)
        .chain(&DATED_SIZES)
        .chain(&DATED_MULTI_SIZES)
        .chain(&ONE_PASS_CONSTS)
    {
        writeln!(s, "const {name}: u32 = {n}u;").expect("a String");
    }
    writeln!(s, "const WG: u32 = {wg}u;").expect("a String");
    // WGSL's storage layout: arrays of vec4 (16 bytes), so each per-family
    // and per-output row is a whole number of vec4s.
    s.push_str("const FAMILY_VEC4S: u32 = MODEL_CONSTS / 4u;\n");
    s.push_str("const COEF_VEC4S: u32 = COEF_STRIDE / 4u;\n");
    writeln!(
        s,
        "\n// GpuTrade: {} bytes.\n\
         struct Trade {{\n\
         \x20   head: vec4<u32>,  // steps, n_families, n_folds, flags\n\
         \x20   ids: vec4<u32>,   // stream lo, stream hi, paths lo, paths hi\n\
         \x20   qmc: vec4<u32>,   // replicate, first sweep node, 0, 0 (a Sobol trade's)\n\
         \x20   families: array<vec4<f32>, MAX_FAMILIES * FAMILY_VEC4S>,  // per family (base, vol up, vol down)\n\
         \x20   folds: array<vec4<f32>, MAX_FOLDS * FOLD_CONSTS / 4u>,  // family, x0, dx, discount\n\
         \x20   payoff: array<vec4<f32>, PAYOFF_CONSTS / 4u>,\n\
         \x20   coef: array<vec4<f32>, OUTPUTS * COEF_VEC4S>,  // outputs (pv, delta, gamma, vega, rho) x folds\n\
         }}",
        std::mem::size_of::<super::record::GpuTrade>(),
    )
    .expect("a String");
    writeln!(
        s,
        "\n// GpuOnePass: {} bytes (a trade priced in one pass).\n\
         struct OnePassTrade {{\n\
         \x20   t: Trade,\n\
         \x20   lr_kind: array<vec4<u32>, LR_KINDS / 4u>,  // per output, its likelihood-ratio weight (LR_*)\n\
         \x20   lr: array<vec4<f32>, OUTPUTS * LR_CONSTS / 4u>,  // per output: scale, spot, t, vol\n\
         \x20   misc: vec4<f32>,  // dt, scored, 0, 0\n\
         \x20   vega: array<vec4<f32>, FAMILY_VEC4S>,  // the base family's constants' derivatives in the vol parameter\n\
         \x20   seeds: array<vec4<f32>, MAX_FOLDS * SEED_STRIDE / 4u>,  // per fold: x0, dx, discount along delta, vega, rho\n\
         \x20   tcoef: array<vec4<f32>, OUTPUTS * MAX_FOLDS * TCOEF_STRIDE / 4u>,  // per output and fold: its tangents' coefficients\n\
         }}",
        std::mem::size_of::<one_pass::GpuOnePass>(),
    )
    .expect("a String");
    writeln!(
        s,
        "\n// GpuDated: {} bytes (dated trades on one underlying).\n\
         struct DatedTrade {{\n\
         \x20   head: array<vec4<u32>, DATED_INTS / 4u>,  // steps, families, flags, samples, stream lo, stream hi, normals a step, outputs; per family its ints\n\
         \x20   vals: array<vec4<f32>, DATED_VALS / 4u>,  // per family its values, then the outputs' coefficients\n\
         }}",
        std::mem::size_of::<dated::GpuDated>(),
    )
    .expect("a String");
    writeln!(
        s,
        "\n// GpuDatedMulti: {} bytes (dated trades with early exercise or several underlyings).\n\
         struct DatedMultiTrade {{\n\
         \x20   head: array<vec4<u32>, MULTI_HEAD / 4u>,  // steps, families, flags, samples, stream lo, stream hi, normals a step, outputs, underlyings, first family int, first trade value, dates, first date, terms, payoff flags\n\
         }}",
        std::mem::size_of::<dated_multi::GpuDatedMulti>(),
    )
    .expect("a String");
    s
}

/// What the WGSL kernels of width `w` add to [`wgsl`]: the width's sizes
/// ([`width_sizes`]), its several-asset record, and `assets_to(n)`, the end
/// of a loop over a trade's `n` assets: the narrow kernels' is the
/// constant `ASSETS`, so that the loops unroll (lavapipe caps an
/// invocation's loop iterations at 65,535 in all, which a walk of hundreds
/// of dates with every Greek would pass if they did not); the wide
/// kernels' is `n` itself, so that a few assets cost a few iterations, and
/// lavapipe does not unroll 32 copies of every loop body (minutes of
/// shader compilation).
pub fn wgsl_width(w: extension::Width) -> String {
    let mut s = format!("// {HEADER}: the kernel's width, {} assets\n", w.assets());
    for (name, n) in width_sizes(w) {
        writeln!(s, "const {name}: u32 = {n}u;").expect("a String");
    }
    let end = match w {
        extension::Width::Narrow => "ASSETS",
        extension::Width::Wide => "min(n, ASSETS)",
    };
    writeln!(s, "fn assets_to(n: u32) -> u32 {{\n    return {end};\n}}").expect("a String");
    writeln!(
        s,
        "\n// A several-asset trade: {} bytes.\n\
         struct ExtensionTrade {{\n\
         \x20   head: array<vec4<u32>, EXTENSION_HEAD / 4u>,  // steps, assets, flags, dates, stream lo, stream hi, samples, first date, first coef, terms, first moved coef, first factor value\n\
         \x20   vals: array<vec4<f32>, EXTENSION_VALS / 4u>,  // scalars, spots, weights, vega bumps, step constants\n\
         }}",
        w.record_bytes(false),
    )
    .expect("a String");
    s
}

// Whole vec4s, as WGSL's struct needs.
const _: () = assert!(
    MODEL_CONSTS.is_multiple_of(4)
        && FOLD_CONSTS == 4
        && PAYOFF_CONSTS.is_multiple_of(4)
        && COEF_STRIDE.is_multiple_of(4)
);
const _: () = assert!(HEAD == 4);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::record::{GpuTrade, GpuTrade64};

    use crate::engine::{cuda::source, wgpu as w};
    use crate::model::ModelKind;
    use crate::payoff::PayoffKind;

    /// Every WGSL file a pricing kernel is assembled from.
    fn wgsl_files() -> Vec<&'static str> {
        let mut v = vec![
            w::RNG,
            w::MATH,
            w::COMMON,
            w::KERNEL,
            w::KAT,
            w::DATED,
            w::DATED_MULTI,
            w::DATED_STEP,
            w::TANGENT,
            w::PRICE_REDUCE,
            w::ONE_PASS,
            w::QMC,
        ];
        v.extend(w::EXTENSION);
        v.extend(ModelKind::ALL.iter().map(|m| m.wgsl()));
        v.extend(PayoffKind::ALL.iter().map(|p| p.wgsl()));
        v
    }

    /// Every CUDA C file the translation unit is assembled from.
    fn cuda_files() -> Vec<&'static str> {
        let mut v = source::COMMON.to_vec();
        v.push(source::KERNEL);
        v.push(source::TANGENT);
        v.push(source::ONE_PASS);
        v.extend(source::EXTENSION);
        v.push(source::DATED);
        v.push(source::DATED_MULTI);
        v.push(source::DATED_STEP);
        v.extend(ModelKind::ALL.iter().map(|m| m.cuda().0));
        v.extend(PayoffKind::ALL.iter().map(|p| p.cuda().0));
        v
    }

    /// The names a prelude defines, from its own text.
    fn defined(prelude: &str, marker: &str) -> Vec<String> {
        prelude
            .lines()
            .filter_map(|l| l.strip_prefix(marker))
            .map(|r| {
                r.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// Whether `src` (the prelude and the files) names `name` beyond its
    /// one definition.
    fn uses(src: &str, name: &str) -> bool {
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        src.match_indices(name)
            .filter(|(i, _)| {
                !ident(src[..*i].chars().last()) && !ident(src[i + name.len()..].chars().next())
            })
            .count()
            > 1
    }

    #[test]
    fn the_sources_use_the_prelude_and_never_write_it_again() {
        let files = wgsl_files();
        // The several-asset record (in a width's prelude) reads the base's
        // sizes too.
        let all = files.join("\n") + &wgsl(64) + &wgsl_width(extension::Width::Narrow);
        let names = defined(&wgsl(64), "const ");
        assert!(names.len() >= FLAGS.len() + SIZES.len());
        for name in &names {
            for f in &files {
                assert!(
                    !f.contains(&format!("const {name}:")),
                    "WGSL defines {name} again"
                );
            }
            assert!(uses(&all, name), "no WGSL uses the prelude's {name}");
        }
        assert!(files.iter().all(|f| !f.contains("struct Trade {")));
        assert!(files.iter().all(|f| !f.contains("struct ExtensionTrade {")));
        assert!(files.iter().all(|f| !f.contains("struct DatedTrade {")));
        assert!(files.iter().all(|f| !f.contains("struct OnePassTrade {")));
        assert!(uses(&all, "Trade"));
        // Each width's sizes and record: defined once, in its prelude, and used.
        for width in extension::Width::ALL {
            let mine = wgsl_width(width);
            let all = files.join("\n") + &mine;
            let names = defined(&mine, "const ");
            assert_eq!(names.len(), width_sizes(width).len());
            for name in names.iter().chain([&"assets_to".to_string()]) {
                for f in &files {
                    assert!(
                        !f.contains(&format!("const {name}:"))
                            && !f.contains(&format!("fn {name}(")),
                        "WGSL defines {name} again"
                    );
                }
                assert!(uses(&all, name), "no WGSL uses the width prelude's {name}");
            }
            assert!(uses(&all, "ExtensionTrade"));
            for heston in [false, true] {
                let shader = w::extension_shader(heston, width);
                assert!(shader.starts_with(&(wgsl(w::PATHS_PER_BLOCK) + "\n" + &mine)));
            }
            assert!(w::dated_multi_shader(width)
                .starts_with(&(wgsl(w::PATHS_PER_BLOCK) + "\n" + &mine)));
        }
        assert!(uses(&all, "FAMILY_VEC4S") && uses(&all, "COEF_VEC4S"));
        // The assembled kernels start with the emitted prelude.
        for &m in ModelKind::ALL {
            for &p in PayoffKind::ALL {
                assert!(w::pricing_shader(m, p).starts_with(&wgsl(w::PATHS_PER_BLOCK)));
            }
        }

        let files = cuda_files();
        let all = files.join("\n") + &cuda(128, 4);
        let names = defined(&cuda(128, 4), "#define ");
        assert!(names.len() >= FLAGS.len() + SIZES.len());
        for name in &names {
            for f in &files {
                assert!(
                    !f.contains(&format!("#define {name} ")),
                    "CUDA C defines {name} again"
                );
            }
            assert!(uses(&all, name), "no CUDA C uses the prelude's {name}");
        }
        assert!(files.iter().all(|f| !f.contains("struct Trade {")));
        let full = source::full_source(false);
        assert!(full.starts_with(&cuda(
            crate::engine::cuda::THREADS,
            (crate::engine::cuda::PATHS_PER_BLOCK / crate::engine::cuda::THREADS as u64) as u32
        )));
    }

    #[test]
    fn the_emitted_record_has_the_rust_layout() {
        let w = wgsl(64);
        assert!(w.contains(&format!("const OUTPUTS: u32 = {OUTPUTS}u;")));
        assert!(w.contains(&format!(
            "// GpuTrade: {} bytes.",
            std::mem::size_of::<GpuTrade>()
        )));
        // CUDA C: the record's arrays in R, sized by the emitted numbers.
        let c = cuda(128, 4);
        let r = MAX_FAMILIES * MODEL_CONSTS
            + MAX_FOLDS * FOLD_CONSTS
            + PAYOFF_CONSTS
            + OUTPUTS * COEF_STRIDE;
        // head, ids and qmc: 3 x 16 bytes.
        assert_eq!(48 + 4 * r, std::mem::size_of::<GpuTrade>());
        assert_eq!(48 + 8 * r, std::mem::size_of::<GpuTrade64>());
        assert!(c.contains("#define RP_ANTITHETIC 65536u"));
        assert!(c.contains("#define RP_BLOCK 128"));
        // Each width's sizes, as its struct's members.
        assert!(c.contains(
            "struct RpNarrow {\n    static constexpr unsigned ASSETS = 8, SIDE_OUTPUTS = 29,"
        ));
        assert!(c.contains(
            "struct RpWide {\n    static constexpr unsigned ASSETS = 32, SIDE_OUTPUTS = 101,"
        ));
        let wide = wgsl_width(extension::Width::Wide);
        assert!(wide.contains("const EXTENSION_VALS: u32 = 1256u;"));
        assert!(wide.contains("// A several-asset trade: 5072 bytes."));
    }
}
