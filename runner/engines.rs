//! Turning `--engine` into an engine.
//!
//! `auto` takes the wgpu engine on a real GPU (a discrete, integrated or
//! virtual Vulkan adapter) and the CPU engine otherwise; a software Vulkan
//! adapter (lavapipe) is used only when `--engine wgpu` asks for it. The
//! CUDA engine is not in this build yet.

use anyhow::{bail, Result};
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::{CpuEngine, Engine, Simd};

use crate::cli::{EngineArgs, EngineChoice, SimdChoice};

fn cpu(args: &EngineArgs) -> Result<Box<dyn Engine>> {
    let simd = match args.simd {
        SimdChoice::Auto => Simd::detect(),
        SimdChoice::Portable => Simd::Portable,
        SimdChoice::Avx2 => Simd::Avx2,
        SimdChoice::Avx512 => Simd::Avx512,
    };
    if args.threads == Some(0) {
        bail!(crate::Usage("--threads must be at least 1".into()));
    }
    Ok(Box::new(CpuEngine::with_simd(args.threads, simd)?))
}

pub fn select(args: &EngineArgs) -> Result<Box<dyn Engine>> {
    match args.engine {
        EngineChoice::Cpu => cpu(args),
        EngineChoice::Wgpu => Ok(Box::new(WgpuEngine::new(true)?)),
        EngineChoice::Auto => match WgpuEngine::new(false) {
            Ok(e) => Ok(Box::new(e)),
            Err(_) => cpu(args),
        },
        EngineChoice::Cuda => {
            bail!("the cuda engine is not available in this build of riskpool; use --engine cpu, wgpu or auto")
        }
    }
}
