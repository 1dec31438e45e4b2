//! riskpool's runner as a library: the commands of the `riskpool` binary
//! (`main.rs` only parses the command line and maps errors to exit codes),
//! for the end-to-end tests and for other front ends to call in process.
//!
//! Modules by job:
//! - the command line: `cli` (flags, parsed and checked by clap through
//!   the value parsers of `flags`);
//! - the commands, one module each: `price`, `risk` (with `risk-merge`),
//!   `generate`, `demo`, `bench`, `azfinsim`, `probe`, `files` (`split`,
//!   `concat`);
//! - what they share: `input` (trade and scenario readers), `check` (pass
//!   1), `pipeline` (pass 2), `output` (result rows), `durable` (side-file
//!   names, locks, atomic writes, hashes, the summary's check), `journal` (the one resume protocol of
//!   `price` and `risk`), `engines` (engine choice and fallback),
//!   `report` (the HTML risk report), `log`, `node`, `catalog`, `claims`;
//! - `api`: `price` in process, rows returned as columns (the Python
//!   package's core);
//! - `error` (error types and exit codes) and `hooks` (test hooks, only
//!   with the `test-hooks` feature).

pub mod api;
pub mod azfinsim;
pub mod bench;
pub mod catalog;
pub mod check;
pub mod claims;
pub mod cli;
pub mod demo;
pub mod durable;
pub mod engines;
pub mod error;
pub mod files;
pub mod flags;
pub mod generate;
pub mod hooks;
pub mod input;
pub mod journal;
pub mod log;
pub mod market;
pub mod node;
pub mod output;
pub mod pipeline;
pub mod price;
pub mod probe;
pub mod report;
pub mod risk;

/// Runs one command of the command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    // The engines' variables, checked before a command that opens an
    // engine starts; the file commands never read them, and `probe` shows
    // a bad one as a warning (it is the tool that finds such problems).
    if matches!(
        cli.command,
        cli::Command::Price(_)
            | cli::Command::Risk(_)
            | cli::Command::Bench(_)
            | cli::Command::Demo(_)
            | cli::Command::Azfinsim(_)
    ) {
        riskpool_kernels::env::check()?;
    }
    match cli.command {
        cli::Command::Price(args) => {
            let s = price::run(&args)?;
            if s.engine == price::NOTHING {
                return Ok(());
            }
            tracing::info!(
                "priced {} trades, {:.3e} path-steps in {:.3} s ({:.3e} path-steps/s) on {} ({})",
                s.trades,
                s.path_steps,
                s.seconds,
                s.path_steps / s.seconds.max(1e-9),
                s.engine,
                s.device
            );
            Ok(())
        }
        cli::Command::Risk(args) => risk::run(&args),
        cli::Command::RiskMerge(args) => risk::merge::run(&args),
        cli::Command::Generate(args) => generate::run(&args),
        cli::Command::Demo(args) => demo::run(&args),
        cli::Command::Bench(args) => bench::run(&args),
        cli::Command::Split(args) => {
            let files = files::split(&args)?;
            log::say(format!("riskpool: wrote {} files", files.len()));
            Ok(())
        }
        cli::Command::Concat(args) => files::concat(&args),
        cli::Command::Azfinsim(args) => azfinsim::run(&args),
        cli::Command::Probe(args) => probe::run(&args),
    }
}
