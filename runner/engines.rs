//! Turning `--engine` into an engine, and falling back when one fails.
//!
//! `auto` takes the CUDA engine where an NVIDIA driver and NVRTC are
//! present, else the wgpu engine on a real GPU (a discrete, integrated or
//! virtual Vulkan adapter), else the CPU engine. A software Vulkan adapter
//! (lavapipe) is used only when `--engine wgpu` asks for it.
//!
//! If the engine `auto` chose fails mid-run (device lost, out of memory),
//! the remaining trades go to the next engine in that order, with a
//! warning; an engine the user named is never swapped. The test hook
//! `RISKPOOL_INJECT_ENGINE_FAILURE=N` (`hooks`) makes the first engine fail
//! on its N-th batch (0-based), so the fallback path is tested.

use std::sync::Mutex;

use anyhow::Result;
use riskpool_kernels::engine::cuda::CudaEngine;
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::{env, CpuEngine, Engine, EngineError, Simd};

use crate::claims::{self, Claim};
use crate::cli::{EngineArgs, EngineChoice, SimdChoice};
use crate::hooks;

fn cpu(args: &EngineArgs) -> Result<Box<dyn Engine>> {
    let simd = match args.simd {
        SimdChoice::Auto => Simd::detect(),
        SimdChoice::Portable => Simd::Portable,
        SimdChoice::Avx2 => Simd::Avx2,
        SimdChoice::Avx512 => Simd::Avx512,
    };
    Ok(Box::new(CpuEngine::with_simd(
        clamp_threads(args.threads, args.naming),
        simd,
    )?))
}

/// `--threads` beyond four per core only costs memory and start-up time
/// (100,000 threads take minutes to start): clamped, with a warning.
fn clamp_threads(threads: Option<usize>, naming: crate::cli::Naming) -> Option<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let most = 4 * cores;
    match threads {
        Some(n) if n > most => {
            tracing::warn!(
                "{} is more than 4 per core; using {most} ({cores} cores)",
                naming.option("threads", Some(&n))
            );
            Some(most)
        }
        other => other,
    }
}

/// The GPUs this process holds, until it exits.
static CLAIMS: Mutex<Vec<Claim>> = Mutex::new(Vec::new());

/// Ordinals of the GPUs this process has claimed.
pub fn claimed_gpus() -> Vec<usize> {
    CLAIMS
        .lock()
        .map(|c| c.iter().map(|c| c.ordinal).collect())
        .unwrap_or_default()
}

/// Claims GPUs for this task and opens the CUDA engine on them.
fn cuda(args: &EngineArgs) -> Result<CudaEngine, EngineError> {
    // (ordinal, UUID) of each visible GPU, from the driver alone (no
    // context on GPUs other tasks may hold); the claims tests stand GPUs in.
    let gpus: Vec<(usize, String)> = match hooks::fake_gpus() {
        Some(fake) => fake,
        None => riskpool_kernels::engine::cuda::devices()?
            .into_iter()
            .map(|d| (d.ordinal, d.uuid))
            .collect(),
    };
    let count = gpus.len();
    let want = args
        .gpus_per_task
        // Checked when the run started (env::check).
        .or_else(|| env::gpus_per_task().ok().flatten())
        .unwrap_or(count)
        .max(1);
    let mut held = CLAIMS
        .lock()
        .map_err(|_| EngineError::failed("cuda", "claims poisoned"))?;
    if held.is_empty() {
        *held = claims::claim(&gpus, want);
    }
    let ordinals: Vec<usize> = held.iter().map(|c| c.ordinal).collect();
    drop(held);
    if ordinals.is_empty() {
        return Err(EngineError::unavailable(
            "cuda",
            format!(
                "all {count} GPUs of this node are claimed by other tasks (locks in {})",
                claims::lock_dir().display()
            ),
        ));
    }
    CudaEngine::with_devices(Some(&ordinals), args.fast_math)
}

/// Refuses (exit 2, before any file is made) an engine named with a
/// precision it does not have: WGSL has no f64. Under `auto` the run
/// passes over such an engine instead.
pub fn check_precision(args: &EngineArgs, precision: riskpool_kernels::Precision) -> Result<()> {
    if args.engine == EngineChoice::Wgpu && precision == riskpool_kernels::Precision::F64 {
        let n = args.naming;
        anyhow::bail!(crate::error::UsageError(format!(
            "{} {}: WGSL has no f64; use {}, or the cpu or cuda engine",
            n.option("engine", Some(&"wgpu")),
            n.option("precision", Some(&"f64")),
            n.option("precision", Some(&"f32")),
        )));
    }
    Ok(())
}

/// The engine `--engine` asks for.
pub fn select(args: &EngineArgs) -> Result<Box<dyn Engine>> {
    let engine: Box<dyn Engine> = match args.engine {
        EngineChoice::Cpu => cpu(args)?,
        EngineChoice::Wgpu => Box::new(WgpuEngine::new(true)?),
        EngineChoice::Cuda => Box::new(cuda(args)?),
        EngineChoice::Auto => {
            if let Ok(e) = cuda(args) {
                Box::new(e)
            } else if let Ok(e) = WgpuEngine::new(false) {
                Box::new(e)
            } else {
                cpu(args)?
            }
        }
    };
    if args.fast_math && engine.name() != "cuda" {
        tracing::warn!(engine = engine.name(), "--fast-math applies to the CUDA engine only; the {} engine uses riskpool's own functions",
                engine.name());
    }
    Ok(hooks::inject_failure(engine))
}

/// Fallbacks one run may take (cuda, wgpu, cpu, a fresh cpu).
pub const MAX_FALLBACKS: usize = 3;

/// After the engine failed with `e`: under `--engine auto`, a failure of
/// the engine (not of the input) moves `engine` to the next one, with a
/// warning, and the caller gives it the work again; otherwise, or after
/// [`MAX_FALLBACKS`] (`fallbacks` counts them for the run), `e` stands.
/// `price` and `risk` fall back by this one rule.
pub fn fall_back(
    args: &EngineArgs,
    engine: &mut Box<dyn Engine>,
    e: EngineError,
    fallbacks: &mut usize,
) -> Result<(), EngineError> {
    let engine_failed = matches!(
        e,
        EngineError::Failed { .. } | EngineError::Unavailable { .. }
    );
    if !engine_failed || *fallbacks >= MAX_FALLBACKS {
        return Err(e);
    }
    let Some(next) = fallback(args, engine.name()) else {
        return Err(e);
    };
    tracing::warn!("{e}; the remaining trades go to the {} engine", next.name());
    *engine = next;
    *fallbacks += 1;
    Ok(())
}

/// The engine to go on with after `failed` failed, when the user let `auto`
/// choose: the next of cuda, wgpu (real GPU), cpu; a fresh CPU engine after
/// the CPU one.
fn fallback(args: &EngineArgs, failed: &str) -> Option<Box<dyn Engine>> {
    if args.engine != EngineChoice::Auto {
        return None;
    }
    if failed == "cuda" {
        if let Ok(e) = WgpuEngine::new(false) {
            return Some(Box::new(e));
        }
    }
    cpu(args).ok()
}
