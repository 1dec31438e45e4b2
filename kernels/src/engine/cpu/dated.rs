//! The dated pricer: trades priced on their own time grid through the
//! market ([`crate::market::path`]): fixings, dated barriers, cash
//! dividends, local volatility, curves, dated early exercise and several
//! correlated underlyings. f64 path state whatever `--precision` says.
//!
//! **Streams.** A path draws its normals in order, step by step: per step
//! the underlyings' spot drivers, then the Heston underlyings' variance
//! drivers, four to a Philox block of the trade's stream (path `p`, blocks
//! `0, 1, ...`), f64 Box-Muller; antithetic pairs negate them. The spot
//! drivers are correlated by the lower factor of the market's correlations.
//! On Sobol points (`crate::qmc`) the same normals are each replicate's
//! points through the bridge on the grid's step index, `steps x normals a
//! step` dimensions; the regression paths stay Philox's, and a Sobol trade
//! comes here whole: its policies are fitted once and each replicate is
//! priced on them ([`replicate_totals`]).
//!
//! **Lanes.** Four paths are walked side by side ([`LANES`]), each doing
//! exactly one path's arithmetic, so results do not depend on it; a local
//! volatility step's lookup (the log-spot picks the column that moves it)
//! then waits behind the other lanes' rather than stalling the core.
//!
//! **Revaluations.** Every revaluation is a *family*: the trade resolved
//! on a moved market (a Greek's bump, a scenario's move), evolved on the
//! same normals as the base. Greeks are central differences of families
//! (delta and gamma: the spot times `1 +- h`; vega: every vol of the
//! underlying the trade's model reads shifted by `+- h` times its reference
//! vol, the implied vol at the trade's strike and expiry or Heston's
//! `sqrt(v0)`, but never by half the smallest of those vols or more, so
//! none goes below zero; a forward difference where that smallest vol is
//! 0, as a Heston `theta` of 0; rho: the currency's curve shifted by
//! `+- dr`); a scenario's P&L is its family's value less the base's, path
//! by path. A family whose spot is at or through a barrier of the payoff
//! is knocked at once, as an inline trade in a scenario
//! ([`crate::scenario::knocked`]).
//!
//! **Cash dividends and continuous barriers.** The Brownian bridge of a
//! step ending on an ex-date runs to the spot before the dividend; the
//! spot after it is then checked against the barrier: the drop is a jump,
//! which diffusion's bridge would count as a likely crossing.
//!
//! **Early exercise.** Longstaff-Schwartz as the early-exercise pricer
//! (`super::extension`): the policy is fitted on the host over the trade's
//! regression stream at the exercise nodes, discounting on the curve. A
//! Greek's family exercises by the base policy in its own state; a
//! scenario's family by its own policy, refitted on its market over the
//! same regression normals.

use std::sync::Arc;

use rayon::prelude::*;

use super::extension::Acc;
use super::CHUNK;
use crate::engine::{replicates, AssetGreeks, EngineError, PricingRequest, TradeResult};
use crate::exercise::{fit, Policy, RegressionPaths};
use crate::greeks::Greek;
use crate::instrument::Trade;
use crate::market::dated::DatedPayoff;
use crate::market::local_vol::NODES;
use crate::market::path::{smallest_moved_vol, AssetModel, DatedPath};
use crate::market::Vol;
use crate::multi::{regression_paths, regression_stream, MultiPayoff};
use crate::payoff::{Monitoring, PathPayoff, PayoffSpec, PayoffStep, PayoffVisitor};
use crate::qmc::{LaneScratch, Rng, SobolDraws};
use crate::real::Real;
use crate::rng::{counter, key_of, philox4x32_10};
use crate::scenario::{distinct_moves, Knocked, MarketMove, ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// Whether a trade goes to this pricer.
pub(crate) fn takes(trade: &Trade) -> bool {
    trade.dated.is_some()
}

/// One revaluation: the trade on one (moved) market.
pub(crate) struct Family {
    pub(crate) path: Arc<DatedPath>,
    /// The payoff on one underlying, prepared at this family's spot.
    one: Option<PayoffStep<f64>>,
    /// A barrier this family's spot is at or through (a scenario's move, a
    /// Greek's bump) knocked it at once, as for inline trades
    /// ([`crate::scenario::knocked`]): knocked out, its rebate paid at
    /// expiry is all it is worth (a knock-in is `one`, its European).
    rebate: Option<f64>,
    /// A continuously monitored barrier: at an ex-date its Brownian bridge
    /// runs to the spot before the dividend, and the spot after it is then
    /// checked against the barrier (the drop is a jump, not diffusion).
    bridge: bool,
    /// The intrinsic value of an exercisable or several-underlying payoff.
    pub(crate) many: Option<MultiPayoff>,
    /// Which family's policy exercises it, and the spots its states are
    /// normalised by.
    pub(crate) policy: Option<usize>,
    pub(crate) norm: Vec<f64>,
    /// Per underlying under local volatility: its grid read at each step's
    /// time, times the step (`steps x NODES`), so a step looks up one row.
    tables: Vec<Option<Vec<f64>>>,
}

/// The most values (f64) a trade's per-step local-volatility tables may
/// hold across its revaluations (256 MB): past it, a revaluation looks its
/// rows up on the grid at every step (the same values, computed per path:
/// slower, in constant memory), so a long grid under many scenarios cannot
/// exhaust the memory.
const TABLE_BUDGET: usize = 1 << 25;

/// The values [`step_tables`] would hold for `path`.
fn table_size(path: &DatedPath) -> usize {
    let lv = path
        .assets
        .iter()
        .filter(|a| matches!(a.model, AssetModel::LocalVol { .. }))
        .count();
    lv * path.steps() * NODES
}

/// Per underlying of `path` under local volatility, each step's row of
/// local volatility times the root of the step: the grid's two rows around
/// the step's time, interpolated once per trade rather than once per path.
pub(crate) fn step_tables(path: &DatedPath) -> Vec<Option<Vec<f64>>> {
    path.assets
        .iter()
        .map(|a| {
            let AssetModel::LocalVol { grid, at, .. } = &a.model else {
                return None;
            };
            let mut t = Vec::with_capacity(at.len() * NODES);
            for (i, r) in at.iter().enumerate() {
                let sd = (path.times[i + 1] - path.times[i]).sqrt();
                t.extend((0..NODES).map(|c| grid.vol_between(*r, c) * sd));
            }
            Some(t)
        })
        .collect()
}

/// A dated trade ready to price: its families and how its outputs combine them.
pub(crate) struct Pricer {
    pub(crate) families: Vec<Family>,
    pub(crate) policies: Vec<Option<Policy>>,
    /// `outputs[q] = sum_f coef[q][f] value[f]`.
    coef: Vec<Vec<f64>>,
    key: [u32; 2],
    stream: u64,
    antithetic: bool,
    pub(crate) fit_seconds: f64,
}

fn bad(trade: &Trade, message: impl Into<String>) -> EngineError {
    EngineError::BadTrade {
        id: trade.id.clone(),
        message: message.into(),
    }
}

impl Family {
    fn new(path: Arc<DatedPath>, tables: bool) -> Family {
        let mut rebate = None;
        let (one, many) = match &path.terms.payoff {
            DatedPayoff::One(p) if path.exercise.is_empty() => {
                let spot = path.assets[0].spot;
                let (p, r) = at_spot(p, spot);
                rebate = r;
                (Some(p.prepare::<f64>(spot, path.observations.max(1))), None)
            }
            DatedPayoff::One(PayoffSpec::European(e)) => (
                None,
                Some(MultiPayoff::Basket {
                    option: e.option,
                    strike: e.strike,
                    weights: vec![1.0],
                }),
            ),
            DatedPayoff::One(p) => (
                Some(p.prepare::<f64>(path.assets[0].spot, path.observations.max(1))),
                None,
            ),
            DatedPayoff::Many(m) => (None, Some(m.clone())),
        };
        let norm = path.assets.iter().map(|a| a.spot).collect();
        let bridge = bridges(&path);
        Family {
            tables: if tables {
                step_tables(&path)
            } else {
                vec![None; path.assets.len()]
            },
            path,
            one,
            rebate,
            bridge,
            many,
            policy: None,
            norm,
        }
    }
}

/// A one-underlying payoff as a family whose spot is `spot` values it: a
/// barrier the spot is at or through has knocked ([`crate::scenario::knocked`]):
/// knocked out, the payoff with the rebate it pays at expiry; knocked in,
/// its European.
pub(crate) fn at_spot(p: &PayoffSpec, spot: f64) -> (PayoffSpec, Option<f64>) {
    match crate::scenario::knocked(p, spot) {
        None => (p.clone(), None),
        Some(Knocked::Out { rebate }) => (p.clone(), Some(rebate)),
        Some(Knocked::In(european)) => (european, None),
    }
}

/// Whether `path`'s payoff is a continuously monitored barrier: at an
/// ex-date its Brownian bridge runs to the spot before the dividend, and
/// the spot after it is then checked alone.
pub(crate) fn bridges(path: &DatedPath) -> bool {
    matches!(
        &path.terms.payoff,
        DatedPayoff::One(PayoffSpec::Barrier(b)) if b.monitoring == Monitoring::Continuous
    ) || matches!(
        &path.terms.payoff,
        DatedPayoff::One(PayoffSpec::DoubleBarrier(b)) if b.monitoring == Monitoring::Continuous
    )
}

/// Paths walked side by side: each lane's steps are independent, so one
/// lane's local-volatility lookup (its log-spot picks the column whose
/// value moves it) waits behind the others' rather than stalling the core.
/// Every lane does exactly one path's arithmetic: results do not depend on
/// the lane count.
pub(crate) const LANES: usize = 4;

const MA: usize = crate::correlation::MAX_ASSETS;

/// Evolves `path` on `L` paths' normals `z[l]` (steps x normals per step),
/// calling `node(i, x, var, pre)` at every node `i >= 1` with each
/// underlying's `ln(S / S_0)` per lane (after that node's dividends), the
/// step's variance and the log-spot before the node's dividends; `node`
/// returns false to stop. Returns per lane whether its path held (a
/// log-spot or variance that is NaN or overflowed breaks it).
fn walk<const L: usize>(
    path: &DatedPath,
    tables: &[Option<Vec<f64>>],
    z: [&[f64]; L],
    node: impl FnMut(usize, &[[f64; L]], &[[f64; L]], &[[f64; L]]) -> bool,
) -> [bool; L] {
    // The per-underlying state on the stack, as long as the trade needs:
    // it is cleared on every walk, and most trades have a few underlyings.
    if path.assets.len() <= FEW {
        walk_in::<L, FEW>(path, tables, z, node)
    } else {
        walk_in::<L, MA>(path, tables, z, node)
    }
}

/// Underlyings of most trades: a walk's state for them is a quarter of
/// [`MA`]'s.
const FEW: usize = 8;

/// [`walk`], its state for up to `A` underlyings.
fn walk_in<const L: usize, const A: usize>(
    path: &DatedPath,
    tables: &[Option<Vec<f64>>],
    z: [&[f64]; L],
    mut node: impl FnMut(usize, &[[f64; L]], &[[f64; L]], &[[f64; L]]) -> bool,
) -> [bool; L] {
    let n = path.assets.len();
    let k = path.normals_per_step();
    let mut pre = [[0.0f64; L]; A];
    let mut x = [[0.0f64; L]; A];
    let mut v = [[0.0f64; L]; A];
    let mut var = [[0.0f64; L]; A];
    let mut w = [[0.0f64; L]; A];
    let mut ok = [true; L];
    for (a, asset) in path.assets.iter().enumerate() {
        if let AssetModel::Heston(h) = &asset.model {
            v[a] = [h.v0; L];
        }
    }
    for i in 0..path.steps() {
        for a in 0..n {
            let row = &path.factor[a * n..a * n + a + 1];
            for l in 0..L {
                let zs = &z[l][i * k..(i + 1) * k];
                w[a][l] = row.iter().zip(zs).map(|(f, e)| f * e).sum();
            }
        }
        let dt = path.times[i + 1] - path.times[i];
        let mut h = n;
        for (a, asset) in path.assets.iter().enumerate() {
            let c = asset.carry[i];
            let (x, v, var, w) = (&mut x[a], &mut v[a], &mut var[a], &w[a]);
            match &asset.model {
                AssetModel::Black { var: s } => {
                    let sd = s[i].sqrt();
                    for l in 0..L {
                        var[l] = s[i];
                        x[l] += c - 0.5 * s[i] + sd * w[l];
                    }
                }
                AssetModel::LocalVol { grid, kshift, at } => {
                    // The step's vol x sqrt(dt) at the path's column, then
                    // its variance.
                    // The table's two values, or (past its budget) the
                    // same computed as step_tables does.
                    let sqrt_dt = dt.sqrt();
                    let cells = |col: usize| match &tables[a] {
                        Some(t) => (t[i * NODES + col], t[i * NODES + col + 1]),
                        None => (
                            grid.vol_between(at[i], col) * sqrt_dt,
                            grid.vol_between(at[i], col + 1) * sqrt_dt,
                        ),
                    };
                    for l in 0..L {
                        let (col, f) = grid.column(x[l] + kshift[i]);
                        let (lo, hi) = cells(col);
                        let sd = lo + f * (hi - lo);
                        let s2 = sd * sd;
                        var[l] = s2;
                        x[l] += c - 0.5 * s2 + sd * w[l];
                    }
                }
                AssetModel::Heston(p) => {
                    let rho_bar = (1.0 - p.rho * p.rho).sqrt();
                    for l in 0..L {
                        let vp = v[l].max(0.0);
                        let sd = (vp * dt).sqrt();
                        var[l] = vp * dt;
                        x[l] += c - 0.5 * vp * dt + sd * w[l];
                        v[l] += p.kappa * (p.theta - vp) * dt
                            + p.xi * sd * (p.rho * w[l] + rho_bar * z[l][i * k + h]);
                    }
                    h += 1;
                }
            }
            pre[a] = *x;
            let d = asset.dividend[i + 1];
            for l in 0..L {
                if d > 0.0 {
                    let e = x[l].exp() - d / asset.spot;
                    x[l] = if e > 0.0 { e.ln() } else { f64::NEG_INFINITY };
                }
                // A spot floored at zero is -inf, and stays there; NaN, +inf
                // or a variance that is not finite break the path.
                if x[l].is_nan() || x[l] == f64::INFINITY || !v[l].is_finite() || var[l].is_nan() {
                    ok[l] = false;
                }
            }
        }
        if !ok.iter().any(|o| *o) {
            return ok;
        }
        if !node(i + 1, &x[..n], &var[..n], &pre[..n]) {
            break;
        }
    }
    ok
}

/// The value of a one-underlying payoff on `L` paths: the visitor that
/// gets the payoff as its own type.
struct OneValue<'a, const L: usize> {
    path: &'a DatedPath,
    tables: &'a [Option<Vec<f64>>],
    z: [&'a [f64]; L],
    bridge: bool,
}

impl<const L: usize> PayoffVisitor<f64> for OneValue<'_, L> {
    type Output = [f64; L];
    fn visit<P: PathPayoff<f64>>(self, payoff: P) -> [f64; L] {
        let path = self.path;
        let last = path.steps();
        let mut st = [payoff.start(0.0); L];
        let mut xt = [0.0; L];
        let ok = walk(path, self.tables, self.z, |i, x, var, pre| {
            if path.observe[i] {
                for l in 0..L {
                    if self.bridge && path.assets[0].dividend[i] > 0.0 {
                        // The bridge to the spot before the dividend, then the
                        // spot after it checked alone: a bridge over no time
                        // (the least positive variance: no crossing between
                        // two points on the live side; a spot floored at zero
                        // kept finite so the product stays a number).
                        payoff.observe(&mut st[l], pre[0][l], var[0][l]);
                        payoff.observe(&mut st[l], x[0][l].max(f64::MIN), f64::MIN_POSITIVE);
                    } else {
                        payoff.observe(&mut st[l], x[0][l], var[0][l]);
                    }
                }
            }
            if i == last {
                xt = x[0];
            }
            true
        });
        std::array::from_fn(|l| {
            if ok[l] {
                payoff.value(st[l], xt[l]) * path.discount[last]
            } else {
                f64::NAN
            }
        })
    }
}

impl Pricer {
    /// Draws path `draw`'s normals (times `sign`) for `path`'s grid into
    /// `z`: from Philox's stream `stream`, or point `draw` of a replicate's
    /// Sobol points (`sobol`; never in antithetic pairs).
    fn normals(
        &self,
        path: &DatedPath,
        stream: u64,
        sobol: Option<&SobolDraws>,
        draw: u32,
        sign: f64,
        z: &mut Vec<f64>,
    ) {
        z.clear();
        if let Some(d) = sobol {
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                d.lanes::<f64, 1>(draw, &mut s);
                z.extend(s.out.iter().map(|o| o[0]));
            });
            return;
        }
        let total = path.steps() * path.normals_per_step();
        let mut block = 0u32;
        while z.len() < total {
            let nz = f64::normals_from_words(philox4x32_10(counter(stream, draw, block), self.key));
            for v in nz {
                if z.len() < total {
                    z.push(v * sign);
                }
            }
            block += 1;
        }
    }

    /// One family's value on normals `z`.
    fn value(&self, f: &Family, z: &[f64]) -> f64 {
        let path = &*f.path;
        if let Some(rebate) = f.rebate {
            return rebate * path.discount[path.steps()];
        }
        if path.exercise.is_empty() {
            if let Some(p) = f.one {
                return p.visit(OneValue {
                    path,
                    tables: &f.tables,
                    z: [z],
                    bridge: f.bridge,
                })[0];
            }
        }
        let Some(payoff) = &f.many else {
            return f64::NAN;
        };
        let n = path.assets.len();
        let policy = f.policy.and_then(|p| self.policies[p].as_ref());
        let dates = &path.exercise;
        let mut k = 0usize;
        let mut s = [0.0f64; crate::correlation::MAX_ASSETS];
        let mut xs = [0.0f64; crate::correlation::MAX_ASSETS];
        let mut out = f64::NAN;
        let last = path.steps();
        let ok = walk(path, &f.tables, [z], |i, x, _, _| {
            let at_date = if dates.is_empty() {
                i == last
            } else {
                k < dates.len() && dates[k] as usize == i
            };
            if !at_date {
                return true;
            }
            for j in 0..n {
                s[j] = path.assets[j].spot * x[j][0].exp();
                xs[j] = s[j] / f.norm[j];
            }
            let v = payoff.intrinsic(&s[..n]);
            let final_date = i == last;
            let exercise =
                final_date || policy.is_some_and(|p| v > 0.0 && p.exercises(k, &xs[..n], v));
            k += 1;
            if exercise {
                out = v * path.discount[i];
                return false;
            }
            true
        });
        if ok[0] {
            out
        } else {
            f64::NAN
        }
    }

    /// Every family's value on `L` paths' normals at once: European-style
    /// payoffs on one underlying walk their lanes side by side, the rest
    /// lane by lane.
    fn values<const L: usize>(&self, z: [&[f64]; L], out: &mut [[f64; L]]) {
        for (o, f) in out.iter_mut().zip(&self.families) {
            let path = &*f.path;
            *o = match (f.rebate, f.one) {
                (Some(rebate), _) => [rebate * path.discount[path.steps()]; L],
                (None, Some(p)) if path.exercise.is_empty() => p.visit(OneValue {
                    path,
                    tables: &f.tables,
                    z,
                    bridge: f.bridge,
                }),
                _ => std::array::from_fn(|l| self.value(f, z[l])),
            };
        }
    }

    /// Fits the policy of family `f` on the trade's regression stream.
    fn fit(&self, f: &Family, paths: u64) -> Option<Policy> {
        let path = &*f.path;
        let payoff = f.many.as_ref()?;
        if path.exercise.len() < 2 {
            return None;
        }
        let n = path.assets.len();
        let nd = path.exercise.len();
        let r = regression_paths(paths, nd, n);
        let stream = regression_stream(self.stream);
        let mut x = vec![0.0; r * nd * n];
        let mut intrinsic = vec![0.0; r * nd];
        // Each path writes its own rows of the two tables (no per-path
        // vectors copied in).
        x.par_chunks_mut(nd * n)
            .zip(intrinsic.par_chunks_mut(nd))
            .enumerate()
            .for_each_init(Vec::new, |z, (p, (xr, ir))| {
                self.normals(path, stream, None, p as u32, 1.0, z);
                let mut k = 0;
                let mut s = [0.0f64; crate::correlation::MAX_ASSETS];
                let ok = walk(path, &f.tables, [z.as_slice()], |i, xv, _, _| {
                    if k < nd && path.exercise[k] as usize == i {
                        for j in 0..n {
                            s[j] = path.assets[j].spot * xv[j][0].exp();
                            xr[k * n + j] = s[j] / f.norm[j];
                        }
                        ir[k] = payoff.intrinsic(&s[..n]);
                        k += 1;
                    }
                    k < nd
                });
                if !ok[0] {
                    // A broken regression path pays nothing and never
                    // enters a fit (its intrinsic values are 0).
                    xr.fill(1.0);
                    ir.fill(0.0);
                }
            });
        let rp = RegressionPaths {
            paths: r,
            dates: nd,
            assets: n,
            x,
            intrinsic,
        };
        let df = &path.discount;
        Some(fit(&rp, payoff.basis(n), &path.exercise, |from, to| {
            df[to as usize] / df[from as usize]
        }))
    }

    /// The trade's families (`(path, whether it fits its own policy)`),
    /// prepared: payoffs at their spots, step tables, policies fitted.
    pub(crate) fn new(
        trade: &Trade,
        req: &PricingRequest,
        families: Vec<(Arc<DatedPath>, bool)>,
        coef: Vec<Vec<f64>>,
    ) -> Pricer {
        let start = std::time::Instant::now();
        let mut p = Pricer {
            families: Vec::new(),
            policies: Vec::new(),
            coef,
            key: key_of(req.seed),
            stream: trade.stream,
            antithetic: req.antithetic,
            fit_seconds: 0.0,
        };
        let base_norm: Vec<f64> = families[0].0.assets.iter().map(|a| a.spot).collect();
        let mut table_values = 0usize;
        for (path, own_policy) in families {
            let size = table_size(&path);
            let tables = table_values + size <= TABLE_BUDGET;
            if tables {
                table_values += size;
            }
            let mut f = Family::new(path, tables);
            if !f.path.exercise.is_empty() {
                if own_policy || p.policies.is_empty() {
                    let policy = p.fit(&f, trade.paths);
                    p.policies.push(policy);
                    f.policy = Some(p.policies.len() - 1);
                } else {
                    f.policy = Some(0);
                    f.norm = base_norm.clone();
                }
            }
            p.families.push(f);
        }
        p.fit_seconds = start.elapsed().as_secs_f64();
        p
    }

    /// Sums over paths `first .. first + count`, [`LANES`] draws at a time
    /// (antithetic: two pairs), in path order, on the trade's Philox stream
    /// or a replicate's Sobol points (`sobol`).
    fn run(&self, first: u64, count: u64, sobol: Option<&SobolDraws>) -> Acc {
        let m = self.coef.len();
        let nf = self.families.len();
        let mut acc = Acc::new(m);
        let base = &self.families[0].path;
        let mut z: [Vec<f64>; LANES] = Default::default();
        let mut values = vec![[0.0; LANES]; nf];
        let mut one = vec![[0.0; 1]; nf];
        let mut out = vec![0.0; m];
        // The outputs of lane `l` of `values`.
        let combine = |values: &[[f64; LANES]], l: usize, out: &mut [f64]| {
            for (o, c) in out.iter_mut().zip(&self.coef) {
                *o = c
                    .iter()
                    .zip(values)
                    .filter(|(c, _)| **c != 0.0)
                    .map(|(c, v)| c * v[l])
                    .sum();
            }
        };
        // Draws (path index, sign) in path order.
        let draws: Vec<(u32, f64)> = if self.antithetic {
            ((first / 2)..(first + count) / 2)
                .flat_map(|p| [(p as u32, 1.0), (p as u32, -1.0)])
                .collect()
        } else {
            (first..first + count).map(|p| (p as u32, 1.0)).collect()
        };
        // Sums in path order, an antithetic pair averaged first (`half`
        // holds its first draw's outputs).
        let mut half = vec![0.0; m];
        let mut halved = false;
        let mut add = |out: &[f64], acc: &mut Acc| {
            if !self.antithetic {
                acc.add(out);
            } else if halved {
                for (h, o) in half.iter_mut().zip(out) {
                    *h = 0.5 * (*h + o);
                }
                acc.add(&half);
                halved = false;
            } else {
                half.copy_from_slice(out);
                halved = true;
            }
        };
        let mut at = 0;
        while at < draws.len() {
            if draws.len() - at >= LANES {
                for (l, zl) in z.iter_mut().enumerate() {
                    let (d, sign) = draws[at + l];
                    self.normals(base, self.stream, sobol, d, sign, zl);
                }
                self.values(std::array::from_fn(|l| z[l].as_slice()), &mut values);
                for l in 0..LANES {
                    combine(&values, l, &mut out);
                    add(&out, &mut acc);
                }
                at += LANES;
            } else {
                let (d, sign) = draws[at];
                self.normals(base, self.stream, sobol, d, sign, &mut z[0]);
                self.values([z[0].as_slice()], &mut one);
                for (v, o) in values.iter_mut().zip(&one) {
                    v[0] = o[0];
                }
                combine(&values, 0, &mut out);
                add(&out, &mut acc);
                at += 1;
            }
        }
        acc
    }

    /// Every path, in chunks merged in path order (the caller is inside
    /// the engine's thread pool).
    fn total(&self, paths: u64, sobol: Option<&SobolDraws>) -> Acc {
        let chunks: Vec<Acc> = (0..paths.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| self.run(c * CHUNK, super::live(CHUNK.min(paths - c * CHUNK)), sobol))
            .collect();
        let mut total = Acc::new(self.coef.len());
        for c in &chunks {
            total.merge(c);
        }
        total
    }
}

/// The vol a vega bump is relative to: the flat vol, the implied vol at
/// the trade's strike (or spot) and expiry, or Heston's `sqrt(v0)`.
fn reference_vol(path: &DatedPath, a: usize) -> f64 {
    let m = &path.market;
    let name = &path.assets[a].name;
    let Some(u) = m.underlyings.get(name) else {
        return 0.0;
    };
    if let AssetModel::Heston(h) = &path.assets[a].model {
        return h.v0.sqrt();
    }
    match &u.vol {
        Vol::Flat(v) => *v,
        Vol::Surface { .. } => {
            let t = path.times[path.steps()];
            let k = if path.assets.len() == 1 {
                path.terms.payoff.strike().unwrap_or(u.spot)
            } else {
                u.spot
            };
            m.implied_vol(u, k, t)
        }
    }
}

/// The families a dated trade's Greeks revalue (the base first) and the
/// coefficients of its outputs over them: pv, delta, gamma, vega, rho,
/// then per underlying delta, gamma and vega ([`greek_result`] reads them).
/// Shared with the GPU engines ([`crate::gpu::dated`]).
pub(crate) type Families = Vec<(Arc<DatedPath>, bool)>;

pub(crate) fn greek_families(
    trade: &Trade,
    req: &PricingRequest,
) -> Result<(Families, Vec<Vec<f64>>), EngineError> {
    let Some(base) = trade.dated.clone() else {
        return Err(bad(trade, "not a dated trade"));
    };
    let n = base.assets.len();
    let b = req.bumps;
    let g = &req.greeks;
    let spot = g.contains(Greek::Delta) || g.contains(Greek::Gamma);
    let vega = g.contains(Greek::Vega);
    let rho = g.contains(Greek::Rho);
    let mut families = vec![(base.clone(), true)];
    let moved = |moves: Vec<MarketMove>| -> Result<(Arc<DatedPath>, bool), EngineError> {
        base.moved(&moves)
            .map(|p| (Arc::new(p), false))
            .map_err(|e| bad(trade, format!("a Greek's bump: {e}")))
    };
    let one = |a: usize, m: MarketMove| {
        let mut v = vec![MarketMove::default(); n];
        v[a] = m;
        v
    };
    // Outputs: pv, delta, gamma, vega, rho, then per underlying delta,
    // gamma, vega.
    let outputs = 5 + 3 * n;
    let mut coef: Vec<Vec<f64>> = Vec::new();
    let mut spot_at = Vec::new();
    let mut vega_at = Vec::new();
    let mut dvols = Vec::new();
    for a in 0..n {
        if spot {
            spot_at.push(families.len());
            for s in [b.spot_rel, -b.spot_rel] {
                families.push(moved(one(
                    a,
                    MarketMove {
                        spot: s,
                        ..Default::default()
                    },
                ))?);
            }
        }
        if vega {
            // Central unless a move down would take a vol the move shifts
            // to or below zero: then by less (half the smallest such vol),
            // or forward where that vol is 0 (a Heston theta of 0).
            let floor = smallest_moved_vol(&base, a);
            let central = floor > 0.0;
            let mut dv = b.vol_rel * reference_vol(&base, a);
            if central {
                dv = dv.min(0.5 * floor);
            }
            dvols.push((dv, central));
            vega_at.push(families.len());
            if dv > 0.0 {
                let moves: &[f64] = if central { &[dv, -dv] } else { &[dv] };
                for &s in moves {
                    families.push(moved(one(
                        a,
                        MarketMove {
                            vol: s,
                            ..Default::default()
                        },
                    ))?);
                }
            }
        }
    }
    let rho_at = families.len();
    if rho {
        for s in [b.rate_abs, -b.rate_abs] {
            families.push(moved(vec![
                MarketMove {
                    rate: s,
                    ..Default::default()
                };
                n
            ])?);
        }
    }
    let nf = families.len();
    for _ in 0..outputs {
        coef.push(vec![0.0; nf]);
    }
    coef[0][0] = 1.0;
    let sc = b.scale;
    for a in 0..n {
        if spot {
            let hs = b.spot_rel * base.assets[a].spot;
            let u = spot_at[a];
            for (q, c) in [(1, 1.0), (5 + a, 1.0)] {
                coef[q][u] += c * sc / (2.0 * hs);
                coef[q][u + 1] -= c * sc / (2.0 * hs);
            }
            for q in [2, 5 + n + a] {
                coef[q][u] += sc / (hs * hs);
                coef[q][u + 1] += sc / (hs * hs);
                coef[q][0] -= 2.0 * sc / (hs * hs);
            }
        }
        if vega && dvols[a].0 > 0.0 {
            let (dv, central) = dvols[a];
            let u = vega_at[a];
            for q in [3, 5 + 2 * n + a] {
                if central {
                    coef[q][u] += sc / (2.0 * dv);
                    coef[q][u + 1] -= sc / (2.0 * dv);
                } else {
                    coef[q][u] += sc / dv;
                    coef[q][0] -= sc / dv;
                }
            }
        }
    }
    if rho {
        coef[4][rho_at] = sc / (2.0 * b.rate_abs);
        coef[4][rho_at + 1] = -sc / (2.0 * b.rate_abs);
    }
    Ok((families, coef))
}

/// A dated trade's result from the sums of [`greek_families`]' outputs
/// over its `n` underlyings.
pub(crate) fn greek_result(
    trade: &Trade,
    req: &PricingRequest,
    n: usize,
    total: &Acc,
    seconds: f64,
) -> TradeResult {
    let g = &req.greeks;
    let spot = g.contains(Greek::Delta) || g.contains(Greek::Gamma);
    let vega = g.contains(Greek::Vega);
    let mut greeks = [None; 4];
    for (q, greek) in Greek::ALL.iter().enumerate() {
        if g.contains(*greek) {
            greeks[q] = Some(total.estimate(1 + q));
        }
    }
    let per_asset = if n > 1 && (spot || vega) {
        (0..n)
            .map(|j| AssetGreeks {
                delta: g.contains(Greek::Delta).then(|| total.estimate(5 + j)),
                gamma: g.contains(Greek::Gamma).then(|| total.estimate(5 + n + j)),
                vega: vega.then(|| total.estimate(5 + 2 * n + j)),
            })
            .collect()
    } else {
        Vec::new()
    };
    TradeResult {
        pv: total.estimate(0),
        greeks,
        estimators: crate::engine::bumped(&req.greeks),
        per_asset,
        paths: trade.paths,
        seconds,
    }
}

thread_local! {
    /// A thread's working memory for Sobol paths, kept between paths.
    static SCRATCH: std::cell::RefCell<LaneScratch<f64, 1>> = Default::default();
}

/// The sums over a trade's paths: one on its Philox stream, or one per
/// replicate of a Sobol trade (each on its own points, all on the policies
/// `pricer` fitted once); and the paths each covers.
fn replicate_totals(pricer: &Pricer, trade: &Trade, req: &PricingRequest) -> (Vec<Acc>, u64) {
    let base = &pricer.families[0].path;
    let draws = |r: u32| {
        SobolDraws::new(
            req.seed,
            trade.stream,
            r,
            base.steps() as u32,
            base.normals_per_step(),
        )
    };
    match replicates::rng_of(trade, req) {
        Rng::Philox => (vec![pricer.total(trade.paths, None)], trade.paths),
        Rng::Sobol { replicates } => {
            let per = trade.paths / replicates.max(1) as u64;
            let sums = (0..replicates)
                .map(|r| pricer.total(per, Some(&draws(r))))
                .collect();
            (sums, per)
        }
        Rng::SobolReplicate { index } => (
            vec![pricer.total(trade.paths, Some(&draws(index)))],
            trade.paths,
        ),
    }
}

/// Prices a dated trade with the request's Greeks (a Sobol trade's price
/// is its replicates', `engine::replicates`).
pub(crate) fn price(trade: &Trade, req: &PricingRequest) -> Result<TradeResult, EngineError> {
    let start = std::time::Instant::now();
    let (families, coef) = greek_families(trade, req)?;
    let n = families[0].0.assets.len();
    let pricer = Pricer::new(trade, req, families, coef);
    let (sums, per) = replicate_totals(&pricer, trade, req);
    if let [total] = sums.as_slice() {
        return Ok(greek_result(
            trade,
            req,
            n,
            total,
            start.elapsed().as_secs_f64(),
        ));
    }
    let each = Trade {
        paths: per,
        ..trade.clone()
    };
    let reps: Vec<TradeResult> = sums
        .iter()
        .map(|s| greek_result(&each, req, n, s, 0.0))
        .collect();
    let mut r = replicates::combine_prices(&reps);
    r.paths = trade.paths;
    r.seconds = start.elapsed().as_secs_f64();
    Ok(r)
}

/// Revalues a dated trade under its scenarios in one pass: each distinct
/// move's family beside the base on the same normals, exercising by its
/// own policy.
pub(crate) fn revalue(
    trade: &Trade,
    scenarios: &TradeScenarios,
    req: &PricingRequest,
) -> Result<ScenarioResult, EngineError> {
    let start = std::time::Instant::now();
    let Some(base) = trade.dated.clone() else {
        return Err(bad(trade, "not a dated trade"));
    };
    let (of, distinct) = distinct_moves(scenarios);
    let mut families = vec![(base.clone(), true)];
    for (k, moves) in distinct {
        let p = base
            .moved(moves)
            .map_err(|e| bad(trade, format!("in scenario {}: {e}", k + 1)))?;
        families.push((Arc::new(p), true));
    }
    let nf = families.len();
    let mut coef = vec![vec![0.0; nf]; nf];
    coef[0][0] = 1.0;
    for (i, c) in coef.iter_mut().enumerate().skip(1) {
        c[i] = 1.0;
        c[0] = -1.0;
    }
    let pricer = Pricer::new(trade, req, families, coef);
    let (sums, per) = replicate_totals(&pricer, trade, req);
    let reps: Vec<ScenarioResult> = sums
        .iter()
        .map(|total| ScenarioResult {
            base: total.estimate(0),
            pnl: of
                .iter()
                .map(|k| k.map_or(Estimate::ZERO, |k| total.estimate(1 + k)))
                .collect(),
            paths: per,
            seconds: 0.0,
        })
        .collect();
    let mut r = match reps.as_slice() {
        [one] => one.clone(),
        _ => replicates::combine_revalued(&reps),
    };
    r.paths = trade.paths;
    r.seconds = start.elapsed().as_secs_f64();
    Ok(r)
}
