//! The CUDA engine. Everywhere: it builds, every kernel compiles with NVRTC
//! (Debian's, fetched by scripts/test; no GPU needed to compile), and a
//! machine without a driver gets a clear reason, not a panic. On a GPU
//! machine (scripts/gpu-check): known-answer vectors on the device and
//! CPU-vs-CUDA conformance for every model x payoff x Greek, f32 and f64,
//! and f32 with `--fast-math`. Everywhere again: the same CUDA C built by
//! the host's C++ compiler and run on the CPU (`engine::cuda::on_cpu`),
//! whose known answers and prices must be the CPU engine's.

mod common;

use common::*;
use riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu;
use riskpool_kernels::engine::cuda::{self, source, CudaEngine, Nvrtc};
use riskpool_kernels::{CpuEngine, Engine, EngineError, Precision, PricingRequest};

fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

/// The engine, or None with the reason printed (a failure where
/// RISKPOOL_REQUIRE_CUDA=1, as scripts/gpu-check sets it).
fn cuda() -> Option<CudaEngine> {
    match CudaEngine::new() {
        Ok(e) => Some(e),
        Err(e) if required("RISKPOOL_REQUIRE_CUDA") => panic!("RISKPOOL_REQUIRE_CUDA=1 but: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

#[test]
fn every_kernel_compiles_with_nvrtc() {
    let nv = match Nvrtc::open() {
        Ok(nv) => nv,
        Err(e) if required("RISKPOOL_REQUIRE_NVRTC") => panic!("RISKPOOL_REQUIRE_NVRTC=1 but {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    // Volta for the oldest Batch GPUs in use (NC v3), Hopper for ND/NC H100 and H200;
    // riskpool's own special functions, and the chip's (--fast-math).
    for (arch, fast_math) in [(70, false), (90, false), (70, true), (90, true)] {
        let src = source::full_source(fast_math);
        let variant = if fast_math { "fast-math " } else { "" };
        if !nv.supported_archs().is_empty() && !nv.supported_archs().contains(&arch) {
            eprintln!(
                "NVRTC {:?} cannot target compute_{arch}; skipped",
                nv.version
            );
            continue;
        }
        let t0 = std::time::Instant::now();
        let ptx = nv
            .compile(&src, "riskpool.cu", arch)
            .unwrap_or_else(|log| panic!("{log}"));
        eprintln!(
            "NVRTC {:?} compiled {} {variant}kernels for compute_{arch} in {:.1} s",
            nv.version,
            source::all_kernel_names().len(),
            t0.elapsed().as_secs_f64()
        );
        // For the chip-limit estimate (bench/chip_limit.py, scripts/gpu-check).
        if let Some(dir) = std::env::var_os("RISKPOOL_PTX_OUT") {
            let file = std::path::Path::new(&dir).join(format!(
                "riskpool-{}compute_{arch}.ptx",
                variant.replace(' ', "-")
            ));
            std::fs::write(&file, &ptx).unwrap();
            eprintln!("PTX for compute_{arch} in {}", file.display());
        }
        for name in source::all_kernel_names() {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{name} missing from the {variant}PTX for compute_{arch}"
            );
        }
        // --fast-math takes the special-function unit's instructions; the
        // contract's kernels use none of them.
        for op in [
            "sin.approx.f32",
            "cos.approx.f32",
            "lg2.approx",
            "ex2.approx",
            "sqrt.approx",
        ] {
            assert_eq!(
                ptx.contains(op),
                fast_math,
                "{op} in the {variant}PTX for compute_{arch}"
            );
        }
        // Pricing kernels must not spill arrays to local memory (.local).
        assert!(
            !ptx.contains(".local .align"),
            "a {variant}kernel uses local memory for compute_{arch}"
        );
    }
}

#[test]
fn kernels_are_cached_on_disk() {
    let Ok(nv) = Nvrtc::open() else {
        eprintln!("skipping: no NVRTC");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("RISKPOOL_CACHE_DIR", dir.path());
    let src = "extern \"C\" __global__ void k(float* x) { x[0] = 1.0f; }";
    let (a, first) = nv.compile_cached(src, 70).unwrap();
    let (b, second) = nv.compile_cached(src, 70).unwrap();
    assert!(matches!(first, cuda::CacheOutcome::Stored(_)), "{first:?}");
    assert!(matches!(second, cuda::CacheOutcome::Hit(_)), "{second:?}");
    assert_eq!(a, b);
    // A compile error comes back as NVRTC's log, not a panic.
    let err = nv.compile("this is not CUDA", "bad.cu", 70).unwrap_err();
    assert!(err.contains("could not compile"), "{err}");
}

#[test]
fn a_machine_without_a_driver_gets_a_reason() {
    if cuda::driver_present() {
        eprintln!("skipping: a CUDA driver is present here");
        return;
    }
    match CudaEngine::new() {
        Err(EngineError::Unavailable {
            engine: "cuda",
            reason,
        }) => {
            assert!(reason.contains("no CUDA driver"), "{reason}");
            eprintln!("CUDA engine unavailable, as expected: {reason}");
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("no driver, yet the engine started"),
    }
}

#[test]
fn philox_and_normals_on_the_gpu_match_the_cpu() {
    let Some(gpu) = cuda() else { return };
    let inputs = kat_inputs(100_000);
    let out = gpu.philox_on_device(&inputs).unwrap();
    assert_device_streams("cuda", &inputs, &out);
}

fn tolerance(p: Precision) -> Tolerance {
    match p {
        Precision::F32 => Tolerance::F32,
        Precision::F64 => Tolerance::F64,
    }
}

#[test]
fn every_model_payoff_and_greek_matches_the_cpu_engine() {
    let Some(gpu) = cuda() else { return };
    let trades = every_model_and_payoff(20_000);
    assert_engine_conforms(&gpu, &trades, &[Precision::F32, Precision::F64], tolerance);
}

/// `--fast-math` (the chip's special functions in f32) keeps to the f32
/// contract for every model, payoff and Greek: the same paths, to the
/// special-function unit's few ulp.
#[test]
fn fast_math_matches_the_cpu_engine_within_the_f32_contract() {
    let gpu = match CudaEngine::with_devices(None, true) {
        Ok(e) => e,
        Err(e) if required("RISKPOOL_REQUIRE_CUDA") => panic!("RISKPOOL_REQUIRE_CUDA=1 but: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    assert!(gpu.device().ends_with(", fast math"), "{}", gpu.device());
    let trades = every_model_and_payoff(20_000);
    assert_engine_conforms(&gpu, &trades, &[Precision::F32], |_| {
        Tolerance::F32_FAST_MATH
    });
}

#[test]
fn a_200000_trade_portfolio_prices_correctly() {
    let Some(gpu) = cuda() else { return };
    let trades = many_small_calls(200_000, 4, |i| 500 + i % 700);
    let req = PricingRequest::default();
    let a = CpuEngine::new(None).unwrap().price(&trades, &req).unwrap();
    let b = gpu.price(&trades, &req).unwrap();
    for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
        assert_conform(&t.id, t, &req, x, y, tolerance(req.precision));
    }
}

/// The CUDA C built for the CPU, or None with the reason (a failure where
/// RISKPOOL_REQUIRE_CXX=1, as scripts/test sets it).
fn cuda_c_on_the_cpu() -> Option<CudaOnCpu> {
    let t0 = std::time::Instant::now();
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(e) => {
            eprintln!(
                "CUDA C built for the CPU in {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            Some(e)
        }
        Err(e) if required("RISKPOOL_REQUIRE_CXX") => panic!("RISKPOOL_REQUIRE_CXX=1 but: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

#[test]
fn the_cuda_c_on_the_cpu_draws_the_known_answers() {
    let Some(k) = cuda_c_on_the_cpu() else { return };
    let inputs = kat_inputs(20_000);
    let out = k.philox(&inputs).unwrap();
    assert_device_streams("cuda-on-cpu", &inputs, &out);
    // Without contraction, the normals are the CPU engine's to the bit.
    for (words, normals) in &out {
        let cpu = <f32 as riskpool_kernels::real::Real>::normals_from_words(*words);
        assert_eq!(
            cpu.map(f32::to_bits),
            normals.map(f32::to_bits),
            "normals of {words:x?}"
        );
    }
}

/// The kernels' every line runs here, through the engine's own records,
/// block tables, launches and merge: the prices equal the CPU engine's but
/// for the order the blocks' sums are added in.
#[test]
fn the_cuda_c_on_the_cpu_prices_as_the_cpu_engine() {
    let Some(k) = cuda_c_on_the_cpu() else { return };
    // Blocks of 512 paths: one trade's paths end mid-block. The paths are
    // the same; the sums' order differs, and f32 records hold the Greeks'
    // coefficients in f32 (WGSL has no f64), so a Greek may differ by their
    // rounding of each revaluation.
    let trades = every_model_and_payoff(1_500);
    let same_paths = |precision| Tolerance {
        rel: 1e-12,
        se: 0.0,
        ulp: match precision {
            Precision::F32 => f32::EPSILON as f64 / 2.0,
            Precision::F64 => 1e-13,
        },
    };
    assert_engine_conforms(&k, &trades, &[Precision::F32, Precision::F64], same_paths);
}
