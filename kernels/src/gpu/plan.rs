//! A batch's host side on either GPU engine, apart from any device: the
//! trade records and block tables the kernels read, the launches (CUDA) or
//! dispatches (wgpu) that cover them, and the merge of the blocks' partial
//! sums into each trade's moments, in path order, so results do not depend
//! on scheduling. The CUDA engine moves a plan to and from its GPUs
//! (`engine/cuda/batch.rs`), the wgpu engine through its bindings
//! (`engine/wgpu.rs`); the tests run the same plan through the CUDA C
//! compiled for the CPU (`engine/cuda/on_cpu.rs`) and here, with no device.
//!
//! The partials: [`PARTIAL`] slots a block, blocks in the plan's order
//! (kind after kind, a kind's trades in order, a trade's blocks in path
//! order): `[n, a_0..a_4, b_0..b_4, 0]`, decoded by [`from_sums`] (CUDA:
//! f64 sums and sums of squares) or [`from_mean_m2`] (WGSL: f32 mean and
//! M2, as WGSL has no f64).

use std::ops::Range;

use super::one_pass::{one_pass_plan, GpuOnePass, GpuOnePass64};
use super::record::{self, GpuTrade, GpuTrade64};
use super::PARTIAL;
use crate::engine::{pv_kernels_allowed, EngineError, Precision, PricingRequest, TradeResult};
use crate::greeks::{Estimator, Revaluations, OUTPUTS};
use crate::instrument::Trade;
use crate::model::ModelKind;
use crate::payoff::PayoffKind;
use crate::stats::{Moments, Sums};

/// A record type the kernels read, in either precision.
trait Record: bytemuck::Pod {
    fn make(t: &Trade, plan: Option<&Revaluations>, req: &PricingRequest) -> Self;
    fn set_sweep(&mut self, first: u32);
    fn paths(&self) -> u64;
    /// One model family and one fold: a price with no Greeks.
    fn pv_only(&self) -> bool;
}

/// Both precisions' one-pass records ([`super::one_pass`]).
trait OnePassRecord: bytemuck::Pod {
    fn make(t: &Trade, plan: &Revaluations, req: &PricingRequest) -> Self;
    fn set_sweep(&mut self, first: u32);
    fn paths(&self) -> u64;
}

macro_rules! one_pass_record {
    ($t:ty) => {
        impl OnePassRecord for $t {
            fn make(t: &Trade, plan: &Revaluations, req: &PricingRequest) -> Self {
                <$t>::with_plan(t, plan, req)
            }
            fn set_sweep(&mut self, first: u32) {
                self.trade.set_sweep(first)
            }
            fn paths(&self) -> u64 {
                self.trade.paths()
            }
        }
    };
}

one_pass_record!(GpuOnePass);
one_pass_record!(GpuOnePass64);

/// Both precisions' records implement [`Record`] by their own methods.
macro_rules! record {
    ($t:ty) => {
        impl Record for $t {
            fn make(t: &Trade, plan: Option<&Revaluations>, req: &PricingRequest) -> Self {
                match plan {
                    Some(p) => <$t>::with_plan(t, p, req),
                    None => <$t>::new(t, req),
                }
            }
            fn set_sweep(&mut self, first: u32) {
                <$t>::set_sweep(self, first)
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

/// `(first, count)` pieces of at most `max` covering `0..total`.
pub fn launches(total: u64, max: u64) -> impl Iterator<Item = (u64, u64)> {
    let max = max.max(1);
    (0..total.div_ceil(max)).map(move |i| (i * max, max.min(total - i * max)))
}

/// One model x payoff kind's share of a batch: its kernel and where its
/// records, block table and partials sit in the batch's buffers.
pub struct KindPlan {
    pub model: ModelKind,
    pub payoff: PayoffKind,
    /// Every trade has one model family and one fold (no Greeks), and the
    /// PV-only kernels are allowed: the engines run those.
    pub pv_only: bool,
    /// Its trades draw Sobol points ([`record::KindGroup::sobol`]).
    pub sobol: bool,
    /// Its records are one-pass records ([`super::one_pass`]), run by the
    /// one-pass kernels; `estimators` holds each trade's estimators.
    pub one_pass: bool,
    pub estimators: Vec<[Option<Estimator>; 4]>,
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

/// Some consecutive trades of a kind, with their own block table (starting
/// at 0), for an engine whose bindings hold only so many records.
pub struct Chunk {
    /// Its trades, as places in the kind's records.
    pub trades: Range<usize>,
    /// Its block table, rebased to its first trade.
    pub starts: Vec<u32>,
    /// Its first block among the kind's.
    pub first_block: u64,
}

impl Chunk {
    pub fn blocks(&self) -> u64 {
        *self.starts.last().unwrap_or(&0) as u64
    }
}

impl KindPlan {
    /// Blocks of paths over all its trades.
    pub fn blocks(&self) -> u64 {
        *self.starts.last().unwrap_or(&0) as u64
    }

    /// Its launches: (first block, blocks), at most `max` blocks each.
    pub fn launches(&self, max: u64) -> impl Iterator<Item = (u32, u32)> {
        launches(self.blocks(), max).map(|(first, n)| (first as u32, n as u32))
    }

    /// Its trades in chunks of at most `max_trades`.
    pub fn chunks(&self, max_trades: usize) -> impl Iterator<Item = Chunk> + '_ {
        let n = self.trades.len();
        (0..n).step_by(max_trades.max(1)).map(move |a| {
            let b = n.min(a + max_trades.max(1));
            let base = self.starts[a];
            Chunk {
                trades: a..b,
                starts: self.starts[a..=b].iter().map(|s| s - base).collect(),
                first_block: base as u64,
            }
        })
    }
}

/// What the kernels read for a batch (one GPU's share of it), and how
/// their output is read back.
pub struct BatchPlan {
    /// Every kind's trade records, kind after kind.
    pub records: Vec<u8>,
    /// Bytes of one record (496 in f32, 944 in f64).
    pub record_size: usize,
    /// Every kind's block table, kind after kind.
    pub starts: Vec<u32>,
    pub kinds: Vec<KindPlan>,
    /// Blocks in all: the partials hold [`PARTIAL`] slots for each.
    pub blocks: u64,
    /// The Philox key, as the kernels take it.
    pub key: [u32; 2],
    /// The records' precision.
    pub precision: Precision,
    /// What its Sobol trades' points are drawn from (none without any).
    pub sobol: Option<SobolTables>,
}

/// What the kernels read to draw a batch's Sobol points (`qmc.wgsl`,
/// `qmc.cuh`, the twins of [`crate::qmc`]): the direction numbers and
/// each bridge's sweep ([`crate::qmc::bridge::Bridge::sweep`]). A Sobol
/// record's `qmc[1]` is its bridge's first node here.
#[derive(Clone, Debug, Default)]
pub struct SobolTables {
    /// `v[d][b]` at `32 d + b`, for the dimensions the batch reaches.
    pub directions: Vec<u32>,
    /// Each bridge's nodes in sweep order, bridge after bridge: a node's
    /// `target << 16 | rank` (both below 2^16: at most 21,201 steps).
    pub nodes: Vec<u32>,
    /// And its `wl, wr, sd` (CUDA C rounds them to its precision, as the
    /// CPU engine does).
    pub coef: Vec<[f64; 3]>,
    /// The first node of the bridge of each step count.
    first: std::collections::HashMap<u32, u32>,
}

impl SobolTables {
    /// The tables of the Sobol trades of `share` (none if none are).
    fn of(trades: &[Trade], share: &[usize], req: &PricingRequest) -> Option<SobolTables> {
        let mut tables = SobolTables::default();
        let mut dims = 0;
        for &i in share {
            let t = &trades[i];
            if crate::engine::replicates::rng_of(t, req) == crate::qmc::Rng::Philox {
                continue;
            }
            dims = dims.max(t.steps as usize * crate::qmc::normals_per_step(t));
            if tables.first.contains_key(&t.steps) {
                continue;
            }
            tables.first.insert(t.steps, tables.nodes.len() as u32);
            let (sweep, _) = crate::qmc::bridge_of(t.steps).sweep();
            for n in sweep {
                tables.nodes.push(n.target << 16 | n.rank);
                tables.coef.push([n.wl, n.wr, n.sd]);
            }
        }
        if tables.first.is_empty() {
            return None;
        }
        let v = crate::qmc::sobol::directions();
        let dims = dims.min(v.len());
        tables.directions = v[..dims].iter().flatten().copied().collect();
        Some(tables)
    }

    /// The first sweep node of a Sobol trade's bridge (`None` for a
    /// Philox trade).
    fn first_of(&self, t: &Trade, req: &PricingRequest) -> Option<u32> {
        if crate::engine::replicates::rng_of(t, req) == crate::qmc::Rng::Philox {
            return None;
        }
        self.first.get(&t.steps).copied()
    }

    /// The nodes as WGSL reads them: `(target << 16 | rank, wl, wr, sd)`,
    /// the weights as f32 bits (rounded as the CPU engine's f32 kernel
    /// rounds them).
    pub fn wgsl_sweep(&self) -> Vec<[u32; 4]> {
        self.nodes
            .iter()
            .zip(&self.coef)
            .map(|(&n, c)| {
                [
                    n,
                    (c[0] as f32).to_bits(),
                    (c[1] as f32).to_bits(),
                    (c[2] as f32).to_bits(),
                ]
            })
            .collect()
    }
}

impl BatchPlan {
    /// The plan for `share` (indices into `trades`) on `engine`, whose
    /// blocks each price `paths_per_block` paths.
    pub fn new(
        engine: &'static str,
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
        paths_per_block: u64,
    ) -> Result<BatchPlan, EngineError> {
        BatchPlan::with_plans(engine, trades, None, share, req, paths_per_block)
    }

    /// [`BatchPlan::new`] with each trade's revaluations given
    /// (`plans[i]` is `trades[i]`'s) in place of the request's Greeks.
    pub fn with_plans(
        engine: &'static str,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        share: &[usize],
        req: &PricingRequest,
        paths_per_block: u64,
    ) -> Result<BatchPlan, EngineError> {
        match req.precision {
            Precision::F32 => {
                BatchPlan::of::<GpuTrade>(engine, trades, plans, share, req, paths_per_block)
            }
            Precision::F64 => {
                BatchPlan::of::<GpuTrade64>(engine, trades, plans, share, req, paths_per_block)
            }
        }
    }

    fn of<R: Record>(
        engine: &'static str,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        share: &[usize],
        req: &PricingRequest,
        paths_per_block: u64,
    ) -> Result<BatchPlan, EngineError> {
        let pv_allowed = pv_kernels_allowed();
        let sobol = SobolTables::of(trades, share, req);
        let mut plan = BatchPlan::build(
            engine,
            trades,
            share,
            req,
            paths_per_block,
            false,
            |t, i| {
                let mut r = R::make(t, plans.map(|p| &p[i]), req);
                if let Some(first) = sobol.as_ref().and_then(|s| s.first_of(t, req)) {
                    r.set_sweep(first);
                }
                let (paths, pv_only) = (r.paths(), pv_allowed && r.pv_only());
                (r, paths, pv_only, None)
            },
        )?;
        plan.sobol = sobol;
        Ok(plan)
    }

    /// The plan of the trades of `share` that price in one pass
    /// ([`super::one_pass::one_pass_plan`]: the caller sends only those),
    /// run by the one-pass kernels.
    pub fn one_pass(
        engine: &'static str,
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
        paths_per_block: u64,
    ) -> Result<BatchPlan, EngineError> {
        fn of<R: OnePassRecord>(
            engine: &'static str,
            trades: &[Trade],
            share: &[usize],
            req: &PricingRequest,
            paths_per_block: u64,
        ) -> Result<BatchPlan, EngineError> {
            let sobol = SobolTables::of(trades, share, req);
            let mut plan =
                BatchPlan::build(engine, trades, share, req, paths_per_block, true, |t, _| {
                    let plan = one_pass_plan(t, req).unwrap_or_else(|| {
                        Revaluations::for_method(t, &req.greeks, &req.bumps, req.greeks_method)
                    });
                    let mut r = R::make(t, &plan, req);
                    if let Some(first) = sobol.as_ref().and_then(|s| s.first_of(t, req)) {
                        r.set_sweep(first);
                    }
                    let paths = r.paths();
                    (r, paths, false, Some(plan.estimators))
                })?;
            plan.sobol = sobol;
            Ok(plan)
        }
        match req.precision {
            Precision::F32 => of::<GpuOnePass>(engine, trades, share, req, paths_per_block),
            Precision::F64 => of::<GpuOnePass64>(engine, trades, share, req, paths_per_block),
        }
    }

    /// The plan of `share`'s trades, each made into a record by `make`
    /// (the trade and its batch index): the record, its paths, whether it
    /// is PV-only, and its estimators where they are not all bumps.
    #[allow(clippy::too_many_arguments)]
    fn build<R: bytemuck::Pod>(
        engine: &'static str,
        trades: &[Trade],
        share: &[usize],
        req: &PricingRequest,
        paths_per_block: u64,
        one_pass: bool,
        make: impl Fn(&Trade, usize) -> (R, u64, bool, Option<[Option<Estimator>; 4]>),
    ) -> Result<BatchPlan, EngineError> {
        let mut records: Vec<R> = Vec::with_capacity(share.len());
        let mut all_starts = Vec::new();
        let mut kinds = Vec::new();
        let mut blocks: u64 = 0;
        // A group's indices are places in `share`.
        for group in record::group(share.iter().map(|&i| &trades[i])) {
            let (first_record, first_start) = (records.len(), all_starts.len());
            let mut starts = Vec::with_capacity(group.indices.len() + 1);
            let mut estimators = Vec::new();
            let mut total: u64 = 0;
            let mut pv_only = true;
            starts.push(0u32);
            for &i in &group.indices {
                let (r, paths, pv, est) = make(&trades[share[i]], share[i]);
                total += paths.div_ceil(paths_per_block);
                starts.push(u32::try_from(total).map_err(|_| EngineError::Failed {
                    engine,
                    reason: format!(
                        "block table: more than 2^32 blocks of {} x {} trades in one batch",
                        group.model.name(),
                        group.payoff.name()
                    ),
                    source: None,
                })?);
                pv_only &= pv;
                estimators.extend(est);
                records.push(r);
            }
            all_starts.extend_from_slice(&starts);
            kinds.push(KindPlan {
                model: group.model,
                payoff: group.payoff,
                // The Sobol kernels have no PV-only variant.
                pv_only: pv_only && !group.sobol,
                sobol: group.sobol,
                one_pass,
                estimators,
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
        Ok(BatchPlan {
            records: bytemuck::cast_slice(&records).to_vec(),
            record_size: std::mem::size_of::<R>(),
            starts: all_starts,
            kinds,
            blocks,
            key: record::gpu_key(req),
            precision: req.precision,
            sobol: None,
        })
    }

    /// Slots of partial sums the batch's blocks write.
    pub fn partials_len(&self) -> usize {
        self.blocks as usize * PARTIAL
    }

    /// Each trade's blocks merged in path order from `partials` (as the
    /// kernels wrote them, each block's slots read by `decode`), a kind's
    /// seconds (`kind_seconds`) shared over its trades by path-steps.
    pub fn merge<T>(
        &self,
        partials: &[T],
        decode: impl Fn(&[T]) -> Moments,
        kind_seconds: impl Fn(usize) -> f64,
    ) -> Vec<Merged> {
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
                moments[trade].merge(&decode(&partials[at..at + PARTIAL]));
            }
            let work: f64 = k.work.iter().sum();
            for (j, ((&index, moments), w)) in k.trades.iter().zip(moments).zip(&k.work).enumerate()
            {
                out.push(Merged {
                    index,
                    moments,
                    seconds: secs * w / work.max(1.0),
                    estimators: k.estimators.get(j).copied(),
                });
            }
        }
        out
    }
}

/// One trade's merged blocks.
pub struct Merged {
    /// Its batch index.
    pub index: usize,
    pub moments: Moments,
    /// Its share of its kind's seconds.
    pub seconds: f64,
    /// Its estimators, where it priced in one pass (else its Greeks are bumps).
    pub estimators: Option<[Option<Estimator>; 4]>,
}

impl Merged {
    /// Its result, for a trade of `paths` paths under `req`.
    pub fn result(&self, req: &PricingRequest, paths: u64) -> TradeResult {
        let mut r = TradeResult::from_moments(&self.moments, req, paths, self.seconds);
        if let Some(e) = self.estimators {
            r.estimators = e;
        }
        r
    }
}

/// A CUDA block's partial: `n`, then the outputs' sums and sums of squares, in f64.
pub fn from_sums(p: &[f64]) -> Moments {
    let mut s = Sums {
        n: p[0] as u64,
        ..Default::default()
    };
    s.sum.copy_from_slice(&p[1..1 + OUTPUTS]);
    s.sum_sq.copy_from_slice(&p[1 + OUTPUTS..1 + 2 * OUTPUTS]);
    Moments::from(&s)
}

/// A WGSL workgroup's partial: `n`, then the outputs' means and M2, in f32.
pub fn from_mean_m2(p: &[f32]) -> Moments {
    let mut m = Moments {
        n: p[0] as u64,
        ..Default::default()
    };
    for q in 0..OUTPUTS {
        m.mean[q] = p[1 + q] as f64;
        m.m2[q] = p[1 + OUTPUTS + q] as f64;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azfinsim::AzfinsimTrade;

    #[test]
    fn a_kind_beyond_its_limit_takes_several_launches() {
        let k = KindPlan {
            model: ModelKind::Gbm,
            payoff: PayoffKind::European,
            pv_only: true,
            sobol: false,
            one_pass: false,
            estimators: Vec::new(),
            trades: vec![0],
            work: vec![1.0],
            starts: vec![0, 2_500_000],
            first_record: 0,
            first_start: 0,
            first_block: 0,
        };
        let got: Vec<(u32, u32)> = k.launches(1 << 20).collect();
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
        assert_eq!(empty.launches(1 << 20).count(), 0);
    }

    #[test]
    fn chunks_rebase_their_block_tables() {
        let k = KindPlan {
            model: ModelKind::Heston,
            payoff: PayoffKind::Barrier,
            pv_only: false,
            sobol: false,
            one_pass: false,
            estimators: Vec::new(),
            trades: vec![4, 5, 6, 7, 8],
            work: vec![1.0; 5],
            starts: vec![0, 2, 3, 7, 8, 10],
            first_record: 3,
            first_start: 9,
            first_block: 40,
        };
        let got: Vec<(Range<usize>, Vec<u32>, u64)> = k
            .chunks(2)
            .map(|c| (c.trades.clone(), c.starts.clone(), c.first_block))
            .collect();
        assert_eq!(
            got,
            vec![
                (0..2, vec![0, 2, 3], 0),
                (2..4, vec![0, 4, 5], 3),
                (4..5, vec![0, 2], 8)
            ]
        );
        assert_eq!(k.chunks(9).count(), 1);
        assert_eq!(
            launches(10, 4).collect::<Vec<_>>(),
            [(0, 4), (4, 4), (8, 2)]
        );
    }

    #[test]
    fn both_partial_forms_decode_to_the_same_moments() {
        // Block of 4 paths whose PV samples are 1, 2, 3, 6: sum 12, sum of
        // squares 50, mean 3, M2 14.
        let mut sums = [0.0f64; PARTIAL];
        let mut wgsl = [0.0f32; PARTIAL];
        sums[0] = 4.0;
        sums[1] = 12.0;
        sums[1 + OUTPUTS] = 50.0;
        wgsl[0] = 4.0;
        wgsl[1] = 3.0;
        wgsl[1 + OUTPUTS] = 14.0;
        let (a, b) = (from_sums(&sums), from_mean_m2(&wgsl));
        assert_eq!((a.n, a.mean[0], a.m2[0]), (4, 3.0, 14.0));
        assert_eq!((b.n, b.mean[0], b.m2[0]), (4, 3.0, 14.0));
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
        let plan =
            BatchPlan::new("test", &trades, &[1, 0], &PricingRequest::default(), 512).unwrap();
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
        let out = plan.merge(&partials, from_sums, |_| 2.0);
        // Trade 1 has block 0 (10 paths), trade 0 blocks 1 and 2 (50 paths);
        // every path is 1, so every mean is 1 and every variance 0.
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].index, out[0].moments.n), (1, 10));
        assert_eq!((out[1].index, out[1].moments.n), (0, 50));
        for m in out.iter().map(|o| &o.moments) {
            assert!(m.mean.iter().all(|&x| x == 1.0) && m.m2.iter().all(|&x| x == 0.0));
        }
        // The kind's 2 seconds shared by path-steps.
        let (w0, w1) = (trades[0].path_steps(), trades[1].path_steps());
        assert!((out[0].seconds - 2.0 * w1 / (w0 + w1)).abs() < 1e-12);
        assert!((out[1].seconds - 2.0 * w0 / (w0 + w1)).abs() < 1e-12);
    }
}
