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
//! Copies move the bytes a batch uses, not a slot's whole capacity.
//!
//! A GPU's batches compute one after another, in the order they were
//! submitted: each stream waits for the last batch's final launch (the
//! device's compute tail) before its own first launch, while its upload
//! is free to overlap. So the events around a batch's launches time its
//! own kernels, never the wait for another's, and the seconds a result
//! reports are that batch's GPU time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cudarc::driver::sys::{CUevent_flags, CU_MEMHOSTALLOC_WRITECOMBINED};
use cudarc::driver::{
    result, CudaContext, CudaEvent, CudaModule, CudaSlice, CudaStream, DevicePtr, DevicePtrMut,
    DeviceRepr, HostSlice, LaunchConfig, PinnedHostSlice, PushKernelArg, ValidAsZeroBits,
};

use super::{driver, failed, PARTIAL, THREADS};
use super::{source, MAX_BLOCKS_PER_LAUNCH};
use crate::engine::EngineError;
use crate::gpu::plan::{from_sums, BatchPlan, Merged};

/// A pinned host buffer and the device buffer it is copied to or from,
/// grown together to the same length.
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
            .map_err(|e| driver("allocating pinned host memory", e))?;
        let p = host
            .as_mut_ptr()
            .map_err(|e| driver("pinned host memory", e))?;
        // SAFETY: `p` points to `len` elements of T just allocated.
        unsafe { std::ptr::write_bytes(p, 0, len) };
        let dev =
            unsafe { stream.alloc::<T>(len) }.map_err(|e| driver("allocating device memory", e))?;
        *mirror = Some(Mirror { host, dev });
        Ok(())
    }

    /// Queues the copy of the first `len` elements up to the device.
    /// cudarc's own copy moves the host buffer's whole length, which after
    /// one large batch would be every later batch's cost too.
    fn upload(&mut self, stream: &Arc<CudaStream>, len: usize) -> Result<(), EngineError> {
        if len == 0 {
            return Ok(());
        }
        if len > self.host.len() {
            return Err(failed("uploading", "more than the buffer holds"));
        }
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| driver("binding the context", e))?;
        // The guards record, when dropped after the copy is queued, that
        // both buffers are in use by this stream until it passes here.
        // SAFETY: the host slice lives as long as its guard; the copy is
        // ordered on `stream` after the buffers' earlier uses.
        let (src, _src_guard) = unsafe { self.host.stream_synced_slice(stream) };
        let (dst, _dst_guard) = self.dev.device_ptr_mut(stream);
        // SAFETY: `dst` holds at least `len` elements (same length as host).
        unsafe { result::memcpy_htod_async(dst, &src[..len], stream.cu_stream()) }
            .map_err(|e| driver("uploading", e))
    }

    /// Queues the copy of the first `len` elements down to the host.
    fn download(&mut self, stream: &Arc<CudaStream>, len: usize) -> Result<(), EngineError> {
        if len == 0 {
            return Ok(());
        }
        if len > self.host.len() {
            return Err(failed("reading results", "more than the buffer holds"));
        }
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| driver("binding the context", e))?;
        let (src, _src_guard) = self.dev.device_ptr(stream);
        // SAFETY: as in `upload`; the host slice is not read until the
        // batch's final event has completed.
        let (dst, _dst_guard) = unsafe { self.host.stream_synced_mut_slice(stream) };
        // SAFETY: `src` holds at least `len` elements.
        unsafe { result::memcpy_dtoh_async(&mut dst[..len], src, stream.cu_stream()) }
            .map_err(|e| driver("reading results", e))
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
                .map_err(|e| driver("creating a stream", e))?,
            table: None,
            starts: None,
            partials: None,
        }),
    }
}

/// A batch (one GPU's share of it) started on the GPU.
pub(super) struct GpuBatch {
    slot: Option<Slot>,
    pool: SlotPool,
    plan: BatchPlan,
    /// Each kind's GPU time (events around its launches).
    timing: Vec<(CudaEvent, CudaEvent)>,
    /// Recorded after the download: the batch is done when it is.
    done: CudaEvent,
    started: Instant,
    /// The Sobol tables its kernels read (direction numbers, sweep nodes
    /// and weights), alive until it is done.
    _sobol: (CudaSlice<u32>, CudaSlice<u32>, CudaSlice<f64>),
}

/// What a batch needs of its GPU: the context, the compiled kernels, the
/// slots kept for reuse and the compute tail.
#[derive(Clone)]
pub(super) struct Device {
    pub ctx: Arc<CudaContext>,
    pub module: Arc<CudaModule>,
    pub slots: SlotPool,
    /// Recorded after the last submitted batch's final launch: the next
    /// batch's launches wait for it.
    pub tail: Arc<Mutex<Option<CudaEvent>>>,
}

/// Starts `plan` on the GPU and returns.
pub(super) fn submit(dev: &Device, plan: BatchPlan) -> Result<GpuBatch, EngineError> {
    let Device {
        ctx,
        module,
        slots: pool,
        tail,
    } = dev;
    let started = Instant::now();

    let mut slot = take_slot(pool, ctx)?;
    let stream = slot.stream.clone();
    Mirror::ensure(
        &mut slot.table,
        ctx,
        &stream,
        plan.records.len(),
        CU_MEMHOSTALLOC_WRITECOMBINED,
    )?;
    Mirror::ensure(
        &mut slot.starts,
        ctx,
        &stream,
        plan.starts.len(),
        CU_MEMHOSTALLOC_WRITECOMBINED,
    )?;
    Mirror::ensure(&mut slot.partials, ctx, &stream, plan.partials_len(), 0)?;
    let (Some(table), Some(starts), Some(partials)) =
        (&mut slot.table, &mut slot.starts, &mut slot.partials)
    else {
        return Err(failed("buffers", "not allocated"));
    };

    // Fill the pinned buffers (each waits for its last copy to finish).
    let host = table
        .host
        .as_mut_slice()
        .map_err(|e| driver("pinned trade table", e))?;
    host[..plan.records.len()].copy_from_slice(&plan.records);
    let host = starts
        .host
        .as_mut_slice()
        .map_err(|e| driver("pinned block table", e))?;
    host[..plan.starts.len()].copy_from_slice(&plan.starts);
    table.upload(&stream, plan.records.len())?;
    starts.upload(&stream, plan.starts.len())?;

    // Every kind's launches, back to back on the slot's stream, after the
    // GPU's last batch: the tail lock is held until this batch's own tail
    // is recorded, so batches compute in the order they were submitted.
    let mut tail = tail
        .lock()
        .map_err(|_| failed("the compute tail", "poisoned"))?;
    if let Some(previous) = tail.as_ref() {
        stream
            .wait(previous)
            .map_err(|e| driver("ordering after the last batch", e))?;
    }
    // The batch's Sobol tables (a word each where it has no Sobol trade:
    // no kernel reads them then), kept with the batch until it is done.
    let sobol = {
        let up = |e| driver("copying the sobol tables", e);
        let (dirs, nodes, coef) = match &plan.sobol {
            Some(t) => (
                t.directions.clone(),
                t.nodes.clone(),
                t.coef.iter().flatten().copied().collect(),
            ),
            None => (vec![0u32], vec![0u32], vec![0.0f64]),
        };
        (
            stream.clone_htod(&dirs).map_err(up)?,
            stream.clone_htod(&nodes).map_err(up)?,
            stream.clone_htod(&coef).map_err(up)?,
        )
    };
    let record = plan.record_size;
    let mut timing = Vec::with_capacity(plan.kinds.len());
    for k in &plan.kinds {
        let kernel = source::kernel_of(k, plan.precision);
        let f = module
            .load_function(&kernel)
            .map_err(|e| driver(&kernel, e))?;
        let n_trades = k.trades.len();
        let table_view = table
            .dev
            .slice(k.first_record * record..(k.first_record + n_trades) * record);
        let starts_view = starts
            .dev
            .slice(k.first_start..k.first_start + n_trades + 1);
        let timed = Some(CUevent_flags::CU_EVENT_DEFAULT);
        let begin = stream
            .record_event(timed)
            .map_err(|e| driver("recording an event", e))?;
        let n_trades32 = n_trades as u32;
        for (first, n) in k.launches(MAX_BLOCKS_PER_LAUNCH) {
            let at = (k.first_block + first as u64) as usize * PARTIAL;
            let mut out = partials.dev.slice_mut(at..at + n as usize * PARTIAL);
            let mut b = stream.launch_builder(&f);
            b.arg(&table_view)
                .arg(&starts_view)
                .arg(&mut out)
                .arg(&sobol.0)
                .arg(&sobol.1)
                .arg(&sobol.2)
                .arg(&plan.key[0])
                .arg(&plan.key[1])
                .arg(&first)
                .arg(&n)
                .arg(&n_trades32);
            // SAFETY: the arguments match the kernel's signature (kernel.cu,
            // RP_KERNEL): the table view holds `n_trades` records of this
            // precision, the block table n_trades + 1 entries, `out`
            // 12 doubles for each of the launch's `n` blocks, and the Sobol
            // tables every node and dimension its Sobol records reach.
            unsafe {
                b.launch(LaunchConfig {
                    grid_dim: (n, 1, 1),
                    block_dim: (THREADS, 1, 1),
                    shared_mem_bytes: 0,
                })
            }
            .map_err(|e| driver(&format!("launching {kernel}"), e))?;
        }
        let end = stream
            .record_event(timed)
            .map_err(|e| driver("recording an event", e))?;
        timing.push((begin, end));
    }
    *tail = Some(
        stream
            .record_event(Some(CUevent_flags::CU_EVENT_DISABLE_TIMING))
            .map_err(|e| driver("recording an event", e))?,
    );
    drop(tail);
    partials.download(&stream, plan.partials_len())?;
    let done = stream
        .record_event(Some(CUevent_flags::CU_EVENT_BLOCKING_SYNC))
        .map_err(|e| driver("recording an event", e))?;
    Ok(GpuBatch {
        slot: Some(slot),
        pool: pool.clone(),
        plan,
        timing,
        done,
        started,
        _sobol: sobol,
    })
}

impl GpuBatch {
    /// Waits for the batch and merges each trade's blocks in path order.
    pub(super) fn wait(mut self) -> Result<Vec<Merged>, EngineError> {
        self.done
            .synchronize()
            .map_err(|e| driver("running the batch", e))?;
        let slot = self
            .slot
            .take()
            .ok_or_else(|| failed("batch", "waited twice"))?;
        let out = {
            let used = self.plan.partials_len();
            let host: &[f64] = match &slot.partials {
                Some(p) if used > 0 => p
                    .host
                    .as_slice()
                    .map_err(|e| driver("reading results", e))?,
                _ => &[],
            };
            let wall = self.started.elapsed().as_secs_f64();
            // A kind's GPU time, from its events; the wall time if they fail.
            self.plan.merge(host, from_sums, |kind| {
                let (a, b) = &self.timing[kind];
                a.elapsed_ms(b).map(|ms| ms as f64 / 1e3).unwrap_or(wall)
            })
        };
        if let Ok(mut p) = self.pool.lock() {
            p.push(slot);
        }
        Ok(out)
    }
}
