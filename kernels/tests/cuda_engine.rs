//! The CUDA engine. Everywhere: it builds, every kernel compiles with NVRTC
//! (Debian's, fetched by scripts/test; no GPU needed to compile), and a
//! machine without a driver gets a clear reason, not a panic. On a GPU
//! machine (scripts/gpu-check): known-answer vectors on the device and
//! CPU-vs-CUDA conformance for every model x payoff x Greek, f32 and f64,
//! and f32 with `--fast-math`. Everywhere again: the same CUDA C built by
//! the host's C++ compiler and run on the CPU (`engine::cuda::on_cpu`),
//! whose known answers and prices must be the CPU engine's.

use crate::common::*;
use riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu;
use riskpool_kernels::engine::cuda::{self, source, CudaEngine, Nvrtc, Target};
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

/// Every NVRTC the tests were given: the one riskpool finds
/// (`RISKPOOL_NVRTC`: Debian's 11.8 in scripts/test) and, where set,
/// `RISKPOOL_NVRTC_EXTRA` (PyPI's 13.x wheel), each opened by path.
fn nvrtcs() -> Vec<Nvrtc> {
    let mut out = Vec::new();
    match Nvrtc::open() {
        Ok(nv) => out.push(nv),
        Err(e) if required("RISKPOOL_REQUIRE_NVRTC") => panic!("RISKPOOL_REQUIRE_NVRTC=1 but {e}"),
        Err(e) => eprintln!("skipping the default NVRTC: {e}"),
    }
    if let Some(path) = std::env::var("RISKPOOL_NVRTC_EXTRA")
        .ok()
        .filter(|p| !p.is_empty())
    {
        out.push(Nvrtc::open_path(&path).unwrap_or_else(|e| panic!("RISKPOOL_NVRTC_EXTRA: {e}")));
    }
    out
}

/// The oldest architecture at or after Volta this NVRTC targets (Volta
/// for the oldest Batch GPUs in use where it still can: NVRTC 13 dropped it).
fn oldest_arch(nv: &Nvrtc) -> i32 {
    nv.supported_archs()
        .into_iter()
        .filter(|a| *a >= 70)
        .min()
        .unwrap_or(70)
}

/// Compiles both sources (riskpool's special functions, and the chip's for
/// `--fast-math`) to PTX for each of `archs` and reads it: every kernel is
/// there, only the fast-math source uses the special-function unit, and no
/// kernel spills to local memory.
fn check_ptx(nv: &Nvrtc, archs: &[i32], variants: &[bool]) {
    let version = format!("NVRTC {}.{}", nv.version.0, nv.version.1);
    for &fast_math in variants {
        let src = source::full_source(fast_math);
        let variant = if fast_math { "fast-math " } else { "" };
        for &arch in archs {
            let t0 = std::time::Instant::now();
            let ptx = nv
                .compile_ptx(&src, "riskpool.cu", arch)
                .unwrap_or_else(|log| panic!("{log}"));
            eprintln!(
                "{version} compiled {} {variant}kernels for compute_{arch} in {:.1} s",
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
                    "{name} missing from {version}'s {variant}PTX for compute_{arch}"
                );
            }
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
                    "{op} in {version}'s {variant}PTX for compute_{arch}"
                );
            }
            // The several-asset kernels (the extension's and the dated
            // one's) keep each path's per-asset state (arrays indexed by
            // asset and revaluation) in local memory, by design, and the
            // Sobol kernels their bridge's stack (`_sobol`, qmc.cuh);
            // every other kernel keeps its state in registers.
            let mut entries = ptx.split(".entry ");
            let preamble = entries.next().unwrap_or("");
            assert!(
                !preamble.contains(".local .align"),
                "a {variant}device function uses local memory for compute_{arch} ({version})"
            );
            for entry in entries {
                let name = entry.split('(').next().unwrap_or("");
                let several = name.starts_with("price_extension_")
                    || name.starts_with("price_dated_multi")
                    || name.ends_with(source::SOBOL_SUFFIX);
                assert!(
                    several || !entry.contains(".local .align"),
                    "{name} uses local memory for compute_{arch} ({version}, {variant})"
                );
                // Their local memory a thread (both widths: `_wide` the 32-asset one).
                if several {
                    let depot = entry
                        .split("__local_depot")
                        .nth(1)
                        .and_then(|d| d.split('[').nth(1))
                        .and_then(|d| d.split(']').next())
                        .unwrap_or("0");
                    eprintln!("{name}: {depot} bytes of local memory a thread for compute_{arch} ({variant}{version})");
                }
            }
        }
    }
}

/// The default NVRTC (Debian's in CI): PTX for the oldest GPUs it serves
/// (Volta, the oldest Batch GPUs in use) and Hopper (ND/NC H100, H200).
#[test]
fn every_kernel_compiles_to_ptx() {
    let Some(nv) = nvrtcs().into_iter().next() else {
        return;
    };
    check_ptx(&nv, &[oldest_arch(&nv), 90], &[false, true]);
}

/// The machine code the engine loads on Hopper (`sm_90`), from the newest
/// NVRTC the tests have (PyPI's 13.0 in CI), both sources, whose builtins
/// came from its own folder.
#[test]
fn every_kernel_compiles_to_machine_code() {
    let Some(nv) = nvrtcs().pop() else {
        return;
    };
    let version = format!("NVRTC {}.{}", nv.version.0, nv.version.1);
    if nv.path.contains('/') {
        let builtins = nv.builtins.as_deref().unwrap_or_else(|| {
            panic!(
                "{version} at {}: no builtins library opened beside it",
                nv.path
            )
        });
        assert_eq!(
            builtins.parent(),
            nv.file.as_deref().and_then(|f| f.parent()),
            "{version}: builtins {} not from NVRTC's folder",
            builtins.display()
        );
    }
    for fast_math in [false, true] {
        let src = source::full_source(fast_math);
        let variant = if fast_math { "fast-math " } else { "" };
        let t0 = std::time::Instant::now();
        let cubin = nv
            .compile(&src, "riskpool.cu", Target::Sass(90))
            .unwrap_or_else(|log| panic!("{log}"));
        eprintln!(
            "{version} made {variant}machine code for sm_90 ({} bytes) in {:.1} s",
            cubin.len(),
            t0.elapsed().as_secs_f64()
        );
        assert!(cubin.starts_with(b"\x7fELF"), "{version}: not a CUBIN");
        for name in source::all_kernel_names() {
            let sym = format!("{name}\0");
            assert!(
                cubin.windows(sym.len()).any(|w| w == sym.as_bytes()),
                "{name} missing from {version}'s {variant}CUBIN"
            );
        }
    }
    // Its own front end reads the source as the default one does.
    if nvrtcs().len() > 1 {
        check_ptx(&nv, &[90], &[false]);
    }
}

/// The engine's NVRTC step with nothing but the library's path: no
/// `LD_LIBRARY_PATH` (a Batch task's environment has none for a wheel's
/// folder). Runs the ignored test below in a child process of this binary.
#[test]
fn nvrtc_compiles_from_its_path_alone() {
    for nv in nvrtcs() {
        if !nv.path.contains('/') {
            eprintln!("skipping {}: found by name, not by path", nv.path);
            continue;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "cuda_engine::compile_with_the_nvrtc_named_in_riskpool_nvrtc",
                "--nocapture",
            ])
            .env("RISKPOOL_NVRTC", &nv.path)
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("RISKPOOL_NVRTC_EXTRA")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{} without LD_LIBRARY_PATH:\n{text}",
            nv.path
        );
    }
}

#[test]
#[ignore = "run by nvrtc_compiles_from_its_path_alone, in a child without LD_LIBRARY_PATH"]
fn compile_with_the_nvrtc_named_in_riskpool_nvrtc() {
    assert!(std::env::var_os("LD_LIBRARY_PATH").is_none());
    let nv = Nvrtc::open().unwrap();
    let path = std::env::var("RISKPOOL_NVRTC").unwrap();
    assert_eq!(nv.path, path, "not the NVRTC named");
    let src = "extern \"C\" __global__ void k(float* x) { x[threadIdx.x] = sinf(x[threadIdx.x]); }";
    let cubin = nv
        .compile(src, "k.cu", Target::Sass(oldest_arch(&nv)))
        .unwrap_or_else(|log| panic!("{log}"));
    assert!(cubin.starts_with(b"\x7fELF"));
}

#[test]
fn kernels_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    for nv in nvrtcs() {
        let src = format!(
            "extern \"C\" __global__ void k(float* x) {{ x[0] = {}.0f; }}",
            nv.version.0
        );
        // The target the engine would choose for an H100 under a CUDA 13.0
        // driver: this NVRTC's machine code where it knows sm_90.
        let target = Target::for_device((9, 0), nv.version, &nv.supported_archs(), 13000).unwrap();
        let (a, first) = nv
            .compile_cached_in(Some(dir.path()), &src, target, 13000)
            .unwrap();
        let (b, second) = nv
            .compile_cached_in(Some(dir.path()), &src, target, 13000)
            .unwrap();
        assert!(matches!(first, cuda::CacheOutcome::Stored(_)), "{first:?}");
        assert!(matches!(second, cuda::CacheOutcome::Hit(_)), "{second:?}");
        assert_eq!(a, b);
        if let Target::Sass(_) = target {
            assert!(a.starts_with(b"\x7fELF"));
        }
        // Another driver is another entry: it may load differently.
        let (_, other) = nv
            .compile_cached_in(Some(dir.path()), &src, target, 12080)
            .unwrap();
        assert!(matches!(other, cuda::CacheOutcome::Stored(_)), "{other:?}");
        // A torn cache file is compiled again, not loaded, wherever it
        // was cut.
        if let cuda::CacheOutcome::Stored(f) = &first {
            for cut in [a.len() - 1, a.len() * 2 / 3, a.len() / 2, 70, 3, 0] {
                std::fs::write(f, &a[..cut]).unwrap();
                let (c, again) = nv
                    .compile_cached_in(Some(dir.path()), &src, target, 13000)
                    .unwrap();
                assert!(
                    matches!(again, cuda::CacheOutcome::Stored(_)),
                    "cut at {cut}: {again:?}"
                );
                assert_eq!(c, a);
            }
        }
        // A compile error comes back as NVRTC's log, not a panic.
        let err = nv
            .compile("this is not CUDA", "bad.cu", target)
            .unwrap_err();
        assert!(err.contains("could not compile"), "{err}");
    }
    // No temporary file is left beside the entries.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(name.starts_with("riskpool-"), "stray {name}");
    }
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
            ..
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
pub(crate) fn cuda_c_on_the_cpu() -> Option<CudaOnCpu> {
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
    let mut trades = every_model_and_payoff(1_500);
    // And Greeks whose spot bump starts through a continuous barrier.
    trades.extend(near_barrier_trades(1_500));
    assert_engine_conforms(
        &k,
        &trades,
        &[Precision::F32, Precision::F64],
        Tolerance::same_paths,
    );
}

/// Several correlated assets and early exercise: the CUDA C (in f64, as
/// the CPU pricer) prices every model x payoff x exercise x Greek as the
/// CPU engine, to the f64 contract, through the engine's own plan, launch
/// and merge; blocks of 512 samples, so one trade's samples end mid-block.
#[test]
fn the_cuda_c_on_the_cpu_prices_several_assets_and_early_exercise_as_the_cpu_engine() {
    let Some(k) = cuda_c_on_the_cpu() else { return };
    let trades = every_multi_and_exercise(700);
    let worst = assert_extension_conforms(&k, &trades, Tolerance::F64);
    assert!(worst <= 1e-9);
}

/// Several correlated assets and early exercise on a GPU: every model x
/// payoff x exercise x Greek as the CPU engine. The GPU contracts
/// multiply-adds (the CPU build does not), which may move a path's
/// exercise by a date near the boundary: held to the f32 contract (1e-4
/// relative or 0.1 SE), the printed figure says how close it came.
#[test]
fn several_assets_and_early_exercise_on_the_gpu_match_the_cpu_engine() {
    let Some(gpu) = cuda() else { return };
    let trades = every_multi_and_exercise(2_000);
    assert_extension_conforms(&gpu, &trades, Tolerance::F32);
}
