//! `riskpool risk`: every trade of a book revalued under every scenario of
//! a scenario file, the P&L summed per scenario, VaR and ES.
//!
//! Like `price`, the inputs are checked whole before anything is written
//! (the trades, the scenario file, and every move against every trade it
//! moves: exit 2 naming file, line and field), the output is locked for
//! the run, and results are durable batch by batch in a part file
//! ([`part`]), so a rerun after a pre-emption revalues only what is
//! missing. With `--shard K/N` the part file is the output, for
//! `risk-merge`; without, the run merges its one part ([`merge`]).

pub mod fsum;
pub mod guard;
pub mod merge;
pub mod part;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use riskpool_kernels::model::{Gbm, Heston, ModelSpec};
use riskpool_kernels::multi::MultiModel;
use riskpool_kernels::scenario::{moved_trade, MarketMove, TradeScenarios};
use riskpool_kernels::{Bumps, Engine, EngineError, GreekSet, Precision, PricingRequest, Trade};
use serde_json::json;

use crate::cli::{EngineArgs, PrecisionChoice, RiskArgs};
use crate::durable::Signature;
use crate::engines;
use crate::error::{InputError, NotFinite, TradeAt, UsageError};
use crate::input::scenarios::{self, Scenarios};
use crate::input::{error_at, require_regular_file, Format, ReadOptions, ReadTrade, TradeReader};
use crate::journal::{Journal, Opened};
use part::{PartHeader, PartRow, PartRows};

/// Asset `a` of `t` as a one-asset model, for checking a move on it.
fn asset_model(t: &Trade, a: usize) -> Option<ModelSpec> {
    match t
        .extension
        .as_ref()
        .and_then(|e| e.multi.as_ref())
        .map(|m| &m.model)
    {
        None => (a == 0).then(|| t.model.clone()),
        Some(MultiModel::GbmMulti { rate, assets, .. }) => assets.get(a).map(|x| {
            ModelSpec::Gbm(Gbm {
                spot: x.spot,
                rate: *rate,
                dividend: x.dividend,
                vol: x.vol,
            })
        }),
        Some(MultiModel::HestonMulti { rate, assets, .. }) => assets.get(a).map(|x| {
            ModelSpec::Heston(Heston {
                spot: x.spot,
                rate: *rate,
                dividend: x.dividend,
                v0: x.v0,
                kappa: x.kappa,
                theta: x.theta,
                xi: x.xi,
                rho: x.rho,
            })
        }),
    }
}

/// The trade's model type as the book names it (`gbm_multi` for several assets).
fn model_name(t: &Trade) -> &'static str {
    match t.extension.as_ref().and_then(|e| e.multi.as_ref()) {
        Some(m) => m.model.name(),
        None => t.model.name(),
    }
}

/// The trade's payoff type as the book names it.
fn payoff_name(t: &Trade) -> &'static str {
    match t.extension.as_ref().and_then(|e| e.multi.as_ref()) {
        Some(m) => m.payoff.name(),
        None => t.payoff.name(),
    }
}

/// The scenario column a model field's move comes from.
fn column_of(field: &str) -> &'static str {
    match field {
        "spot" => "spot",
        "rate" | "drift" => "rate",
        _ => "vol",
    }
}

/// `t`'s moves in every scenario, checked: a move the trade's model cannot
/// take is an error at the scenario file's row, naming the trade. Each
/// moved scenario's trade is built as the engines build it
/// ([`moved_trade`]) and must pass the trade's own validation, as a book
/// holding it would.
/// ` (it moves spot by -0.05, vol by 1e308)`: what a scenario moves of a
/// trade's market, the likely cause of a P&L that is not finite.
fn moved_by(moves: &[MarketMove]) -> String {
    let mut parts = Vec::new();
    for (a, m) in moves.iter().enumerate() {
        let asset = if moves.len() > 1 {
            format!("asset {a}'s ")
        } else {
            String::new()
        };
        for (name, x) in [("spot", m.spot), ("vol", m.vol), ("rate", m.rate)] {
            if x != 0.0 {
                parts.push(format!("{asset}{name} by {x:e}"));
            }
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (it moves {})", parts.join(", "))
    }
}

fn moves_of(book: &Path, scen: &Scenarios, t: &ReadTrade) -> Result<TradeScenarios> {
    let n_assets = t.underlyings.len();
    let mut moves = vec![vec![MarketMove::default(); n_assets]; scen.names.len()];
    let mut lines = vec![vec![0u64; n_assets]; scen.names.len()];
    let bad = |s: usize, line: u64, field: Option<&str>, what: String| -> anyhow::Error {
        InputError {
            trade: Some(TradeAt {
                id: t.trade.id.clone(),
                line: t.line,
            }),
            ..error_at(
                &scen.path,
                line,
                field,
                format!(
                    "scenario `{}` {what} for trade `{}` ({}, line {})",
                    scen.names[s],
                    t.trade.id,
                    book.display(),
                    t.line
                ),
            )
        }
        .into()
    };
    let dated = t.trade.dated.as_ref();
    for (a, name) in t.underlyings.iter().enumerate() {
        let Some(name) = name else { continue };
        // A dated trade's moves are its market's, checked when its path is
        // resolved on the moved market below.
        let model = asset_model(&t.trade, a).filter(|_| dated.is_none());
        if model.is_none() && dated.is_none() {
            continue;
        }
        for s in 0..scen.names.len() {
            let (mv, line) = scen.get(name, s);
            if mv.is_none() {
                continue;
            }
            if let Some(Err(e)) = model.as_ref().map(|m| mv.apply(m)) {
                return Err(bad(
                    s,
                    line,
                    Some(column_of(e.field)),
                    format!("{e}, underlying `{name}`"),
                ));
            }
            moves[s][a] = mv;
            lines[s][a] = line;
        }
    }
    let multi = t.trade.extension.as_ref().and_then(|e| e.multi.as_ref());
    for s in 0..scen.names.len() {
        if moves[s].iter().all(MarketMove::is_none) {
            continue;
        }
        // A multi-asset model has one rate: its assets' rate moves agree.
        let mut rated = (0..n_assets).filter(|&a| moves[s][a].rate != 0.0);
        if let (Some(m), Some(first)) = (multi, rated.next()) {
            let r = moves[s][first].rate;
            if let Some(a) = rated.find(|&a| moves[s][a].rate != r) {
                return Err(bad(
                    s,
                    lines[s][a],
                    Some("rate"),
                    format!(
                        "moves the rate by {r} (line {}) and by {} (underlying `{}`): a {} model has one rate",
                        lines[s][first],
                        moves[s][a].rate,
                        t.underlyings[a].as_deref().unwrap_or(""),
                        m.model.name()
                    ),
                ));
            }
        }
        let first_line = lines[s].iter().copied().find(|&l| l > 0).unwrap_or(0);
        if let Some(d) = dated {
            // The row of the underlying the move failed on, and its column.
            d.moved(&moves[s]).map_err(|e| {
                let line = e
                    .asset
                    .and_then(|a| lines[s].get(a).copied())
                    .filter(|&l| l > 0)
                    .unwrap_or(first_line);
                bad(s, line, e.column, e.message)
            })?;
            continue;
        }
        let moved = moved_trade(&t.trade, &moves[s]).map_err(|e| bad(s, first_line, None, e))?;
        // A barrier the move crossed knocks the payoff: only what is left
        // is checked.
        if let Err(e) = riskpool_kernels::scenario::validate_moved(&moved) {
            // The row of the asset the field names (`model.assets[1].vol`).
            let asset = e
                .field
                .strip_prefix("model.assets[")
                .and_then(|r| r.split(']').next())
                .and_then(|i| i.parse::<usize>().ok());
            let line = asset
                .and_then(|a| lines[s].get(a).copied())
                .filter(|&l| l > 0)
                .unwrap_or(first_line);
            let column = e.field.rsplit('.').next().map(column_of);
            return Err(bad(
                s,
                line,
                column,
                format!("makes a trade the book would refuse ({e})"),
            ));
        }
    }
    Ok(TradeScenarios { moves })
}

/// What the check of every trade against the scenarios found.
struct MoveCheck {
    /// (line, id) of this shard's trades, in book order.
    expected: Vec<(u64, String)>,
}

/// Checks every move on every trade of the whole book (every shard refuses
/// the same bad input), and warns of scenario underlyings no trade has.
fn check_moves(book: &Path, opts: &ReadOptions, scen: &Scenarios) -> Result<MoveCheck> {
    let all = ReadOptions {
        shard: None,
        ..opts.clone()
    };
    let mut names: HashSet<String> = HashSet::new();
    let mut expected = Vec::new();
    let (mut unnamed, mut unmoved) = (0u64, 0u64);
    for item in TradeReader::open(book, all)? {
        let t = item?;
        names.extend(t.underlyings.iter().flatten().cloned());
        let m = moves_of(book, scen, &t)?;
        unnamed += u64::from(t.underlyings.iter().all(Option::is_none));
        unmoved += u64::from(m.moves.iter().flatten().all(MarketMove::is_none));
        if opts.shard.map_or(true, |(k, n)| t.trade.stream % n == k) {
            expected.push((t.line, t.trade.id));
        }
    }
    let mut unknown: Vec<&String> = scen.moves.keys().filter(|u| !names.contains(*u)).collect();
    unknown.sort();
    for u in unknown {
        tracing::warn!(
            "{}: underlying `{u}` is in no trade of {}; its rows move nothing",
            scen.path.display(),
            book.display()
        );
    }
    if unnamed > 0 {
        tracing::info!("{unnamed} trades name no underlying: they do not move in any scenario");
    }
    if unmoved > 0 {
        tracing::info!("{unmoved} trades are moved by no scenario: their P&L is 0");
    }
    Ok(MoveCheck { expected })
}

/// The header of the part (or partial part) at `path`, if it has one
/// (about as long as `ours`, which has the same scenarios).
fn header_of(path: &Path, ours: &PartHeader) -> Option<PartHeader> {
    let ours = serde_json::to_vec(ours).map_or(0, |v| v.len());
    Journal::<PartHeader>::header_at(path, crate::input::MAX_LINE + 4 * ours)
}

/// Refuses to touch `<output>.part` (or its partial) when it is one shard
/// of a sharded run: an unsharded run would replace and then lose it.
fn refuse_foreign(part: &Path, header: &PartHeader) -> Result<()> {
    for f in [part.to_path_buf(), crate::durable::partial_path(part)] {
        if let Some(h) = header_of(&f, header).filter(|h| h.shard != header.shard) {
            bail!(UsageError(format!(
                "--output: {} is shard {}/{} of a sharded run, which this unsharded run would replace; move it or give another --output",
                f.display(),
                h.shard[0],
                h.shard[1]
            )));
        }
    }
    Ok(())
}

/// Why the part (or partial part) at `path`, left by an earlier run, is
/// not resumed under `header` (for the log; as `price` says it).
fn why_afresh(path: &Path, header: &PartHeader) -> Option<String> {
    let old = header_of(path, header).filter(|h| h != header)?;
    Some(crate::journal::afresh_reason(
        (&old.engine, &old.device),
        (&header.engine, &header.device),
    ))
}

/// `1 trade`, `2 trades`: a count with its noun.
fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

pub fn run(args: &RiskArgs) -> Result<()> {
    let shard = args.shard.map(|s| (s.index, s.count));
    let precision = match args.precision {
        PrecisionChoice::F32 => Precision::F32,
        PrecisionChoice::F64 => Precision::F64,
    };
    engines::check_precision(&args.engine, precision)?;
    crate::price::job::check_rng_flags(args.paths, false, &args.rng, args.engine.naming)?;
    if shard.is_some() && (args.figures.by_trade.is_some() || args.figures.report.is_some()) {
        bail!(UsageError(
            "--by-trade and --report are written by `riskpool risk-merge` from every shard's part, not by one shard".into()
        ));
    }
    require_regular_file(&args.input, "--input", crate::input::READ_TWICE)?;
    require_regular_file(
        &args.scenarios,
        "--scenarios",
        "it is hashed for the rerun after a pre-emption",
    )?;
    let format = crate::input::detect(&args.input)?;
    if shard.is_none() {
        merge::check_levels(&args.figures.levels)?;
    }
    let written = guard::Written {
        output: &args.output,
        figures: &args.figures,
        shard: Some(shard.is_some()),
    };
    let mut reads = vec![
        ("--input", args.input.as_path()),
        ("--scenarios", args.scenarios.as_path()),
    ];
    reads.extend(args.market.as_deref().map(|m| ("--market", m)));
    written.check(&reads)?;
    let _locks = written.lock()?;

    let scen = scenarios::read(&args.scenarios)?;
    let opts = ReadOptions {
        paths: args.paths,
        shard,
        window: None,
        market: args
            .market
            .as_deref()
            .map(|m| crate::market::load_named(m, args.engine.naming))
            .transpose()?,
        naming: args.engine.naming,
    };
    let req = PricingRequest {
        rng: args.rng.rng(),
        seed: args.seed,
        greeks: GreekSet::default(),
        bumps: Bumps::STANDARD,
        greeks_method: Default::default(),
        antithetic: false,
        precision,
    };
    let checked = crate::check::check_all(&args.input, &opts, &req)?;
    if checked.count == 0 && shard.is_none() {
        return Err(error_at(&args.input, 1, None, "no trades in the file").into());
    }
    if format == Format::AzfinsimCsv {
        tracing::warn!(
            "{}: azfinsim trades name no underlying; no scenario moves them",
            args.input.display()
        );
    }
    let moves = check_moves(&args.input, &opts, &scen)?;
    if let Some(c) = &args.control {
        c.total
            .store(checked.count, std::sync::atomic::Ordering::Relaxed);
    }
    crate::hooks::stall("checked");

    let engine = engines::select(&args.engine)?;
    let device = engine.device();
    let run = json!({
        "book_hash": checked.hash, "scenarios_hash": scen.hash, "seed": args.seed,
        "paths": args.paths, "precision": format!("{:?}", args.precision),
        "rng": args.rng.signature(),
    });
    let scen_path =
        std::fs::canonicalize(&args.scenarios).unwrap_or_else(|_| args.scenarios.clone());
    let signature = Signature::new(
        &args.input,
        &checked.hash,
        json!({"run": run, "scenarios": scen_path.display().to_string(), "shard": args.shard,
            "engine": engine.name(), "device": device, "fast_math": args.engine.fast_math}),
    )?;
    let header = PartHeader {
        riskpool_risk_part: part::VERSION,
        run,
        signature: signature.0.clone(),
        shard: match shard {
            Some((k, n)) => [k, n],
            None => [0, 1],
        },
        scenarios: scen.names.clone(),
        trades: checked.count,
        engine: engine.name().into(),
        device: device.clone(),
        book: file_name(&args.input),
        scenario_file: file_name(&args.scenarios),
    };
    let summary_sig = json!({"part": signature.0, "levels": args.figures.levels,
        "by_trade": args.figures.by_trade, "report": args.figures.report});
    let part_path: PathBuf = match shard {
        Some(_) => args.output.clone(),
        None => {
            if guard::complete(&args.output, &args.figures, &summary_sig) {
                tracing::info!(
                    "{} is already complete for these arguments; nothing to do",
                    args.output.display()
                );
                // What an interrupted run left beside it (its part is kept).
                let partial =
                    crate::durable::partial_path(&crate::durable::part_path(&args.output));
                if std::fs::symlink_metadata(&partial).is_ok_and(|m| m.is_file()) {
                    let _ = std::fs::remove_file(&partial);
                }
                return Ok(());
            }
            let part = crate::durable::part_path(&args.output);
            refuse_foreign(&part, &header)?;
            part
        }
    };
    let began = Instant::now();
    let (done_before, revalued) = if part::is_done(&part_path, &header) {
        if shard.is_none() {
            tracing::info!(
                "{} is complete for this run: its outputs are written from it, nothing is revalued",
                part_path.display()
            );
        }
        (checked.count, 0)
    } else {
        if let Some(why) = why_afresh(&part_path, &header) {
            tracing::info!(
                "starting afresh: {} is not resumed: {why}",
                part_path.display()
            );
        }
        revalue_all(
            Inputs {
                book: &args.input,
                opts: &opts,
                scen: &scen,
                expected: &moves.expected,
                checked: &checked,
            },
            (engine, &args.engine),
            &req,
            &header,
            &part_path,
            args.batch_trades,
            args.control.as_deref(),
        )?
    };
    let seconds = began.elapsed().as_secs_f64();
    let extra = json!({"resumed_from": done_before, "revalued_now": revalued, "seconds": seconds});
    match shard {
        Some((k, n)) => {
            tracing::info!(
                "shard {k}/{n}: {} x {} in {}",
                counted(checked.count, "trade"),
                counted(scen.names.len() as u64, "scenario"),
                args.output.display()
            );
        }
        None => {
            // Test hook: every trade durable in the part, no output yet.
            crate::hooks::stall("risk-part-done");
            let parts = merge::gather(std::slice::from_ref(&part_path))?;
            // The part stays beside the outputs: a rerun that asks for
            // other levels or figures, or finds one deleted, merges again
            // without revaluing.
            let s = merge::write_outputs(&args.output, &args.figures, &parts, summary_sig, extra)?;
            tracing::info!(
                "revalued {} under {}: base PV {}, {}",
                counted(checked.count, "trade"),
                counted(scen.names.len() as u64, "scenario"),
                s["base_pv"],
                s["levels"]
            );
        }
    }
    Ok(())
}

/// What the revaluation reads.
struct Inputs<'a> {
    book: &'a Path,
    opts: &'a ReadOptions,
    scen: &'a Scenarios,
    /// (line, id) of the part's trades, in order.
    expected: &'a [(u64, String)],
    /// What pass 1 checked: each trade's text must be the same.
    checked: &'a crate::check::Checked,
}

/// Revalues one batch, falling back to the next engine (as `price` does,
/// `engines::fall_back`) when `--engine auto` chose one that fails.
fn revalue_batch(
    engine: &mut Box<dyn Engine>,
    args: &EngineArgs,
    fallbacks: &mut usize,
    trades: &[Trade],
    scs: &[TradeScenarios],
    req: &PricingRequest,
) -> Result<Vec<riskpool_kernels::scenario::ScenarioResult>, EngineError> {
    loop {
        match engine.revalue(trades, scs, req) {
            Err(e) => engines::fall_back(args, engine, e, fallbacks)?,
            done => return done,
        }
    }
}

/// Revalues every trade of the part not already durable; returns how many
/// were kept from an earlier run and how many were revalued now.
fn revalue_all(
    inputs: Inputs,
    (mut engine, engine_args): (Box<dyn Engine>, &EngineArgs),
    req: &PricingRequest,
    header: &PartHeader,
    part_path: &Path,
    batch_trades: usize,
    control: Option<&crate::api::Control>,
) -> Result<(u64, u64)> {
    let Inputs {
        book,
        opts,
        scen,
        expected,
        checked,
    } = inputs;
    let journal = Journal::new(part_path, header.clone(), b"")?;
    if let Some(why) = journal.why_afresh() {
        tracing::info!("{why}");
    }
    let mut rows = PartRows {
        expected,
        scenarios: scen.names.len(),
        engine: (&header.engine, &header.device),
        kept: 0,
    };
    let mut w = match journal.open(&mut rows, expected.len() as u64)? {
        Opened::Complete(done) => {
            // Killed between the end line and the rename.
            done.rename_to(part_path)?;
            return Ok((done.rows, 0));
        }
        Opened::Writing(w) => *w,
    };
    let kept = w.rows();
    if kept > 0 {
        tracing::info!(
            "resuming {}: {kept} of {} trades already revalued",
            part_path.display(),
            expected.len()
        );
    }
    let mut reader = checked.open_again(book, opts)?;
    for (i, item) in reader.by_ref().take(kept as usize).enumerate() {
        let t = item.context("the input changed while it was being revalued")?;
        if !checked.same_text(i as u64, &t) {
            bail!(crate::check::changed(book));
        }
    }
    let progress = crate::log::Progress::new(expected.len() as u64, kept);
    let start = Instant::now();
    // Path-steps of the base and every scenario, for the rate shown.
    let mut path_steps = 0.0;
    let mut fallbacks = 0;
    loop {
        // A caller in process (`api`) may cancel between batches (and
        // within one, on an engine that can stop: `Control::watch`): the
        // rows so far are durable in the part.
        if let Some(c) = control {
            c.watch(engine.as_ref());
            if c.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                w.sync()?;
                bail!(crate::api::Cancelled {
                    done: w.rows(),
                    total: expected.len() as u64,
                });
            }
        }
        let batch: Vec<ReadTrade> = reader
            .by_ref()
            .take(batch_trades)
            .collect::<Result<_, _>>()
            .context("the input changed while it was being revalued")?;
        if batch.is_empty() {
            break;
        }
        let scs: Vec<TradeScenarios> = batch
            .iter()
            .map(|t| moves_of(book, scen, t))
            .collect::<Result<_>>()?;
        let trades: Vec<Trade> = batch.iter().map(|t| t.trade.clone()).collect();
        let results =
            match revalue_batch(&mut engine, engine_args, &mut fallbacks, &trades, &scs, req) {
                Ok(r) if r.len() == trades.len() => r,
                Ok(r) => bail!(
                    "the {} engine returned {} results for {} trades",
                    engine.name(),
                    r.len(),
                    trades.len()
                ),
                Err(_)
                    if control
                        .is_some_and(|c| c.cancel.load(std::sync::atomic::Ordering::Relaxed)) =>
                {
                    bail!(crate::api::Cancelled {
                        done: w.rows(),
                        total: expected.len() as u64,
                    });
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "{} trades revalued before the failure are kept in {}",
                        w.rows(),
                        w.path().display()
                    )))
                }
            };
        let device = engine.device();
        let half = batch.len() / 2;
        for (i, ((t, sc), r)) in batch.iter().zip(&scs).zip(&results).enumerate() {
            if i == half && i > 0 {
                w.flush();
                crate::hooks::stall("risk-batch");
            }
            let want = expected.get(w.rows() as usize);
            if want.map_or(true, |(l, id)| *l != t.line || *id != t.trade.id)
                || !checked.same_text(w.rows(), t)
            {
                bail!(crate::check::changed(book));
            }
            // Held to `price`'s rule: a finite value, and a finite standard
            // error or an undefined one (1 or 2 paths).
            let paths = t.trade.paths;
            let sound = |e: &riskpool_kernels::Estimate| NotFinite::check(e, paths).is_none();
            let stderr = |e: &riskpool_kernels::Estimate| Some(e.stderr).filter(|x| !x.is_nan());
            if let Some(why) = NotFinite::check(&r.base, paths) {
                w.sync()?;
                bail!(
                    "trade `{}` (line {}): its base price is not a finite number (base {why}){}; the {} rows before it are kept in {}",
                    t.trade.id, t.line, crate::output::likely_field(&t.trade), w.rows(), w.path().display()
                );
            }
            if r.pnl.len() != scen.names.len() {
                bail!(
                    "the {} engine returned {} P&L values for {} scenarios (trade `{}`)",
                    engine.name(),
                    r.pnl.len(),
                    scen.names.len(),
                    t.trade.id
                );
            }
            if let Some(s) = (0..r.pnl.len()).find(|&s| !sound(&r.pnl[s])) {
                w.sync()?;
                bail!(
                    "trade `{}` (line {}): its P&L in scenario `{}` is not a finite number{}; the {} rows before it are kept in {}",
                    t.trade.id, t.line, scen.names[s], moved_by(&sc.moves[s]), w.rows(), w.path().display()
                );
            }
            w.append(&part::line_of(&PartRow {
                line: t.line,
                item: t.item,
                id: t.trade.id.clone(),
                underlyings: t.underlyings.clone(),
                model: model_name(&t.trade).into(),
                payoff: payoff_name(&t.trade).into(),
                paths: t.trade.paths,
                moved: !sc.moves.iter().flatten().all(MarketMove::is_none),
                base: r.base.value,
                base_stderr: stderr(&r.base),
                pnl: r.pnl.iter().map(|e| e.value).collect(),
                pnl_stderr: r.pnl.iter().map(stderr).collect(),
                engine: engine.name().to_string(),
                device: device.clone(),
            })?)?;
        }
        w.sync()?;
        path_steps += trades
            .iter()
            .map(|t| t.path_steps() * (1 + scen.names.len()) as f64)
            .sum::<f64>();
        progress.batch(
            w.rows(),
            path_steps / start.elapsed().as_secs_f64().max(1e-9),
        );
        if let Some(c) = control {
            c.done.store(w.rows(), std::sync::atomic::Ordering::Relaxed);
        }
    }
    if w.rows() != expected.len() as u64 {
        bail!(
            "the input changed while it was being revalued: {} trades revalued, the check found {}",
            w.rows(),
            expected.len()
        );
    }
    // The book is hashed again as it is read: if it is not what the check
    // read, the part would hold another book's P&L under this one's hash.
    if Some(reader.content_hash().as_str()) != header.run["book_hash"].as_str() {
        bail!(crate::check::changed(book));
    }
    progress.finish();
    let now = w.rows() - kept;
    w.finish()?.rename_to(part_path)?;
    Ok((kept, now))
}
