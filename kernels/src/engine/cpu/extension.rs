//! The CPU pricer of trades with an [`Extension`]: several correlated
//! assets (`gbm_multi`, `heston_multi`; `basket`, `rainbow`) and early
//! exercise (`american`, `bermudan`) by Longstaff-Schwartz.
//!
//! Path state is f64 whatever `--precision` says; normals are the f64
//! normals of the stream contract (`crate::rng`, "Several assets"), or,
//! for a trade on Sobol points, each replicate's f64 points through the
//! bridge (`crate::qmc`, the same dimensions where Philox's normals would
//! be). A Sobol trade comes here whole: its policy is fitted once (its
//! regression paths stay Philox's) and its replicates are priced on it.
//!
//! 1. **Policy.** For an early-exercise trade, `R` regression paths
//!    ([`crate::multi::regression_paths`]) of the trade's regression stream
//!    ([`crate::multi::regression_stream`]) are simulated at the exercise
//!    dates and the policy is fitted once on the host, in f64
//!    ([`crate::exercise::fit`]).
//! 2. **Pricing.** The pricing paths (chunks of [`super::CHUNK`] paths,
//!    merged in path order, so results do not depend on the thread count)
//!    apply the fixed policy. Every revaluation a Greek needs is carried
//!    along the same path (common random numbers), with the *base* policy:
//!    spot bumps of asset `j` shift its log-path by `ln(1 +- h)`; vega bumps
//!    re-evolve asset `j` with its vol (gbm) or `sqrt(v0)` (heston) scaled by
//!    `1 +- h`; rho shifts every log-path by `+-dr t` and discounts at
//!    `r +- dr`. Each revaluation exercises where the base policy says so
//!    *in its own state*, so the estimator stays smooth.
//! 3. **Scenarios** ([`Prepared::revalue`]): each distinct scenario's
//!    moved trade is prepared as a trade of its own ([`scenario_markets`]):
//!    its policy is refitted on its own market over the same regression
//!    normals. Its path is then evolved beside the base path on the same
//!    pricing normals, in place of the bumps, and exercised by its own
//!    policy. So a scenario's per-path value is, bit for bit, what `price`
//!    computes for the moved trade on that path, and the P&L's standard
//!    error is that of the per-path differences.

use rayon::prelude::*;

use super::CHUNK;
use crate::correlation::{Correlation, MAX_ASSETS};
use crate::engine::{replicates, AssetGreeks, PricingRequest, TradeResult};
use crate::exercise::{fit, Policy, RegressionPaths};
use crate::greeks::{Estimator, Greek, GreekSet, GreeksMethod};
use crate::instrument::Trade;
use crate::model::{Gbm, GbmStep, Heston, HestonStep, ModelSpec, PathModel};
use crate::multi::{
    regression_paths, regression_stream, GbmAsset, HestonAsset, MultiAsset, MultiModel, MultiPayoff,
};
use crate::payoff::PayoffSpec;
use crate::qmc::{LaneScratch, Rng, SobolDraws};
use crate::real::Real;
use crate::rng::{counter, key_of, philox4x32_10};
use crate::scenario::{distinct_moves, moved_trade, ScenarioResult, TradeScenarios};
use crate::stats::Estimate;

/// Each asset's step constants: base, vol up, vol down.
#[derive(Clone)]
pub(crate) enum Steps {
    Gbm(Vec<[GbmStep<f64>; 3]>),
    Heston(Vec<[HestonStep<f64>; 3]>),
}

/// A trade ready to simulate.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) n: usize,
    pub(crate) multi: bool,
    pub(crate) payoff: MultiPayoff,
    pub(crate) spots: Vec<f64>,
    /// Row-major lower factor.
    pub(crate) factor: Vec<f64>,
    pub(crate) steps: Steps,
    pub(crate) nsteps: u32,
    pub(crate) dt: f64,
    pub(crate) rate: f64,
    pub(crate) dates: Vec<u32>,
    pub(crate) policy: Option<Policy>,
    pub(crate) key: [u32; 2],
    pub(crate) stream: u64,
    pub(crate) antithetic: bool,
    /// Which revaluations: spot bumps, vega bumps, rho bumps.
    pub(crate) spot: bool,
    pub(crate) vega: bool,
    pub(crate) rho: bool,
    pub(crate) h_spot: f64,
    pub(crate) dr: f64,
    pub(crate) scale: f64,
    /// `h_vol x` each asset's vol parameter (vega's denominator / 2).
    pub(crate) dvol: Vec<f64>,
    /// One-pass Greeks (`--greeks-method pathwise`), where asked.
    pub(crate) pathwise: Option<Pathwise>,
    /// Which Greeks were asked for (the flags above say which bumped
    /// states are carried).
    pub(crate) asked: [bool; 4],
    /// Seconds spent fitting the policy (counted in the trade's seconds).
    pub(crate) fit_seconds: f64,
    /// Scenario mode ([`Prepared::revalue`]): each distinct scenario's
    /// market, re-evolved on the same normals; empty when pricing.
    moved: Vec<Moved>,
}

/// One-pass Greeks of a trade with several assets or early exercise:
/// each path's exercise date is the one the fitted policy picks, and the
/// discounted payoff is differentiated there. Delta per asset is pathwise
/// (every model is homogeneous in each spot: `dS_j(t)/dS_j(0) =
/// S_j(t)/S_j(0)`); gamma the difference of the pathwise deltas on the
/// states with that asset's spot x (1 +- h), each exercising by the policy
/// in its own state (as bumped gamma's states do); rho pathwise (`dx/dr =
/// t`, and the discount's `-t`); vega pathwise for gbm (`dx_j/dvol_j =
/// W_j(t) - vol_j t`) and bumped for heston (see `greeks.rs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pathwise {
    /// Vega pathwise (gbm, every vol positive) rather than bumped.
    pub(crate) vega: bool,
}

/// Where a path's normals come from.
#[derive(Clone, Copy)]
enum Normals<'a> {
    /// Philox's stream of this id (the pricing or the regression stream).
    Philox(u64),
    /// A replicate's Sobol points (pricing paths only).
    Sobol(&'a SobolDraws),
}

thread_local! {
    /// A thread's working memory for Sobol paths, kept between paths.
    static SCRATCH: std::cell::RefCell<LaneScratch<f64, 1>> = Default::default();
}

/// One scenario's moved trade, as its path is evolved beside the base
/// path: every asset's step constants (its moved vol and rate), spots, the
/// rate it is discounted at and its own exercise policy.
#[derive(Clone)]
struct Moved {
    steps: MovedSteps,
    spots: Vec<f64>,
    rate: f64,
    policy: Option<Policy>,
}

impl Moved {
    /// The base family of a prepared moved trade.
    fn of(p: Prepared) -> Moved {
        Moved {
            steps: match p.steps {
                Steps::Gbm(s) => MovedSteps::Gbm(s.iter().map(|f| f[0]).collect()),
                Steps::Heston(s) => MovedSteps::Heston(s.iter().map(|f| f[0]).collect()),
            },
            spots: p.spots,
            rate: p.rate,
            policy: p.policy,
        }
    }
}

#[derive(Clone)]
enum MovedSteps {
    Gbm(Vec<GbmStep<f64>>),
    Heston(Vec<HestonStep<f64>>),
}

/// The multi-asset view of a trade (a one-asset trade as one asset).
pub(crate) fn multi_of(trade: &Trade) -> Option<MultiAsset> {
    let ext = trade.extension.as_deref()?;
    if let Some(m) = &ext.multi {
        return Some(m.clone());
    }
    let one = Correlation::identity(1).ok()?;
    let model = match &trade.model {
        ModelSpec::Gbm(m) => MultiModel::GbmMulti {
            rate: m.rate,
            assets: vec![GbmAsset {
                spot: m.spot,
                vol: m.vol,
                dividend: m.dividend,
            }],
            correlation: one,
        },
        ModelSpec::Heston(m) => MultiModel::HestonMulti {
            rate: m.rate,
            assets: vec![HestonAsset {
                spot: m.spot,
                dividend: m.dividend,
                v0: m.v0,
                kappa: m.kappa,
                theta: m.theta,
                xi: m.xi,
                rho: m.rho,
            }],
            correlation: one,
        },
        ModelSpec::SvFx(_) => return None,
    };
    let payoff = match &trade.payoff {
        PayoffSpec::European(p) => MultiPayoff::Basket {
            option: p.option,
            strike: p.strike,
            weights: vec![1.0],
        },
        _ => return None,
    };
    Some(MultiAsset { model, payoff })
}

impl Prepared {
    /// `None` where the trade is not one this pricer takes (validation
    /// refuses those first).
    pub(crate) fn new(trade: &Trade, req: &PricingRequest) -> Option<Prepared> {
        let ext = trade.extension.as_deref()?;
        let m = multi_of(trade)?;
        let n = m.model.assets();
        let dt = trade.maturity / trade.steps as f64;
        let h_vol = req.bumps.vol_rel;
        let (steps, spots, dvol) = match &m.model {
            MultiModel::GbmMulti { rate, assets, .. } => {
                let st = |a: &GbmAsset, f: f64| {
                    Gbm {
                        spot: a.spot,
                        rate: *rate,
                        dividend: a.dividend,
                        vol: a.vol * f,
                    }
                    .prepare::<f64>(dt)
                };
                (
                    Steps::Gbm(
                        assets
                            .iter()
                            .map(|a| [st(a, 1.0), st(a, 1.0 + h_vol), st(a, 1.0 - h_vol)])
                            .collect(),
                    ),
                    assets.iter().map(|a| a.spot).collect::<Vec<_>>(),
                    assets.iter().map(|a| h_vol * a.vol).collect::<Vec<_>>(),
                )
            }
            MultiModel::HestonMulti { rate, assets, .. } => {
                let st = |a: &HestonAsset, f: f64| {
                    Heston {
                        spot: a.spot,
                        rate: *rate,
                        dividend: a.dividend,
                        v0: a.v0 * f * f,
                        kappa: a.kappa,
                        theta: a.theta,
                        xi: a.xi,
                        rho: a.rho,
                    }
                    .prepare::<f64>(dt)
                };
                (
                    Steps::Heston(
                        assets
                            .iter()
                            .map(|a| [st(a, 1.0), st(a, 1.0 + h_vol), st(a, 1.0 - h_vol)])
                            .collect(),
                    ),
                    assets.iter().map(|a| a.spot).collect(),
                    assets.iter().map(|a| h_vol * a.v0.sqrt()).collect(),
                )
            }
        };
        let dates = ext.exercise.dates(trade.steps).ok()?;
        let g = &req.greeks;
        let asked = Greek::ALL.map(|q| g.contains(q));
        let [delta, gamma, vega, rho] = asked;
        let pathwise =
            (req.greeks_method == GreeksMethod::Pathwise && !g.is_empty()).then(|| Pathwise {
                // gbm's pathwise vega reads `W_j(t)` back from the
                // log-spot, `(x - mu t) / vol`: below a vol of 1e-4 the
                // log-spot's rounding, so divided, would swamp it: bumps.
                vega: matches!(m.model, MultiModel::GbmMulti { .. })
                    && dvol.iter().all(|d| *d >= 1e-4 * h_vol),
            });
        // The bumped states carried: all of them for bumps; for one pass
        // the spot states only for gamma and the vol states only for a
        // bumped vega.
        let (spot, vega, rho) = match pathwise {
            None => (delta || gamma, vega, rho),
            Some(pw) => (gamma, vega && !pw.vega, false),
        };
        let mut p = Prepared {
            n,
            multi: ext.multi.is_some(),
            payoff: m.payoff.clone(),
            spots,
            factor: m.model.correlation().factor().to_vec(),
            steps,
            nsteps: trade.steps,
            dt,
            rate: m.model.rate(),
            dates,
            policy: None,
            key: key_of(req.seed),
            stream: trade.stream,
            antithetic: req.antithetic,
            spot,
            vega,
            rho,
            h_spot: req.bumps.spot_rel,

            dr: req.bumps.rate_abs,
            scale: req.bumps.scale,
            dvol,
            pathwise,
            asked,
            fit_seconds: 0.0,
            moved: Vec::new(),
        };
        if p.dates.len() > 1 {
            let start = std::time::Instant::now();
            p.policy = Some(p.fit_policy(trade.paths));
            p.fit_seconds = start.elapsed().as_secs_f64();
        }
        Some(p)
    }

    /// Revaluations carried per path.
    fn states(&self) -> usize {
        if !self.moved.is_empty() {
            return 1 + self.moved.len();
        }
        1 + if self.spot { 2 * self.n } else { 0 }
            + if self.vega { 2 * self.n } else { 0 }
            + if self.rho { 2 } else { 0 }
    }

    /// Outputs per path: pv, the summed delta, gamma, vega, rho, then
    /// delta, gamma and vega per asset.
    pub(crate) fn outputs(&self) -> usize {
        if !self.moved.is_empty() {
            return 1 + self.moved.len();
        }
        5 + 3 * self.n
    }

    /// Simulates one path, calling `at(step, x, v, xu, xd)` after every
    /// step that is an exercise date; stops when `at` returns false.
    /// `x`/`v` are the base log-spots (relative to the spot) and variances,
    /// `xu`/`xd` each asset's log-spot re-evolved with its vol bumped up
    /// and down (only when vega is asked for).
    fn simulate(
        &self,
        normals: Normals,
        draw: u32,
        sign: f64,
        mut at: impl FnMut(u32, usize, &[f64], &[f64], &[f64], &[f64]) -> bool,
    ) {
        let n = self.n;
        let nps = self.normals_per_step() as u64;
        let mut x = [0.0f64; MAX_ASSETS];
        let mut v = [0.0f64; MAX_ASSETS];
        let mut xu = [0.0f64; MAX_ASSETS];
        let mut vu = [0.0f64; MAX_ASSETS];
        let mut xd = [0.0f64; MAX_ASSETS];
        let mut vd = [0.0f64; MAX_ASSETS];
        match &self.steps {
            Steps::Gbm(_) => {}
            Steps::Heston(s) => {
                for j in 0..n {
                    v[j] = PathModel::<f64>::aux0(&s[j][0]);
                    vu[j] = PathModel::<f64>::aux0(&s[j][1]);
                    vd[j] = PathModel::<f64>::aux0(&s[j][2]);
                }
            }
        }
        // Scenario mode: every scenario's assets, log-spots (relative to
        // its own spots) and variances, scenario after scenario.
        let mut mx: Vec<f64> = vec![0.0; self.moved.len() * n];
        let mut mv: Vec<f64> = self
            .moved
            .iter()
            .flat_map(|m| match &m.steps {
                MovedSteps::Gbm(s) => vec![0.0; s.len()],
                MovedSteps::Heston(s) => s.iter().map(PathModel::<f64>::aux0).collect(),
            })
            .collect();
        let mut block = u64::MAX;
        let mut cache = [0.0f64; 4];
        // A Sobol path's normals, all made up front (point `draw` of the
        // replicate, through the bridge); antithetic pairs never come here.
        let points: Vec<f64> = match normals {
            Normals::Philox(_) => Vec::new(),
            Normals::Sobol(d) => SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                d.lanes::<f64, 1>(draw, &mut s);
                s.out.iter().map(|o| o[0]).collect()
            }),
        };
        let mut normal = |d: u64| -> f64 {
            let Normals::Philox(stream) = normals else {
                return points[d as usize];
            };
            let b = d / 4;
            if b != block {
                block = b;
                let w = philox4x32_10(counter(stream, draw, b as u32), self.key);
                cache = <f64 as Real>::normals_from_words(w);
            }
            sign * cache[(d % 4) as usize]
        };
        let mut e = [0.0f64; MAX_ASSETS];
        let mut z = [0.0f64; MAX_ASSETS];
        let mut w = [0.0f64; MAX_ASSETS];
        // The next exercise date (an index into `dates`).
        let mut next = 0usize;
        for i in 0..self.nsteps as u64 {
            let base = nps * i;
            for (j, ej) in e.iter_mut().enumerate().take(n) {
                *ej = normal(base + j as u64);
            }
            if let Steps::Heston(_) = self.steps {
                for (j, wj) in w.iter_mut().enumerate().take(n) {
                    *wj = normal(base + (n + j) as u64);
                }
            }
            for (j, zj) in z.iter_mut().enumerate().take(n) {
                let row = &self.factor[j * n..j * n + j + 1];
                let mut acc = 0.0;
                for (l, ek) in row.iter().zip(&e) {
                    acc += l * ek;
                }
                *zj = acc;
            }
            match &self.steps {
                Steps::Gbm(s) => {
                    for j in 0..n {
                        s[j][0].step(&mut x[j], &mut v[j], [z[j], 0.0]);
                        if self.vega {
                            s[j][1].step(&mut xu[j], &mut vu[j], [z[j], 0.0]);
                            s[j][2].step(&mut xd[j], &mut vd[j], [z[j], 0.0]);
                        }
                    }
                }
                Steps::Heston(s) => {
                    for j in 0..n {
                        s[j][0].step(&mut x[j], &mut v[j], [z[j], w[j]]);
                        if self.vega {
                            s[j][1].step(&mut xu[j], &mut vu[j], [z[j], w[j]]);
                            s[j][2].step(&mut xd[j], &mut vd[j], [z[j], w[j]]);
                        }
                    }
                }
            }
            for (m, (x, v)) in self
                .moved
                .iter()
                .zip(mx.chunks_mut(n).zip(mv.chunks_mut(n)))
            {
                match &m.steps {
                    MovedSteps::Gbm(s) => {
                        for j in 0..n {
                            s[j].step(&mut x[j], &mut v[j], [z[j], 0.0]);
                        }
                    }
                    MovedSteps::Heston(s) => {
                        for j in 0..n {
                            s[j].step(&mut x[j], &mut v[j], [z[j], w[j]]);
                        }
                    }
                }
            }
            let step = i as u32 + 1;
            if self.dates.get(next) == Some(&step) {
                let k = next;
                next += 1;
                // A variance that is not finite makes its log-spot NaN (the
                // step's full truncation would launder it to 0, leaving
                // x finite); the GPU twins test it beside x at each date.
                for j in 0..n {
                    x[j] = x[j].nan_unless_finite(v[j]);
                    xu[j] = xu[j].nan_unless_finite(vu[j]);
                    xd[j] = xd[j].nan_unless_finite(vd[j]);
                }
                for (x, v) in mx.iter_mut().zip(&mv) {
                    *x = x.nan_unless_finite(*v);
                }
                if !at(step, k, &x[..n], &xu[..n], &xd[..n], &mx) {
                    return;
                }
            }
        }
    }

    fn fit_policy(&self, paths: u64) -> Policy {
        let (n, nd) = (self.n, self.dates.len());
        let r = regression_paths(paths, nd, n);
        let stream = regression_stream(self.stream);
        // Each chunk of paths writes its own rows of the two tables (no
        // copies of per-chunk vectors: the tables are tens of MB).
        let c = CHUNK as usize;
        let mut x = vec![0.0; r * nd * n];
        let mut intrinsic = vec![0.0; r * nd];
        x.par_chunks_mut(c * nd * n)
            .zip(intrinsic.par_chunks_mut(c * nd))
            .enumerate()
            .for_each(|(k, (xs, iv))| {
                let first = k * c;
                let last = (first + c).min(r);
                let (mut at, mut ai) = (0, 0);
                let mut s = [0.0f64; MAX_ASSETS];
                for p in first..last {
                    self.simulate(
                        Normals::Philox(stream),
                        p as u32,
                        1.0,
                        |_, _, xv, _, _, _| {
                            for j in 0..n {
                                let e = xv[j].exp();
                                xs[at] = e;
                                at += 1;
                                s[j] = self.spots[j] * e;
                            }
                            iv[ai] = self.payoff.intrinsic(&s[..n]);
                            ai += 1;
                            true
                        },
                    );
                }
            });
        let paths = RegressionPaths {
            paths: r,
            dates: nd,
            assets: n,
            x,
            intrinsic,
        };
        let (rate, dt) = (self.rate, self.dt);
        fit(&paths, self.payoff.basis(n), &self.dates, |from, to| {
            (-rate * (to - from) as f64 * dt).exp()
        })
    }

    /// One pricing path's outputs, into `out`.
    fn path(&self, normals: Normals, draw: u32, sign: f64, value: &mut [f64], out: &mut [f64]) {
        let n = self.n;
        let ns = self.states();
        let last = self.dates.len() - 1;
        let mut done = [false; 4 * MAX_ASSETS + 3];
        let mut left = ns;
        value[..ns].fill(0.0);
        let vega0 = 1 + if self.spot { 2 * n } else { 0 };
        let rho0 = vega0 + if self.vega { 2 * n } else { 0 };
        let mut e = [0.0f64; MAX_ASSETS];
        let mut xs = [0.0f64; MAX_ASSETS];
        let mut s = [0.0f64; MAX_ASSETS];
        let mut broken = false;
        // One pass: at each state's exercise, the discounted payoff's
        // derivative in each log-spot (`disc dg/dS_j S_j`): every asset's
        // for the base state (`grad`), its own asset's for a spot state
        // (`own`); and the base state's exercise time and log-spots.
        let mut grad = [0.0f64; MAX_ASSETS];
        let mut own = [0.0f64; 2 * MAX_ASSETS + 1];
        let mut dg = [0.0f64; MAX_ASSETS];
        let (mut tau, mut x_tau) = (0.0f64, [0.0f64; MAX_ASSETS]);
        self.simulate(normals, draw, sign, |step, k, x, xu, xd, _| {
            if !finite(x) || (self.vega && !(finite(xu) && finite(xd))) {
                broken = true;
                return false;
            }
            let t = step as f64 * self.dt;
            let disc = (-self.rate * t).exp();
            for j in 0..n {
                e[j] = x[j].exp();
            }
            // Evaluates state `st` at relative asset values `xs`.
            let mut decide = |st: usize, xs: &[f64], disc: f64, done: &mut [bool]| {
                if done[st] {
                    return;
                }
                for j in 0..n {
                    s[j] = self.spots[j] * xs[j];
                }
                let v = self.payoff.intrinsic(&s[..n]);
                let exercise = k == last
                    || self
                        .policy
                        .as_ref()
                        .is_some_and(|p| v > 0.0 && p.exercises(k, xs, v));
                if exercise {
                    value[st] = v * disc;
                    done[st] = true;
                    left -= 1;
                    if self.pathwise.is_some() && (st == 0 || (self.spot && st <= 2 * n)) {
                        self.payoff.gradient(&s[..n], &mut dg[..n]);
                        if st == 0 {
                            for j in 0..n {
                                grad[j] = disc * dg[j] * s[j];
                            }
                            tau = t;
                            x_tau[..n].copy_from_slice(&x[..n]);
                        } else {
                            // The delta at the shifted spot `S_j' = S_j(0)
                            // (1 +- h)`: `disc dg S_j / S_j'`, whose ratio
                            // is the base path's relative value `e_j`
                            // exactly (no rounding to difference away).
                            let j = (st - 1) / 2;
                            own[st] = disc * dg[j] * e[j];
                        }
                    }
                }
            };
            decide(0, &e[..n], disc, &mut done);
            if self.spot {
                for j in 0..n {
                    xs[..n].copy_from_slice(&e[..n]);
                    xs[j] = e[j] * (1.0 + self.h_spot);
                    decide(1 + 2 * j, &xs[..n], disc, &mut done);
                    xs[j] = e[j] * (1.0 - self.h_spot);
                    decide(2 + 2 * j, &xs[..n], disc, &mut done);
                }
            }
            if self.vega {
                for j in 0..n {
                    xs[..n].copy_from_slice(&e[..n]);
                    xs[j] = xu[j].exp();
                    decide(vega0 + 2 * j, &xs[..n], disc, &mut done);
                    xs[j] = xd[j].exp();
                    decide(vega0 + 2 * j + 1, &xs[..n], disc, &mut done);
                }
            }
            if self.rho {
                for (sgn, st) in [(1.0, rho0), (-1.0, rho0 + 1)] {
                    let f = (sgn * self.dr * t).exp();
                    for j in 0..n {
                        xs[j] = e[j] * f;
                    }
                    let d = (-(self.rate + sgn * self.dr) * t).exp();
                    decide(st, &xs[..n], d, &mut done);
                }
            }
            left > 0
        });
        if broken {
            value[..ns].fill(f64::NAN);
        }
        let sc = self.scale;
        out.fill(0.0);
        out[0] = value[0];
        if let Some(pw) = self.pathwise {
            if broken {
                // Every one-pass Greek of a path that is not finite is NaN
                // (a spot state that exercised before the path broke
                // would otherwise leave gamma finite beside a NaN PV).
                grad.fill(f64::NAN);
                own.fill(f64::NAN);
            }
            let [delta, gamma, vega, rho] = self.asked;
            let h = self.h_spot;
            for j in 0..n {
                let s0 = self.spots[j];
                if delta {
                    out[5 + j] = sc * grad[j] / s0;
                }
                if gamma {
                    let (up, down) = (own[1 + 2 * j], own[2 + 2 * j]);
                    out[5 + n + j] = sc * (up - down) / (2.0 * h * s0);
                }
                if vega {
                    out[5 + 2 * n + j] = if pw.vega {
                        sc * grad[j] * self.dx_dvol(j, tau, x_tau[j])
                    } else if self.dvol[j] > 0.0 {
                        let (u, d) = (value[vega0 + 2 * j], value[vega0 + 2 * j + 1]);
                        sc * (u - d) / (2.0 * self.dvol[j])
                    } else {
                        0.0
                    };
                }
                out[1] += out[5 + j];
                out[2] += out[5 + n + j];
                out[3] += out[5 + 2 * n + j];
            }
            if rho {
                out[4] = sc * (grad[..n].iter().sum::<f64>() * tau - tau * value[0]);
            }
            return;
        }
        for j in 0..n {
            if self.spot {
                let hs = self.h_spot * self.spots[j];
                let (u, d) = (value[1 + 2 * j], value[2 + 2 * j]);
                out[5 + j] = sc * (u - d) / (2.0 * hs);
                out[5 + n + j] = sc * (u - 2.0 * value[0] + d) / (hs * hs);
            }
            if self.vega && self.dvol[j] > 0.0 {
                let (u, d) = (value[vega0 + 2 * j], value[vega0 + 2 * j + 1]);
                out[5 + 2 * n + j] = sc * (u - d) / (2.0 * self.dvol[j]);
            }
            out[1] += out[5 + j];
            out[2] += out[5 + n + j];
            out[3] += out[5 + 2 * n + j];
        }
        if self.rho {
            out[4] = sc * (value[rho0] - value[rho0 + 1]) / (2.0 * self.dr);
        }
    }

    /// How each asked Greek is estimated in one pass.
    fn asked_estimators(&self, pw: Pathwise) -> [Option<Estimator>; 4] {
        let by = [
            Estimator::Pathwise,
            Estimator::PathwiseDifference,
            if pw.vega {
                Estimator::Pathwise
            } else {
                Estimator::Bump
            },
            Estimator::Pathwise,
        ];
        let mut out = [None; 4];
        for q in 0..4 {
            if self.asked[q] {
                out[q] = Some(by[q]);
            }
        }
        out
    }

    /// gbm: `dx_j(t)/dvol_j = W_j(t) - vol_j t`, from the log-spot `x` at
    /// `t` (`x = (r - q - vol^2/2) t + vol W(t)`).
    fn dx_dvol(&self, j: usize, t: f64, x: f64) -> f64 {
        let Steps::Gbm(s) = &self.steps else {
            return 0.0;
        };
        let st = &s[j][0];
        let (mu, vol) = (st.drift_dt / self.dt, st.vol_sqrt_dt / self.dt.sqrt());
        (x - mu * t) / vol - vol * t
    }

    /// Scenario mode: one pricing path's base value and each scenario's
    /// value less it, into `out`. Every scenario exercises by its own
    /// policy in its own state, as `price` of its moved trade does.
    fn scenario_path(
        &self,
        normals: Normals,
        draw: u32,
        sign: f64,
        value: &mut [f64],
        out: &mut [f64],
    ) {
        let n = self.n;
        let ns = self.states();
        let last = self.dates.len() - 1;
        let mut done = vec![false; ns];
        let mut left = ns;
        value[..ns].fill(0.0);
        let mut xs = [0.0f64; MAX_ASSETS];
        let mut s = [0.0f64; MAX_ASSETS];
        self.simulate(normals, draw, sign, |step, k, x, _, _, mx| {
            let t = step as f64 * self.dt;
            for st in 0..ns {
                if done[st] {
                    continue;
                }
                let (x, spots, rate, policy) = if st == 0 {
                    (x, &self.spots, self.rate, &self.policy)
                } else {
                    let m = &self.moved[st - 1];
                    (&mx[(st - 1) * n..st * n], &m.spots, m.rate, &m.policy)
                };
                // A state that overflowed or went NaN is valued NaN: its
                // own P&L (or, the base's, every P&L) is then refused.
                if !finite(x) {
                    value[st] = f64::NAN;
                    done[st] = true;
                    left -= 1;
                    continue;
                }
                for j in 0..n {
                    xs[j] = x[j].exp();
                    s[j] = spots[j] * xs[j];
                }
                let v = self.payoff.intrinsic(&s[..n]);
                let exercise = k == last
                    || policy
                        .as_ref()
                        .is_some_and(|p| v > 0.0 && p.exercises(k, &xs[..n], v));
                if exercise {
                    value[st] = v * (-rate * t).exp();
                    done[st] = true;
                    left -= 1;
                }
            }
            left > 0
        });
        out[0] = value[0];
        for st in 1..ns {
            out[st] = value[st] - value[0];
        }
    }

    /// Sums over pricing paths `first .. first + count`, on the trade's
    /// Philox stream or a replicate's Sobol points (`sobol`).
    fn run(&self, first: u64, count: u64, sobol: Option<&SobolDraws>) -> Acc {
        let m = self.outputs();
        let mut acc = Acc::new(m);
        let mut value = vec![0.0; self.states()];
        let mut a = vec![0.0; m];
        let mut b = vec![0.0; m];
        let normals = sobol.map_or(Normals::Philox(self.stream), Normals::Sobol);
        let path = |draw: u32, sign: f64, value: &mut [f64], out: &mut [f64]| {
            if self.moved.is_empty() {
                self.path(normals, draw, sign, value, out)
            } else {
                self.scenario_path(normals, draw, sign, value, out)
            }
        };
        if self.antithetic {
            for pair in (first / 2)..(first + count) / 2 {
                path(pair as u32, 1.0, &mut value, &mut a);
                path(pair as u32, -1.0, &mut value, &mut b);
                for (x, y) in a.iter_mut().zip(&b) {
                    *x = 0.5 * (*x + y);
                }
                acc.add(&a);
            }
        } else {
            for p in first..first + count {
                path(p as u32, 1.0, &mut value, &mut a);
                acc.add(&a);
            }
        }
        acc
    }

    /// Normals a step: each asset's spot driver, then each variance driver.
    fn normals_per_step(&self) -> usize {
        match self.steps {
            Steps::Gbm(_) => self.n,
            Steps::Heston(_) => 2 * self.n,
        }
    }

    /// The merged sums of pricing paths `0 .. paths` (chunks of
    /// [`CHUNK`] merged in path order, whatever the threads).
    fn sums(&self, paths: u64, sobol: Option<&SobolDraws>) -> Acc {
        let chunks: Vec<Acc> = (0..paths.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| self.run(c * CHUNK, super::live(CHUNK.min(paths - c * CHUNK)), sobol))
            .collect();
        let mut total = Acc::new(self.outputs());
        for c in &chunks {
            total.merge(c);
        }
        total
    }

    /// The pricing paths' sums: one on the trade's Philox stream, or one
    /// per replicate of a Sobol trade, all on the one fitted policy; and
    /// the paths each covers.
    fn replicate_sums(&self, trade: &Trade, req: &PricingRequest) -> (Vec<Acc>, u64) {
        let draws = |r: u32| {
            SobolDraws::new(
                req.seed,
                self.stream,
                r,
                self.nsteps,
                self.normals_per_step(),
            )
        };
        match replicates::rng_of(trade, req) {
            Rng::Philox => (vec![self.sums(trade.paths, None)], trade.paths),
            Rng::Sobol { replicates } => {
                let per = trade.paths / replicates.max(1) as u64;
                let sums = (0..replicates)
                    .map(|r| self.sums(per, Some(&draws(r))))
                    .collect();
                (sums, per)
            }
            Rng::SobolReplicate { index } => (
                vec![self.sums(trade.paths, Some(&draws(index)))],
                trade.paths,
            ),
        }
    }

    /// Prices the trade (the caller is inside the engine's thread pool):
    /// a Sobol trade's price is its replicates' (`engine::replicates`).
    pub(crate) fn price(&self, trade: &Trade, req: &PricingRequest) -> TradeResult {
        let start = std::time::Instant::now();
        let (sums, per) = self.replicate_sums(trade, req);
        let seconds = start.elapsed().as_secs_f64();
        if let [one] = sums.as_slice() {
            return self.result(trade, req, one, seconds);
        }
        let each = Trade {
            paths: per,
            ..trade.clone()
        };
        let reps: Vec<TradeResult> = sums
            .iter()
            .map(|s| self.result(&each, req, s, 0.0))
            .collect();
        let mut r = replicates::combine_prices(&reps);
        r.paths = trade.paths;
        r.seconds = self.fit_seconds + seconds;
        r
    }

    /// The trade's result from its paths' merged outputs (`total`), priced
    /// in `seconds` (the policy's fit is added).
    pub(crate) fn result(
        &self,
        trade: &Trade,
        req: &PricingRequest,
        total: &Acc,
        seconds: f64,
    ) -> TradeResult {
        let n = self.n;
        let g = &req.greeks;
        let mut greeks = [None; 4];
        let ask = |q: Greek| g.contains(q);
        let per = |q: usize| total.estimate(q);
        if self.multi {
            for (q, greek) in Greek::ALL.iter().enumerate() {
                if ask(*greek) {
                    greeks[q] = Some(per(1 + q));
                }
            }
        } else {
            for (q, greek) in Greek::ALL.iter().enumerate() {
                if ask(*greek) {
                    greeks[q] = Some(if *greek == Greek::Rho {
                        per(4)
                    } else {
                        per(5 + q * n)
                    });
                }
            }
        }
        let [delta, gamma, vega, _] = self.asked;
        let per_asset = if self.multi && (delta || gamma || vega) {
            (0..n)
                .map(|j| AssetGreeks {
                    delta: ask(Greek::Delta).then(|| per(5 + j)),
                    gamma: ask(Greek::Gamma).then(|| per(5 + n + j)),
                    vega: ask(Greek::Vega).then(|| per(5 + 2 * n + j)),
                })
                .collect()
        } else {
            Vec::new()
        };
        TradeResult {
            pv: per(0),
            greeks,
            estimators: match self.pathwise {
                None => crate::engine::bumped(&req.greeks),
                Some(pw) => self.asked_estimators(pw),
            },
            per_asset,
            paths: trade.paths,
            seconds: self.fit_seconds + seconds,
        }
    }
}

/// A trade's distinct scenario markets: per scenario, the index of its
/// distinct move (`None` where nothing moves), and each distinct moved
/// trade prepared as a trade of its own (its policy refitted on its market
/// over the base trade's regression normals). Every engine revalues from
/// these, so the coefficients are the same whichever prices.
pub(crate) fn scenario_markets(
    trade: &Trade,
    scenarios: &TradeScenarios,
    plain: &PricingRequest,
) -> Result<(Vec<Option<usize>>, Vec<Prepared>), String> {
    let (of, distinct) = distinct_moves(scenarios);
    let moved = distinct
        .iter()
        .map(|(k, moves)| {
            moved_trade(trade, moves).map_err(|e| format!("in scenario {}: {e}", k + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The fits side by side: each one's regression is sequential.
    let prepared = moved
        .par_iter()
        .map(|t| Prepared::new(t, plain).ok_or("a moved trade lost its assets"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((of, prepared))
}

/// What a trade with an extension cannot be priced without.
pub(crate) const UNPRICEABLE: &str = "several assets and early exercise need a gbm or heston model and a european, basket or rainbow payoff";

impl Prepared {
    /// Revalues `trade` under its scenarios in one pass over its paths:
    /// every distinct moved trade ([`scenario_markets`]) evolved beside the
    /// base on the same normals, each exercising by its own policy, so a
    /// P&L's standard error is that of the per-path differences. The
    /// caller is inside the engine's thread pool.
    pub(crate) fn revalue(
        trade: &Trade,
        scenarios: &TradeScenarios,
        req: &PricingRequest,
    ) -> Result<ScenarioResult, String> {
        let start = std::time::Instant::now();
        let plain = PricingRequest {
            greeks: GreekSet::default(),
            ..req.clone()
        };
        let mut p = Prepared::new(trade, &plain).ok_or(UNPRICEABLE)?;
        let (of, moved) = scenario_markets(trade, scenarios, &plain)?;
        for m in moved {
            p.fit_seconds += m.fit_seconds;
            p.moved.push(Moved::of(m));
        }
        if p.moved.is_empty() {
            // Nothing moves: the base price alone.
            let r = p.price(trade, &plain);
            return Ok(ScenarioResult {
                base: r.pv,
                pnl: vec![Estimate::ZERO; of.len()],
                paths: trade.paths,
                seconds: r.seconds,
            });
        }
        let (sums, per) = p.replicate_sums(trade, req);
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
        r.seconds = p.fit_seconds + start.elapsed().as_secs_f64();
        Ok(r)
    }
}

/// Whether every log-spot of a path's state at a date is finite: a path
/// that overflowed or went NaN is valued NaN (its trade's sums turn NaN,
/// refused naming the trade), never exercised or paid a clamped garbage;
/// as `Real::nan_unless_finite` for the one-asset kernels.
fn finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// Sums of a variable number of outputs over consecutive paths, turned
/// into mean and squared deviations when merged (as [`crate::stats`]).
pub struct Acc {
    n: u64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl Acc {
    pub(crate) fn new(m: usize) -> Acc {
        Acc {
            n: 0,
            mean: vec![0.0; m],
            m2: vec![0.0; m],
            sum: vec![0.0; m],
            sum_sq: vec![0.0; m],
        }
    }

    pub(crate) fn add(&mut self, x: &[f64]) {
        self.n += 1;
        for ((s, q), x) in self.sum.iter_mut().zip(self.sum_sq.iter_mut()).zip(x) {
            *s += x;
            *q += x * x;
        }
    }

    /// Appends chunk `o` (its raw sums), in path order.
    pub(crate) fn merge(&mut self, o: &Acc) {
        if o.n == 0 {
            return;
        }
        let nb = o.n as f64;
        let mean: Vec<f64> = o.sum.iter().map(|s| s / nb).collect();
        let m2: Vec<f64> = o
            .sum
            .iter()
            .zip(&o.sum_sq)
            .zip(&mean)
            .map(|((s, q), m)| (q - s * m).max(0.0))
            .collect();
        self.merge_moments(o.n, &mean, &m2);
    }

    /// Appends `n` paths' means and M2 (sums of squared deviations), in
    /// path order: a GPU block's outputs (`crate::gpu::extension`).
    pub(crate) fn merge_moments(&mut self, n: u64, mean: &[f64], m2: &[f64]) {
        if n == 0 {
            return;
        }
        let nb = n as f64;
        let na = self.n as f64;
        let total = na + nb;
        for q in 0..self.mean.len() {
            let (mean_b, m2_b) = (mean[q], m2[q]);
            if self.n == 0 {
                self.mean[q] = mean_b;
                self.m2[q] = m2_b;
            } else {
                let d = mean_b - self.mean[q];
                self.mean[q] += d * nb / total;
                self.m2[q] += m2_b + d * d * na * nb / total;
            }
        }
        self.n += n;
    }

    pub(crate) fn estimate(&self, q: usize) -> Estimate {
        let n = self.n as f64;
        Estimate {
            value: self.mean[q],
            stderr: if self.n > 1 {
                (self.m2[q] / (n - 1.0) / n).sqrt()
            } else {
                f64::NAN
            },
        }
    }
}

/// Whether a trade goes to this pricer.
pub(crate) fn takes(trade: &Trade) -> bool {
    trade.extension.is_some()
}
