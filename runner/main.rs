//! riskpool: the Monte Carlo pricing task that Azure Batch runs. The
//! commands live in the library (`lib.rs`); this parses the command line
//! and turns the outcome into the exit code.
//!
//! Exit codes: 0 done; 2 bad usage or bad input (nothing written but the
//! error); 1 a failure while running (what was finished is kept).

use std::process::ExitCode;

use clap::Parser;
use riskpool::{cli, error, log};

fn main() -> ExitCode {
    // Mesa's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset
    // (as in Batch tasks and CI) although riskpool never draws to a screen;
    // point it at the temp folder before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let cli = cli::Cli::parse();
    log::init(cli.log_format);
    match riskpool::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(error::exit_code(&e))
        }
    }
}
