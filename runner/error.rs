//! The runner's errors and the exit code each one means, decided once:
//! 2 for bad usage or bad input (nothing written but the error), 1 for a
//! failure while running (what was finished is kept).

use std::fmt;
use std::path::PathBuf;

/// Bad usage or input, refused before anything is written: exit 2
/// (`riskpool-image`'s `UsageError` has the same name and meaning).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Bad input: what is wrong, and exactly where (exit 2).
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based; `None` for errors about the whole file.
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
    /// The trade an error in another file is about (a scenario that
    /// breaks a trade of the book): its id and its line in the book. The
    /// message names it too; this is for callers that name it their way
    /// (the Python package's `InputError.trade` and `.index`).
    pub trade: Option<TradeAt>,
}

/// A trade of the book, by id and line.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeAt {
    pub id: String,
    pub line: u64,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// A trade whose price is not a finite number: a failure of that trade
/// (exit 1), named with its id and the field most likely to blame.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFinite(pub String);

impl NotFinite {
    /// What makes an estimate unfit to be written as a result, if
    /// anything: a value that is not a finite number, or a standard error
    /// that is not one, except where it is undefined (NaN) because the
    /// trade has one path or one antithetic pair. `price` and `risk` hold
    /// every result to this one rule.
    pub fn check(e: &riskpool_kernels::Estimate, paths: u64) -> Option<String> {
        if !e.value.is_finite() {
            return Some(format!("= {}", e.value));
        }
        let undefined = e.stderr.is_nan() && paths <= 2;
        (!(e.stderr.is_finite() || undefined)).then(|| format!("stderr = {}", e.stderr))
    }
}

/// Another run holds the output (exit 1: a rerun later may succeed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Busy(pub String);

/// The process's exit code for an error that ended a command.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_input = e.downcast_ref::<InputError>().is_some()
        || e.downcast_ref::<UsageError>().is_some()
        || e.downcast_ref::<riskpool_kernels::env::EnvError>()
            .is_some();
    if bad_input {
        2
    } else {
        1
    }
}
