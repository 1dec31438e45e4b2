//! The CUDA engine: the kernels of `kernels/cuda/`, compiled at run time by
//! NVRTC for each device's architecture, launched through cudarc.
//!
//! Nothing CUDA is needed to build riskpool: the driver (`libcuda.so`) and
//! NVRTC are opened when the engine starts, and their absence is an
//! [`EngineError::Unavailable`] with the reason, never a panic (cudarc's
//! `is_culib_present` is asked before any other driver call).
//!
//! One launch prices many trades: trades are grouped by model x payoff
//! kind, split into blocks of [`PATHS_PER_BLOCK`] paths (128 threads of 4
//! paths each), and a prefix table maps a block to its trade. Every GPU of
//! the node takes a share of the batch (by path-steps), in its own context
//! and stream, on its own host thread.

mod nvrtc;
pub mod source;

use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::{CudaContext, CudaModule, CudaStream, LaunchConfig, PushKernelArg};

pub use nvrtc::{cache_dir, CacheOutcome, Nvrtc};

use super::{check_batch, Engine, EngineError, Precision, PricingRequest, TradeResult};
use crate::instrument::Trade;
use crate::portfolio::{self, GpuTrade, GpuTrade64};
use crate::stats::{Moments, Sums};

/// Paths per CUDA block (`RP_PATHS_PER_BLOCK` in `kernel.cu`).
pub const PATHS_PER_BLOCK: u64 = 512;
/// Threads per block (`RP_BLOCK`).
const THREADS: u32 = 128;
/// Doubles each block writes (`RP_PARTIAL`).
const PARTIAL: usize = 12;
/// Most blocks per launch: bounds the partials buffer (96 MiB).
const MAX_BLOCKS_PER_LAUNCH: u64 = 1 << 20;

fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::Unavailable {
        engine: "cuda",
        reason: reason.into(),
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        engine: "cuda",
        reason: format!("{what}: {e}"),
    }
}

/// Whether the CUDA driver library can be loaded at all.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda; no driver call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// A CUDA device as the driver describes it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    pub memory: usize,
    pub compute_capability: (i32, i32),
}

/// The visible CUDA devices, asking the driver only (no NVRTC, no kernels).
pub fn devices() -> Result<Vec<DeviceInfo>, EngineError> {
    if !driver_present() {
        return Err(unavailable(
            "no CUDA driver found (libcuda.so could not be loaded)",
        ));
    }
    let count = CudaContext::device_count()
        .map_err(|e| unavailable(format!("cannot count CUDA devices: {e}")))?;
    (0..count.max(0) as usize)
        .map(|ordinal| {
            let ctx = CudaContext::new(ordinal)
                .map_err(|e| unavailable(format!("cannot open CUDA device {ordinal}: {e}")))?;
            Ok(DeviceInfo {
                ordinal,
                name: ctx.name().unwrap_or_default(),
                memory: ctx.total_mem().unwrap_or(0),
                compute_capability: ctx.compute_capability().unwrap_or((0, 0)),
            })
        })
        .collect()
}

/// One GPU as the engine uses it.
pub struct Gpu {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub memory: usize,
    /// The architecture the kernels were compiled for, and how.
    pub arch: i32,
    pub cache: CacheOutcome,
    stream: Arc<CudaStream>,
    module: Arc<CudaModule>,
}

/// The CUDA engine over every visible GPU (or the ones named).
pub struct CudaEngine {
    gpus: Vec<Gpu>,
    pub nvrtc: String,
    pub driver_version: i32,
}

impl CudaEngine {
    /// Opens every visible GPU.
    pub fn new() -> Result<CudaEngine, EngineError> {
        CudaEngine::with_devices(None)
    }

    /// Opens the GPUs with these ordinals (all when `None`).
    pub fn with_devices(ordinals: Option<&[usize]>) -> Result<CudaEngine, EngineError> {
        if !driver_present() {
            return Err(unavailable(
                "no CUDA driver found (libcuda.so could not be loaded: no NVIDIA driver on this machine, \
                 or a container started without the GPU runtime)",
            ));
        }
        let nv = Nvrtc::open()
            .map_err(|e| unavailable(format!("the CUDA driver is present but {e}")))?;
        let count = CudaContext::device_count()
            .map_err(|e| unavailable(format!("cannot count CUDA devices: {e}")))?;
        if count <= 0 {
            return Err(unavailable("the CUDA driver reports no devices"));
        }
        let mut driver_version = 0;
        // SAFETY: a plain driver query into a local.
        unsafe {
            let _ = cudarc::driver::sys::cuDriverGetVersion(&mut driver_version);
        }
        let wanted: Vec<usize> = match ordinals {
            Some(o) => o.to_vec(),
            None => (0..count as usize).collect(),
        };
        let src = source::full_source();
        let supported = nv.supported_archs();
        let mut gpus = Vec::new();
        for ordinal in wanted {
            if ordinal >= count as usize {
                return Err(unavailable(format!(
                    "no CUDA device {ordinal}: {count} visible"
                )));
            }
            let ctx = CudaContext::new(ordinal)
                .map_err(|e| unavailable(format!("cannot open CUDA device {ordinal}: {e}")))?;
            let name = ctx
                .name()
                .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
            let cc = ctx
                .compute_capability()
                .map_err(|e| failed("compute capability", e))?;
            let memory = ctx.total_mem().unwrap_or(0);
            // The device's own architecture, or the newest this NVRTC knows below it.
            let want = cc.0 * 10 + cc.1;
            let arch = supported
                .iter()
                .copied()
                .filter(|a| *a <= want)
                .max()
                .unwrap_or(want.min(80));
            let (ptx, cache) = nv.compile_cached(&src, arch).map_err(|e| unavailable(e))?;
            let module = ctx
                .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
                .map_err(|e| failed(&format!("loading the kernels on {name}"), e))?;
            let stream = ctx
                .new_stream()
                .map_err(|e| failed("creating a stream", e))?;
            gpus.push(Gpu {
                ordinal,
                name,
                compute_capability: cc,
                memory,
                arch,
                cache,
                stream,
                module,
            });
        }
        Ok(CudaEngine {
            gpus,
            nvrtc: format!("{} ({}.{})", nv.path, nv.version.0, nv.version.1),
            driver_version,
        })
    }

    pub fn gpus(&self) -> &[Gpu] {
        &self.gpus
    }

    /// Philox words and float normals computed on GPU 0, for known-answer tests.
    pub fn philox_on_device(
        &self,
        inputs: &[([u32; 4], [u32; 2])],
    ) -> Result<Vec<([u32; 4], [f32; 4])>, EngineError> {
        let gpu = &self.gpus[0];
        let words: Vec<u32> = inputs
            .iter()
            .flat_map(|(c, k)| [c[0], c[1], c[2], c[3], k[0], k[1], 0, 0])
            .collect();
        let input = gpu
            .stream
            .clone_htod(&words)
            .map_err(|e| failed("upload", e))?;
        let mut out = gpu
            .stream
            .alloc_zeros::<u32>(words.len())
            .map_err(|e| failed("alloc", e))?;
        let f = gpu
            .module
            .load_function("rp_kat")
            .map_err(|e| failed("rp_kat", e))?;
        let n = inputs.len() as u32;
        let mut b = gpu.stream.launch_builder(&f);
        b.arg(&input).arg(&mut out).arg(&n);
        // SAFETY: the arguments match rp_kat's signature and the buffers' sizes.
        unsafe {
            b.launch(LaunchConfig {
                grid_dim: (n.div_ceil(64), 1, 1),
                block_dim: (64, 1, 1),
                shared_mem_bytes: 0,
            })
        }
        .map_err(|e| failed("rp_kat launch", e))?;
        let host = gpu
            .stream
            .clone_dtoh(&out)
            .map_err(|e| failed("download", e))?;
        Ok(host
            .chunks(8)
            .map(|c| {
                (
                    [c[0], c[1], c[2], c[3]],
                    [
                        f32::from_bits(c[4]),
                        f32::from_bits(c[5]),
                        f32::from_bits(c[6]),
                        f32::from_bits(c[7]),
                    ],
                )
            })
            .collect())
    }
}

/// A record type the kernels read, in either precision.
trait Record: bytemuck::Pod + Send + Sync {
    fn make(t: &Trade, req: &PricingRequest) -> Self;
    fn paths(&self) -> u64;
}

impl Record for GpuTrade {
    fn make(t: &Trade, req: &PricingRequest) -> Self {
        GpuTrade::new(t, req)
    }
    fn paths(&self) -> u64 {
        GpuTrade::paths(self)
    }
}

impl Record for GpuTrade64 {
    fn make(t: &Trade, req: &PricingRequest) -> Self {
        GpuTrade64::new(t, req)
    }
    fn paths(&self) -> u64 {
        GpuTrade64::paths(self)
    }
}

impl Gpu {
    /// Prices same-kind trades on this GPU, merging into `moments`.
    fn price_group<R: Record>(
        &self,
        kernel: &str,
        records: &[R],
        key: [u32; 2],
        moments: &mut [Moments],
    ) -> Result<(), EngineError> {
        let f = self
            .module
            .load_function(kernel)
            .map_err(|e| failed(kernel, e))?;
        let bytes: &[u8] = bytemuck::cast_slice(records);
        let table = self
            .stream
            .clone_htod(bytes)
            .map_err(|e| failed("uploading trades", e))?;
        let mut starts = vec![0u32];
        let mut total: u64 = 0;
        for r in records {
            total += r.paths().div_ceil(PATHS_PER_BLOCK);
            starts.push(
                u32::try_from(total)
                    .map_err(|_| failed("block table", "more than 2^32 blocks in one batch"))?,
            );
        }
        let starts_dev = self
            .stream
            .clone_htod(&starts)
            .map_err(|e| failed("uploading the block table", e))?;
        let per_launch = MAX_BLOCKS_PER_LAUNCH.min(total.max(1));
        let mut partials = self
            .stream
            .alloc_zeros::<f64>(per_launch as usize * PARTIAL)
            .map_err(|e| failed("allocating results", e))?;
        let n_trades = records.len() as u32;
        let mut trade = 0usize;
        let mut first: u64 = 0;
        while first < total {
            let n = per_launch.min(total - first);
            let (first32, n32) = (first as u32, n as u32);
            let mut b = self.stream.launch_builder(&f);
            b.arg(&table)
                .arg(&starts_dev)
                .arg(&mut partials)
                .arg(&key[0])
                .arg(&key[1])
                .arg(&first32)
                .arg(&n32)
                .arg(&n_trades);
            // SAFETY: the arguments match the kernel's signature (kernel.cu,
            // RP_KERNEL); the table holds `n_trades` records of this precision,
            // the block table n_trades + 1 entries, partials 12 doubles per block.
            unsafe {
                b.launch(LaunchConfig {
                    grid_dim: (n32, 1, 1),
                    block_dim: (THREADS, 1, 1),
                    shared_mem_bytes: 0,
                })
            }
            .map_err(|e| failed(&format!("launching {kernel}"), e))?;
            let host = self
                .stream
                .clone_dtoh(&partials)
                .map_err(|e| failed("reading results", e))?;
            for (i, p) in host.chunks(PARTIAL).take(n as usize).enumerate() {
                let g = first + i as u64;
                while g >= starts[trade + 1] as u64 {
                    trade += 1;
                }
                let mut s = Sums {
                    n: p[0] as u64,
                    ..Default::default()
                };
                s.sum.copy_from_slice(&p[1..6]);
                s.sum_sq.copy_from_slice(&p[6..11]);
                moments[trade].merge(&Moments::from(&s));
            }
            first += n;
        }
        Ok(())
    }

    /// Prices `trades` (indices into the batch) on this GPU.
    fn price_share(
        &self,
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
    ) -> Result<Vec<(usize, Moments, f64)>, EngineError> {
        let key = portfolio::gpu_key(req);
        let subset: Vec<Trade> = share.iter().map(|&i| trades[i].clone()).collect();
        let mut out = Vec::with_capacity(share.len());
        for group in portfolio::group(&subset) {
            let t0 = Instant::now();
            let kernel = source::kernel_name(group.model, group.payoff, req.precision);
            let mut moments = vec![Moments::default(); group.indices.len()];
            match req.precision {
                Precision::F32 => {
                    let r: Vec<GpuTrade> = group
                        .indices
                        .iter()
                        .map(|&i| GpuTrade::make(&subset[i], req))
                        .collect();
                    self.price_group(&kernel, &r, key, &mut moments)?;
                }
                Precision::F64 => {
                    let r: Vec<GpuTrade64> = group
                        .indices
                        .iter()
                        .map(|&i| GpuTrade64::make(&subset[i], req))
                        .collect();
                    self.price_group(&kernel, &r, key, &mut moments)?;
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            let work: f64 = group.indices.iter().map(|&i| subset[i].path_steps()).sum();
            for (&i, m) in group.indices.iter().zip(moments) {
                out.push((share[i], m, secs * subset[i].path_steps() / work.max(1.0)));
            }
        }
        Ok(out)
    }
}

impl Engine for CudaEngine {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn device(&self) -> String {
        let names: Vec<String> = self
            .gpus
            .iter()
            .map(|g| {
                format!(
                    "{} (sm_{}{})",
                    g.name, g.compute_capability.0, g.compute_capability.1
                )
            })
            .collect();
        format!(
            "{} GPU{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        )
    }

    fn price(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        check_batch("cuda", trades, req, u32::MAX as u64 - PATHS_PER_BLOCK)?;
        // Split the batch across GPUs in contiguous shares of equal path-steps.
        let total: f64 = trades.iter().map(Trade::path_steps).sum();
        let n = self.gpus.len();
        let mut shares: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut acc = 0.0;
        for (i, t) in trades.iter().enumerate() {
            let g = ((acc / total.max(1.0)) * n as f64) as usize;
            shares[g.min(n - 1)].push(i);
            acc += t.path_steps();
        }
        let parts: Vec<Result<Vec<(usize, Moments, f64)>, EngineError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .gpus
                .iter()
                .zip(&shares)
                .map(|(gpu, share)| s.spawn(move || gpu.price_share(trades, share, req)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(failed("GPU worker", "panicked")))
                })
                .collect()
        });
        let mut results = vec![TradeResult::unpriced(); trades.len()];
        for part in parts {
            for (i, m, secs) in part? {
                results[i] = TradeResult::from_moments(&m, req, trades[i].paths, secs);
            }
        }
        Ok(results)
    }
}
