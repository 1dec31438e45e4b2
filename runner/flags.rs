//! Flag values checked as clap parses them (ripgrep's low-level to
//! high-level arguments, in one step): a value a run cannot use is refused
//! before anything runs, with exit 2, and the message names the flag and
//! the value (`--paths 0: must be between 1 and 4294967296`; clap puts
//! its own `invalid value` line before it). Checks that need two flags
//! together, or the input file, stay with the command.

use std::ops::Bound;

use riskpool_kernels::Greek;

/// The most shards one run may be cut into: far beyond any Batch job (at
/// most 10,000 tasks), and small enough that `risk-merge` can list what
/// is missing.
pub const MAX_SHARDS: u64 = 1 << 20;

/// `--shard I/N`: shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Written as `"I/N"` (a run's signature).
impl serde::Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses `--shard I/N`: `0 <= I < N <= MAX_SHARDS`.
pub fn shard(s: &str) -> Result<Shard, String> {
    let parsed = s
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((_, n)) if n > MAX_SHARDS => Err(format!("at most {MAX_SHARDS} shards, got {n}")),
        Some((index, count)) if count > 0 && index < count => Ok(Shard { index, count }),
        _ => Err(format!("must be I/N with 0 <= I < N, got `{s}`")),
    }
}

/// `s` as a `T` inside `range`, or `why` (each parser's own message).
fn within<T: std::str::FromStr + PartialOrd>(
    s: &str,
    range: impl std::ops::RangeBounds<T>,
    why: impl FnOnce() -> String,
) -> Result<T, String> {
    s.trim()
        .parse::<T>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(why)
}

/// Parses `--paths N`: 1 to the trades' own limit (2^32).
pub fn paths(s: &str) -> Result<u64, String> {
    let max = riskpool_kernels::instrument::MAX_PATHS;
    within(s, 1..=max, || {
        format!("must be a whole number from 1 to {max}")
    })
}

/// Parses `--qmc-replicates`: at least 2 (the standard error is their
/// spread).
pub fn replicates(s: &str) -> Result<u32, String> {
    let max = riskpool_kernels::qmc::MAX_REPLICATES;
    within(s, 2..=max as u64, || {
        format!("must be a whole number from 2 to {max}")
    })
    .map(|r| r as u32)
}

/// Parses one Greek of `--greeks` (comma-separated).
pub fn greek(s: &str) -> Result<Greek, String> {
    Greek::parse(s.trim())
        .ok_or_else(|| format!("unknown Greek `{s}`: expected delta, gamma, vega or rho"))
}

/// Parses `--threads N`: at least 1.
pub fn threads(s: &str) -> Result<usize, String> {
    within(s, 1.., || {
        "must be a whole number, at least 1 and below 2^64".to_string()
    })
}

/// Parses `--gpus-per-task N`: 1 to 64 (as `RISKPOOL_GPUS_PER_TASK`).
pub fn gpus_per_task(s: &str) -> Result<usize, String> {
    within(s, 1..=64, || {
        "must be a whole number from 1 to 64".to_string()
    })
}

/// Parses one of `bench --workloads`: W1 to W7, W5L or W7S (any case).
pub fn workload(s: &str) -> Result<String, String> {
    let w = s.trim().to_ascii_uppercase();
    match w.as_str() {
        "W1" | "W2" | "W3" | "W4" | "W5" | "W5L" | "W6" | "W7" | "W7S" => Ok(w),
        _ => Err(format!(
            "unknown workload `{s}`: expected W1, W2, W3, W4, W5, W5L, W6, W7 or W7S"
        )),
    }
}

/// Parses `bench --scale F`: above 0 and at most 100 (the standard
/// workloads a hundred times over).
pub fn scale(s: &str) -> Result<f64, String> {
    within(s, (Bound::Excluded(0.0), Bound::Included(100.0)), || {
        "must be greater than 0 and at most 100".to_string()
    })
}

/// Parses one of `--levels`: a confidence level strictly between 0 and 1.
pub fn level(s: &str) -> Result<f64, String> {
    within(s, (Bound::Excluded(0.0), Bound::Excluded(1.0)), || {
        "a confidence level must be between 0 and 1 (0.99 for 99%)".to_string()
    })
}

/// Parses `--node-size SIZE`: an Azure VM size name, trimmed, not empty.
pub fn node_size(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Err(format!(
            "`{s}` is not an Azure VM size: give one such as Standard_NC24ads_A100_v4"
        ));
    }
    Ok(t.to_string())
}

/// Parses `--batch-trades N`: at least 1.
pub fn batch_trades(s: &str) -> Result<usize, String> {
    within(s, 1.., || {
        "must be a whole number, at least 1 and below 2^64".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_bounded_and_ordered() {
        assert_eq!(shard("2/5"), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(shard(" 0 / 1 "), Ok(Shard { index: 0, count: 1 }));
        for bad in [
            "5/5",
            "1/0",
            "x/2",
            "1",
            "",
            "-1/2",
            "5/18446744073709551615",
        ] {
            assert!(shard(bad).is_err(), "{bad}");
        }
        assert!(shard(&format!("0/{MAX_SHARDS}")).is_ok());
        assert!(shard(&format!("0/{}", MAX_SHARDS + 1)).is_err());
    }

    #[test]
    fn paths_and_counts_are_checked() {
        assert_eq!(paths("4096"), Ok(4096));
        for bad in ["0", "-1", "1.5", "4294967297", "x"] {
            assert!(paths(bad).is_err(), "{bad}");
        }
        assert_eq!(threads("3"), Ok(3));
        // The reason alone: clap puts the flag before it, the Python
        // package the keyword.
        for bad in ["0", "18446744073709551616"] {
            let e = threads(bad).unwrap_err();
            assert!(
                e.contains("at least 1 and below 2^64") && !e.contains("--"),
                "{e}"
            );
        }
        assert!(!batch_trades("-1").unwrap_err().contains("--batch-trades"));
        assert!(!paths("0").unwrap_err().contains("--paths"));
        assert_eq!(greek(" vega"), Ok(Greek::Vega));
        assert!(greek("theta").is_err());
    }
}
