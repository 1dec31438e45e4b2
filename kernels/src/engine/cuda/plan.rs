//! A batch's host side, apart from any GPU: the trade records and block
//! tables the kernels read, the launches that cover them, and the merge of
//! the blocks' partial sums into each trade's moments. `batch.rs` moves
//! these to and from a GPU; the tests run the same plan through the CUDA C
//! compiled for the CPU (`on_cpu.rs`).

use super::{failed, source, PARTIAL, PATHS_PER_BLOCK};
use crate::engine::{pv_kernels_allowed, EngineError, Precision, PricingRequest};
use crate::gpu::record::{self as portfolio, GpuTrade, GpuTrade64};
use crate::instrument::Trade;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azfinsim::AzfinsimTrade;

    #[test]
    fn a_kind_beyond_2_20_blocks_takes_several_launches() {
        let k = KindPlan {
            kernel: String::new(),
            trades: vec![0],
            work: vec![1.0],
            starts: vec![0, 2_500_000],
            first_record: 0,
            first_start: 0,
            first_block: 0,
        };
        let got: Vec<(u32, u32)> = k.launches().collect();
        assert_eq!(
            got,
            vec![
                (0, 1 << 20),
                (1 << 20, 1 << 20),
                (2 << 20, 2_500_000 - (2 << 20))
            ]
        );
        let empty = KindPlan {
            starts: vec![0],
            ..k
        };
        assert_eq!(empty.launches().count(), 0);
    }

    #[test]
    fn records_tables_and_the_merge_follow_the_share() {
        // Two trades of 700 and 100 paths (2 and 1 blocks), in the share's
        // order 1, 0: one kind, so one table.
        let trades: Vec<Trade> = [700u64, 100]
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let mut t = AzfinsimTrade::generate(1, i as u64).to_trade();
                t.paths = p;
                t
            })
            .collect();
        let plan = Plan::new(&trades, &[1, 0], &PricingRequest::default()).unwrap();
        assert_eq!(plan.kinds.len(), 1);
        let k = &plan.kinds[0];
        assert_eq!(k.trades, vec![1, 0]);
        assert_eq!(k.starts, vec![0, 1, 3]);
        assert_eq!(plan.starts, vec![0, 1, 3]);
        assert_eq!(plan.blocks, 3);
        assert_eq!(plan.record_size, std::mem::size_of::<GpuTrade>());
        assert_eq!(plan.records.len(), 2 * plan.record_size);
        // Block b's partial: n = 10 (b + 1), each sum = n, sum of squares = n.
        let mut partials = vec![0.0; plan.partials_len()];
        for b in 0..3 {
            let p = &mut partials[b * PARTIAL..(b + 1) * PARTIAL];
            let n = 10.0 * (b + 1) as f64;
            p[0] = n;
            p[1..11].fill(n);
        }
        let out = plan.merge(&partials, |_| 2.0);
        // Trade 1 has block 0 (10 paths), trade 0 blocks 1 and 2 (50 paths);
        // every path is 1, so every mean is 1 and every variance 0.
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].0, out[0].1.n), (1, 10));
        assert_eq!((out[1].0, out[1].1.n), (0, 50));
        for (_, m, _) in &out {
            assert!(m.mean.iter().all(|&x| x == 1.0) && m.m2.iter().all(|&x| x == 0.0));
        }
        // The kind's 2 seconds shared by path-steps.
        let (w0, w1) = (trades[0].path_steps(), trades[1].path_steps());
        assert!((out[0].2 - 2.0 * w1 / (w0 + w1)).abs() < 1e-12);
        assert!((out[1].2 - 2.0 * w0 / (w0 + w1)).abs() < 1e-12);
    }
}
