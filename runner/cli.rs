//! The command line (docs/cli.md).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "riskpool",
    version,
    about = "Monte Carlo risk engine for Azure Batch pools"
)]
pub struct Cli {
    /// Log lines as text or JSON (one object per line).
    #[arg(long, value_enum, global = true, default_value = "text")]
    pub log_format: crate::log::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Price a trade file (portfolio JSON Lines / JSON, or azfinsim CSV).
    Price(PriceArgs),
    /// Revalue a book under market scenarios: P&L per scenario, VaR and ES.
    Risk(RiskArgs),
    /// Join the parts of a sharded `risk` run into its outputs (exact sums).
    RiskMerge(RiskMergeArgs),
    /// Write azfinsim-compatible generated trades.
    Generate(GenerateArgs),
    /// Make a sample portfolio, price it on the best engine, print a table.
    Demo(DemoArgs),
    /// Run the standard workloads (W1-W4; W5-W7 on request) and report path-steps per second.
    Bench(BenchArgs),
    /// Split an azfinsim trade file into files of N trades (trades.0.csv, ...).
    Split(SplitArgs),
    /// Join result files into one (the same header in each).
    Concat(ConcatArgs),
    /// azfinsim's own command line, for drop-in use in its Batch task graph.
    Azfinsim(AzfinsimArgs),
    /// The hardware found, the node size and what it should have, the engine auto picks and why.
    Probe(ProbeArgs),
}

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// The Azure VM size (default: RISKPOOL_NODE_SIZE, then instance metadata inside Batch).
    #[arg(long, value_parser = crate::flags::node_size)]
    pub node_size: Option<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    Auto,
    Cpu,
    Wgpu,
    Cuda,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Pvonly,
    Deltavega,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GreeksMethodChoice {
    Bump,
    Pathwise,
}

impl GreeksMethodChoice {
    pub fn method(self) -> riskpool_kernels::greeks::GreeksMethod {
        match self {
            GreeksMethodChoice::Bump => riskpool_kernels::greeks::GreeksMethod::Bump,
            GreeksMethodChoice::Pathwise => riskpool_kernels::greeks::GreeksMethod::Pathwise,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrecisionChoice {
    F32,
    F64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimdChoice {
    Auto,
    Portable,
    Avx2,
    Avx512,
}

/// How a message names an option: as the command line's flag (`--paths
/// 3`, `--antithetic`) or as the Python package's keyword (`paths=3`,
/// `antithetic=True`), so that one check serves both front ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    #[default]
    Flags,
    Keywords,
}

impl Naming {
    /// Option `name` (in the flag's spelling, `greeks-method`) with its
    /// value, if it takes one.
    pub fn option(self, name: &str, value: Option<&dyn std::fmt::Display>) -> String {
        match (self, value) {
            (Naming::Flags, Some(v)) => format!("--{name} {v}"),
            (Naming::Flags, None) => format!("--{name}"),
            (Naming::Keywords, Some(v)) => format!("{}={v}", name.replace('-', "_")),
            (Naming::Keywords, None) => name.replace('-', "_"),
        }
    }

    /// A switch that is on (`--antithetic`, `antithetic=True`).
    pub fn switch(self, name: &str) -> String {
        match self {
            Naming::Flags => format!("--{name}"),
            Naming::Keywords => format!("{}=True", name.replace('-', "_")),
        }
    }
}

/// Where the normals come from (`--rng`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RngChoice {
    #[default]
    Philox,
    Sobol,
}

/// The run's random numbers, for `price` and `risk`.
#[derive(clap::Args, Debug, Clone)]
pub struct RngArgs {
    /// Random numbers: `philox` (pseudo-random, the default) or `sobol`
    /// (scrambled Sobol points through a Brownian bridge, in replicates
    /// whose spread is the standard error: far smaller errors at the same
    /// paths for smooth payoffs; docs/streams.md). Each trade's path count
    /// must then be replicates x 2^m. A trade's own `rng` wins.
    #[arg(long, value_enum, default_value = "philox")]
    pub rng: RngChoice,
    /// Replicates of `--rng sobol` (a trade's own `rng: sobol` takes its
    /// `qmc.replicates`, else 16).
    #[arg(long, default_value_t = riskpool_kernels::qmc::DEFAULT_REPLICATES, value_parser = crate::flags::replicates)]
    pub qmc_replicates: u32,
}

impl RngArgs {
    /// The request's choice.
    pub fn rng(&self) -> riskpool_kernels::qmc::Rng {
        match self.rng {
            RngChoice::Philox => riskpool_kernels::qmc::Rng::Philox,
            RngChoice::Sobol => riskpool_kernels::qmc::Rng::Sobol {
                replicates: self.qmc_replicates,
            },
        }
    }
}

impl RngArgs {
    /// What a run's signature keeps of it: the choice, and Sobol's
    /// replicates (a rerun with others starts afresh).
    pub fn signature(&self) -> serde_json::Value {
        match self.rng {
            RngChoice::Philox => serde_json::json!("philox"),
            RngChoice::Sobol => serde_json::json!({"sobol": self.qmc_replicates}),
        }
    }
}

impl Default for RngArgs {
    fn default() -> Self {
        RngArgs {
            rng: RngChoice::Philox,
            qmc_replicates: riskpool_kernels::qmc::DEFAULT_REPLICATES,
        }
    }
}

/// Options shared by everything that runs an engine.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// Pricing engine.
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: EngineChoice,
    /// CPU threads (default: all cores).
    #[arg(long, value_parser = crate::flags::threads)]
    pub threads: Option<usize>,
    /// CPU SIMD level (default: the best this CPU has; all give the same bits).
    #[arg(long, value_enum, default_value = "auto")]
    pub simd: SimdChoice,
    /// GPUs this task takes (default: every GPU no other task holds; also
    /// RISKPOOL_GPUS_PER_TASK). Tasks sharing a node take distinct GPUs.
    #[arg(long, value_parser = crate::flags::gpus_per_task)]
    pub gpus_per_task: Option<usize>,
    /// CUDA engine, f32: the GPU's special-function unit for ln, exp,
    /// sin/cos and Box-Muller's square root instead of riskpool's
    /// polynomials. Faster; prices agree with the other engines to about
    /// 1e-6 relative rather than drawing bit-identical normals. Other
    /// engines, and f64, are unchanged by it.
    #[arg(long)]
    pub fast_math: bool,
    /// How messages name the options (not a flag: the command line's
    /// are flags, the Python package sets keywords).
    #[arg(skip)]
    pub naming: Naming,
}

#[derive(clap::Args, Debug)]
pub struct PriceArgs {
    /// Trade file: portfolio JSON Lines or JSON array, or azfinsim CSV.
    #[arg(long)]
    pub input: PathBuf,
    /// Result file: `.csv`, `.jsonl` or `.ndjson`.
    #[arg(long)]
    pub output: PathBuf,
    /// Market file (JSON: valuation date, curves, underlyings): what dated
    /// trades are priced through.
    #[arg(long, value_name = "FILE")]
    pub market: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// 64-bit seed of the random streams.
    #[arg(long, default_value_t = riskpool_kernels::rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Override every trade's path count (azfinsim's `trials`).
    #[arg(long, value_parser = crate::flags::paths)]
    pub paths: Option<u64>,
    /// Greeks to compute, comma-separated: delta,gamma,vega,rho.
    #[arg(long, value_delimiter = ',', value_parser = crate::flags::greek)]
    pub greeks: Vec<riskpool_kernels::Greek>,
    /// How the Greeks are estimated: `pathwise` (the default: one pass,
    /// pathwise derivatives, likelihood ratios for payoffs that jump,
    /// bumps where neither suits; each row's `<greek>_method` column says
    /// which) or `bump` (central differences of revaluations on the same
    /// paths). azfinsim's `--algorithm deltavega` defaults to `bump` (its
    /// Greeks are azfinsim's bumps). See docs/formats.md.
    #[arg(long, value_enum)]
    pub greeks_method: Option<GreeksMethodChoice>,
    /// azfinsim algorithm for azfinsim trades (default pvonly).
    #[arg(long, value_enum)]
    pub algorithm: Option<Algorithm>,
    /// Price only shard I of N (trades whose stream id is I mod N).
    #[arg(long, value_name = "I/N", value_parser = crate::flags::shard)]
    pub shard: Option<crate::flags::Shard>,
    /// Path-state precision (accumulation is always f64).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionChoice,
    /// Antithetic pairs (paths 2j and 2j+1 use negated draws).
    #[arg(long)]
    pub antithetic: bool,
    #[command(flatten)]
    pub rng: RngArgs,
    /// azfinsim files: the first trade number to price.
    #[arg(long)]
    pub start_trade: Option<u64>,
    /// azfinsim files: how many trade numbers from --start-trade to price.
    #[arg(long)]
    pub trade_window: Option<u64>,
    /// Trades per engine batch: results are made durable after each, so a
    /// pre-empted run loses at most one batch.
    #[arg(long, default_value_t = 4096, value_parser = crate::flags::batch_trades)]
    pub batch_trades: usize,
}

/// Where a risk run's figures go, for `risk` and `risk-merge`.
#[derive(clap::Args, Debug, Clone)]
pub struct RiskOutputArgs {
    /// Confidence levels of VaR and ES, comma-separated, each in (0, 1).
    #[arg(long, value_delimiter = ',', default_value = "0.99,0.975", value_parser = crate::flags::level)]
    pub levels: Vec<f64>,
    /// The trade x scenario P&L (CSV: scenario,id,pnl,pnl_stderr).
    #[arg(long, value_name = "FILE")]
    pub by_trade: Option<PathBuf>,
    /// A self-contained HTML report.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct RiskArgs {
    /// The book: portfolio JSON Lines or JSON array (azfinsim CSV trades name no underlying and do not move).
    #[arg(long)]
    pub input: PathBuf,
    /// Scenario file (CSV: scenario,underlying,spot,vol,rate).
    #[arg(long)]
    pub scenarios: PathBuf,
    /// Market file (JSON: valuation date, curves, underlyings): what dated
    /// trades are revalued through.
    #[arg(long, value_name = "FILE")]
    pub market: Option<PathBuf>,
    /// P&L per scenario (CSV: scenario,pnl,pnl_stderr); with --shard, the
    /// shard's part file for `risk-merge` instead.
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub figures: RiskOutputArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// 64-bit seed of the random streams.
    #[arg(long, default_value_t = riskpool_kernels::rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Override every trade's path count.
    #[arg(long, value_parser = crate::flags::paths)]
    pub paths: Option<u64>,
    /// Revalue only shard I of N (trades whose stream id is I mod N) and
    /// write its part file to --output.
    #[arg(long, value_name = "I/N", value_parser = crate::flags::shard)]
    pub shard: Option<crate::flags::Shard>,
    /// Path-state precision (accumulation is always f64).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionChoice,
    #[command(flatten)]
    pub rng: RngArgs,
    /// Trades per engine batch: their rows are made durable after each.
    #[arg(long, default_value_t = 64, value_parser = crate::flags::batch_trades)]
    pub batch_trades: usize,
    /// A caller in process (the Python package): its cancel and the
    /// progress it reads. Not a flag.
    #[arg(skip)]
    pub control: Option<std::sync::Arc<crate::api::Control>>,
}

#[derive(clap::Args, Debug)]
pub struct RiskMergeArgs {
    /// P&L per scenario (CSV: scenario,pnl,pnl_stderr).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub figures: RiskOutputArgs,
    /// The part files of every shard 0..N-1 of one run, in any order.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// How many trades (azfinsim: --trade-window).
    #[arg(long, alias = "trade-window")]
    pub trades: u64,
    /// The CSV file to write (azfinsim: --cache-path).
    #[arg(long, alias = "cache-path")]
    pub output: PathBuf,
    /// Generator seed: the same seed gives the same trades (the default is
    /// every command's: one default seed everywhere).
    #[arg(long, default_value_t = riskpool_kernels::rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Number of the first trade.
    #[arg(long, default_value_t = 0)]
    pub start_trade: u64,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the sample files (default: a new temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Workloads to run, comma-separated (W5 and W6, early exercise and
    /// several assets, and W7, scenario revaluation, and W7S, its spot and
    /// rate moves only, on request).
    #[arg(long, value_delimiter = ',', default_value = "W1,W2,W3,W4", value_parser = crate::flags::workload)]
    pub workloads: Vec<String>,
    /// Size relative to the standard workloads (trades for W1/W2, paths for W3-W6).
    #[arg(long, default_value_t = 1.0, value_parser = crate::flags::scale)]
    pub scale: f64,
    /// Timed repetitions per workload (the best is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// How the workloads' Greeks are estimated (as `price
    /// --greeks-method`; default `pathwise`, W2's azfinsim deltavega
    /// `bump`).
    #[arg(long, value_enum)]
    pub greeks_method: Option<GreeksMethodChoice>,
    /// Print one JSON object per workload instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SplitArgs {
    /// The azfinsim trade file (azfinsim: --cache-path).
    #[arg(long, alias = "cache-path")]
    pub input: PathBuf,
    /// Trades per file (azfinsim: --trade-window).
    #[arg(long, alias = "trade-window")]
    pub trades_per_file: u64,
    /// Where the files go (azfinsim: --output-path; default: the input's folder).
    #[arg(long, alias = "output-path")]
    pub output_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ConcatArgs {
    /// The joined file.
    #[arg(long)]
    pub output: PathBuf,
    /// The number of files the job made: anything but exactly N distinct
    /// files is refused, naming the parts missing or extra.
    #[arg(long, value_name = "N")]
    pub expect: Option<u64>,
    /// Result files, joined in this order; parts numbered alike
    /// (`NAME.K.results.csv`) by their number K, whatever order a glob gave.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzfinsimAlgorithm {
    Pvonly,
    Deltavega,
    Synthetic,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheType {
    Filesystem,
    Redis,
}

/// azfinsim's flags (filesystem mode); the rest of azfinsim's flags are
/// accepted and ignored.
#[derive(clap::Args, Debug)]
pub struct AzfinsimArgs {
    /// The trade file to price.
    #[arg(long)]
    pub cache_path: PathBuf,
    #[arg(long, value_enum, default_value = "filesystem")]
    pub cache_type: CacheType,
    #[arg(long, value_enum, default_value = "pvonly")]
    pub algorithm: AzfinsimAlgorithm,
    /// First trade number to price (default: all in the file).
    #[arg(long)]
    pub start_trade: Option<u64>,
    /// How many trade numbers to price.
    #[arg(long)]
    pub trade_window: Option<u64>,
    /// Folder for `<name>.results.csv` (default: the input's folder).
    #[arg(long)]
    pub output_path: Option<PathBuf>,
    /// synthetic: seconds to sleep first.
    #[arg(long, default_value_t = 0.0)]
    pub delay_start: f64,
    /// synthetic: milliseconds of busy computation.
    #[arg(long, default_value_t = 20.0)]
    pub task_duration: f64,
    /// synthetic: MiB to allocate.
    #[arg(long, default_value_t = 16)]
    pub mem_usage: u64,
    /// synthetic: probability of failing.
    #[arg(long, default_value_t = 0.0)]
    pub failure: f64,
    #[arg(long, default_value_t = riskpool_kernels::rng::DEFAULT_SEED)]
    pub seed: u64,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[arg(long, hide = true)]
    pub verbose: bool,
    #[arg(long, hide = true)]
    pub no_color: bool,
    #[arg(long, hide = true)]
    pub tags: Option<String>,
    #[arg(long, hide = true)]
    pub config: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub cache_name: Option<String>,
    #[arg(long, hide = true)]
    pub cache_port: Option<u16>,
    #[arg(long, hide = true)]
    pub cache_key: Option<String>,
    #[arg(long, hide = true)]
    pub cache_ssl: Option<String>,
}
