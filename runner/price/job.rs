//! A `price` command line checked into the job it asks for before
//! anything runs (ripgrep's split of low-level flags from high-level
//! arguments): the flags' combinations, the input's format, the output's
//! kind and columns, and the pricing request. Each flag's own range is
//! checked as clap parses it (`flags`).

use anyhow::{bail, Result};
use riskpool_kernels::greeks::GreeksMethod;
use riskpool_kernels::{Bumps, Greek, GreekSet, Precision, PricingRequest};

use crate::cli::{Algorithm, Naming, PrecisionChoice, PriceArgs};
use crate::durable::{check_not_read, check_output};
use crate::error::UsageError;
use crate::input::{require_regular_file, Format, ReadOptions};
use crate::output::{Kind, Layout};

/// What a `price` command line asks for, checked.
pub struct PriceJob<'a> {
    pub args: &'a PriceArgs,
    /// The output's format, by its extension.
    pub kind: Kind,
    pub format: Format,
    /// The output's columns (CSV gains per-asset columns once the check
    /// pass has counted the assets).
    pub layout: Layout,
    pub req: PricingRequest,
    pub opts: ReadOptions,
    /// `--start-trade` and `--trade-window`.
    pub window: Option<(u64, u64)>,
}

/// `--paths` with `--antithetic`: pairs need an even count (the range is
/// checked as the flag is parsed, `flags::paths`).
pub(crate) fn check_paths_flag(paths: Option<u64>, antithetic: bool, n: Naming) -> Result<()> {
    match paths {
        Some(p) if antithetic && p % 2 != 0 => bail!(UsageError(format!(
            "{}: {} pairs paths, so the count must be even",
            n.option("paths", Some(&p)),
            n.switch("antithetic")
        ))),
        _ => Ok(()),
    }
}

/// `--rng sobol` with `--antithetic` (refused: name both), and with
/// `--paths`, which must then be `--qmc-replicates` x 2^m.
pub(crate) fn check_rng_flags(
    paths: Option<u64>,
    antithetic: bool,
    rng: &crate::cli::RngArgs,
    n: Naming,
) -> Result<()> {
    if rng.rng != crate::cli::RngChoice::Sobol {
        if rng.qmc_replicates != riskpool_kernels::qmc::DEFAULT_REPLICATES {
            tracing::warn!(
                "{} applies to {} (and not to trades' own `rng: sobol`, which take their `qmc.replicates`)",
                n.option("qmc-replicates", Some(&rng.qmc_replicates)),
                n.option("rng", Some(&"sobol"))
            );
        }
        return Ok(());
    }
    let sobol = n.option("rng", Some(&"sobol"));
    if antithetic {
        bail!(UsageError(format!(
            "{sobol} with {}: Sobol points are balanced already and pairs break their nets; drop one",
            n.switch("antithetic")
        )));
    }
    if let Some(p) = paths {
        let r = rng.qmc_replicates;
        if let Err((_, why)) = riskpool_kernels::qmc::check(p, r, 1, 1, false) {
            bail!(UsageError(format!(
                "{} with {sobol} and {}: {why}",
                n.option("paths", Some(&p)),
                n.option("qmc-replicates", Some(&r)),
            )));
        }
    }
    Ok(())
}

/// How the Greeks are estimated: `--greeks-method`, else one pass, save
/// for azfinsim's deltavega, whose Greeks are by definition azfinsim's
/// central differences of 1% bumps (docs/azfinsim.md).
pub(crate) fn greeks_method(args: &PriceArgs, format: Format) -> GreeksMethod {
    match args.greeks_method {
        Some(m) => m.method(),
        None if format == Format::AzfinsimCsv && args.algorithm == Some(Algorithm::Deltavega) => {
            GreeksMethod::Bump
        }
        None => GreeksMethod::Pathwise,
    }
}

/// The Greeks asked for, each once, in the order first asked.
fn distinct(greeks: &[Greek]) -> Vec<Greek> {
    let mut out = Vec::new();
    for g in greeks {
        if !out.contains(g) {
            out.push(*g);
        }
    }
    out
}

impl<'a> PriceJob<'a> {
    /// Checks `args` into a job; refuses bad usage (exit 2) before any
    /// file is read beyond the input's first bytes or written.
    pub fn check(args: &'a PriceArgs) -> Result<PriceJob<'a>> {
        let kind = Kind::of(&args.output).ok_or_else(|| {
            UsageError(format!(
                "--output {}: the extension must be .csv, or .jsonl (or .ndjson) for JSON Lines",
                args.output.display()
            ))
        })?;
        let window = crate::input::trade_window(args.start_trade, args.trade_window)?;
        let opts = ReadOptions {
            paths: args.paths,
            shard: args.shard.map(|s| (s.index, s.count)),
            window,
            market: args
                .market
                .as_deref()
                .map(crate::market::load)
                .transpose()?,
            naming: args.engine.naming,
        };
        check_paths_flag(args.paths, args.antithetic, args.engine.naming)?;
        check_rng_flags(args.paths, args.antithetic, &args.rng, args.engine.naming)?;
        require_regular_file(&args.input, "--input", crate::input::READ_TWICE)?;
        let format = crate::input::detect(&args.input)?;
        let (req, layout) = plan(args, kind, format)?;
        check_output(&args.input, &args.output, "--output")?;
        if let Some(market) = &args.market {
            check_not_read(market, "market file", &args.output, "--output")?;
        }
        Ok(PriceJob {
            args,
            kind,
            format,
            layout,
            req,
            opts,
            window,
        })
    }
}

/// The pricing request and the rows' columns that `args` ask for, for an
/// input of `format` written as `kind`: the part of the check that reads
/// no file, shared with the library's in-process `price` (`crate::api`).
pub fn plan(args: &PriceArgs, kind: Kind, format: Format) -> Result<(PricingRequest, Layout)> {
    let n = args.engine.naming;
    let window = crate::input::trade_window(args.start_trade, args.trade_window)?;
    let mut req = PricingRequest {
        rng: args.rng.rng(),
        seed: args.seed,
        greeks: GreekSet(distinct(&args.greeks)),
        bumps: Bumps::STANDARD,
        // Resolved below, once the input's format is known.
        greeks_method: GreeksMethod::Bump,
        antithetic: args.antithetic,
        precision: match args.precision {
            PrecisionChoice::F32 => Precision::F32,
            PrecisionChoice::F64 => Precision::F64,
        },
    };
    if args.engine.fast_math && req.precision == Precision::F64 {
        tracing::warn!(
            "--fast-math applies to f32 path state; the f64 kernels are the same either way"
        );
    }

    req.greeks_method = greeks_method(args, format);
    // Rows say each Greek's estimator where it may not be a bump.
    let methods = req.greeks_method != GreeksMethod::Bump;
    let layout = match (format, args.algorithm) {
        (Format::AzfinsimCsv, algorithm) => {
            if !req.greeks.is_empty() {
                bail!(UsageError(format!(
                    "azfinsim trades take {}, not {}",
                    n.option("algorithm", Some(&"deltavega")),
                    n.option("greeks", None)
                )));
            }
            if algorithm == Some(Algorithm::Deltavega) {
                req.greeks = GreekSet(vec![Greek::Delta, Greek::Vega]);
                req.bumps = Bumps::AZFINSIM;
                if kind == Kind::Csv && req.greeks_method != GreeksMethod::Bump {
                    bail!(UsageError(format!(
                            "{}: azfinsim's deltavega columns cannot say how a Greek was estimated; write JSON Lines (.jsonl) for the method columns, or use {}",
                            n.option("greeks-method", Some(&req.greeks_method.name())),
                            n.option("greeks-method", Some(&"bump"))
                        )));
                }
            }
            match (kind, algorithm) {
                (Kind::Csv, Some(Algorithm::Deltavega)) => Layout::AzfinsimDeltaVega,
                (Kind::Csv, _) => Layout::AzfinsimPv,
                (Kind::JsonLines, _) => Layout::Standard {
                    greeks: req.greeks.0.clone(),
                    assets: 0,
                    methods,
                },
            }
        }
        (_, Some(a)) => bail!(UsageError(format!(
            "{} applies to azfinsim trade files; {} is {}",
            n.option("algorithm", Some(&format!("{a:?}").to_lowercase())),
            args.input.display(),
            format.name()
        ))),
        (_, None) => Layout::Standard {
            greeks: req.greeks.0.clone(),
            assets: 0,
            methods,
        },
    };
    if window.is_some() && format != Format::AzfinsimCsv {
        bail!(UsageError("--start-trade and --trade-window select azfinsim trade numbers; this is not an azfinsim file".into()));
    }
    crate::engines::check_precision(&args.engine, req.precision)?;
    Ok((req, layout))
}
