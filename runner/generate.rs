//! `riskpool generate`: azfinsim-compatible trades, seeded.

use std::io::{BufWriter, Write};

use anyhow::{bail, Context, Result};
use riskpool_kernels::azfinsim::{AzfinsimTrade, HEADER};

use crate::cli::GenerateArgs;
use crate::durable::partial_path;
use crate::error::UsageError;

pub fn run(args: &GenerateArgs) -> Result<()> {
    if args.trades == 0 {
        bail!(UsageError("--trades must be at least 1".into()));
    }
    let end = args.start_trade.checked_add(args.trades).ok_or_else(|| {
        UsageError(format!(
            "--start-trade {} with --trades {}: trade numbers past {} do not fit in 64 bits",
            args.start_trade,
            args.trades,
            u64::MAX
        ))
    })?;
    crate::durable::check_output(std::path::Path::new(""), &args.output, "--output")?;
    // The output's lock, as every writer of a file takes it: no other run
    // is writing this output or its side files while this one does.
    let _lock = crate::durable::OutputLock::acquire(&args.output)?;
    let partial = partial_path(&args.output);
    let result = write(args, &partial, end);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write(args: &GenerateArgs, partial: &std::path::Path, end: u64) -> Result<()> {
    let f = crate::durable::create_no_follow(partial)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let write_err = || format!("cannot write {}", partial.display());
    writeln!(w, "{}", HEADER.join(",")).with_context(write_err)?;
    for n in args.start_trade..end {
        writeln!(w, "{}", AzfinsimTrade::generate(args.seed, n).to_csv_row())
            .with_context(write_err)?;
    }
    let f = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(write_err)?;
    f.sync_all().with_context(write_err)?;
    std::fs::rename(partial, &args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    Ok(())
}
