//! azfinsim's command line (docs/azfinsim.md), so a Batch task graph
//! built for azfinsim switches engines by changing only the command:
//! `riskpool azfinsim --cache-path trades.K.csv --algorithm pvonly` writes
//! `<output-path>/trades.K.results.csv` as azfinsim does, priced by
//! riskpool's engines.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use riskpool_kernels::rng::{philox4x32_10, uniform53};

use crate::cli::{
    Algorithm, AzfinsimAlgorithm, AzfinsimArgs, CacheType, PrecisionChoice, PriceArgs,
};
use crate::error::UsageError;
use crate::input::{ReadOptions, TradeReader};
use crate::price;

/// `<output-path>/<name>.results.csv`, `<name>` the input's name without extension.
pub fn results_path(args: &AzfinsimArgs) -> Result<PathBuf> {
    let stem = args.cache_path.file_stem().ok_or_else(|| {
        UsageError(format!(
            "--cache-path {}: not a file name",
            args.cache_path.display()
        ))
    })?;
    let dir = match &args.output_path {
        Some(d) => d.clone(),
        None => args
            .cache_path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default(),
    };
    let mut name = stem.to_os_string();
    name.push(".results.csv");
    Ok(dir.join(name))
}

pub fn run(args: &AzfinsimArgs) -> Result<()> {
    if args.cache_type == CacheType::Redis {
        bail!(UsageError(
            "--cache-type redis is not supported: azfinsim's Redis mode stores pickled pandas rows that only Python can read; \
             use filesystem mode (--cache-type filesystem --cache-path FILE)"
                .into()
        ));
    }
    let output = results_path(args)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            UsageError(format!(
                "--output-path {}: cannot create the folder: {e}",
                dir.display()
            ))
        })?;
    }
    match args.algorithm {
        AzfinsimAlgorithm::Synthetic => synthetic(args, &output),
        algorithm => {
            let s = price::run(&PriceArgs {
                rng: Default::default(),
                input: args.cache_path.clone(),
                output: output.clone(),
                market: None,
                engine: args.engine.clone(),
                seed: args.seed,
                paths: None,
                greeks: vec![],
                greeks_method: None,
                algorithm: Some(if algorithm == AzfinsimAlgorithm::Deltavega {
                    Algorithm::Deltavega
                } else {
                    Algorithm::Pvonly
                }),
                shard: None,
                precision: PrecisionChoice::F32,
                antithetic: false,
                start_trade: args.start_trade,
                trade_window: args.trade_window,
                batch_trades: 4096,
            })?;
            crate::log::say(format!(
                "riskpool azfinsim: {} trades -> {} in {:.3} s on {} ({})",
                s.trades,
                output.display(),
                s.seconds,
                s.engine,
                s.device
            ));
            Ok(())
        }
    }
}

/// azfinsim's "synthetic" algorithm, for testing schedulers: allocate,
/// sleep, busy-compute, maybe fail, write `tradenum,random` rows.
fn synthetic(args: &AzfinsimArgs, output: &std::path::Path) -> Result<()> {
    if !(0.0..=1.0).contains(&args.failure) {
        bail!(UsageError(format!(
            "--failure must be a probability in [0, 1], got {}",
            args.failure
        )));
    }
    // At most a day each: a sleep or a busy loop the task cannot finish is
    // a mistake, and Duration has no infinity.
    for (flag, v, max) in [
        ("--delay-start", args.delay_start, 86_400.0),
        ("--task-duration", args.task_duration, 86_400_000.0),
    ] {
        if !(v >= 0.0 && v <= max) {
            bail!(UsageError(format!(
                "{flag} {v}: must be a number from 0 to {max} (a day)"
            )));
        }
    }
    let window = crate::input::trade_window(args.start_trade, args.trade_window)?;
    let trades: Vec<u64> = TradeReader::open(
        &args.cache_path,
        ReadOptions {
            window,
            ..Default::default()
        },
    )?
    .map(|t| t.map(|t| t.trade.stream))
    .collect::<Result<_, _>>()?;
    let mib = usize::try_from(args.mem_usage)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20);
    let mut block: Vec<u8> = Vec::new();
    block
        .try_reserve_exact(mib)
        .with_context(|| format!("cannot allocate --mem-usage {} MiB", args.mem_usage))?;
    block.resize(mib, 1);
    std::thread::sleep(Duration::from_secs_f64(args.delay_start));
    let until = Instant::now() + Duration::from_secs_f64(args.task_duration / 1e3);
    let mut x: u64 = block.iter().step_by(4096).map(|&b| b as u64).sum();
    while Instant::now() < until {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    std::hint::black_box(x);
    let key = [args.seed as u32, (args.seed >> 32) as u32];
    let draw = |n: u64, i: u32| {
        let w = philox4x32_10([i, 0x7379_6e74, n as u32, (n >> 32) as u32], key);
        uniform53(w[0], w[1])
    };
    let first = trades.first().copied().unwrap_or(0);
    if draw(first, 1) < args.failure {
        bail!("synthetic failure (--failure {})", args.failure);
    }
    let mut text = String::from("tradenum,random\n");
    for n in &trades {
        text.push_str(&format!("{n},{}\n", draw(*n, 0)));
    }
    crate::durable::write_atomically(output, &text)
}
