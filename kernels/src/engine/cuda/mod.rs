//! The CUDA engine: the CUDA C kernels (assembled by [`source`] from the
//! files beside their Rust twins), compiled at run time by NVRTC for each
//! device's architecture, launched through cudarc.
//!
//! Nothing CUDA is needed to build riskpool: the driver (`libcuda.so`) and
//! NVRTC are opened when the engine starts, and their absence is an
//! [`EngineError::Unavailable`] with the reason, never a panic (cudarc's
//! `is_culib_present` is asked before any other driver call).
//!
//! One launch prices many trades: trades are grouped by model x payoff
//! kind, split into blocks of [`PATHS_PER_BLOCK`] paths (128 threads of 4
//! paths each), and a prefix table maps a block to its trade. Every GPU of
//! the node takes a share of the batch (by path-steps), in its own context.
//!
//! Trades with several assets or early exercise ([`crate::gpu::extension`])
//! go first, synchronously, on the first GPU: their kernel (`extension.cu`, f64)
//! per multi-asset model, their blocks merged in path order.
//!
//! [`Engine::submit`] starts a batch and returns (`batch.rs`): uploads from
//! pinned memory, launches and the download of the blocks' sums are queued
//! on a stream of the batch's own, so the runner keeps two batches in
//! flight and the next one's upload overlaps this one's compute.

mod batch;
mod nvrtc;
pub mod on_cpu;
pub mod source;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaStream, LaunchConfig, PushKernelArg};

pub use nvrtc::{cache_dir, CacheOutcome, Nvrtc, Target};

use super::{check_batch, EngineError, Pending, PhiloxAnswer, PricingRequest, TradeResult};
use crate::gpu::backend::GpuBackend;
use crate::gpu::dated;
use crate::gpu::extension::{self, ExtensionPlan, Moments, SideBatch};
use crate::gpu::plan::{launches, BatchPlan};
use crate::gpu::PARTIAL;
use crate::greeks::Revaluations;
use crate::instrument::Trade;

/// Paths per CUDA block (`RP_BLOCK x RP_PATHS_PER_THREAD` in the prelude).
pub const PATHS_PER_BLOCK: u64 = 512;
/// Threads per block (`RP_BLOCK`).
pub(crate) const THREADS: u32 = 128;
/// Most blocks per launch: a kind with more takes several launches.
const MAX_BLOCKS_PER_LAUNCH: u64 = 1 << 20;

fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::unavailable("cuda", reason)
}

/// A failure described by text alone.
fn failed(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::failed("cuda", format!("{what}: {e}"))
}

/// A failure of a driver call, kept as the source.
fn driver(what: &str, e: cudarc::driver::DriverError) -> EngineError {
    EngineError::failed_by("cuda", what, e)
}

/// Whether the CUDA driver library can be loaded at all.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda; no driver call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// A CUDA device as the driver describes it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The driver's ordinal, after any `CUDA_VISIBLE_DEVICES` masking.
    pub ordinal: usize,
    /// The GPU's own identity (`GPU-xxxxxxxx-...`, as `nvidia-smi -L`
    /// prints it): the same whatever mask a process sees it through.
    pub uuid: String,
    pub name: String,
    pub memory: usize,
    pub compute_capability: (i32, i32),
}

/// The visible CUDA devices, asking the driver only: no context is made on
/// any of them (a context would touch GPUs other tasks hold, and one busy
/// or failed GPU would make them all unavailable), no NVRTC, no kernels.
pub fn devices() -> Result<Vec<DeviceInfo>, EngineError> {
    use cudarc::driver::{result, sys::CUdevice_attribute as A};
    if !driver_present() {
        return Err(unavailable(
            "no CUDA driver found (libcuda.so could not be loaded)",
        ));
    }
    result::init().map_err(|e| unavailable(format!("cannot start the CUDA driver: {e}")))?;
    let count = result::device::get_count()
        .map_err(|e| unavailable(format!("cannot count CUDA devices: {e}")))?;
    let mut out = Vec::new();
    for ordinal in 0..count.max(0) {
        // A device the driver cannot describe is left out, not fatal.
        let Ok(dev) = result::device::get(ordinal) else {
            continue;
        };
        // SAFETY: plain attribute queries on a device handle the driver gave.
        let attr = |a| unsafe { result::device::get_attribute(dev, a) }.unwrap_or(0);
        out.push(DeviceInfo {
            ordinal: ordinal as usize,
            uuid: result::device::get_uuid(dev)
                .map(|u| format_uuid(&u.bytes))
                .unwrap_or_else(|_| format!("ordinal-{ordinal}")),
            name: result::device::get_name(dev).unwrap_or_default(),
            // SAFETY: as above.
            memory: unsafe { result::device::total_mem(dev) }.unwrap_or(0),
            compute_capability: (
                attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            ),
        });
    }
    Ok(out)
}

/// A GPU's UUID as `nvidia-smi -L` prints it.
pub fn format_uuid(bytes: &[std::ffi::c_char; 16]) -> String {
    let b: Vec<u8> = bytes.iter().map(|&c| c as u8).collect();
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// One GPU as the engine uses it.
pub struct Gpu {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub memory: usize,
    /// What the kernels were compiled for (machine code for the device's
    /// own architecture where NVRTC knows it), and how.
    pub target: Target,
    pub cache: CacheOutcome,
    /// For the known-answer kernel; batches run on their slots' streams.
    stream: Arc<CudaStream>,
    dev: batch::Device,
}

/// The CUDA engine over every visible GPU (or the ones named).
pub struct CudaEngine {
    gpus: Vec<Gpu>,
    pub nvrtc: String,
    pub driver_version: i32,
    /// Float kernels use the chip's special functions (`--fast-math`).
    pub fast_math: bool,
}

impl CudaEngine {
    /// Opens every visible GPU, with riskpool's own special functions.
    pub fn new() -> Result<CudaEngine, EngineError> {
        CudaEngine::with_devices(None, false)
    }

    /// Opens the GPUs with these ordinals (all when `None`). With
    /// `fast_math` the f32 kernels take the logarithm, exponential, sine,
    /// cosine and Box-Muller's square root from the chip's special-function
    /// unit: about half the instructions a path-step, and normals that
    /// agree with the other engines' to about 1e-6 instead of bit for bit.
    /// f64 kernels are the same either way.
    pub fn with_devices(
        ordinals: Option<&[usize]>,
        fast_math: bool,
    ) -> Result<CudaEngine, EngineError> {
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
        let src = source::full_source(fast_math);
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
                .map_err(|e| driver("compute capability", e))?;
            let memory = ctx.total_mem().unwrap_or(0);
            let target = Target::for_device(cc, nv.version, &supported, driver_version)
                .map_err(|e| unavailable(format!("{name}: {e}")))?;
            let (image, cache) = nv
                .compile_cached(&src, target, driver_version)
                .map_err(unavailable)?;
            let image = match target {
                Target::Sass(_) => cudarc::nvrtc::Ptx::from_binary(image),
                Target::Ptx(_) => {
                    cudarc::nvrtc::Ptx::from_src(String::from_utf8_lossy(&image).into_owned())
                }
            };
            let module = ctx.load_module(image).map_err(|e| {
                unavailable(format!(
                    "loading the kernels ({target}, NVRTC {}.{}, driver {}.{}) on {name}: {e}",
                    nv.version.0,
                    nv.version.1,
                    driver_version / 1000,
                    (driver_version % 1000) / 10
                ))
            })?;
            let stream = ctx
                .new_stream()
                .map_err(|e| driver("creating a stream", e))?;
            gpus.push(Gpu {
                ordinal,
                name,
                compute_capability: cc,
                memory,
                target,
                cache,
                stream,
                dev: batch::Device {
                    ctx,
                    module,
                    slots: Arc::new(Mutex::new(Vec::new())),
                    tail: Arc::new(Mutex::new(None)),
                },
            });
        }
        Ok(CudaEngine {
            gpus,
            nvrtc: format!("{} ({}.{})", nv.path, nv.version.0, nv.version.1),
            driver_version,
            fast_math,
        })
    }

    pub fn gpus(&self) -> &[Gpu] {
        &self.gpus
    }

    /// One batch of a side kernel (several assets or early exercise:
    /// `extension.cu`; dated trades: `dated.cu`; f64) on the first GPU,
    /// synchronously: uploaded, launched in pieces of at most
    /// [`MAX_BLOCKS_PER_LAUNCH`] blocks, read back; each block's moments.
    fn side_sums(&self, plan: &SideBatch) -> Result<(Vec<Moments>, f64), EngineError> {
        let started = std::time::Instant::now();
        let gpu = &self.gpus[0];
        let s = &gpu.stream;
        let up = |e| driver("uploading several-asset or dated trades", e);
        let table = s.clone_htod(plan.records).map_err(up)?;
        let starts = s.clone_htod(plan.starts).map_err(up)?;
        let dates = s.clone_htod(plan.dates).map_err(up)?;
        let coefs = s.clone_htod(plan.coefs).map_err(up)?;
        let mut partials = s
            .alloc_zeros::<f64>(plan.partials_len().max(1))
            .map_err(|e| driver("allocating partial sums", e))?;
        let name = source::side_kernel_name(plan.kernel);
        let f = gpu
            .dev
            .module
            .load_function(&name)
            .map_err(|e| driver(&name, e))?;
        let n_trades = plan.n_trades();
        for (first, n) in launches(plan.blocks(), MAX_BLOCKS_PER_LAUNCH) {
            let at = first as usize * plan.partial();
            let mut out = partials.slice_mut(at..at + n as usize * plan.partial());
            let (first, n) = (first as u32, n as u32);
            let mut b = s.launch_builder(&f);
            b.arg(&table)
                .arg(&starts)
                .arg(&dates)
                .arg(&coefs)
                .arg(&mut out)
                .arg(&plan.key[0])
                .arg(&plan.key[1])
                .arg(&first)
                .arg(&n)
                .arg(&n_trades);
            // SAFETY: the arguments match RP_EXTENSION_KERNEL's signature
            // (extension.cu): f64 records, the block table (n_trades + 1
            // entries), dates, f64 coefficients, and `out` plan.partial()
            // doubles for each of the launch's `n` blocks.
            unsafe {
                b.launch(LaunchConfig {
                    grid_dim: (n, 1, 1),
                    block_dim: (THREADS, 1, 1),
                    shared_mem_bytes: 0,
                })
            }
            .map_err(|e| driver(&format!("launching {name}"), e))?;
        }
        let host = s
            .clone_dtoh(&partials)
            .map_err(|e| driver("downloading partial sums", e))?;
        let secs = started.elapsed().as_secs_f64();
        Ok((plan.decode(&host, extension::from_sums), secs))
    }

    /// Philox words and float normals computed on GPU 0, for known-answer tests.
    pub fn philox_on_device(
        &self,
        inputs: &[([u32; 4], [u32; 2])],
    ) -> Result<Vec<PhiloxAnswer>, EngineError> {
        let gpu = &self.gpus[0];
        let words: Vec<u32> = inputs
            .iter()
            .flat_map(|(c, k)| [c[0], c[1], c[2], c[3], k[0], k[1], 0, 0])
            .collect();
        let input = gpu
            .stream
            .clone_htod(&words)
            .map_err(|e| driver("upload", e))?;
        let mut out = gpu
            .stream
            .alloc_zeros::<u32>(words.len())
            .map_err(|e| driver("alloc", e))?;
        let f = gpu
            .dev
            .module
            .load_function("rp_kat")
            .map_err(|e| driver("rp_kat", e))?;
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
        .map_err(|e| driver("rp_kat launch", e))?;
        let host = gpu
            .stream
            .clone_dtoh(&out)
            .map_err(|e| driver("download", e))?;
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

impl GpuBackend for CudaEngine {
    const NAME: &'static str = "cuda";
    /// The next batch's upload overlaps this one's compute.
    const IN_FLIGHT: usize = 2;
    const EXTENSION_BLOCK: u64 = PATHS_PER_BLOCK;
    const EXTENSION_F64: bool = true;

    fn hardware(&self) -> String {
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
            "{} GPU{}: {}{}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            if self.fast_math { ", fast math" } else { "" }
        )
    }

    fn start(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        self.submit_with(trades, plans, req)
    }
    fn check(&self, trades: &[Trade], req: &PricingRequest) -> Result<(), EngineError> {
        check_batch("cuda", trades, req, u32::MAX as u64 - PATHS_PER_BLOCK)
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

impl CudaEngine {
    /// Starts pricing `trades`, each with its own revaluations (`plans`)
    /// or the request's Greeks (`None`).
    fn submit_with(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        self.check(trades, req)?;
        // Several assets and early exercise: on the first GPU, before the
        // rest of the batch starts.
        let (side, plain): (Vec<usize>, Vec<usize>) = (0..trades.len())
            .partition(|&i| trades[i].extension.is_some() || trades[i].dated.is_some());
        let (dated, extended): (Vec<usize>, Vec<usize>) =
            side.into_iter().partition(|&i| trades[i].dated.is_some());
        let (dated, dated_multi): (Vec<usize>, Vec<usize>) = dated
            .into_iter()
            .partition(|&i| crate::gpu::dated::takes(&trades[i]));
        let mut extension_results = Vec::with_capacity(extended.len() + dated.len());
        for plan in ExtensionPlan::new("cuda", trades, &extended, req, PATHS_PER_BLOCK, true)? {
            let (blocks, secs) = self.side_sums(&plan.batch())?;
            extension_results.extend(plan.results(trades, req, &plan.merged(&blocks), secs));
        }
        let mut run = |b: &SideBatch| self.side_sums(b);
        extension_results.extend(dated::price(
            self.side_target(),
            trades,
            &dated,
            req,
            &mut run,
        )?);
        extension_results.extend(crate::gpu::dated_multi::price(
            self.side_target(),
            trades,
            &dated_multi,
            req,
            &mut run,
        )?);
        // Split the batch across GPUs in contiguous shares of equal
        // path-steps; a share's one-pass trades ([`crate::gpu::one_pass`])
        // in pieces of their own, after its other trades.
        let total: f64 = plain.iter().map(|&i| trades[i].path_steps()).sum();
        let n = self.gpus.len();
        let mut shares: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut acc = 0.0;
        for &i in &plain {
            let g = ((acc / total.max(1.0)) * n as f64) as usize;
            shares[g.min(n - 1)].push(i);
            acc += trades[i].path_steps();
        }
        let mut parts = Vec::with_capacity(n);
        for (gpu, share) in self.gpus.iter().zip(shares) {
            let (one_pass, share) = crate::gpu::one_pass::split(trades, plans, share, req);
            let mut rest = pieces(trades, &share)
                .into_iter()
                .map(|piece| {
                    BatchPlan::with_plans("cuda", trades, plans, piece, req, PATHS_PER_BLOCK)
                })
                .collect::<Result<VecDeque<_>, _>>()?;
            for piece in pieces(trades, &one_pass) {
                rest.push_back(BatchPlan::one_pass(
                    "cuda",
                    trades,
                    piece,
                    req,
                    PATHS_PER_BLOCK,
                )?);
            }
            let mut part = GpuShare {
                in_flight: VecDeque::new(),
                rest,
                dev: gpu.dev.clone(),
            };
            part.top_up()?;
            parts.push(part);
        }
        Ok(Box::new(CudaBatch {
            parts,
            req: req.clone(),
            paths: trades.iter().map(|t| t.paths).collect(),
            extended: extension_results,
        }))
    }
}

/// Most blocks in one piece of a GPU's share: bounds the pinned and device
/// memory a batch holds (96 MiB of partial sums) whatever `--batch-trades`
/// is. A single trade with more blocks is a piece of its own.
const MAX_BLOCKS_PER_PIECE: u64 = 1 << 20;

/// A share cut into runs of consecutive trades of at most
/// [`MAX_BLOCKS_PER_PIECE`] blocks each.
fn pieces<'a>(trades: &[Trade], share: &'a [usize]) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let (mut from, mut blocks) = (0, 0);
    for (k, &i) in share.iter().enumerate() {
        let b = trades[i].paths.div_ceil(PATHS_PER_BLOCK);
        if k > from && blocks + b > MAX_BLOCKS_PER_PIECE {
            out.push(&share[from..k]);
            (from, blocks) = (k, 0);
        }
        blocks += b;
    }
    if from < share.len() {
        out.push(&share[from..]);
    }
    out
}

/// Pieces of one GPU's share kept started at once: while the host waits
/// for one, the next is queued behind it, so the GPU never idles between
/// pieces (and their uploads overlap the compute before them).
const PIECES_IN_FLIGHT: usize = 2;

/// One GPU's share of a batch: the pieces started, oldest first, and the
/// ones planned but not yet started.
struct GpuShare {
    in_flight: VecDeque<batch::GpuBatch>,
    rest: VecDeque<BatchPlan>,
    dev: batch::Device,
}

impl GpuShare {
    /// Starts planned pieces until [`PIECES_IN_FLIGHT`] are in flight.
    fn top_up(&mut self) -> Result<(), EngineError> {
        while self.in_flight.len() < PIECES_IN_FLIGHT {
            let Some(plan) = self.rest.pop_front() else {
                break;
            };
            self.in_flight.push_back(batch::submit(&self.dev, plan)?);
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.in_flight.is_empty() && self.rest.is_empty()
    }
}

/// A batch started on every GPU's share.
struct CudaBatch {
    parts: Vec<GpuShare>,
    req: PricingRequest,
    paths: Vec<u64>,
    /// The trades with several assets or early exercise, priced already.
    extended: Vec<(usize, TradeResult)>,
}

impl Pending for CudaBatch {
    fn wait(mut self: Box<Self>) -> Result<Vec<TradeResult>, EngineError> {
        let mut results = vec![TradeResult::unpriced(); self.paths.len()];
        // The GPUs in turn, a piece of each at a time, so that no GPU's
        // later pieces wait for another GPU's whole share.
        while self.parts.iter().any(|p| !p.is_done()) {
            for part in &mut self.parts {
                let Some(oldest) = part.in_flight.pop_front() else {
                    continue;
                };
                for m in oldest.wait()? {
                    results[m.index] = m.result(&self.req, self.paths[m.index]);
                }
                part.top_up()?;
            }
        }
        for (i, r) in std::mem::take(&mut self.extended) {
            results[i] = r;
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azfinsim::AzfinsimTrade;

    fn with_paths(paths: &[u64]) -> Vec<Trade> {
        paths
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let mut t = AzfinsimTrade::generate(1, i as u64).to_trade();
                t.paths = p;
                t
            })
            .collect()
    }

    #[test]
    fn a_share_is_cut_into_pieces_of_bounded_blocks_in_order() {
        let max_paths = MAX_BLOCKS_PER_PIECE * PATHS_PER_BLOCK;
        // Half a piece, half a piece (fits), one path over; a giant on its
        // own; then small ones.
        let trades = with_paths(&[max_paths / 2, max_paths / 2, 1, 3 * max_paths, 10, 10]);
        let share: Vec<usize> = (0..trades.len()).collect();
        let got = pieces(&trades, &share);
        assert_eq!(got, vec![&[0, 1][..], &[2][..], &[3][..], &[4, 5][..]]);
        // A share of other indices keeps them.
        let share = vec![5, 4, 0];
        assert_eq!(pieces(&trades, &share), vec![&[5, 4, 0][..]]);
        assert!(pieces(&trades, &[]).is_empty());
    }
}
