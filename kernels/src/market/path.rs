//! A dated trade's path: its own time grid and, on it, each underlying's
//! market (drift from the curves, cash dividends, the volatility of its
//! model), ready for the dated pricer (`engine::cpu::dated`).
//!
//! **The time grid.** Every event date (fixings, ex-dates of the
//! underlyings' cash dividends, exercise dates, the expiry) is a node, and
//! each interval between consecutive nodes (from the valuation date) is
//! split into `ceil(dt x steps_per_year)` equal steps.
//!
//! **On each step** `t_i -> t_{i+1}`, for each underlying, `x = ln(S / S_0)`:
//!
//! - drift: `ln(F(t_{i+1}) / F(t_i))` of the curves (the discount curve's
//!   forward rate less the dividend yield's, integrated over the step), less
//!   half the step's variance;
//! - `black`: the step's variance is the forward variance `w(t_{i+1}) - w(t_i)`
//!   of the flat vol, or on a surface of the implied vol at the trade's strike
//!   (at the spot, for several underlyings) as a term structure;
//! - `local_vol`: the local variance looked up at `t_i` and the path's
//!   moneyness `x + ln(S_0 / F(t_i))` ([`super::local_vol`]), times the
//!   step;
//! - `heston`: full-truncation Euler ([`crate::model::Heston`]) with the
//!   curves' drift.
//!
//! At an ex-date the cash amount is taken off the spot (floored at zero)
//! before the node's fixing, exercise or expiry is observed. Several
//! underlyings' spot drivers are correlated by the market's correlations.
//!
//! **Moves** (Greeks' bumps, scenarios: [`DatedPath::moved`]) move what the
//! trade's model reads: a `vol` move shifts Heston's `sqrt(v0)` and
//! `sqrt(theta)` under `heston`, else the flat vol or every pillar of the
//! surface. A move the trade cannot take ([`MoveFailure`]) names the
//! underlying and the move's column, so a scenario file's error names its
//! row. A grid has at most [`MAX_GRID_STEPS`] steps.

use std::sync::Arc;

use super::dated::{DatedExercise, DatedPayoff, DatedTerms};
use super::local_vol::{LocalVolGrid, RowAt};
use super::{Market, Underlying, Vol};
use crate::correlation::Correlation;
use crate::instrument::TradeError;
use crate::payoff::{Monitoring, PayoffSpec};
use crate::scenario::MarketMove;

/// A dated trade resolved on its market (or a moved one).
#[derive(Clone, Debug, PartialEq)]
pub struct DatedPath {
    pub terms: DatedTerms,
    /// The market the trade was resolved on, unmoved: scenarios and Greeks
    /// move it.
    pub market: Arc<Market>,
    /// Node times, `t_0 = 0 < t_1 < ... < t_N` = the expiry.
    pub times: Vec<f64>,
    /// Per node: whether the payoff observes it.
    pub observe: Vec<bool>,
    /// How many nodes the payoff observes.
    pub observations: u32,
    /// Exercise nodes (indices into `times`), the expiry last; empty for a
    /// trade exercised at expiry only.
    pub exercise: Vec<u32>,
    pub assets: Vec<AssetPath>,
    /// Row-major lower factor of the underlyings' correlation.
    pub factor: Vec<f64>,
    /// Discount factor of the payment currency at each node.
    pub discount: Vec<f64>,
}

/// One underlying on a trade's grid.
#[derive(Clone, Debug, PartialEq)]
pub struct AssetPath {
    pub name: String,
    pub spot: f64,
    /// Per step: `ln(F(t_{i+1}) / F(t_i))` of the curves.
    pub carry: Vec<f64>,
    /// Per node: the cash dividend taken off the spot there (0: none).
    pub dividend: Vec<f64>,
    pub model: AssetModel,
}

/// How an underlying's variance evolves on the grid.
#[derive(Clone, Debug, PartialEq)]
pub enum AssetModel {
    /// Per step: the step's variance.
    Black {
        var: Vec<f64>,
    },
    /// Per step: where `t_i` falls in the grid, and `ln(S_0 / F(t_i))`.
    LocalVol {
        grid: Arc<LocalVolGrid>,
        at: Vec<RowAt>,
        kshift: Vec<f64>,
    },
    Heston(super::HestonParams),
}

impl AssetModel {
    /// Standard normals this underlying draws per step.
    pub fn normals(&self) -> usize {
        match self {
            AssetModel::Heston(_) => 2,
            _ => 1,
        }
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> TradeError {
    TradeError {
        field: field.into(),
        message: message.into(),
    }
}

/// The most steps a dated trade's grid may have. Every revaluation (a
/// Greek's bump, a scenario's move) holds its own per-step vectors (the
/// carry, the variance or the local-volatility rows, the discount
/// factors), so the grid's length bounds a trade's memory: 65,536 steps
/// (daily for 179 years) keep a trade under a few megabytes per
/// revaluation, where a million took gigabytes across a risk run's
/// scenarios.
pub const MAX_GRID_STEPS: usize = 1 << 16;

/// Builds the node times and the events on them.
struct Events {
    times: Vec<f64>,
    observe: Vec<bool>,
    exercise: Vec<u32>,
}

fn events(
    d: &DatedTerms,
    t: f64,
    fixings: &[f64],
    exercise: &[f64],
    dividends: &[f64],
    every_node: bool,
    american: bool,
) -> Result<Events, TradeError> {
    let mut ev: Vec<f64> = fixings
        .iter()
        .chain(exercise)
        .chain(dividends.iter().filter(|&&x| x <= t))
        .copied()
        .chain(std::iter::once(t))
        .collect();
    ev.sort_by(f64::total_cmp);
    ev.dedup();
    let mut times = vec![0.0];
    let mut prev = 0.0;
    for &e in &ev {
        let n = ((e - prev) * d.steps_per_year as f64).ceil().max(1.0) as usize;
        if times.len() + n > MAX_GRID_STEPS + 1 {
            return Err(err(
                "steps_per_year",
                format!(
                    "{} a year puts more than {MAX_GRID_STEPS} steps on the grid to the expiry: give fewer",
                    d.steps_per_year
                ),
            ));
        }
        for j in 1..n {
            times.push(prev + (e - prev) * j as f64 / n as f64);
        }
        times.push(e);
        prev = e;
    }
    let node = |x: f64| {
        times
            .iter()
            .position(|&y| y == x)
            .unwrap_or(times.len() - 1) as u32
    };
    let mut observe = vec![false; times.len()];
    if every_node {
        observe[1..].fill(true);
    } else {
        for &f in fixings {
            observe[node(f) as usize] = true;
        }
    }
    let exercise = if american {
        (1..times.len() as u32).collect()
    } else if exercise.is_empty() {
        Vec::new()
    } else {
        let mut e: Vec<u32> = exercise.iter().map(|&x| node(x)).collect();
        e.push(times.len() as u32 - 1);
        e.dedup();
        e
    };
    Ok(Events {
        times,
        observe,
        exercise,
    })
}

/// Reads a list of dates after the valuation date, in increasing order,
/// none after the expiry `t`.
fn dates_of(market: &Market, list: &[String], field: &str, t: f64) -> Result<Vec<f64>, TradeError> {
    let mut out: Vec<f64> = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let x = market.time_of(s, &f).map_err(|e| err(&f, e.message))?;
        if x > t {
            return Err(err(&f, format!("{s} is after the expiry")));
        }
        if out.last().is_some_and(|&p| x <= p) {
            return Err(err(
                &f,
                format!("{s}: dates must be in increasing order, each once"),
            ));
        }
        out.push(x);
    }
    Ok(out)
}

/// Why a market move cannot be applied to a dated trade: the underlying
/// it failed on (an index into the trade's underlyings), the move's
/// column (`spot`, `vol`, `rate`) and what is wrong, so that a scenario
/// file's error names its row and column.
#[derive(Clone, Debug, PartialEq)]
pub struct MoveFailure {
    pub asset: Option<usize>,
    pub column: Option<&'static str>,
    pub message: String,
}

impl std::fmt::Display for MoveFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Underlying `name` under `mv` (the Greeks' and scenarios' moves), with
/// its discount curve. A `vol` move shifts what the trade's model reads:
/// Heston's `sqrt(v0)` and `sqrt(theta)` under `heston`, else the flat vol
/// or every pillar of the surface (a move never fails on parameters the
/// model does not read). The error names the move's column.
pub fn moved_underlying(
    market: &Market,
    name: &str,
    mv: &MarketMove,
    heston: bool,
) -> Result<(Underlying, super::ZeroCurve), (&'static str, String)> {
    let Some(u) = market.underlyings.get(name) else {
        return Err(("spot", format!("{name:?} is not in the market file")));
    };
    let mut u = u.clone();
    let curve = market.discount_curve(&u).shifted(mv.rate);
    if mv.is_none() {
        return Ok((u, curve));
    }
    let spot = u.spot * (1.0 + mv.spot);
    if !(spot.is_finite() && spot > 0.0) {
        return Err((
            "spot",
            format!("moves {name}'s spot to {spot}: it must stay above 0"),
        ));
    }
    u.spot = spot;
    let shift = |v: f64, what: &str| -> Result<f64, (&'static str, String)> {
        let x = v + mv.vol;
        if x.is_finite() && x >= 0.0 {
            Ok(x)
        } else {
            Err((
                "vol",
                format!("moves {name}'s {what} to {x}: a volatility cannot be negative"),
            ))
        }
    };
    if mv.vol != 0.0 {
        if heston {
            if let Some(h) = &mut u.heston {
                h.v0 = shift(h.v0.sqrt(), "sqrt(v0)")?.powi(2);
                h.theta = shift(h.theta.sqrt(), "sqrt(theta)")?.powi(2);
            }
        } else {
            u.vol = match &u.vol {
                Vol::Flat(v) => Vol::Flat(shift(*v, "vol")?),
                Vol::Surface {
                    expiries,
                    strikes,
                    vols,
                } => Vol::Surface {
                    expiries: expiries.clone(),
                    strikes: strikes.clone(),
                    vols: vols
                        .iter()
                        .map(|r| r.iter().map(|v| shift(*v, "vol")).collect::<Result<_, _>>())
                        .collect::<Result<_, _>>()?,
                },
            };
        }
    }
    // Every pillar of the moved curve stays a rate (as the market file's).
    if mv.rate != 0.0 && !(curve.max_abs_rate() <= 1.0) {
        return Err((
            "rate",
            format!(
                "moves {name}'s curve to a zero rate of {:e}: rates stay within [-1, 1]",
                curve.max_abs_rate()
            ),
        ));
    }
    Ok((u, curve))
}

/// The smallest volatility a `vol` move of underlying `a` of `path`
/// shifts (the flat vol, the lowest pillar of a surface, or the lower of
/// Heston's `sqrt(v0)` and `sqrt(theta)`): a move down by more takes a vol
/// below zero.
pub fn smallest_moved_vol(path: &DatedPath, a: usize) -> f64 {
    let Some(u) = path.market.underlyings.get(&path.assets[a].name) else {
        return 0.0;
    };
    if let AssetModel::Heston(h) = &path.assets[a].model {
        return h.v0.sqrt().min(h.theta.sqrt());
    }
    match &u.vol {
        Vol::Flat(v) => *v,
        Vol::Surface { vols, .. } => vols.iter().flatten().fold(f64::INFINITY, |m, &v| m.min(v)),
    }
}

/// A failure of [`resolve_path`]: its error, and on a moved market the
/// underlying and the move's column it failed on.
struct Failure {
    err: TradeError,
    asset: Option<usize>,
    column: Option<&'static str>,
}

impl From<TradeError> for Failure {
    fn from(err: TradeError) -> Failure {
        Failure {
            err,
            asset: None,
            column: None,
        }
    }
}

/// Resolves a dated trade on `market` with each underlying moved by
/// `moves` (empty: none).
pub fn resolve_path(
    market: &Arc<Market>,
    d: &DatedTerms,
    moves: &[MarketMove],
) -> Result<DatedPath, TradeError> {
    resolve(market, d, moves).map_err(|f| f.err)
}

fn resolve(
    market: &Arc<Market>,
    d: &DatedTerms,
    moves: &[MarketMove],
) -> Result<DatedPath, Failure> {
    let t = market
        .time_of(&d.expiry, "expiry")
        .map_err(|e| err("expiry", e.message))?;
    let n = d.underlyings.len();
    // The moved underlyings and their one discount curve.
    let mut unders = Vec::with_capacity(n);
    let none = MarketMove::default();
    let heston = d.model.as_deref() == Some("heston");
    for (a, name) in d.underlyings.iter().enumerate() {
        let mv = moves.get(a).unwrap_or(&none);
        let (u, curve) =
            moved_underlying(market, name, mv, heston).map_err(|(column, m)| Failure {
                err: err(field_of(n, a), m),
                asset: Some(a),
                column: Some(column),
            })?;
        unders.push((u, curve, mv));
    }
    let ccy = &unders[0].0.currency;
    if let Some((a, (u, _, _))) = unders
        .iter()
        .enumerate()
        .find(|(_, (u, _, _))| u.currency != *ccy)
    {
        return Err(Failure::from(err(
            field_of(n, a),
            format!(
                "{} is in {} and {} in {}: a trade's underlyings share one currency (no quanto yet)",
                d.underlyings[0], ccy, d.underlyings[a], u.currency
            ),
        )));
    }
    // One currency: one rate move (a move of no rate excepted).
    let mut rates = unders
        .iter()
        .enumerate()
        .map(|(a, (_, _, m))| (a, m.rate))
        .filter(|(_, r)| *r != 0.0);
    let (first, dr) = rates.next().unwrap_or((0, 0.0));
    if let Some((a, r)) = rates.find(|(_, r)| *r != dr) {
        return Err(Failure {
            err: err(
                "underlyings",
                format!(
                    "moves the rate of {} by {r} and of {} by {dr}: a trade's underlyings share one curve, so their rate moves must agree",
                    d.underlyings[a], d.underlyings[first]
                ),
            ),
            asset: Some(a),
            column: Some("rate"),
        });
    }
    let curve = market.curves[ccy].shifted(dr);

    let fixings = match &d.fixings {
        Some(f) => dates_of(market, f, "fixings", t)?,
        None => Vec::new(),
    };
    let (exercise_dates, american) = match &d.exercise {
        None => (Vec::new(), false),
        Some(DatedExercise::American) => (Vec::new(), true),
        Some(DatedExercise::Bermudan(list)) => {
            if list.is_empty() {
                return Err(err("exercise.dates", "a bermudan needs at least one date").into());
            }
            (dates_of(market, list, "exercise.dates", t)?, false)
        }
    };
    let (every_node, wants_fixings) = match &d.payoff {
        DatedPayoff::One(p) => match p {
            PayoffSpec::European(_) | PayoffSpec::Digital(_) => (false, false),
            PayoffSpec::Asian(_) => (false, true),
            PayoffSpec::Barrier(b) if b.monitoring == Monitoring::Continuous => (true, false),
            PayoffSpec::DoubleBarrier(b) if b.monitoring == Monitoring::Continuous => (true, false),
            _ => (fixings.is_empty(), false),
        },
        DatedPayoff::Many(_) => (false, false),
    };
    match (&d.payoff, d.fixings.as_ref()) {
        (DatedPayoff::One(p), Some(f)) if !wants_fixings && (every_node || matches!(p, PayoffSpec::European(_) | PayoffSpec::Digital(_))) => {
            return Err(err(
                "fixings",
                format!(
                    "a {} payoff{} observes no fixings ({} given)",
                    p.name(),
                    if every_node { " monitored continuously" } else { "" },
                    f.len()
                ),
            ).into())
        }
        (DatedPayoff::Many(_), Some(_)) => {
            return Err(err("fixings", "a basket or rainbow is paid on the spots at expiry (or exercise): it observes no fixings").into())
        }
        (DatedPayoff::One(p), None) if wants_fixings => {
            return Err(err(
                "fixings",
                format!("an {} averages the spot at its fixings: give them (dates up to the expiry)", p.name()),
            ).into())
        }
        _ => {}
    }
    if wants_fixings && fixings.is_empty() {
        return Err(err("fixings", "an asian averages over at least one fixing").into());
    }
    let divs: Vec<f64> = unders
        .iter()
        .flat_map(|(u, _, _)| u.dividends.iter().map(|(te, _)| *te))
        .collect();
    let ev = events(d, t, &fixings, &exercise_dates, &divs, every_node, american)?;
    let times = ev.times;
    let observations = ev.observe.iter().filter(|&&o| o).count() as u32;
    if !ev.exercise.is_empty() {
        if let DatedPayoff::One(p) = &d.payoff {
            if !matches!(p, PayoffSpec::European(_)) {
                return Err(Failure::from(err(
                    "exercise",
                    format!(
                        "early exercise needs a payoff with an intrinsic value at every date (european, basket, rainbow), not `{}`",
                        p.name()
                    ),
                )));
            }
        }
        let states = ev.exercise.len() * (n + 1);
        if states > crate::multi::MAX_DATE_STATES {
            return Err(err(
                "exercise",
                format!(
                    "{} exercise dates on {n} underlying(s): at most {} (fewer steps_per_year for an american)",
                    ev.exercise.len(),
                    crate::multi::MAX_DATE_STATES / (n + 1)
                ),
            )
            .into());
        }
    }

    let strike = d.payoff.strike();
    let mut assets = Vec::with_capacity(n);
    for (a, (u, _, mv)) in unders.iter().enumerate() {
        let name = &d.underlyings[a];
        let at = |f: &str| {
            if n == 1 {
                f.to_string()
            } else {
                format!("{f}[{a}]")
            }
        };
        let q = |x: f64| u.dividend_yield.as_ref().map_or(0.0, |c| c.log_discount(x));
        // ln of the forward's growth without cash dividends: -ln DF + ln DFq
        // (`log_discount` is -ln DF).
        let lf = |x: f64| curve.log_discount(x) - q(x);
        let carry: Vec<f64> = times.windows(2).map(|w| lf(w[1]) - lf(w[0])).collect();
        let mut dividend = vec![0.0; times.len()];
        for (te, amount) in &u.dividends {
            if let Some(i) = times.iter().position(|x| x == te) {
                dividend[i] += amount;
            }
        }
        let model_name = d.model.as_deref();
        let moved_market;
        let mkt: &Market = if mv.is_none() && dr == 0.0 {
            market
        } else {
            // The moved underlying and curve alone: what its forward and
            // surface read.
            moved_market = Market {
                valuation_date: market.valuation_date,
                curves: [(ccy.clone(), curve.clone())].into(),
                underlyings: [(name.clone(), u.clone())].into(),
                correlations: Vec::new(),
                grids: market.grids.clone(),
            };
            &moved_market
        };
        let model = match (model_name, &u.vol) {
            (Some("heston"), _) => match u.heston {
                Some(h) => AssetModel::Heston(h),
                None => {
                    return Err(err(
                        "model",
                        format!(
                            "\"heston\": {name:?} has no `heston` parameters in the market file"
                        ),
                    )
                    .into())
                }
            },
            (_, Vol::Flat(v)) => AssetModel::Black {
                var: times.windows(2).map(|w| v * v * (w[1] - w[0])).collect(),
            },
            (_, Vol::Surface { .. }) if !u.dividends.is_empty() => {
                return Err(err(
                    field_of(n, a),
                    format!(
                        "{name:?} pays cash dividends and has a volatility surface: a trade on its surface ({}) is not supported yet; \"model\": \"heston\" takes the dividends",
                        model_name.unwrap_or("local_vol")
                    ),
                )
                .into())
            }
            (Some("black"), Vol::Surface { .. }) => {
                // The implied vol at the strike (at the spot for several
                // underlyings) as a term structure.
                let k = if n == 1 {
                    strike.unwrap_or(u.spot)
                } else {
                    u.spot
                };
                let w = |x: f64| {
                    if x <= 0.0 {
                        0.0
                    } else {
                        let v = mkt.implied_vol(u, k, x);
                        v * v * x
                    }
                };
                AssetModel::Black {
                    var: times
                        .windows(2)
                        .map(|s| (w(s[1]) - w(s[0])).max(0.0))
                        .collect(),
                }
            }
            (_, Vol::Surface { .. }) => {
                // The unmoved grid's key is [0; 3], as the market built it.
                let bits = |x: f64| if x == 0.0 { 0 } else { x.to_bits() };
                let key = [bits(mv.spot), bits(mv.vol), bits(dr)];
                let grid = market
                    .grids
                    .get(name, key, || LocalVolGrid::build(mkt, name, u))
                    .map_err(|e| Failure {
                        err: err(at("underlying"), e.to_string()),
                        asset: Some(a),
                        // The move that built this grid (a vol move first).
                        column: [("vol", mv.vol), ("spot", mv.spot), ("rate", dr)]
                            .iter()
                            .find(|(_, x)| *x != 0.0)
                            .map(|(c, _)| *c),
                    })?;
                let lf_total = |x: f64| (mkt.forward(u, x) / u.spot).ln();
                AssetModel::LocalVol {
                    at: times[..times.len() - 1]
                        .iter()
                        .map(|&x| grid.row_at(x))
                        .collect(),
                    kshift: times[..times.len() - 1]
                        .iter()
                        .map(|&x| -lf_total(x))
                        .collect(),
                    grid,
                }
            }
        };
        assets.push(AssetPath {
            name: name.clone(),
            spot: u.spot,
            carry,
            dividend,
            model,
        });
    }
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i == j {
                        1.0
                    } else {
                        market.correlation(&d.underlyings[i], &d.underlyings[j])
                    }
                })
                .collect()
        })
        .collect();
    let corr = Correlation::new(&rows, n).map_err(|e| {
        let pairs: Vec<String> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| format!("{}/{} {}", d.underlyings[i], d.underlyings[j], rows[i][j]))
            .collect();
        Failure::from(err(
            "underlyings",
            format!(
                "the market's correlations of these underlyings ({}): {e}",
                pairs.join(", ")
            ),
        ))
    })?;
    let discount = times.iter().map(|&x| curve.discount(x)).collect();
    Ok(DatedPath {
        terms: d.clone(),
        market: market.clone(),
        observe: ev.observe,
        observations,
        exercise: ev.exercise,
        assets,
        factor: corr.factor().to_vec(),
        discount,
        times,
    })
}

/// The field naming underlying `a` of `n`.
fn field_of(n: usize, a: usize) -> String {
    if n == 1 {
        "underlying".into()
    } else {
        format!("underlyings[{a}]")
    }
}

impl DatedPath {
    /// Steps of the grid.
    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }

    /// Standard normals per step: the spot drivers, then Heston's variance
    /// drivers.
    pub fn normals_per_step(&self) -> usize {
        self.assets.iter().map(|a| a.model.normals()).sum()
    }

    /// The trade under `moves`, one per underlying; a failure names the
    /// underlying and the move's column where it can.
    pub fn moved(&self, moves: &[MarketMove]) -> Result<DatedPath, MoveFailure> {
        resolve(&self.market, &self.terms, moves).map_err(|f| MoveFailure {
            asset: f.asset,
            column: f.column,
            message: if f.asset.is_some() {
                f.err.message
            } else {
                f.err.to_string()
            },
        })
    }
}
