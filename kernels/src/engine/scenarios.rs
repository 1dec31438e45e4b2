//! How an engine revalues trades under scenarios: one full run per
//! scenario ([`naive_revalue`], the trait's default), scenario passes
//! split from the trades with an extension ([`revalue_split`]), and the
//! GPU engines' use of it ([`gpu_revalue`]).

use super::request::leak;
use super::{Engine, EngineError, PricingRequest, TradeResult};
use crate::greeks::GreekSet;
use crate::greeks::Revaluations;
use crate::instrument::Trade;
use crate::scenario::{moved_trade, MarketMove, ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// [`Engine::revalue`] by one full run per scenario (see there).
pub fn naive_revalue<E: Engine + ?Sized>(
    engine: &E,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
) -> Result<Vec<ScenarioResult>, EngineError> {
    if trades.len() != scenarios.len() {
        return Err(EngineError::failed(
            leak(engine.name()),
            format!(
                "{} trades but {} scenario lists",
                trades.len(),
                scenarios.len()
            ),
        ));
    }
    let plain = PricingRequest {
        greeks: GreekSet::default(),
        ..req.clone()
    };
    let base = engine.price(trades, &plain)?;
    let mut out = Vec::with_capacity(trades.len());
    for ((t, sc), b) in trades.iter().zip(scenarios).zip(base) {
        let mut pnl = Vec::with_capacity(sc.moves.len());
        let mut seconds = b.seconds;
        for moves in &sc.moves {
            if moves.iter().all(MarketMove::is_none) {
                pnl.push(Estimate {
                    value: 0.0,
                    stderr: 0.0,
                });
                continue;
            }
            let moved = moved_trade(t, moves).map_err(|e| EngineError::BadTrade {
                id: t.id.clone(),
                message: format!("in a scenario, {e}"),
            })?;
            let r = engine.price(std::slice::from_ref(&moved), &plain)?;
            let r = &r[0];
            seconds += r.seconds;
            pnl.push(Estimate {
                value: r.pv.value - b.pv.value,
                stderr: r.pv.stderr.hypot(b.pv.stderr),
            });
        }
        out.push(ScenarioResult {
            base: b.pv,
            pnl,
            paths: t.paths,
            seconds,
        });
    }
    Ok(out)
}

/// [`Engine::revalue`] of a GPU engine (wgpu, CUDA, CUDA C on the CPU):
/// [`revalue_split`] within [`crate::revalue::PassLimits::GPU`], the trades
/// with an extension by [`naive_revalue`] (one run per scenario), so each
/// engine names only how it prices trades with given revaluations (`run`).
pub fn gpu_revalue<E: Engine + ?Sized>(
    engine: &E,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: impl FnOnce(
        &[Trade],
        &[Revaluations],
        &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    revalue_split(
        engine,
        crate::revalue::PassLimits::GPU,
        trades,
        scenarios,
        req,
        run,
        Box::new(|t, s| naive_revalue(engine, t, s, req)),
    )
}

/// What revalues the trades with an extension (several assets, early
/// exercise) for [`revalue_split`].
pub type Extended<'a> =
    Box<dyn FnOnce(&[Trade], &[TradeScenarios]) -> Result<Vec<ScenarioResult>, EngineError> + 'a>;

/// [`Engine::revalue`] of an engine that can price trades with given
/// revaluations (`run`, see [`crate::revalue::fused_revalue`]): one-asset
/// trades without extension by their scenario passes within `limits`, all
/// in one batch; trades with an extension by `extended` (the CPU engine's
/// early-exercise pricer in one pass; elsewhere [`naive_revalue`], one run
/// per scenario). Results come back in the order of `trades`.
pub fn revalue_split<E: Engine + ?Sized>(
    engine: &E,
    limits: crate::revalue::PassLimits,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: impl FnOnce(
        &[Trade],
        &[Revaluations],
        &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>,
    extended: Extended<'_>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    if trades.len() != scenarios.len() {
        return naive_revalue(engine, trades, scenarios, req);
    }
    let (mut fused, mut naive) = (Vec::new(), Vec::new());
    for (i, t) in trades.iter().enumerate() {
        if t.extension.is_some() {
            naive.push(i);
        } else {
            fused.push(i);
        }
    }
    let pick = |idx: &[usize]| -> (Vec<Trade>, Vec<TradeScenarios>) {
        idx.iter()
            .map(|&i| (trades[i].clone(), scenarios[i].clone()))
            .unzip()
    };
    // The trades with an extension first: an engine that cannot take them
    // says so before the others are priced.
    let (nt, ns) = pick(&naive);
    let naive_out = if nt.is_empty() {
        Vec::new()
    } else {
        extended(&nt, &ns)?
    };
    let (ft, fs) = pick(&fused);
    let fused_out = if ft.is_empty() {
        Vec::new()
    } else {
        crate::revalue::fused_revalue(leak(engine.name()), limits, &ft, &fs, req, run)?
    };
    let mut out: Vec<Option<ScenarioResult>> = vec![None; trades.len()];
    for (i, r) in fused.into_iter().zip(fused_out) {
        out[i] = Some(r);
    }
    for (i, r) in naive.into_iter().zip(naive_out) {
        out[i] = Some(r);
    }
    out.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| EngineError::failed(leak(engine.name()), "a trade was not revalued"))
}
