//! Turning `--engine` into an engine.
//!
//! `auto` takes the CUDA engine where an NVIDIA driver and NVRTC are
//! present, else the wgpu engine on a real GPU (a discrete, integrated or
//! virtual Vulkan adapter), else the CPU engine. A software Vulkan adapter
//! (lavapipe) is used only when `--engine wgpu` asks for it.

use anyhow::{bail, Result};
use riskpool_kernels::engine::cuda::CudaEngine;
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
        EngineChoice::Cuda => Ok(Box::new(CudaEngine::new()?)),
        EngineChoice::Auto => {
            if let Ok(e) = CudaEngine::new() {
                return Ok(Box::new(e));
            }
            match WgpuEngine::new(false) {
                Ok(e) => Ok(Box::new(e)),
                Err(_) => cpu(args),
            }
        }
    }
}
