//! Pricing engines: the same trades, streams and results on every backend.
//!
//! The CPU engine is always there; the wgpu and CUDA engines implement the
//! same [`Engine`] trait and must agree with it far inside the Monte Carlo
//! error. The vocabulary of requests and results is [`request`]; how an
//! engine revalues under scenarios, [`scenarios`].

pub mod cpu;
pub mod cuda;
pub mod replicates;
pub mod request;
pub mod scenarios;
pub mod wgpu;

pub use request::*;
pub use scenarios::*;

use crate::instrument::Trade;
use crate::scenario::{ScenarioResult, TradeScenarios};

/// A pricing backend.
pub trait Engine: Send + Sync {
    /// `cpu`, `wgpu` or `cuda`.
    fn name(&self) -> &'static str;
    /// The hardware it runs on, for result files and logs.
    fn device(&self) -> String;
    /// Prices `trades`, returning one result per trade in the same order.
    fn price(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>;

    /// Starts pricing `trades`; [`Pending::wait`] gives the results. An
    /// engine that can work while the host goes on (the CUDA engine)
    /// returns at once; the default prices here and returns them done.
    fn submit(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        Ok(Box::new(Done(self.price(trades, req)?)))
    }

    /// How many submitted batches are worth keeping in flight: 2 where the
    /// next batch's upload can overlap this one's compute, else 1 (a batch
    /// is then written as soon as it is priced).
    fn batches_in_flight(&self) -> usize {
        1
    }

    /// Revalues each trade under each of its scenarios (`scenarios[i]` is
    /// `trades[i]`'s): the base price and every scenario's P&L on the same
    /// random numbers. This default reprices each moved trade on its own
    /// stream, one run per scenario, so the P&L is a common-random-number
    /// difference but its standard error is the bound
    /// `sqrt(se_scenario^2 + se_base^2)`, and an early-exercise policy is
    /// refitted in each scenario. The CPU, wgpu and CUDA engines override
    /// it with [`revalue_split`]: one pass per chunk of a trade's scenarios
    /// ([`crate::revalue`]; on the CPU, a fan for those that move only
    /// spots and rates, `cpu::fan`); the same P&L with the standard error
    /// of the per-path differences.
    fn revalue(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        naive_revalue(self, trades, scenarios, req)
    }

    /// The flag that stops this engine's work in flight, where it has one
    /// (the CPU engine's, `cpu::stop`): once set, a call stops within a
    /// work item and fails with [`EngineError::Cancelled`], and so does
    /// every later call. `None`: the engine finishes its batch (a caller
    /// cancels between batches).
    fn stop_flag(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
        None
    }
}

/// A batch an engine has started.
pub trait Pending: Send {
    /// Waits for the batch: one result per trade, in order.
    fn wait(self: Box<Self>) -> Result<Vec<TradeResult>, EngineError>;
}

/// A batch priced before `submit` returned.
pub(crate) struct Done(pub(crate) Vec<TradeResult>);

impl Pending for Done {
    fn wait(self: Box<Self>) -> Result<Vec<TradeResult>, EngineError> {
        Ok(self.0)
    }
}
