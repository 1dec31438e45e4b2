//! riskpool: the Monte Carlo pricing task that Azure Batch runs.
//!
//! Exit codes: 0 done; 2 bad usage or bad input (nothing written but the
//! error); 1 a failure while running (what was finished is kept).

mod azfinsim;
mod bench;
mod catalog;
mod check;
mod claims;
mod cli;
mod demo;
mod engines;
mod files;
mod generate;
mod input;
mod log;
mod node;
mod output;
mod pipeline;
mod price;
mod probe;
mod report;
mod resume;
mod risk;

use std::process::ExitCode;

use clap::Parser;

/// Bad usage or input, refused before anything is written: exit 2
/// (`riskpool-image`'s `UsageError` has the same name and meaning).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Price(args) => {
            let s = price::run(&args)?;
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
            eprintln!("riskpool: wrote {} files", files.len());
            Ok(())
        }
        cli::Command::Concat(args) => files::concat(&args),
        cli::Command::Azfinsim(args) => azfinsim::run(&args),
        cli::Command::Probe(args) => probe::run(&args),
    }
}

fn main() -> ExitCode {
    // Mesa's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset
    // (as in Batch tasks and CI) although riskpool never draws to a screen;
    // point it at the temp folder before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let cli = cli::Cli::parse();
    log::init(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            let bad_input = e.downcast_ref::<input::InputError>().is_some()
                || e.downcast_ref::<UsageError>().is_some();
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}
