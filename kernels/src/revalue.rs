//! Scenario revaluation on the Greeks machinery: a trade's base price and
//! its scenarios' P&L read off the same paths.
//!
//! A scenario is a bumped revaluation like a Greek's ([`crate::greeks`]):
//! its vol move is a model family evolved on the same normals
//! ([`MarketMove::apply`] of the vol part), its spot move a fold shifted by
//! `x0 = ln(1 + spot)`, its rate move a fold drifted by `dx = rate * dt`
//! and discounted at `r + rate` (sv_fx: its `drift` takes the shift and
//! nothing is discounted, as for rho). Its P&L is an output
//! `fold_scenario - fold_base`, so the standard error comes from the
//! per-path differences, far below that of two independent prices.
//!
//! **Passes.** The kernels carry at most [`OUTPUTS`] outputs and
//! [`MAX_FOLDS`] folds per path, and the GPU records [`MAX_FAMILIES`]
//! model families, so a trade's scenarios go in passes ([`PassLimits`]):
//! one pass per chunk of at most 5 scenarios (4 in the first, whose output
//! 0 is the base price). On the GPU engines a pass reads at most 2
//! vol-moved families besides the base one (so scenarios that each move
//! the vol differently go 2 a pass); the CPU kernel carries a family per
//! output, so its passes always take 5. Identical moves are priced once,
//! and scenarios are grouped by their vol move so that spot- and
//! rate-only scenarios share the base family. A scenario's per-path value
//! does not depend on the pass it lands in, so the engines agree whatever
//! their grouping. Every pass
//! draws the trade's own stream (counter-based Philox), so all passes are
//! on the same random numbers, and the plan depends only on the trade's
//! own scenarios: results are the same whatever batch or order the trades
//! come in. The passes of a whole batch of trades go to the engine as one
//! batch ([`fused_revalue`]), as a portfolio is priced.
//!
//! **What a pass saves.** A pass draws the normals and evolves the base
//! once for its scenarios; a spot or rate move then costs only its fold,
//! but a vol move re-evolves the path under its own model. On the CPU a
//! trade's passes (equal trades side by side in the batch) also run in
//! groups of [`crate::engine::cpu::lanes::GROUP`] over each block of paths,
//! the normals drawn and the base evolved once for the group
//! (`lanes::run_group`), each pass's sums the same bits as alone; an
//! sv_fx family whose `sigma` alone moves steps on the base's vol factor
//! (`PathModel::shares_aux`), and a pass's outputs are summed across the
//! lanes before the path-order sums. Where every scenario moves the vol
//! (W7's historical-like scenarios) that is about five and a half times
//! faster than one run per scenario (BENCHMARKS.md).
//!
//! **Fans.** On the CPU the scenarios that move only spots and rates do
//! not go in passes at all: [`Distinct`] and [`scenario_fold`] give their
//! folds to a fan (`engine::cpu::fan`), which evolves the base path once
//! for up to 511 of them and folds each on it, the same arithmetic as a
//! pass (but an arithmetic average's, see there); only the scenarios that
//! move a vol take passes (`engine::scenarios::revalue_split`). W7S (spot
//! and rate moves only) is then about twenty times faster than one run per
//! scenario (BENCHMARKS.md).
//!
//! Trades with an `extension` (several assets, early exercise) are not
//! revalued here: each moved trade is repriced on its own refitted policy
//! beside the base (see [`crate::scenario`]).

use std::collections::HashMap;

use crate::engine::{EngineError, PricingRequest, TradeResult};
use crate::greeks::{Fold, Greek, GreekSet, Revaluations, MAX_FAMILIES, MAX_FOLDS, OUTPUTS};
use crate::instrument::Trade;
use crate::model::ModelSpec;
use crate::scenario::{MarketMove, ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// What one pass may carry on an engine's kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassLimits {
    /// Model families, the base one included.
    pub families: usize,
    /// Folds, the base one included.
    pub folds: usize,
}

impl PassLimits {
    /// The GPU kernels' records: 3 families, 7 folds.
    pub const GPU: PassLimits = PassLimits {
        families: MAX_FAMILIES,
        folds: MAX_FOLDS,
    };
    /// The CPU kernel carries a family for each output
    /// (`engine::cpu::lanes::FAMILIES`): a pass takes 5 scenarios whatever
    /// their vol moves.
    pub const CPU: PassLimits = PassLimits {
        families: crate::engine::cpu::lanes::FAMILIES,
        folds: MAX_FOLDS,
    };
}

/// What one output of a pass estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The base price.
    Base,
    /// The P&L of the trade's `k`-th distinct move.
    Move(usize),
}

/// One pass over a trade's paths: its revaluations and what each output is.
#[derive(Clone, Debug, PartialEq)]
pub struct Pass {
    pub plan: Revaluations,
    pub slots: [Option<Slot>; OUTPUTS],
}

/// A trade's scenarios as passes over its paths.
#[derive(Clone, Debug, PartialEq)]
pub struct TradePasses {
    pub passes: Vec<Pass>,
    /// The distinct moves, and each scenario's.
    pub distinct: Distinct,
}

/// A scenario the trade cannot take.
fn bad(trade: &Trade, message: String) -> EngineError {
    EngineError::BadTrade {
        id: trade.id.clone(),
        message,
    }
}

/// The move of a one-asset trade in scenario `s` (from 0; `None`:
/// unmoved).
fn one_asset_move(
    trade: &Trade,
    s: usize,
    moves: &[MarketMove],
) -> Result<Option<MarketMove>, EngineError> {
    if moves.iter().all(MarketMove::is_none) {
        return Ok(None);
    }
    match moves {
        [m] => Ok(Some(*m)),
        _ => Err(bad(
            trade,
            format!(
                "in scenario {}: a one-asset trade got moves for {} assets",
                s + 1,
                moves.len()
            ),
        )),
    }
}

impl TradePasses {
    /// The passes that revalue `trade` (one asset, no extension) under
    /// `scenarios`: every move checked against the model.
    pub fn new(
        trade: &Trade,
        scenarios: &TradeScenarios,
        limits: PassLimits,
    ) -> Result<TradePasses, EngineError> {
        let distinct = Distinct::new(trade, scenarios)?;
        let passes = passes(trade, &distinct.moves, limits)?;
        Ok(TradePasses { passes, distinct })
    }
}

/// A trade's distinct scenario moves: identical moves are priced once.
#[derive(Clone, Debug, PartialEq)]
pub struct Distinct {
    /// The distinct moves, in order of first appearance.
    pub moves: Vec<MarketMove>,
    /// Per scenario: its distinct move, or `None` where nothing moves
    /// (its P&L is exactly 0).
    pub scenario_move: Vec<Option<usize>>,
}

impl Distinct {
    /// The distinct moves of `trade` (one asset) under `scenarios`, each
    /// checked against the model (an error names the scenario).
    pub fn new(trade: &Trade, scenarios: &TradeScenarios) -> Result<Distinct, EngineError> {
        let mut moves: Vec<MarketMove> = Vec::new();
        let mut scenario_move = Vec::with_capacity(scenarios.moves.len());
        // Equal moves by their numbers' bits (`+ 0.0` makes -0 and 0 one,
        // as `==` does; a move the model takes is finite): a look-up, not
        // a search, so a hundred thousand distinct scenarios stay cheap.
        let key = |m: &MarketMove| [m.spot, m.vol, m.rate].map(|x| (x + 0.0).to_bits());
        let mut seen: HashMap<[u64; 3], usize> = HashMap::new();
        for (s, m) in scenarios.moves.iter().enumerate() {
            let Some(m) = one_asset_move(trade, s, m)? else {
                scenario_move.push(None);
                continue;
            };
            m.apply(&trade.model)
                .map_err(|e| bad(trade, format!("in scenario {}: {e}", s + 1)))?;
            let k = *seen.entry(key(&m)).or_insert_with(|| {
                moves.push(m);
                moves.len() - 1
            });
            scenario_move.push(Some(k));
        }
        Ok(Distinct {
            moves,
            scenario_move,
        })
    }

    /// The trade's result from its base price and each distinct move's
    /// P&L (`None`: not priced, an engine's fault).
    pub fn result(
        &self,
        trade: &Trade,
        base: Option<Estimate>,
        pnl_of: &[Option<Estimate>],
        seconds: f64,
    ) -> Result<ScenarioResult, EngineError> {
        let pnl = self
            .scenario_move
            .iter()
            .map(|m| match m {
                None => Some(Estimate::ZERO),
                Some(k) => pnl_of.get(*k).copied().flatten(),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(trade, "a scenario pass returned no P&L".into()))?;
        Ok(ScenarioResult {
            base: base.ok_or_else(|| bad(trade, "the base pass returned no price".into()))?,
            pnl,
            paths: trade.paths,
            seconds,
        })
    }
}

/// The fold that reads `trade`'s base price off its base family.
pub fn base_fold(trade: &Trade) -> Fold {
    Fold {
        family: 0,
        x0: 0.0,
        dx: 0.0,
        discount: (-trade.model.discount_rate() * trade.maturity).exp(),
    }
}

/// The fold of move `m`'s spot and rate parts on model family `family`:
/// the spot shifts the log-spot by `ln(1 + spot)`, the rate drifts it by
/// `rate dt` a step and discounts at `r + rate` (sv_fx: its `drift` takes
/// the shift and nothing is discounted, as for rho).
pub fn scenario_fold(trade: &Trade, m: &MarketMove, family: usize) -> Fold {
    let t = trade.maturity;
    let dt = t / trade.steps as f64;
    let r = trade.model.discount_rate();
    let discounted = !matches!(trade.model, ModelSpec::SvFx(_));
    let dr = if discounted { m.rate } else { 0.0 };
    Fold {
        family,
        x0: (1.0 + m.spot).ln(),
        dx: m.rate * dt,
        discount: (-(r + dr) * t).exp(),
    }
}

/// The distinct `moves` of `trade` packed into passes, grouped by vol move
/// (the unmoved vol first, so it shares the base family).
fn passes(
    trade: &Trade,
    moves: &[MarketMove],
    limits: PassLimits,
) -> Result<Vec<Pass>, EngineError> {
    let model = &trade.model;
    let base_fold = base_fold(trade);

    // Vol groups in order of first appearance, the unmoved one first.
    let mut vols: Vec<f64> = vec![0.0];
    for m in moves {
        if !vols.contains(&m.vol) {
            vols.push(m.vol);
        }
    }
    let mut order: Vec<usize> = Vec::with_capacity(moves.len());
    for v in &vols {
        order.extend((0..moves.len()).filter(|&k| moves[k].vol == *v));
    }

    let new_pass = |first: bool| {
        let mut coef = [[0.0; MAX_FOLDS]; OUTPUTS];
        let mut active = [false; OUTPUTS];
        let mut slots = [None; OUTPUTS];
        if first {
            coef[0][0] = 1.0;
            active[0] = true;
            slots[0] = Some(Slot::Base);
        }
        Pass {
            plan: Revaluations {
                families: vec![model.clone()],
                folds: vec![base_fold],
                coef,
                active,
                tangents: None,
                likelihood: [None; OUTPUTS],
                estimators: [None; 4],
            },
            slots,
        }
    };
    let mut out = vec![new_pass(true)];
    // Family vol moves of the current pass (index 0: the base, vol 0).
    let mut family_vols: Vec<f64> = vec![0.0];
    for k in order {
        let m = moves[k];
        let fits = |p: &Pass, fv: &[f64]| {
            p.slots.iter().any(Option::is_none)
                && p.plan.folds.len() < limits.folds.min(MAX_FOLDS)
                && (fv.contains(&m.vol) || fv.len() < limits.families)
        };
        if !fits(out.last().expect("one pass at least"), &family_vols) {
            out.push(new_pass(false));
            family_vols = vec![0.0];
        }
        let pass = out.last_mut().expect("one pass at least");
        let family = match family_vols.iter().position(|v| *v == m.vol) {
            Some(f) => f,
            None => {
                let vol_only = MarketMove {
                    vol: m.vol,
                    ..Default::default()
                };
                let moved = vol_only
                    .apply(model)
                    .map_err(|e| bad(trade, format!("in a scenario: {e}")))?;
                pass.plan.families.push(moved);
                family_vols.push(m.vol);
                family_vols.len() - 1
            }
        };
        let fold = pass.plan.folds.len();
        pass.plan.folds.push(scenario_fold(trade, &m, family));
        let q = pass
            .slots
            .iter()
            .position(Option::is_none)
            .expect("the pass has a free output");
        pass.slots[q] = Some(Slot::Move(k));
        pass.plan.active[q] = true;
        pass.plan.coef[q][fold] = 1.0;
        pass.plan.coef[q][0] = -1.0;
    }
    Ok(out)
}

/// The request a pass batch is priced under: every output read back
/// (`TradeResult::pv` is output 0, each Greek's slot the others).
fn pass_request(req: &PricingRequest) -> PricingRequest {
    PricingRequest {
        greeks: GreekSet(Greek::ALL.to_vec()),
        ..req.clone()
    }
}

/// Output `q` of a pass's result.
fn output(r: &TradeResult, q: usize) -> Option<Estimate> {
    if q == 0 {
        Some(r.pv)
    } else {
        Greek::ALL
            .iter()
            .find(|g| g.slot() == q)
            .and_then(|g| r.greek(*g))
    }
}

/// Revalues one-asset trades without extension by their passes, all
/// priced as one batch by `run(trades, plans, req)` (an engine's pricing
/// with the given revaluations in place of the request's Greeks; `req`
/// asks for every output). `scenarios[i]` is `trades[i]`'s.
pub fn fused_revalue(
    engine: &'static str,
    limits: PassLimits,
    trades: &[Trade],
    scenarios: &[TradeScenarios],
    req: &PricingRequest,
    run: impl FnOnce(
        &[Trade],
        &[Revaluations],
        &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError>,
) -> Result<Vec<ScenarioResult>, EngineError> {
    let planned: Vec<TradePasses> = trades
        .iter()
        .zip(scenarios)
        .map(|(t, s)| TradePasses::new(t, s, limits))
        .collect::<Result<_, _>>()?;
    let mut batch = Vec::new();
    let mut plans = Vec::new();
    for (t, p) in trades.iter().zip(&planned) {
        for pass in &p.passes {
            batch.push(t.clone());
            plans.push(pass.plan.clone());
        }
    }
    let results = run(&batch, &plans, &pass_request(req))?;
    if results.len() != batch.len() {
        return Err(EngineError::failed(
            engine,
            format!(
                "{} results for {} scenario passes",
                results.len(),
                batch.len()
            ),
        ));
    }
    let mut results = results.into_iter();
    let mut out = Vec::with_capacity(trades.len());
    for (t, p) in trades.iter().zip(&planned) {
        let mut base = None;
        let mut pnl_of = vec![None; p.distinct.moves.len()];
        let mut seconds = 0.0;
        for pass in &p.passes {
            let r = results.next().expect("one result per pass, checked");
            seconds += r.seconds;
            for (q, slot) in pass.slots.iter().enumerate() {
                match slot {
                    Some(Slot::Base) => base = output(&r, q),
                    Some(Slot::Move(k)) => pnl_of[*k] = output(&r, q),
                    None => {}
                }
            }
        }
        out.push(p.distinct.result(t, base, &pnl_of, seconds)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Gbm;
    use crate::payoff::{European, OptionType, PayoffSpec};

    fn gbm_trade() -> Trade {
        Trade {
            rng: None,
            id: "t".into(),
            stream: 1,
            model: ModelSpec::Gbm(Gbm {
                spot: 100.0,
                rate: 0.02,
                dividend: 0.0,
                vol: 0.2,
            }),
            payoff: PayoffSpec::European(European {
                option: OptionType::Call,
                strike: 100.0,
            }),
            maturity: 1.0,
            steps: 4,
            paths: 1000,
            extension: None,
            dated: None,
        }
    }

    fn mv(spot: f64, vol: f64, rate: f64) -> Vec<MarketMove> {
        vec![MarketMove { spot, vol, rate }]
    }

    #[test]
    fn passes_respect_the_kernel_limits_and_share_families() {
        // 12 scenarios: 6 spot-only, 3 at vol +0.05, 2 at vol -0.05, one
        // unmoved, one repeat of the first.
        let mut moves: Vec<Vec<MarketMove>> =
            (1..=6).map(|i| mv(0.01 * i as f64, 0.0, 0.0)).collect();
        moves.extend((1..=3).map(|i| mv(0.0, 0.05, 0.001 * i as f64)));
        moves.extend((1..=2).map(|i| mv(-0.01 * i as f64, -0.05, 0.0)));
        moves.push(vec![MarketMove::default()]);
        moves.push(mv(0.01, 0.0, 0.0));
        let p = TradePasses::new(
            &gbm_trade(),
            &TradeScenarios {
                moves: moves.clone(),
            },
            PassLimits::GPU,
        )
        .unwrap();
        assert_eq!(p.distinct.moves.len(), 11);
        assert_eq!(p.distinct.scenario_move[11], None);
        assert_eq!(p.distinct.scenario_move[12], p.distinct.scenario_move[0]);
        // 1 base + 11 moves in outputs of 5: three passes.
        assert_eq!(p.passes.len(), 3);
        let mut seen = vec![0; 11];
        for pass in &p.passes {
            assert!(pass.plan.families.len() <= MAX_FAMILIES);
            assert!(pass.plan.folds.len() <= MAX_FOLDS);
            for (q, s) in pass.slots.iter().enumerate() {
                if let Some(Slot::Move(k)) = s {
                    seen[*k] += 1;
                    let f = pass.plan.coef[q].iter().position(|&c| c == 1.0).unwrap();
                    let fold = pass.plan.folds[f];
                    assert_eq!(pass.plan.coef[q][0], -1.0);
                    let m = p.distinct.moves[*k];
                    assert!((fold.x0 - (1.0 + m.spot).ln()).abs() < 1e-15);
                    assert!((fold.dx - m.rate / 4.0).abs() < 1e-15);
                    assert!((fold.discount - (-(0.02 + m.rate)).exp()).abs() < 1e-15);
                    // Spot- and rate-only moves read the base family.
                    assert_eq!(fold.family == 0, m.vol == 0.0);
                }
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
        assert_eq!(p.passes[0].slots[0], Some(Slot::Base));
        // The same on the CPU's limits: the same three passes (outputs
        // bind), up to 5 families each.
        let c = TradePasses::new(&gbm_trade(), &TradeScenarios { moves }, PassLimits::CPU).unwrap();
        assert_eq!(c.passes.len(), 3);
    }

    #[test]
    fn scenarios_each_moving_the_vol_fill_a_cpu_pass_but_not_a_gpu_one() {
        let moves: Vec<Vec<MarketMove>> =
            (1..=14).map(|i| mv(0.0, 0.001 * i as f64, 0.0)).collect();
        let sc = TradeScenarios { moves };
        let gpu = TradePasses::new(&gbm_trade(), &sc, PassLimits::GPU).unwrap();
        let cpu = TradePasses::new(&gbm_trade(), &sc, PassLimits::CPU).unwrap();
        // GPU: 2 scenarios a pass; CPU: 4, then 5 a pass.
        assert_eq!((gpu.passes.len(), cpu.passes.len()), (7, 3));
        assert!(cpu
            .passes
            .iter()
            .all(|p| p.plan.families.len() <= PassLimits::CPU.families));
        assert_eq!(cpu.passes[1].plan.families.len(), 6);
    }

    #[test]
    fn a_bad_move_names_the_scenario() {
        let moves = vec![mv(0.1, 0.0, 0.0), mv(-1.5, 0.0, 0.0)];
        let e =
            TradePasses::new(&gbm_trade(), &TradeScenarios { moves }, PassLimits::CPU).unwrap_err();
        assert!(e.to_string().contains("scenario 2"), "{e}");
        let moves = vec![vec![MarketMove::default(), mv(0.1, 0.0, 0.0)[0]]];
        assert!(
            TradePasses::new(&gbm_trade(), &TradeScenarios { moves }, PassLimits::CPU).is_err()
        );
    }
}
