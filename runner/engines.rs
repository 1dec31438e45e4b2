//! Turning `--engine` into an engine. `auto` takes the best engine present;
//! the CPU engine is always present.

use anyhow::{bail, Result};
use riskpool_kernels::{CpuEngine, Engine, Simd};

use crate::cli::{EngineArgs, EngineChoice, SimdChoice};

pub fn select(args: &EngineArgs) -> Result<Box<dyn Engine>> {
    match args.engine {
        EngineChoice::Auto | EngineChoice::Cpu => {
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
        EngineChoice::Wgpu => bail!(
            "the wgpu engine is not available in this build of riskpool; use --engine cpu or auto"
        ),
        EngineChoice::Cuda => bail!(
            "the cuda engine is not available in this build of riskpool; use --engine cpu or auto"
        ),
    }
}
