//! Test hooks, compiled only into a runner built with the cargo feature
//! `test-hooks` (`scripts/test` builds it so; `cargo build --release` and
//! `cargo install` do not): without it each hook is a no-op and reads no
//! environment. The variables are listed in `riskpool_kernels::env::hooks`.
//!
//! - `RISKPOOL_FAKE_GPUS`: stand-in GPUs for the claims tests.
//! - `RISKPOOL_INJECT_ENGINE_FAILURE=N`: the engine fails on its N-th batch.
//! - `RISKPOOL_TEST_STALL=<point>` (and `RISKPOOL_TEST_STALL_WHILE=FILE`):
//!   the run waits at a named point, for a test to kill it there.

use riskpool_kernels::Engine;

/// Stand-in GPUs `(ordinal, UUID)`: `RISKPOOL_FAKE_GPUS` as a count N
/// (UUIDs `fake-0`..), or the UUIDs in ordinal order, as a
/// `CUDA_VISIBLE_DEVICES` mask would show them. None: ask the driver.
#[cfg(feature = "test-hooks")]
pub fn fake_gpus() -> Option<Vec<(usize, String)>> {
    let v = riskpool_kernels::env::hooks::FAKE_GPUS.get()?;
    Some(match v.parse::<usize>() {
        Ok(n) => (0..n).map(|i| (i, format!("fake-{i}"))).collect(),
        Err(_) => v
            .split(',')
            .filter(|u| !u.is_empty())
            .enumerate()
            .map(|(i, u)| (i, u.to_string()))
            .collect(),
    })
}

#[cfg(not(feature = "test-hooks"))]
pub fn fake_gpus() -> Option<Vec<(usize, String)>> {
    None
}

/// The engine, wrapped to fail on its N-th batch where
/// `RISKPOOL_INJECT_ENGINE_FAILURE=N`.
#[cfg(feature = "test-hooks")]
pub fn inject_failure(engine: Box<dyn Engine>) -> Box<dyn Engine> {
    match riskpool_kernels::env::hooks::INJECT_ENGINE_FAILURE
        .get()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => Box::new(injected::Injected {
            inner: engine,
            batches_left: std::sync::atomic::AtomicUsize::new(n),
        }),
        None => engine,
    }
}

#[cfg(not(feature = "test-hooks"))]
pub fn inject_failure(engine: Box<dyn Engine>) -> Box<dyn Engine> {
    engine
}

/// With `RISKPOOL_TEST_STALL=<point>` the run says so on stderr and waits
/// at that point (for ever, or while the file named by
/// `RISKPOOL_TEST_STALL_WHILE` exists), for the tests to kill it in exactly
/// that window. Points: `checked` (after the check pass, before anything
/// is written), `header` (the journal emptied, its header not yet
/// written), `batch` (half a batch written, not synced), `summary` (the
/// journal complete, the output not rendered), `summary-tmp` (the output
/// rendered to its temporary file, the summary in its own), `rename`
/// (summary written, output not yet renamed into place); `risk`:
/// `risk-batch` (half a batch's rows written, not synced) and
/// `risk-part-done` (every row durable, no output written).
#[cfg(feature = "test-hooks")]
pub fn stall(point: &str) {
    use riskpool_kernels::env::hooks::{TEST_STALL, TEST_STALL_WHILE};
    static WANT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let want = WANT.get_or_init(|| TEST_STALL.get());
    if want.as_deref() == Some(point) {
        eprintln!("riskpool: stalled at {point}");
        let until = TEST_STALL_WHILE.path();
        loop {
            match &until {
                Some(f) if !f.exists() => return,
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn stall(_point: &str) {}

#[cfg(feature = "test-hooks")]
mod injected {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use riskpool_kernels::scenario::{ScenarioResult, TradeScenarios};
    use riskpool_kernels::{Engine, EngineError, PricingRequest, Trade, TradeResult};

    /// Wraps an engine so that its N-th batch fails (tests only).
    pub(super) struct Injected {
        pub(super) inner: Box<dyn Engine>,
        pub(super) batches_left: AtomicUsize,
    }

    impl Engine for Injected {
        fn name(&self) -> &'static str {
            self.inner.name()
        }
        fn device(&self) -> String {
            self.inner.device()
        }
        fn price(
            &self,
            trades: &[Trade],
            req: &PricingRequest,
        ) -> Result<Vec<TradeResult>, EngineError> {
            self.take_batch()?;
            self.inner.price(trades, req)
        }
        /// The inner engine's own revaluation (its one-pass P&L, not the
        /// trait's default through `price`), a batch like `price`'s.
        fn revalue(
            &self,
            trades: &[Trade],
            scenarios: &[TradeScenarios],
            req: &PricingRequest,
        ) -> Result<Vec<ScenarioResult>, EngineError> {
            self.take_batch()?;
            self.inner.revalue(trades, scenarios, req)
        }
    }

    impl Injected {
        /// Counts a batch down; the failure once none are left.
        fn take_batch(&self) -> Result<(), EngineError> {
            let left = self.batches_left.load(Ordering::SeqCst);
            if left == 0 {
                return Err(EngineError::failed(
                    self.inner.name(),
                    "injected failure (RISKPOOL_INJECT_ENGINE_FAILURE)",
                ));
            }
            self.batches_left.store(left - 1, Ordering::SeqCst);
            Ok(())
        }
    }
}
