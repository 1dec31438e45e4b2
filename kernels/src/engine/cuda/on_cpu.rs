//! The CUDA C kernels run on the CPU, so that machines without a GPU (CI
//! among them) test the very source NVRTC compiles: [`source::full_source`]
//! behind `on_cpu.hpp` (beside this file) (CUDA's built-ins for a host compiler,
//! a fiber per CUDA thread), built by the host's C++ compiler (`$CXX`, else
//! `c++`) into a shared library, and priced through the same [`BatchPlan`] as
//! the GPU: the records, block tables, launches and the merge of the
//! blocks' sums are the engine's own; only the device copies are not.
//!
//! Not an engine users choose: the tests compare it with the CPU engine
//! (kernels/tests/cuda_engine.rs), where, with no floating-point contraction, the
//! paths are the CPU engine's to the bit.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use libloading::{Library, Symbol};
use rayon::prelude::*;

use super::{source, PARTIAL, PATHS_PER_BLOCK, THREADS};
use crate::engine::Pending;
use crate::engine::{check_batch, EngineError, PhiloxAnswer, PricingRequest, TradeResult};
use crate::gpu::backend::{done, GpuBackend};
use crate::gpu::dated;
use crate::gpu::extension::{self, ExtensionPlan, Moments, SideBatch};
use crate::gpu::plan::{from_sums, BatchPlan};
use crate::greeks::Revaluations;
use crate::instrument::Trade;

const SHIM: &str = include_str!("on_cpu.hpp");

/// Blocks one call runs: the unit of work shared among the CPU's threads.
const BLOCKS_PER_CALL: usize = 4;

/// `rp_price_args` in `on_cpu.hpp`.
#[repr(C)]
struct PriceArgs {
    kernel: *const c_void,
    trades: *const u8,
    block_start: *const u32,
    partials: *mut f64,
    sobol_dirs: *const u32,
    sweep_nodes: *const u32,
    sweep_coef: *const f64,
    key_lo: u32,
    key_hi: u32,
    first_block: u32,
    n_blocks: u32,
    n_trades: u32,
}

type LaunchPrice = unsafe extern "C" fn(*const PriceArgs, u32, u32);

/// `rp_extension_args` in `on_cpu.hpp`.
#[repr(C)]
struct ExtensionArgs {
    kernel: *const c_void,
    trades: *const u8,
    block_start: *const u32,
    dates: *const u32,
    coefs: *const f64,
    partials: *mut f64,
    key_lo: u32,
    key_hi: u32,
    first_block: u32,
    n_blocks: u32,
    n_trades: u32,
}

type LaunchExtension = unsafe extern "C" fn(*const ExtensionArgs, u32, u32);
type LaunchKat = unsafe extern "C" fn(*const [u32; 4], *mut [u32; 4], u32, u32, u32);

/// The CUDA C kernels, built for this CPU.
pub struct CudaOnCpu {
    lib: Library,
    /// The compiler that built them.
    pub compiler: String,
}

/// An 8-byte-aligned copy of `bytes` (zero-padded to whole words): the
/// kernels read records as structs of floats and doubles, and a `Vec<u8>`
/// promises no alignment.
fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

fn failed(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::failed("cuda-on-cpu", format!("{what}: {e}"))
}

impl CudaOnCpu {
    /// Builds the kernels in `dir` (a folder of the caller's own, as the
    /// library is loaded from it), or reuses the library built there from
    /// the same source and compiler, and loads them.
    pub fn build(dir: &Path) -> Result<CudaOnCpu, String> {
        let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        let src = format!("{SHIM}\n{}", source::full_source(false));
        let key = crate::rng::stream_id_of(&format!("{compiler}\n{src}"));
        let lib = dir.join(format!("riskpool-cuda-on-cpu-{key:016x}.so"));
        {
            // One build at a time in this process (its files are named by
            // the process); other processes' land by rename, whole.
            static BUILDING: Mutex<()> = Mutex::new(());
            let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
            if !lib.exists() {
                build_library(&compiler, &src, dir, &lib)?;
            }
        }
        // SAFETY: a library this process built from riskpool's sources; its
        // initialisers are the C++ runtime's.
        let lib = unsafe { Library::new(&lib) }
            .map_err(|e| format!("cannot load {}: {e}", lib.display()))?;
        Ok(CudaOnCpu { lib, compiler })
    }

    /// Philox words and float normals from `rp_kat`, as on a GPU.
    pub fn philox(
        &self,
        inputs: &[([u32; 4], [u32; 2])],
    ) -> Result<Vec<PhiloxAnswer>, EngineError> {
        let input: Vec<[u32; 4]> = inputs
            .iter()
            .flat_map(|(c, k)| [*c, [k[0], k[1], 0, 0]])
            .collect();
        let mut out = vec![[0u32; 4]; input.len()];
        let n = inputs.len() as u32;
        // SAFETY: rp_cpu_launch_kat's signature; `input` and `out` hold two
        // words of four for each of the `n` answers.
        unsafe {
            let launch: Symbol<LaunchKat> = self
                .lib
                .get(b"rp_cpu_launch_kat")
                .map_err(|e| failed("rp_cpu_launch_kat", e))?;
            launch(input.as_ptr(), out.as_mut_ptr(), n, n.div_ceil(64), 64);
        }
        Ok(out
            .chunks(2)
            .map(|w| (w[0], w[1].map(f32::from_bits)))
            .collect())
    }
}

fn build_library(compiler: &str, src: &str, dir: &Path, lib: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let stem = format!("riskpool-cuda-on-cpu-{}", std::process::id());
    let cpp = dir.join(format!("{stem}.cpp"));
    let partial: PathBuf = dir.join(format!("{stem}.so.partial"));
    std::fs::write(&cpp, src).map_err(|e| format!("cannot write {}: {e}", cpp.display()))?;
    // No contraction of a * b + c into fused multiply-adds: the CPU
    // engine's float arithmetic, operation for operation.
    let out = Command::new(compiler)
        .args([
            "-std=c++17",
            "-O2",
            "-ffp-contract=off",
            "-fPIC",
            "-shared",
            "-w",
            "-o",
        ])
        .arg(&partial)
        .arg(&cpp)
        .output()
        .map_err(|e| format!("cannot run the C++ compiler `{compiler}` ($CXX): {e}"))?;
    let _ = std::fs::remove_file(&cpp);
    if !out.status.success() {
        return Err(format!(
            "{compiler} could not build the CUDA C for the CPU:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&partial, lib).map_err(|e| format!("cannot store {}: {e}", lib.display()))
}

impl GpuBackend for CudaOnCpu {
    const NAME: &'static str = "cuda-on-cpu";
    const EXTENSION_BLOCK: u64 = PATHS_PER_BLOCK;
    const EXTENSION_F64: bool = true;

    fn hardware(&self) -> String {
        format!("CUDA C on the CPU ({})", self.compiler)
    }

    fn start(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        Ok(done(self.price_with(trades, plans, req)?))
    }
    fn check(&self, trades: &[Trade], req: &PricingRequest) -> Result<(), EngineError> {
        check_batch(
            "cuda-on-cpu",
            trades,
            req,
            u32::MAX as u64 - PATHS_PER_BLOCK,
        )
    }

    fn run_side(
        &self,
        batch: &SideBatch,
        _trades: &[Trade],
        _req: &PricingRequest,
    ) -> Result<(Vec<Moments>, f64), EngineError> {
        self.side_sums(batch)
    }
}

impl CudaOnCpu {
    /// Prices `trades`, each with its own revaluations (`plans`) or the
    /// request's Greeks (`None`).
    fn price_with(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        self.check(trades, req)?;
        let started = std::time::Instant::now();
        let (side, plain): (Vec<usize>, Vec<usize>) = (0..trades.len())
            .partition(|&i| trades[i].extension.is_some() || trades[i].dated.is_some());
        let (dated, extended): (Vec<usize>, Vec<usize>) =
            side.into_iter().partition(|&i| trades[i].dated.is_some());
        let (dated, dated_multi): (Vec<usize>, Vec<usize>) = dated
            .into_iter()
            .partition(|&i| crate::gpu::dated::takes(&trades[i]));
        let (one_pass, plain) = crate::gpu::one_pass::split(trades, plans, plain, req);
        let mut results = vec![TradeResult::unpriced(); trades.len()];
        let plain =
            BatchPlan::with_plans("cuda-on-cpu", trades, plans, &plain, req, PATHS_PER_BLOCK)?;
        let one_pass = BatchPlan::one_pass("cuda-on-cpu", trades, &one_pass, req, PATHS_PER_BLOCK)?;
        for plan in [plain, one_pass] {
            for m in self.run_plan(&plan, started)? {
                results[m.index] = m.result(req, trades[m.index].paths);
            }
        }
        for plan in
            ExtensionPlan::new("cuda-on-cpu", trades, &extended, req, PATHS_PER_BLOCK, true)?
        {
            let (blocks, secs) = self.side_sums(&plan.batch())?;
            for (i, r) in plan.results(trades, req, &plan.merged(&blocks), secs) {
                results[i] = r;
            }
        }
        let mut run = |b: &SideBatch| self.side_sums(b);
        for (i, r) in dated::price(self.side_target(), trades, &dated, req, &mut run)? {
            results[i] = r;
        }
        for (i, r) in
            crate::gpu::dated_multi::price(self.side_target(), trades, &dated_multi, req, &mut run)?
        {
            results[i] = r;
        }
        Ok(results)
    }
}

impl CudaOnCpu {
    /// Runs every kind of `plan` (blocks a few at a time on each CPU
    /// thread, as the engine splits a launch beyond 2^20 blocks) and
    /// merges its partials; `started` times it.
    fn run_plan(
        &self,
        plan: &BatchPlan,
        started: std::time::Instant,
    ) -> Result<Vec<crate::gpu::plan::Merged>, EngineError> {
        let mut partials = vec![0.0f64; plan.partials_len()];
        let records = aligned(&plan.records);
        let records: &[u8] = bytemuck::cast_slice(&records);
        // SAFETY: rp_cpu_launch_price's signature.
        let launch: Symbol<LaunchPrice> = unsafe { self.lib.get(b"rp_cpu_launch_price") }
            .map_err(|e| failed("rp_cpu_launch_price", e))?;
        // The Sobol tables (null where the batch has no Sobol trade: no
        // kernel reads them then).
        let (dirs, nodes, coef) = match &plan.sobol {
            Some(t) => (
                t.directions.as_ptr() as usize,
                t.nodes.as_ptr() as usize,
                t.coef.as_ptr() as usize,
            ),
            None => (0, 0, 0),
        };
        for k in &plan.kinds {
            let kernel_name = source::kernel_of(k, plan.precision);
            let name =
                std::ffi::CString::new(kernel_name.as_str()).map_err(|e| failed("kernel", e))?;
            // SAFETY: every pricing kernel has the signature `PriceArgs` calls.
            let kernel: Symbol<*const c_void> = unsafe { self.lib.get(name.as_bytes_with_nul()) }
                .map_err(|e| failed(&kernel_name, e))?;
            let kernel = *kernel as usize;
            let trades_at = records[k.first_record * plan.record_size..].as_ptr() as usize;
            let starts_at = plan.starts[k.first_start..].as_ptr() as usize;
            let n_trades = k.trades.len() as u32;
            let from = k.first_block as usize * PARTIAL;
            let to = from + k.blocks() as usize * PARTIAL;
            partials[from..to]
                .par_chunks_mut(BLOCKS_PER_CALL * PARTIAL)
                .enumerate()
                .for_each(|(c, out)| {
                    let args = PriceArgs {
                        kernel: kernel as *const c_void,
                        trades: trades_at as *const u8,
                        block_start: starts_at as *const u32,
                        partials: out.as_mut_ptr(),
                        sobol_dirs: dirs as *const u32,
                        sweep_nodes: nodes as *const u32,
                        sweep_coef: coef as *const f64,
                        key_lo: plan.key[0],
                        key_hi: plan.key[1],
                        first_block: (c * BLOCKS_PER_CALL) as u32,
                        n_blocks: (out.len() / PARTIAL) as u32,
                        n_trades,
                    };
                    // SAFETY: the records and block table of this kind stay
                    // alive and unchanged; `out` holds the blocks' partials.
                    unsafe { launch(&args, args.n_blocks, THREADS) };
                });
        }
        let secs = started.elapsed().as_secs_f64();
        Ok(plan.merge(&partials, from_sums, |_| secs))
    }

    /// One batch of a side kernel (`extension.cu`, `dated.cu`): each
    /// block's moments.
    fn side_sums(&self, plan: &SideBatch) -> Result<(Vec<Moments>, f64), EngineError> {
        let started = std::time::Instant::now();
        // 8-byte-aligned copies, as the kernel reads doubles.
        let records = aligned(plan.records);
        let n_coefs = plan.coefs.len() / 8;
        let mut coefs = vec![0f64; n_coefs];
        bytemuck::cast_slice_mut::<f64, u8>(&mut coefs).copy_from_slice(&plan.coefs[..n_coefs * 8]);
        let mut partials = vec![0.0f64; plan.partials_len()];
        let name = source::side_kernel_name(plan.kernel);
        // SAFETY: rp_cpu_launch_extension's signature, and the extension kernels'
        // signature that `ExtensionArgs` calls.
        let launch: Symbol<LaunchExtension> = unsafe { self.lib.get(b"rp_cpu_launch_extension") }
            .map_err(|e| failed("rp_cpu_launch_extension", e))?;
        let kernel: Symbol<*const c_void> =
            unsafe { self.lib.get(name.as_bytes()) }.map_err(|e| failed(&name, e))?;
        let kernel = *kernel as usize;
        let (records_at, starts_at) = (records.as_ptr() as usize, plan.starts.as_ptr() as usize);
        let (dates_at, coefs_at) = (plan.dates.as_ptr() as usize, coefs.as_ptr() as usize);
        let n_trades = plan.n_trades();
        partials
            .par_chunks_mut(BLOCKS_PER_CALL * plan.partial())
            .enumerate()
            .for_each(|(c, out)| {
                let args = ExtensionArgs {
                    kernel: kernel as *const c_void,
                    trades: records_at as *const u8,
                    block_start: starts_at as *const u32,
                    dates: dates_at as *const u32,
                    coefs: coefs_at as *const f64,
                    partials: out.as_mut_ptr(),
                    key_lo: plan.key[0],
                    key_hi: plan.key[1],
                    first_block: (c * BLOCKS_PER_CALL) as u32,
                    n_blocks: (out.len() / plan.partial()) as u32,
                    n_trades,
                };
                // SAFETY: the plan's tables stay alive and unchanged; `out`
                // holds the blocks' partials.
                unsafe { launch(&args, args.n_blocks, THREADS) };
            });
        let secs = started.elapsed().as_secs_f64();
        Ok((plan.decode(&partials, extension::from_sums), secs))
    }
}
