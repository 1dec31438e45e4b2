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
/// combination of the folds' discounted payoffs.
#[derive(Clone, Debug, PartialEq)]
pub struct Revaluations {
    pub families: Vec<ModelSpec>,
    pub folds: Vec<Fold>,
    /// `outputs[q] = sum_k coef[q][k] * fold_value[k]`.
    pub coef: [[f64; MAX_FOLDS]; OUTPUTS],
    /// Which outputs are computed.
    pub active: [bool; OUTPUTS],
}

/// The parameter vega is taken with respect to.
fn vol_parameter(model: &ModelSpec) -> f64 {
    match model {
        ModelSpec::Gbm(m) => m.vol,
        ModelSpec::Heston(m) => m.v0.sqrt(),
        ModelSpec::SvFx(m) => m.sigma,
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
            let dv = h * vol_parameter(model);
            let q = Greek::Vega.slot();
            active[q] = true;
            if dv > 0.0 {
                coef[q][up] = s / (2.0 * dv);
                coef[q][up + 1] = -s / (2.0 * dv);
            }
        }
        Revaluations {
            families,
            folds,
            coef,
            active,
        }
    }
}
