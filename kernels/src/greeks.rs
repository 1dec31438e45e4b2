//! Greeks in the same pass as the price, on common random numbers.
//!
//! Every Greek is a central difference of revaluations that run on the same
//! normals as the price, inside the same path loop:
//!
//! | Greek | bump | how the bumped revaluation is made |
//! |---|---|---|
//! | delta `dV/dS` | spot x (1 +- 1%) | the same path shifted by `ln(1 +- 0.01)` (all three models are homogeneous in spot) |
//! | gamma `d2V/dS2` | spot x (1 +- 1%) | the same two shifted paths and the base one |
//! | vega `dV/dsigma` | vol x (1 +- 1%) | the path re-evolved on the same normals with the bumped vol: `vol` (gbm), `sqrt(v0)` (heston), `sigma` (sv_fx) |
//! | rho `dV/dr` | rate +- 1 bp | the same path shifted by `+-1bp * t_i`, discounted at `r +- 1bp`; for sv_fx the bumped parameter is `drift` (it has no discounting) |
//!
//! Because a spot bump only shifts the log-path, delta of a smooth payoff
//! (european, asian, lookback) is the pathwise derivative up to `O(h^2)`
//! with the pathwise estimator's small variance; for digitals and barriers
//! it is the usual CRN finite difference. Results are per unit of the
//! parameter (vega per 1.00 of vol, rho per 1.00 of rate).
//!
//! azfinsim's `deltavega` ([`Bumps::AZFINSIM`]) uses its own convention:
//! 1% relative bumps of `fx1` and `sigma1`, divided by 10,000.

use crate::instrument::Trade;
use crate::model::ModelSpec;
use crate::tangent::{DELTA, RHO, TANGENTS, VEGA};

/// A sensitivity that can be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Greek {
    Delta,
    Gamma,
    Vega,
    Rho,
}

impl Greek {
    pub const ALL: [Greek; 4] = [Greek::Delta, Greek::Gamma, Greek::Vega, Greek::Rho];

    pub fn name(self) -> &'static str {
        match self {
            Greek::Delta => "delta",
            Greek::Gamma => "gamma",
            Greek::Vega => "vega",
            Greek::Rho => "rho",
        }
    }

    pub fn parse(s: &str) -> Option<Greek> {
        Greek::ALL.into_iter().find(|g| g.name() == s)
    }

    /// Slot in the per-trade output vector (0 is the PV).
    pub fn slot(self) -> usize {
        1 + self as usize
    }
}

/// The Greeks a run computes, in the order they were asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GreekSet(pub Vec<Greek>);

impl GreekSet {
    pub fn contains(&self, g: Greek) -> bool {
        self.0.contains(&g)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Bump sizes and the factor results are multiplied by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bumps {
    pub spot_rel: f64,
    pub vol_rel: f64,
    pub rate_abs: f64,
    pub scale: f64,
}

impl Bumps {
    /// riskpool's own Greeks: per unit of each parameter.
    pub const STANDARD: Bumps = Bumps {
        spot_rel: 0.01,
        vol_rel: 0.01,
        rate_abs: 1e-4,
        scale: 1.0,
    };
    /// azfinsim's `deltavega`: `(PV(p + 1% p) - PV(p - 1% p)) / 2 / (1% p) / 10000`.
    pub const AZFINSIM: Bumps = Bumps {
        spot_rel: 0.01,
        vol_rel: 0.01,
        rate_abs: 1e-4,
        scale: 1e-4,
    };
}

/// How a run asks for its Greeks (`--greeks-method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GreeksMethod {
    /// Central differences of revaluations on common random numbers (the
    /// table above): every engine, every trade.
    #[default]
    Bump,
    /// One pass: pathwise derivatives where the payoff is Lipschitz, a
    /// likelihood ratio where it jumps, bumps where neither applies (each
    /// Greek's [`Estimator`] says which; see [`Revaluations::for_method`]).
    Pathwise,
}

impl GreeksMethod {
    pub const ALL: [GreeksMethod; 2] = [GreeksMethod::Pathwise, GreeksMethod::Bump];

    pub fn name(self) -> &'static str {
        match self {
            GreeksMethod::Bump => "bump",
            GreeksMethod::Pathwise => "pathwise",
        }
    }

    pub fn parse(s: &str) -> Option<GreeksMethod> {
        GreeksMethod::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// How one Greek of one trade was estimated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Estimator {
    /// A central difference of bumped revaluations on the same paths.
    Bump,
    /// The pathwise derivative: each path's tangent carried beside its state.
    Pathwise,
    /// Gamma as the central difference of pathwise deltas on the spot-bumped
    /// paths (common random numbers).
    PathwiseDifference,
    /// The payoff times the derivative of the path density's logarithm.
    LikelihoodRatio,
}

impl Estimator {
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Bump => "bump",
            Estimator::Pathwise => "pathwise",
            Estimator::PathwiseDifference => "pathwise_difference",
            Estimator::LikelihoodRatio => "likelihood_ratio",
        }
    }
}

/// Outputs per trade: PV and the four Greeks.
pub const OUTPUTS: usize = 5;
/// Model families per path: base, vol up, vol down.
pub const MAX_FAMILIES: usize = 3;
/// Revaluations per path: base, spot up/down, rate up/down, vol up/down.
pub const MAX_FOLDS: usize = 7;

/// One revaluation folded along a path: which model family's path it reads,
/// the shift of `x` at step `i` (`x0 + dx * i`), and its discount factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fold {
    pub family: usize,
    pub x0: f64,
    pub dx: f64,
    pub discount: f64,
}

/// How one trade's outputs are computed: the model families that are
/// evolved, the folds read off them, and each output as a linear
/// combination of the folds' discounted payoffs (and, for one-pass
/// Greeks, of their tangents and a likelihood-ratio weight).
#[derive(Clone, Debug, PartialEq)]
pub struct Revaluations {
    pub families: Vec<ModelSpec>,
    pub folds: Vec<Fold>,
    /// `outputs[q] = sum_k coef[q][k] * fold_value[k]`.
    pub coef: [[f64; MAX_FOLDS]; OUTPUTS],
    /// Which outputs are computed.
    pub active: [bool; OUTPUTS],
    /// Pathwise tangents carried through the paths (`None`: plain numbers).
    pub tangents: Option<Tangents>,
    /// `outputs[q] += weight[q](path) * fold_value[0]`, a likelihood ratio.
    pub likelihood: [Option<Likelihood>; OUTPUTS],
    /// How each Greek is estimated (indexed by `Greek as usize`).
    pub estimators: [Option<Estimator>; 4],
}

/// The pathwise part of a plan: where each tangent direction
/// ([`crate::tangent`]: delta, vega, rho) enters, and how the outputs read
/// the folds' tangents.
#[derive(Clone, Debug, PartialEq)]
pub struct Tangents {
    /// Per fold: the derivatives of its `x0`, `dx` and `discount`.
    pub folds: Vec<FoldTangents>,
    /// Whether the base family's constants carry vega's direction.
    pub vega: bool,
    /// `outputs[q] += sum_k sum_j coef[q][k][j] * d_j fold_value[k]`.
    pub coef: [[[f64; TANGENTS]; MAX_FOLDS]; OUTPUTS],
}

/// A fold's seeds: the derivative of each of its numbers along each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FoldTangents {
    pub x0: [f64; TANGENTS],
    pub dx: [f64; TANGENTS],
    pub discount: [f64; TANGENTS],
}

/// A likelihood-ratio weight: a function of the path's scores
/// ([`Scores`]), times `scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Likelihood {
    pub weight: LrWeight,
    pub scale: f64,
}

/// The likelihood-ratio weights riskpool uses. Each model's log-spot step
/// is, given the auxiliary variable's own driver, normal with standard
/// deviation `c s_i` (`s_i = sqrt(var_dt)`, `c = sqrt(1 - rho^2)` for
/// heston and sv_fx, 1 for gbm) around a mean that a spot move shifts at
/// the first step only and a rate move at every step by `dt`; so the
/// derivatives of the path density's logarithm are the [`Scores`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrWeight {
    /// `first / spot`.
    Delta { spot: f64 },
    /// `(first^2 - curvature - first) / spot^2`.
    Gamma { spot: f64 },
    /// gbm, a payoff of `S_T` alone: `a / spot` with `a = rate / t` (the
    /// terminal density's score, far smaller in variance than the first step's).
    DeltaTerminal { spot: f64, t: f64 },
    /// `(a^2 - 1 / (vol^2 t) - a) / spot^2`.
    GammaTerminal { spot: f64, t: f64, vol: f64 },
    /// gbm, a payoff of `S_T` alone: `(vol^2 t a^2 - 1) / vol - vol t a`.
    VegaTerminal { t: f64, vol: f64 },
    /// `rate - t` (`t` = 0 where the model does not discount).
    Rho { t: f64 },
}

/// A path's scores, summed along it by the kernel from its normals and step
/// variances (the names of [`LrWeight`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// `n_1 / (c s_1)`: the first step's score for a shift of `ln S_0`.
    pub first: f64,
    /// `1 / (c s_1)^2`: minus its derivative.
    pub curvature: f64,
    /// `sum_i dt n_i / (c s_i)`: the score for a shift of the drift.
    pub rate: f64,
}

impl LrWeight {
    /// The weight of a path with scores `s`.
    #[inline(always)]
    pub fn weight(&self, s: &Scores) -> f64 {
        match *self {
            LrWeight::Delta { spot } => s.first / spot,
            LrWeight::Gamma { spot } => (s.first * s.first - s.curvature - s.first) / (spot * spot),
            LrWeight::DeltaTerminal { spot, t } => s.rate / t / spot,
            LrWeight::GammaTerminal { spot, t, vol } => {
                let a = s.rate / t;
                (a * a - 1.0 / (vol * vol * t) - a) / (spot * spot)
            }
            LrWeight::VegaTerminal { t, vol } => {
                let a = s.rate / t;
                (vol * vol * t * a * a - 1.0) / vol - vol * t * a
            }
            LrWeight::Rho { t } => s.rate - t,
        }
    }
}

impl Revaluations {
    pub fn new(trade: &Trade, greeks: &GreekSet, bumps: &Bumps) -> Revaluations {
        let model = &trade.model;
        let t = trade.maturity;
        let dt = t / trade.steps as f64;
        let r = model.discount_rate();
        let disc = (-r * t).exp();
        let mut families = vec![model.clone()];
        let mut folds = vec![Fold {
            family: 0,
            x0: 0.0,
            dx: 0.0,
            discount: disc,
        }];
        let mut coef = [[0.0; MAX_FOLDS]; OUTPUTS];
        let mut active = [false; OUTPUTS];
        coef[0][0] = 1.0;
        active[0] = true;
        let s = bumps.scale;

        if greeks.contains(Greek::Delta) || greeks.contains(Greek::Gamma) {
            let h = bumps.spot_rel;
            let up = folds.len();
            folds.push(Fold {
                family: 0,
                x0: (1.0 + h).ln(),
                dx: 0.0,
                discount: disc,
            });
            folds.push(Fold {
                family: 0,
                x0: (1.0 - h).ln(),
                dx: 0.0,
                discount: disc,
            });
            let ds = h * model.spot();
            if greeks.contains(Greek::Delta) {
                let q = Greek::Delta.slot();
                active[q] = true;
                coef[q][up] = s / (2.0 * ds);
                coef[q][up + 1] = -s / (2.0 * ds);
            }
            if greeks.contains(Greek::Gamma) {
                let q = Greek::Gamma.slot();
                active[q] = true;
                coef[q][0] = -2.0 * s / (ds * ds);
                coef[q][up] = s / (ds * ds);
                coef[q][up + 1] = s / (ds * ds);
            }
        }
        if greeks.contains(Greek::Rho) {
            let dr = bumps.rate_abs;
            let up = folds.len();
            // sv_fx does not discount: its rho is dV/d(drift), a pure shift.
            let discounted = !matches!(model, ModelSpec::SvFx(_));
            let (du, dd) = if discounted {
                ((-(r + dr) * t).exp(), (-(r - dr) * t).exp())
            } else {
                (1.0, 1.0)
            };
            folds.push(Fold {
                family: 0,
                x0: 0.0,
                dx: dr * dt,
                discount: du,
            });
            folds.push(Fold {
                family: 0,
                x0: 0.0,
                dx: -dr * dt,
                discount: dd,
            });
            let q = Greek::Rho.slot();
            active[q] = true;
            coef[q][up] = s / (2.0 * dr);
            coef[q][up + 1] = -s / (2.0 * dr);
        }
        if greeks.contains(Greek::Vega) {
            let h = bumps.vol_rel;
            families.push(model.with_vol_scaled(1.0 + h));
            families.push(model.with_vol_scaled(1.0 - h));
            let up = folds.len();
            folds.push(Fold {
                family: 1,
                x0: 0.0,
                dx: 0.0,
                discount: disc,
            });
            folds.push(Fold {
                family: 2,
                x0: 0.0,
                dx: 0.0,
                discount: disc,
            });
            let dv = h * model.vol_parameter();
            let q = Greek::Vega.slot();
            active[q] = true;
            if dv > 0.0 {
                coef[q][up] = s / (2.0 * dv);
                coef[q][up + 1] = -s / (2.0 * dv);
            }
        }
        let estimators = crate::engine::bumped(greeks);
        Revaluations {
            families,
            folds,
            coef,
            active,
            tangents: None,
            likelihood: [None; OUTPUTS],
            estimators,
        }
    }

    /// The plan for `method`: [`Revaluations::new`]'s bumps, or one pass
    /// ([`GreeksMethod::Pathwise`]): a Lipschitz payoff's Greeks pathwise
    /// (gamma as the difference of pathwise deltas), a jumping payoff's by
    /// likelihood ratio where the model's density allows
    /// ([`Revaluations::likelihood`]) and by bumps where it does not.
    pub fn for_method(
        trade: &Trade,
        greeks: &GreekSet,
        bumps: &Bumps,
        method: GreeksMethod,
    ) -> Revaluations {
        if method == GreeksMethod::Bump || greeks.is_empty() {
            return Revaluations::new(trade, greeks, bumps);
        }
        // A continuous barrier's bridge weight is smooth only while every
        // step has variance: heston's truncated steps have none, and there
        // the knock is a hard step the pathwise derivative cannot see
        // (biased by a third on the tests' up-and-out).
        let hard_steps = matches!(trade.model, ModelSpec::Heston(_))
            && matches!(
                trade.payoff,
                crate::payoff::PayoffSpec::Barrier(_) | crate::payoff::PayoffSpec::DoubleBarrier(_)
            );
        if trade.payoff.lipschitz(trade.steps) && !hard_steps {
            Revaluations::pathwise(trade, greeks, bumps)
        } else {
            Revaluations::likelihood(trade, greeks, bumps)
        }
    }

    /// Every Greek pathwise: the base fold carries delta's, vega's and
    /// rho's tangents; gamma reads delta's tangent on the two spot-bumped
    /// folds (the bump's `h`, so its bias is the bump gamma's).
    fn pathwise(trade: &Trade, greeks: &GreekSet, bumps: &Bumps) -> Revaluations {
        let model = &trade.model;
        let t = trade.maturity;
        let dt = t / trade.steps as f64;
        let disc = (-model.discount_rate() * t).exp();
        let discounted = !matches!(model, ModelSpec::SvFx(_));
        let spot = model.spot();
        let s = bumps.scale;
        // Heston's vega is bumped: the pathwise derivative of the truncated
        // variance's square root is heavy-tailed near zero (its standard
        // error 2 to 7 times the bump's in the tests' cases).
        let bump_vega = matches!(model, ModelSpec::Heston(_)) && greeks.contains(Greek::Vega);
        let bumped = GreekSet(if bump_vega { vec![Greek::Vega] } else { vec![] });
        let mut plan = Revaluations::new(trade, &bumped, bumps);
        let mut tangents = Tangents {
            folds: Vec::new(),
            vega: greeks.contains(Greek::Vega) && !bump_vega,
            coef: [[[0.0; TANGENTS]; MAX_FOLDS]; OUTPUTS],
        };
        // A fold at spot `spot * m`: x shifted by ln(m), whose derivative
        // in the spot is 1 / (spot * m); a rate move shifts x by `dt` a
        // step and the discount factor by `-t` times itself.
        let seeds = |m: f64| FoldTangents {
            x0: [1.0 / (spot * m), 0.0, 0.0],
            dx: [0.0, 0.0, dt],
            discount: [0.0, 0.0, if discounted { -t * disc } else { 0.0 }],
        };
        // The base fold, then the bumped vega's (read for their values).
        tangents.folds.push(seeds(1.0));
        tangents
            .folds
            .resize(plan.folds.len(), FoldTangents::default());
        let mut estimators = plan.estimators;
        if greeks.contains(Greek::Delta) {
            let q = Greek::Delta.slot();
            plan.active[q] = true;
            tangents.coef[q][0][DELTA] = s;
            estimators[Greek::Delta as usize] = Some(Estimator::Pathwise);
        }
        if greeks.contains(Greek::Gamma) {
            // The shifted spots sit a millionth inside spot x (1 +- h): a
            // kink exactly there (a lookback struck at 99 on a spot of
            // 100, its extreme starting at the spot) is then seen from the
            // base spot's side, as a bumped gamma's second difference sees
            // it, not as the mean of its sides.
            let h = bumps.spot_rel;
            let up = plan.folds.len();
            let (mu, md) = ((1.0 + h) * (1.0 - 1e-6), (1.0 - h) * (1.0 + 1e-6));
            for m in [mu, md] {
                plan.folds.push(Fold {
                    family: 0,
                    x0: m.ln(),
                    dx: 0.0,
                    discount: disc,
                });
                tangents.folds.push(seeds(m));
            }
            let q = Greek::Gamma.slot();
            plan.active[q] = true;
            let ds = spot * (mu - md);
            tangents.coef[q][up][DELTA] = s / ds;
            tangents.coef[q][up + 1][DELTA] = -s / ds;
            estimators[Greek::Gamma as usize] = Some(Estimator::PathwiseDifference);
        }
        if tangents.vega {
            let q = Greek::Vega.slot();
            plan.active[q] = true;
            tangents.coef[q][0][VEGA] = s;
            estimators[Greek::Vega as usize] = Some(Estimator::Pathwise);
        }
        if greeks.contains(Greek::Rho) {
            let q = Greek::Rho.slot();
            plan.active[q] = true;
            tangents.coef[q][0][RHO] = s;
            estimators[Greek::Rho as usize] = Some(Estimator::Pathwise);
        }
        plan.tangents = Some(tangents);
        plan.estimators = estimators;
        plan
    }

    /// A jumping payoff's Greeks: by likelihood ratio where its variance
    /// is small, by bumps otherwise:
    ///
    /// | Greek | gbm, payoff of `S_T` alone | gbm, path-dependent | heston | sv_fx |
    /// |---|---|---|---|---|
    /// | delta, gamma | LR, terminal score | LR if one step, else bump | as gbm path-dependent | as gbm path-dependent |
    /// | vega | LR, terminal score | bump | bump | bump |
    /// | rho | LR | LR | bump | LR |
    ///
    /// Why: a spot move changes the path's density at its first step only,
    /// so that score's variance grows as `1 / dt` (at 48 steps its standard
    /// error was 3 to 10 times a bump's); under gbm a payoff of `S_T` alone
    /// has the terminal density's score, which does not. A rate move
    /// changes every step's density, and its score beat bumps by 1.5 to
    /// 100 times. Heston's `v0` moves the whole variance path, and a step
    /// of truncated variance has no density: bumps. A vol parameter of 0
    /// or a correlation of +-1 leaves the step without a density: bumps.
    fn likelihood(trade: &Trade, greeks: &GreekSet, bumps: &Bumps) -> Revaluations {
        let model = &trade.model;
        let t = trade.maturity;
        let spot = model.spot();
        // A score divides by the step's deviation `c s`: it must stay well
        // away from 0 (f32 underflows a vol of 1e-25), the correlation
        // well inside +-1 (at |rho| 0.99 a first-step score was 2 to 3
        // times a bump's error, beyond 0.999 useless), and sv_fx's vol
        // path within a few e-folds of its start (volvol sqrt(T) <= 2).
        let dt = t / trade.steps as f64;
        let (vol, rho_ok) = match model {
            ModelSpec::Gbm(m) => (m.vol, true),
            ModelSpec::Heston(m) => (m.v0.sqrt(), m.rho.abs() <= 0.9),
            ModelSpec::SvFx(m) => (m.sigma, m.rho.abs() <= 0.9 && m.volvol * t.sqrt() <= 2.0),
        };
        let dense = vol * dt.sqrt() >= 1e-4 && rho_ok;
        let gbm = matches!(model, ModelSpec::Gbm(_)) && dense;
        let terminal = gbm && trade.payoff.terminal_only();
        let one_step = dense && trade.steps == 1;
        let discounted = !matches!(model, ModelSpec::SvFx(_));
        let weight = |g: Greek| -> Option<LrWeight> {
            match g {
                Greek::Delta if terminal => Some(LrWeight::DeltaTerminal { spot, t }),
                Greek::Delta if one_step => Some(LrWeight::Delta { spot }),
                Greek::Gamma if terminal => Some(LrWeight::GammaTerminal { spot, t, vol }),
                Greek::Gamma if one_step => Some(LrWeight::Gamma { spot }),
                Greek::Vega if terminal => Some(LrWeight::VegaTerminal { t, vol }),
                Greek::Rho if gbm || (dense && !discounted) => Some(LrWeight::Rho {
                    t: if discounted { t } else { 0.0 },
                }),
                _ => None,
            }
        };
        let bumped = GreekSet(
            greeks
                .0
                .iter()
                .copied()
                .filter(|g| weight(*g).is_none())
                .collect(),
        );
        let mut plan = Revaluations::new(trade, &bumped, bumps);
        for g in &greeks.0 {
            if let Some(w) = weight(*g) {
                plan.active[g.slot()] = true;
                plan.likelihood[g.slot()] = Some(Likelihood {
                    weight: w,
                    scale: bumps.scale,
                });
                plan.estimators[*g as usize] = Some(Estimator::LikelihoodRatio);
            }
        }
        plan
    }

    /// Whether the kernel must sum the path's [`Scores`].
    pub fn needs_scores(&self) -> bool {
        self.likelihood.iter().any(Option::is_some)
    }
}
