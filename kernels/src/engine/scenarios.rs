//! How an engine revalues trades under scenarios: one full run per
//! scenario ([`naive_revalue`], the trait's default and the reference the
//! tests hold the others to), scenario passes split from the trades with
//! an extension ([`revalue_split`]), and the GPU engines' use of it
//! ([`gpu_revalue`]).

use super::request::leak;
use super::{Engine, EngineError, PricingRequest, TradeResult};
use crate::greeks::GreekSet;
use crate::greeks::Revaluations;
use crate::instrument::Trade;
use crate::scenario::{moved_trade, Knocked, MarketMove, ScenarioResult, TradeScenarios};
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
                pnl.push(Estimate::ZERO);
                continue;
            }
            let mut moved = moved_trade(t, moves).map_err(|e| EngineError::BadTrade {
                id: t.id.clone(),
                message: format!("in a scenario, {e}"),
            })?;
            // A barrier the move crossed knocks the payoff, as in
            // `settle_knocks`.
            let knock = moved
                .extension
                .is_none()
                .then(|| crate::scenario::knocked(&moved.payoff, moved.model.spot()))
                .flatten();
            match knock {
                Some(Knocked::Out { rebate }) => {
                    let value = Knocked::rebate_value(rebate, &moved.model, t.maturity);
                    pnl.push(Estimate {
                        value: value - b.pv.value,
                        stderr: b.pv.stderr,
                    });
                    continue;
                }
                Some(Knocked::In(payoff)) => moved.payoff = payoff,
                None => {}
            }
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
/// [`revalue_split`] within [`crate::revalue::PassLimits::GPU`], so each
/// engine names only how it prices trades with given revaluations (`run`)
/// and how it revalues the trades with an extension (`extended`:
/// [`crate::gpu::extension::revalue_extended`]).
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
    extended: Extended<'_>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    revalue_split(
        engine,
        crate::revalue::PassLimits::GPU,
        trades,
        scenarios,
        req,
        run,
        extended,
        None,
    )
}

/// A scenario that moves a one-asset trade's spot to or through a barrier
/// of its payoff ([`crate::scenario::knocked`]): which trade and scenario,
/// what the payoff became, and the model in that scenario.
struct Knock {
    trade: usize,
    scenario: usize,
    knocked: Knocked,
    model: crate::model::ModelSpec,
}

/// Takes the scenarios that knock a barrier out of `scenarios` (left
/// unmoved there, so the scenario passes never see a spot past a barrier),
/// to be valued by [`settle_knocks`].
fn take_knocks(trades: &[Trade], scenarios: &mut [TradeScenarios]) -> Vec<Knock> {
    let mut knocks = Vec::new();
    for (i, (t, sc)) in trades.iter().zip(scenarios.iter_mut()).enumerate() {
        for (s, moves) in sc.moves.iter_mut().enumerate() {
            let [m] = moves.as_slice() else { continue };
            let Ok(model) = m.apply(&t.model) else {
                continue; // the passes name the bad move
            };
            if let Some(knocked) = crate::scenario::knocked(&t.payoff, model.spot()) {
                knocks.push(Knock {
                    trade: i,
                    scenario: s,
                    knocked,
                    model,
                });
                *moves = vec![MarketMove::default()];
            }
        }
    }
    knocks
}

/// The P&L of each knocked scenario against the trade's base price:
/// knocked out, the rebate paid at maturity, discounted at the scenario's
/// rate (no random part: the error is the base's); knocked in, the
/// European option in that scenario, priced on its own paths (one run for
/// them all; the error combines both runs' as for independent ones).
fn settle_knocks<E: Engine + ?Sized>(
    engine: &E,
    trades: &[Trade],
    knocks: Vec<Knock>,
    out: &mut [ScenarioResult],
    req: &PricingRequest,
) -> Result<(), EngineError> {
    let mut vanilla = Vec::new();
    let mut at = Vec::new();
    for k in knocks {
        let r = &mut out[k.trade];
        match k.knocked {
            Knocked::Out { rebate } => {
                let value = Knocked::rebate_value(rebate, &k.model, trades[k.trade].maturity);
                r.pnl[k.scenario] = Estimate {
                    value: value - r.base.value,
                    stderr: r.base.stderr,
                };
            }
            Knocked::In(payoff) => {
                vanilla.push(Trade {
                    model: k.model,
                    payoff,
                    ..trades[k.trade].clone()
                });
                at.push((k.trade, k.scenario));
            }
        }
    }
    if vanilla.is_empty() {
        return Ok(());
    }
    let plain = PricingRequest {
        greeks: GreekSet::default(),
        ..req.clone()
    };
    let priced = engine.price(&vanilla, &plain)?;
    for ((i, s), v) in at.into_iter().zip(priced) {
        let r = &mut out[i];
        r.pnl[s] = Estimate {
            value: v.pv.value - r.base.value,
            stderr: v.pv.stderr.hypot(r.base.stderr),
        };
        r.seconds += v.seconds;
    }
    Ok(())
}

/// What revalues the trades with an extension (several assets, early
/// exercise) for [`revalue_split`].
pub type Extended<'a> =
    Box<dyn FnOnce(&[Trade], &[TradeScenarios]) -> Result<Vec<ScenarioResult>, EngineError> + 'a>;

/// Whether a scenario of a one-asset trade moves its vol (the scenario
/// passes' work on an engine with fans; every other scenario fans).
fn moves_vol(moves: &[MarketMove]) -> bool {
    matches!(moves, [m] if m.vol != 0.0)
}

/// The one-asset `trades` revalued on an engine with `fans`: every
/// scenario that leaves the vol alone by the fans, the scenarios that move
/// it by passes (`run`), each scenario's P&L from where it was priced.
/// Which way a scenario goes depends on its own move only, so its bits do
/// not depend on the trade's other scenarios.
fn fan_and_pass(
    engine: &'static str,
    limits: crate::revalue::PassLimits,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: impl FnOnce(
        &[Trade],
        &[Revaluations],
        &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>,
    fans: Fans<'_>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    // Every trade's moves checked in order first, so the first bad
    // scenario is named whichever way it would have gone (as the passes
    // alone name it).
    for (t, s) in trades.iter().zip(scenarios) {
        crate::revalue::Distinct::new(t, s)?;
    }
    let unmoved = || vec![MarketMove::default()];
    // Each trade's scenarios split in two lists of the same length (a
    // scenario priced elsewhere is unmoved in the other), so errors name
    // the scenario's own number.
    let keep = |sc: &TradeScenarios, vol: bool| TradeScenarios {
        moves: sc
            .moves
            .iter()
            .map(|m| {
                if moves_vol(m) == vol {
                    m.clone()
                } else {
                    unmoved()
                }
            })
            .collect(),
    };
    let moved = |m: &[MarketMove]| !m.iter().all(MarketMove::is_none);
    // A trade fans where a scenario that leaves the vol alone moves it, or
    // where none moves its vol (the fan gives the base price); it takes
    // passes where a scenario moves its vol (their first gives the base
    // price where it does not fan: the same bits).
    let fanned: Vec<usize> = (0..trades.len())
        .filter(|&i| {
            let m = &scenarios[i].moves;
            m.iter().any(|m| !moves_vol(m) && moved(m)) || !m.iter().any(|m| moves_vol(m))
        })
        .collect();
    let passed: Vec<usize> = (0..trades.len())
        .filter(|&i| scenarios[i].moves.iter().any(|m| moves_vol(m)))
        .collect();
    let mut out: Vec<Option<ScenarioResult>> = vec![None; trades.len()];
    if !fanned.is_empty() {
        let (ft, fs): (Vec<Trade>, Vec<TradeScenarios>) = fanned
            .iter()
            .map(|&i| (trades[i].clone(), keep(&scenarios[i], false)))
            .unzip();
        let results = fans(&ft, &fs)?;
        if results.len() != ft.len() {
            return Err(EngineError::failed(
                engine,
                format!("{} fan results for {} trades", results.len(), ft.len()),
            ));
        }
        for (&i, r) in fanned.iter().zip(results) {
            out[i] = Some(r);
        }
    }
    if !passed.is_empty() {
        let (pt, ps): (Vec<Trade>, Vec<TradeScenarios>) = passed
            .iter()
            .map(|&i| (trades[i].clone(), keep(&scenarios[i], true)))
            .unzip();
        let passes = crate::revalue::fused_revalue(engine, limits, &pt, &ps, req, run)?;
        for (&i, p) in passed.iter().zip(passes) {
            match &mut out[i] {
                None => out[i] = Some(p),
                Some(r) => {
                    for (s, m) in scenarios[i].moves.iter().enumerate() {
                        if moves_vol(m) {
                            if let (Some(to), Some(from)) = (r.pnl.get_mut(s), p.pnl.get(s)) {
                                *to = *from;
                            }
                        }
                    }
                    r.seconds += p.seconds;
                }
            }
        }
    }
    out.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| EngineError::failed(engine, "a trade was not revalued"))
}

/// What revalues, on an engine with scenario fans (the CPU's,
/// `engine::cpu::fan`), one-asset trades under scenarios that move spots
/// and rates (none moves a vol): every scenario folded on the trade's base
/// path, a result for each trade.
pub type Fans<'a> =
    Box<dyn FnOnce(&[Trade], &[TradeScenarios]) -> Result<Vec<ScenarioResult>, EngineError> + 'a>;

/// [`Engine::revalue`] of an engine that can price trades with given
/// revaluations (`run`, see [`crate::revalue::fused_revalue`]): one-asset
/// trades without extension by their scenario passes within `limits`, all
/// in one batch; trades with an extension by `extended` (the CPU engine's
/// early-exercise pricer in one pass; the GPU engines' scenario records, to
/// its contract); where the engine has `fans`, the one-asset trades'
/// scenarios that leave the vol alone by them, the others by passes.
/// Results come back in the order of `trades`.
#[allow(clippy::too_many_arguments)]
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
    fans: Option<Fans<'_>>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    if trades.len() != scenarios.len() {
        return naive_revalue(engine, trades, scenarios, req);
    }
    let (mut fused, mut naive) = (Vec::new(), Vec::new());
    for (i, t) in trades.iter().enumerate() {
        if t.extension.is_some() || t.dated.is_some() {
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
    let (ft, mut fs) = pick(&fused);
    let knocks = take_knocks(&ft, &mut fs);
    let mut fused_out = match fans {
        _ if ft.is_empty() => Vec::new(),
        Some(fans) => fan_and_pass(leak(engine.name()), limits, &ft, &fs, req, run, fans)?,
        None => crate::revalue::fused_revalue(leak(engine.name()), limits, &ft, &fs, req, run)?,
    };
    settle_knocks(engine, &ft, knocks, &mut fused_out, req)?;
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
