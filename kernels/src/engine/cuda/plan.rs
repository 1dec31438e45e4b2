//! A batch's host side, apart from any GPU: the trade records and block
//! tables the kernels read, the launches that cover them, and the merge of
//! the blocks' partial sums into each trade's moments. `batch.rs` moves
//! these to and from a GPU; the tests run the same plan through the CUDA C
//! compiled for the CPU (`on_cpu.rs`).

use super::{failed, source, PARTIAL, PATHS_PER_BLOCK};
use crate::engine::{pv_kernels_allowed, EngineError, Precision, PricingRequest};
use crate::instrument::Trade;
use crate::portfolio::{self, GpuTrade, GpuTrade64};
use crate::stats::{Moments, Sums};

/// Most blocks per launch: a trade with more takes several launches.
const MAX_BLOCKS_PER_LAUNCH: u64 = 1 << 20;

/// A record type the kernels read, in either precision.
trait Record: bytemuck::Pod {
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

/// One model x payoff kind's share of a batch: its kernel and where its
/// records, block table and partials sit in the batch's buffers.
pub(super) struct KindPlan {
    pub kernel: String,
    /// The batch indices of its trades, in the order of its records.
    pub trades: Vec<usize>,
    /// Their path-steps, to share the kind's GPU time among them.
    pub work: Vec<f64>,
    /// Its block table (first block of each trade, then the total).
    pub starts: Vec<u32>,
    /// Its first record in the batch's records.
    pub first_record: usize,
    /// Its first entry in the batch's block tables.
    pub first_start: usize,
    /// Its first block in the batch's partials.
    pub first_block: u64,
}

impl KindPlan {
    /// Blocks of paths over all its trades.
    pub fn blocks(&self) -> u64 {
        *self.starts.last().unwrap_or(&0) as u64
    }

    /// Its launches: (first block, blocks), at most 2^20 blocks each.
    pub fn launches(&self) -> impl Iterator<Item = (u32, u32)> {
        let total = self.blocks();
        (0..total)
            .step_by(MAX_BLOCKS_PER_LAUNCH as usize)
            .map(move |first| {
                (
                    first as u32,
                    MAX_BLOCKS_PER_LAUNCH.min(total - first) as u32,
                )
            })
    }
}

/// What the kernels read for a batch (one GPU's share of it), and how
/// their output is read back.
pub(super) struct Plan {
    /// Every kind's trade records, kind after kind.
    pub records: Vec<u8>,
    /// Bytes of one record (480 in f32, 928 in f64).
    pub record_size: usize,
    /// Every kind's block table, kind after kind.
    pub starts: Vec<u32>,
    pub kinds: Vec<KindPlan>,
    /// Blocks in all: the partials hold [`PARTIAL`] doubles for each.
    pub blocks: u64,
    /// The Philox key, as the kernels take it.
    pub key: [u32; 2],
}

impl Plan {
    /// The plan for `share` (indices into `trades`).
    pub fn new(
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
    ) -> Result<Plan, EngineError> {
        match req.precision {
            Precision::F32 => Plan::of::<GpuTrade>(trades, share, req),
            Precision::F64 => Plan::of::<GpuTrade64>(trades, share, req),
        }
    }

    fn of<R: Record>(
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
    ) -> Result<Plan, EngineError> {
        let mut records: Vec<R> = Vec::with_capacity(share.len());
        let mut all_starts = Vec::new();
        let mut kinds = Vec::new();
        let mut blocks: u64 = 0;
        let pv_allowed = pv_kernels_allowed();
        // A group's indices are places in `share`.
        for group in portfolio::group(share.iter().map(|&i| &trades[i])) {
            let (first_record, first_start) = (records.len(), all_starts.len());
            let mut starts = Vec::with_capacity(group.indices.len() + 1);
            let mut total: u64 = 0;
            let mut pv_only = pv_allowed;
            starts.push(0u32);
            for &i in &group.indices {
                let r = R::make(&trades[share[i]], req);
                total += r.paths().div_ceil(PATHS_PER_BLOCK);
                starts
                    .push(u32::try_from(total).map_err(|_| {
                        failed("block table", "more than 2^32 blocks in one batch")
                    })?);
                pv_only &= r.pv_only();
                records.push(r);
            }
            let mut kernel = source::kernel_name(group.model, group.payoff, req.precision);
            if pv_only {
                kernel.push_str(source::PV_ONLY_SUFFIX);
            }
            all_starts.extend_from_slice(&starts);
            kinds.push(KindPlan {
                kernel,
                trades: group.indices.iter().map(|&i| share[i]).collect(),
                work: group
                    .indices
                    .iter()
                    .map(|&i| trades[share[i]].path_steps())
                    .collect(),
                starts,
                first_record,
                first_start,
                first_block: blocks,
            });
            blocks += total;
        }
        Ok(Plan {
            records: bytemuck::cast_slice(&records).to_vec(),
            record_size: std::mem::size_of::<R>(),
            starts: all_starts,
            kinds,
            blocks,
            key: portfolio::gpu_key(req),
        })
    }

    /// Doubles of partial sums the batch's blocks write.
    pub fn partials_len(&self) -> usize {
        self.blocks as usize * PARTIAL
    }

    /// Each trade's blocks merged in path order from `partials` (as the
    /// kernels wrote them): `(batch index, moments, seconds)`, a kind's
    /// seconds (`kind_seconds`) shared over its trades by path-steps.
    pub fn merge(
        &self,
        partials: &[f64],
        kind_seconds: impl Fn(usize) -> f64,
    ) -> Vec<(usize, Moments, f64)> {
        let mut out = Vec::new();
        for (kind, k) in self.kinds.iter().enumerate() {
            let secs = kind_seconds(kind);
            let mut moments = vec![Moments::default(); k.trades.len()];
            let mut trade = 0usize;
            for b in 0..k.blocks() as usize {
                while b >= k.starts[trade + 1] as usize {
                    trade += 1;
                }
                let at = (k.first_block as usize + b) * PARTIAL;
                let p = &partials[at..at + PARTIAL];
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
        out
    }
}
