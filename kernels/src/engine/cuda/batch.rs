//! One batch on one GPU, started without waiting: the trade records and
//! block tables go up from pinned host memory, every kind's launches
//! follow on the same stream, and the blocks' partial sums come back into
//! pinned memory. The host is free until [`GpuBatch::wait`].
//!
//! Each batch in flight holds a [`Slot`]: a stream of its own and the
//! buffers on both sides. A GPU keeps its slots for reuse, so with two
//! batches in flight (double buffering) the next batch's upload runs on
//! one stream while the last one computes on the other, and no batch pays
//! for pinned or device allocation once the slots have grown to size.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cudarc::driver::sys::{CUevent_flags, CU_MEMHOSTALLOC_WRITECOMBINED};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig,
    PinnedHostSlice, PushKernelArg, ValidAsZeroBits,
};

use super::{failed, source, PARTIAL, PATHS_PER_BLOCK, THREADS};
use crate::engine::{pv_kernels_allowed, EngineError, Precision, PricingRequest};
use crate::instrument::Trade;
use crate::portfolio::{self, GpuTrade, GpuTrade64};
use crate::stats::{Moments, Sums};

/// Most blocks per launch: a trade with more takes several launches.
const MAX_BLOCKS_PER_LAUNCH: u64 = 1 << 20;

/// A record type the kernels read, in either precision.
trait Record: bytemuck::Pod + Send + Sync {
    fn make(t: &Trade, req: &PricingRequest) -> Self;
    fn paths(&self) -> u64;
    /// One model family and one fold: a price with no Greeks.
    fn pv_only(&self) -> bool;
}

/// Both precisions' records implement [`Record`] by their own methods.
macro_rules! record {
    ($t:ty) => {
        impl Record for $t {
            fn make(t: &Trade, req: &PricingRequest) -> Self {
                <$t>::new(t, req)
            }
            fn paths(&self) -> u64 {
                <$t>::paths(self)
            }
            fn pv_only(&self) -> bool {
                <$t>::pv_only(self)
            }
        }
    };
}

record!(GpuTrade);
record!(GpuTrade64);

/// A pinned host buffer and the device buffer it is copied to or from,
/// grown together (a copy moves the whole pinned buffer, so the two always
/// have the same length).
struct Mirror<T: DeviceRepr> {
    host: PinnedHostSlice<T>,
    dev: CudaSlice<T>,
}

impl<T: DeviceRepr + ValidAsZeroBits> Mirror<T> {
    /// `mirror` with room for `len` elements, reallocated (with a quarter
    /// more room) when it has less.
    fn ensure(
        mirror: &mut Option<Mirror<T>>,
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        len: usize,
        flags: u32,
    ) -> Result<(), EngineError> {
        if mirror.as_ref().is_some_and(|m| m.host.len() >= len) {
            return Ok(());
        }
        *mirror = None;
        let len = len.max(1) + len / 4;
        // SAFETY: the host buffer is zeroed below before any slice of it
        // exists (zero is a valid T); the device buffer is written (by a
        // copy or by the kernels) before any part of it is read back.
        let mut host = unsafe { ctx.alloc_pinned_with_flags::<T>(len, flags) }
            .map_err(|e| failed("allocating pinned host memory", e))?;
        let p = host
            .as_mut_ptr()
            .map_err(|e| failed("pinned host memory", e))?;
        // SAFETY: `p` points to `len` elements of T just allocated.
        unsafe { std::ptr::write_bytes(p, 0, len) };
        let dev =
            unsafe { stream.alloc::<T>(len) }.map_err(|e| failed("allocating device memory", e))?;
        *mirror = Some(Mirror { host, dev });
        Ok(())
    }
}

/// A stream and the buffers of one batch in flight on it.
pub(super) struct Slot {
    stream: Arc<CudaStream>,
    /// Trade records: write-combined, as the host only writes them.
    table: Option<Mirror<u8>>,
    /// Each kind's block table (its first block of every trade, then the end).
    starts: Option<Mirror<u32>>,
    /// Every block's (n, sums, sums of squares): cached, as the host reads them.
    partials: Option<Mirror<f64>>,
}

/// A GPU's slots not in use by a batch.
pub(super) type SlotPool = Arc<Mutex<Vec<Slot>>>;

fn take_slot(pool: &SlotPool, ctx: &Arc<CudaContext>) -> Result<Slot, EngineError> {
    let free = pool.lock().ok().and_then(|mut p| p.pop());
    match free {
        Some(s) => Ok(s),
        None => Ok(Slot {
            stream: ctx
                .new_stream()
                .map_err(|e| failed("creating a stream", e))?,
            table: None,
            starts: None,
            partials: None,
        }),
    }
}

/// One kind's share of a batch: where its records, block table and
/// partials sit in the slot's buffers.
struct KindPlan {
    kernel: String,
    /// The batch indices of its trades, in the order of its records.
    trades: Vec<usize>,
    /// Their path-steps, to share the kind's GPU time among them.
    work: Vec<f64>,
    /// Its block table (first block of each trade, then the total).
    starts: Vec<u32>,
    /// Its first block in the slot's partials.
    first_block: u64,
    /// GPU time of its launches (start, end).
    timing: Option<(CudaEvent, CudaEvent)>,
}

/// A batch (one GPU's share of it) started on the GPU.
pub(super) struct GpuBatch {
    slot: Option<Slot>,
    pool: SlotPool,
    kinds: Vec<KindPlan>,
    blocks: u64,
    /// Recorded after the download: the batch is done when it is.
    done: CudaEvent,
    started: Instant,
}

/// What a batch needs of its GPU: the context, the compiled kernels and
/// the slots kept for reuse.
#[derive(Clone)]
pub(super) struct Device {
    pub ctx: Arc<CudaContext>,
    pub module: Arc<CudaModule>,
    pub slots: SlotPool,
}

/// Starts `share` (indices into `trades`) on the GPU and returns.
pub(super) fn submit(
    dev: &Device,
    trades: &[Trade],
    share: &[usize],
    req: &PricingRequest,
) -> Result<GpuBatch, EngineError> {
    match req.precision {
        Precision::F32 => submit_as::<GpuTrade>(dev, trades, share, req),
        Precision::F64 => submit_as::<GpuTrade64>(dev, trades, share, req),
    }
}

fn submit_as<R: Record>(
    dev: &Device,
    trades: &[Trade],
    share: &[usize],
    req: &PricingRequest,
) -> Result<GpuBatch, EngineError> {
    let Device {
        ctx,
        module,
        slots: pool,
    } = dev;
    let started = Instant::now();
    let key = portfolio::gpu_key(req);

    // The host's part: records and block tables, kind by kind.
    let mut records: Vec<R> = Vec::with_capacity(share.len());
    let mut kinds = Vec::new();
    let mut blocks: u64 = 0;
    let pv_allowed = pv_kernels_allowed();
    // A group's indices are places in `share`.
    for group in portfolio::group(share.iter().map(|&i| &trades[i])) {
        let mut starts = Vec::with_capacity(group.indices.len() + 1);
        let mut total: u64 = 0;
        let mut pv_only = pv_allowed;
        starts.push(0u32);
        for &i in &group.indices {
            let r = R::make(&trades[share[i]], req);
            total += r.paths().div_ceil(PATHS_PER_BLOCK);
            starts.push(
                u32::try_from(total)
                    .map_err(|_| failed("block table", "more than 2^32 blocks in one batch"))?,
            );
            pv_only &= r.pv_only();
            records.push(r);
        }
        let mut kernel = source::kernel_name(group.model, group.payoff, req.precision);
        if pv_only {
            kernel.push_str(source::PV_ONLY_SUFFIX);
        }
        kinds.push(KindPlan {
            kernel,
            trades: group.indices.iter().map(|&i| share[i]).collect(),
            work: group
                .indices
                .iter()
                .map(|&i| trades[share[i]].path_steps())
                .collect(),
            starts,
            first_block: blocks,
            timing: None,
        });
        blocks += total;
    }
    let bytes: &[u8] = bytemuck::cast_slice(&records);
    let n_starts: usize = kinds.iter().map(|k| k.starts.len()).sum();

    let mut slot = take_slot(pool, ctx)?;
    let stream = slot.stream.clone();
    Mirror::ensure(
        &mut slot.table,
        ctx,
        &stream,
        bytes.len(),
        CU_MEMHOSTALLOC_WRITECOMBINED,
    )?;
    Mirror::ensure(
        &mut slot.starts,
        ctx,
        &stream,
        n_starts,
        CU_MEMHOSTALLOC_WRITECOMBINED,
    )?;
    Mirror::ensure(
        &mut slot.partials,
        ctx,
        &stream,
        blocks as usize * PARTIAL,
        0,
    )?;
    let (Some(table), Some(starts), Some(partials)) =
        (&mut slot.table, &mut slot.starts, &mut slot.partials)
    else {
        return Err(failed("buffers", "not allocated"));
    };

    // Fill the pinned buffers (each waits for its last copy to finish).
    let host = table
        .host
        .as_mut_slice()
        .map_err(|e| failed("pinned trade table", e))?;
    host[..bytes.len()].copy_from_slice(bytes);
    let host = starts
        .host
        .as_mut_slice()
        .map_err(|e| failed("pinned block table", e))?;
    let mut at = 0;
    for k in &kinds {
        host[at..at + k.starts.len()].copy_from_slice(&k.starts);
        at += k.starts.len();
    }
    stream
        .memcpy_htod(&table.host, &mut table.dev)
        .map_err(|e| failed("uploading trades", e))?;
    stream
        .memcpy_htod(&starts.host, &mut starts.dev)
        .map_err(|e| failed("uploading the block tables", e))?;

    // Every kind's launches, back to back on the slot's stream.
    let record = std::mem::size_of::<R>();
    let (mut record_at, mut starts_at) = (0usize, 0usize);
    for k in kinds.iter_mut() {
        let f = module
            .load_function(&k.kernel)
            .map_err(|e| failed(&k.kernel, e))?;
        let n_trades = k.trades.len();
        let total = *k.starts.last().unwrap_or(&0) as u64;
        let table_view = table
            .dev
            .slice(record_at * record..(record_at + n_trades) * record);
        let starts_view = starts.dev.slice(starts_at..starts_at + n_trades + 1);
        let timed = Some(CUevent_flags::CU_EVENT_DEFAULT);
        let begin = stream
            .record_event(timed)
            .map_err(|e| failed("recording an event", e))?;
        let n_trades32 = n_trades as u32;
        let mut first: u64 = 0;
        while first < total {
            let n = MAX_BLOCKS_PER_LAUNCH.min(total - first);
            let (first32, n32) = (first as u32, n as u32);
            let at = (k.first_block + first) as usize * PARTIAL;
            let mut out = partials.dev.slice_mut(at..at + n as usize * PARTIAL);
            let mut b = stream.launch_builder(&f);
            b.arg(&table_view)
                .arg(&starts_view)
                .arg(&mut out)
                .arg(&key[0])
                .arg(&key[1])
                .arg(&first32)
                .arg(&n32)
                .arg(&n_trades32);
            // SAFETY: the arguments match the kernel's signature (kernel.cu,
            // RP_KERNEL): the table view holds `n_trades` records of this
            // precision, the block table n_trades + 1 entries, and `out`
            // 12 doubles for each of the launch's `n` blocks.
            unsafe {
                b.launch(LaunchConfig {
                    grid_dim: (n32, 1, 1),
                    block_dim: (THREADS, 1, 1),
                    shared_mem_bytes: 0,
                })
            }
            .map_err(|e| failed(&format!("launching {}", k.kernel), e))?;
            first += n;
        }
        let end = stream
            .record_event(timed)
            .map_err(|e| failed("recording an event", e))?;
        k.timing = Some((begin, end));
        record_at += n_trades;
        starts_at += n_trades + 1;
    }
    let used = blocks as usize * PARTIAL;
    if used > 0 {
        stream
            .memcpy_dtoh(&partials.dev.slice(..used), &mut partials.host)
            .map_err(|e| failed("reading results", e))?;
    }
    let done = stream
        .record_event(Some(CUevent_flags::CU_EVENT_BLOCKING_SYNC))
        .map_err(|e| failed("recording an event", e))?;
    Ok(GpuBatch {
        slot: Some(slot),
        pool: pool.clone(),
        kinds,
        blocks,
        done,
        started,
    })
}

impl GpuBatch {
    /// Waits for the batch and merges each trade's blocks in path order:
    /// `(batch index, moments, seconds)` per trade of the share.
    pub(super) fn wait(mut self) -> Result<Vec<(usize, Moments, f64)>, EngineError> {
        self.done
            .synchronize()
            .map_err(|e| failed("running the batch", e))?;
        let slot = self
            .slot
            .take()
            .ok_or_else(|| failed("batch", "waited twice"))?;
        let mut out = Vec::new();
        {
            let used = self.blocks as usize * PARTIAL;
            let host: &[f64] = match &slot.partials {
                Some(p) if used > 0 => p
                    .host
                    .as_slice()
                    .map_err(|e| failed("reading results", e))?,
                _ => &[],
            };
            let wall = self.started.elapsed().as_secs_f64();
            for k in &self.kinds {
                // The kind's GPU time, shared over its trades by path-steps.
                let secs = match &k.timing {
                    Some((a, b)) => a.elapsed_ms(b).map(|ms| ms as f64 / 1e3).unwrap_or(wall),
                    None => wall,
                };
                let mut moments = vec![Moments::default(); k.trades.len()];
                let total = *k.starts.last().unwrap_or(&0) as usize;
                let mut trade = 0usize;
                for b in 0..total {
                    while b >= k.starts[trade + 1] as usize {
                        trade += 1;
                    }
                    let at = (k.first_block as usize + b) * PARTIAL;
                    let p = &host[at..at + PARTIAL];
                    let mut s = Sums {
                        n: p[0] as u64,
                        ..Default::default()
                    };
                    s.sum.copy_from_slice(&p[1..6]);
                    s.sum_sq.copy_from_slice(&p[6..11]);
                    moments[trade].merge(&Moments::from(&s));
                }
                let work: f64 = k.work.iter().sum();
                for ((&batch_index, m), w) in k.trades.iter().zip(moments).zip(&k.work) {
                    out.push((batch_index, m, secs * w / work.max(1.0)));
                }
            }
        }
        if let Ok(mut p) = self.pool.lock() {
            p.push(slot);
        }
        Ok(out)
    }
}
