//! Stopping a CPU run early: each engine's flag, which its pool's threads
//! read between work items (a few thousand paths each), so that a caller
//! (the Python package's Ctrl-C) stops even one long trade within a
//! fraction of a second. Set, the items left are skipped and the call
//! fails with [`crate::EngineError::Cancelled`]; the engine stays stopped.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

thread_local! {
    /// The flag of the engine whose pool this thread belongs to.
    static STOP: OnceCell<Arc<AtomicBool>> = const { OnceCell::new() };
}

/// Gives the current (pool) thread its engine's flag: the pool's start
/// handler.
pub(super) fn install(flag: Arc<AtomicBool>) {
    STOP.with(|s| {
        let _ = s.set(flag);
    });
}

/// Whether this thread's engine was asked to stop (never, on a thread of
/// no engine's pool).
#[inline]
pub(super) fn stopped() -> bool {
    STOP.with(|s| s.get().is_some_and(|f| f.load(Ordering::Relaxed)))
}
