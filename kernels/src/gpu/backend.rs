//! What a GPU engine provides, and the [`Engine`] each one gets from it.
//!
//! The wgpu engine, the CUDA engine and the CUDA C on the CPU differ in
//! how they run a planned batch; what they do around it (price with the
//! request's Greeks, revalue through scenario passes within the GPU
//! records' limits, the trades with an extension by scenario records of
//! their own) is the same, and lives here once.

use crate::engine::{gpu_revalue, Done, Engine, EngineError, Pending, PricingRequest, TradeResult};
use crate::gpu::dated::SideTarget;
use crate::gpu::extension::{revalue_extended, Moments, SideBatch};
use crate::greeks::Revaluations;
use crate::instrument::Trade;
use crate::scenario::{ScenarioResult, TradeScenarios};

/// A GPU engine's own part.
pub trait GpuBackend: Send + Sync {
    /// The engine's name in results and errors (`cuda`, `wgpu`).
    const NAME: &'static str;
    /// Batches worth keeping in flight (see [`Engine::batches_in_flight`]).
    const IN_FLIGHT: usize = 1;
    /// Samples (paths, or antithetic pairs) per block of its extension
    /// kernel, and whether that kernel's records are f64 (CUDA C) or f32
    /// (WGSL).
    const EXTENSION_BLOCK: u64;
    const EXTENSION_F64: bool;

    /// The hardware it runs on, for result files and logs.
    fn hardware(&self) -> String;

    /// Starts pricing `trades`, each with its own revaluations (`plans`:
    /// scenario passes) or the request's Greeks (`None`).
    fn start(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError>;

    /// What `start` checks of a batch before anything runs (precision,
    /// sizes).
    fn check(&self, trades: &[Trade], req: &PricingRequest) -> Result<(), EngineError>;

    /// What the dated planners need of it (its bindings' limit: none
    /// beyond the tables' own unless the engine says so).
    fn side_target(&self) -> SideTarget {
        SideTarget {
            engine: Self::NAME,
            samples_per_block: Self::EXTENSION_BLOCK,
            f64: Self::EXTENSION_F64,
            max_binding: u64::MAX,
        }
    }

    /// Runs one batch of a side kernel (several assets or early exercise,
    /// or dated trades; `trades` are those its records index): each
    /// block's moments, and the seconds.
    fn run_side(
        &self,
        batch: &SideBatch,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<(Vec<Moments>, f64), EngineError>;
}

/// A batch a backend priced before returning, as a [`Pending`] one.
pub fn done(results: Vec<TradeResult>) -> Box<dyn Pending> {
    Box::new(Done(results))
}

impl<B: GpuBackend> Engine for B {
    fn name(&self) -> &'static str {
        B::NAME
    }

    fn device(&self) -> String {
        self.hardware()
    }

    /// Each Sobol trade as its replicates ([`crate::engine::replicates`]).
    fn price(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        crate::engine::replicates::price_with(trades, req, &|_| false, |trades| {
            self.start(trades, None, req)?.wait()
        })
    }

    fn submit(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        crate::engine::replicates::submit_with(trades, req, |trades| self.start(trades, None, req))
    }

    fn batches_in_flight(&self) -> usize {
        B::IN_FLIGHT
    }

    /// Scenario passes within the GPU records' limits ([`gpu_revalue`]),
    /// each Sobol trade as its replicates;
    /// the trades with an extension by scenario records
    /// ([`revalue_extended`]), to the CPU pricer's contract.
    fn revalue(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        crate::engine::replicates::revalue_with(
            trades,
            scenarios,
            req,
            &|_| false,
            |trades, scenarios| {
                gpu_revalue(
                    self,
                    trades,
                    scenarios,
                    req,
                    |t, p, r| self.start(t, Some(p), r)?.wait(),
                    Box::new(|t, s| {
                        self.check(t, req)?;
                        // Dated trades by their own records, the rest by the
                        // extension's; each result back in its trade's place.
                        let (dated, ext): (Vec<usize>, Vec<usize>) =
                            (0..t.len()).partition(|&i| t[i].dated.is_some());
                        let (dated, multi): (Vec<usize>, Vec<usize>) = dated
                            .into_iter()
                            .partition(|&i| crate::gpu::dated::takes(&t[i]));
                        let pick = |idx: &[usize]| -> (Vec<Trade>, Vec<TradeScenarios>) {
                            idx.iter().map(|&i| (t[i].clone(), s[i].clone())).unzip()
                        };
                        let mut out = vec![None; t.len()];
                        for (idx, kind) in [(dated, 0), (multi, 1), (ext, 2)] {
                            if idx.is_empty() {
                                continue;
                            }
                            let (pt, ps) = pick(&idx);
                            let mut run = |b: &SideBatch| self.run_side(b, &pt, req);
                            let got = if kind == 0 {
                                crate::gpu::dated::revalue(
                                    self.side_target(),
                                    &pt,
                                    &ps,
                                    req,
                                    &mut run,
                                )?
                            } else if kind == 1 {
                                crate::gpu::dated_multi::revalue(
                                    self.side_target(),
                                    &pt,
                                    &ps,
                                    req,
                                    &mut run,
                                )?
                            } else {
                                revalue_extended(
                                    B::NAME,
                                    &pt,
                                    &ps,
                                    req,
                                    B::EXTENSION_BLOCK,
                                    B::EXTENSION_F64,
                                    &mut run,
                                )?
                            };
                            for (i, r) in idx.into_iter().zip(got) {
                                out[i] = Some(r);
                            }
                        }
                        Ok(out.into_iter().flatten().collect())
                    }),
                )
            },
        )
    }
}
