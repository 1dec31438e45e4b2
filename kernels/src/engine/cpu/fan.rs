//! Scenario fans: a trade's base path evolved once per block of paths, and
//! every scenario that only moves spots and rates folded on it.
//!
//! A scenario pass ([`crate::revalue`]) carries at most five scenarios,
//! and a group of passes ([`super::lanes::run_group`]) eight passes, so a
//! trade with 250 scenarios draws its normals and evolves its base path
//! seven times, and spends a pass's output stage (a branch per output and
//! fold, per path) on every five. A fan takes up to [`FAN`] scenarios at
//! once on one base path: the normals are drawn and the path evolved once,
//! each scenario's fold reads the path (`x + x0 + dx i`, as in a pass), and
//! the P&L sums are accumulated for all scenarios at once, in path order.
//!
//! The arithmetic of every fold and of every sum is a pass's, operation
//! for operation, so a fan's base price and P&L are the bits the passes
//! give (tests check it on every model and payoff), with one exception:
//! an arithmetic average ([`PathPayoff::scales`]) sums `e^x e^shift`,
//! with `e^x` taken once a path and `e^shift` once a scenario, where a
//! pass takes `e^(x + shift)` for each: its P&L differs from a pass's by
//! rounding (its base price, `e^shift = 1`, does not; and where a path's
//! log-spot nears the end of the exponential's range, |x| about 87 in f32,
//! the two may round apart further: one may overflow where the other
//! does not). Only scenarios on the base model family can fan: a vol move
//! evolves a family of its own.

use super::lanes::{draw_segment, lane_paths, Draws, FoldStep, Job, SEGMENT};
use crate::greeks::OUTPUTS;
use crate::model::PathModel;
use crate::payoff::PathPayoff;
use crate::real::Real;
use crate::stats::Sums;

/// Scenarios one fan folds at once (beyond it, a trade's scenarios go in
/// several fans, each evolving the base path again): a fold's state is two
/// numbers a lane, so [`FAN`] of them at 16 lanes of f64 is 128 KiB, about
/// what a core's second-level cache keeps near.
pub const FAN: usize = 512;

/// A fan's sums: for fold 0 (the base) its discounted payoff, for fold
/// `k > 0` its payoff less the base's, per path (pairs averaged first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FanSums {
    pub n: u64,
    pub sum: Vec<f64>,
    pub sum_sq: Vec<f64>,
}

impl FanSums {
    fn new(folds: usize) -> FanSums {
        FanSums {
            n: 0,
            sum: vec![0.0; folds],
            sum_sq: vec![0.0; folds],
        }
    }

    /// The sums as [`Sums`] of [`OUTPUTS`] folds each (fold `k` is output
    /// `k % OUTPUTS` of entry `k / OUTPUTS`), for [`crate::stats::Moments`]:
    /// each output's arithmetic is its own, so a fold's moments are the
    /// bits a pass's output gets.
    pub fn as_sums(&self) -> Vec<Sums> {
        self.sum
            .chunks(OUTPUTS)
            .zip(self.sum_sq.chunks(OUTPUTS))
            .map(|(s, q)| {
                let mut out = Sums {
                    n: self.n,
                    ..Sums::default()
                };
                out.sum[..s.len()].copy_from_slice(s);
                out.sum_sq[..q.len()].copy_from_slice(q);
                out
            })
            .collect()
    }
}

/// Prices paths `first .. first + count` of `job`'s base (family 0) under
/// every fold of `folds` (fold 0 the base itself, every fold on family 0),
/// in path order. The base path is evolved `L` paths at a time across
/// lanes; the folds then run across the scenarios, lane by lane (each
/// lane's state is contiguous over the folds, so the fold loops are the
/// vector loops). `job`'s own folds and outputs are not read.
#[inline(always)]
pub fn run_fan<T: Real, M: PathModel<T>, P: PathPayoff<T>, const L: usize>(
    job: &Job<T, M, P>,
    folds: &[FoldStep<T>],
    first: u64,
    count: u64,
) -> FanSums {
    let nf = folds.len();
    let mut acc = FanSums::new(nf);
    let k = M::NORMALS;
    let model = job.families[0];
    let x0: Vec<T> = folds.iter().map(|f| f.x0).collect();
    let dx: Vec<T> = folds.iter().map(|f| f.dx).collect();
    let discount: Vec<T> = folds.iter().map(|f| f.discount).collect();
    let start: Vec<[T; 2]> = folds.iter().map(|f| job.payoff.start(f.x0)).collect();
    let scales = job.payoff.scales();
    let mut z = [[T::Plain::ZERO; L]; SEGMENT * 2];
    // Per lane, per fold: its state (two numbers), its discounted payoff.
    let mut st0 = vec![T::ZERO; L * nf];
    let mut st1 = vec![T::ZERO; L * nf];
    let mut v = vec![0.0f64; L * nf];
    let mut shift = vec![T::ZERO; nf];
    let mut scale = vec![T::ZERO; nf];
    let mut o = vec![0.0f64; nf];
    let mut draws = Draws::<T::Plain, L>::of(job, k);
    let end = first + count;
    let mut p = first;
    while p < end {
        let valid = (end - p).min(L as u64) as usize;
        let (path_ctr, sign) = lane_paths::<T::Plain, L>(p, job.antithetic);
        draws.block(p);
        let mut x = [T::ZERO; L];
        let mut aux = [model.aux0(); L];
        let mut var = [T::ZERO; L];
        for l in 0..L {
            let (a, b) = (&mut st0[l * nf..][..nf], &mut st1[l * nf..][..nf]);
            for ((a, b), s) in a.iter_mut().zip(b.iter_mut()).zip(&start) {
                *a = s[0];
                *b = s[1];
            }
        }

        let mut step0 = 0u32;
        while step0 < job.steps {
            let n = ((job.steps - step0) as usize).min(SEGMENT);
            draw_segment(&mut z, job, &path_ctr, &sign, step0, n, k, draws.full());
            for s in 0..n {
                let zs = &z[s * k..];
                for l in 0..L {
                    let z2 = if k == 2 { T::lift(zs[1][l]) } else { T::ZERO };
                    let z1 = T::lift(zs[0][l]);
                    var[l] = model.step(&mut x[l], &mut aux[l], [z1, z2]);
                }
                if !P::OBSERVES {
                    continue;
                }
                let i = T::from_u32(step0 + s as u32 + 1);
                for ((sh, x0), dx) in shift.iter_mut().zip(&x0).zip(&dx) {
                    *sh = *x0 + *dx * i;
                }
                if scales {
                    // The spot `e^x e^shift`: an exp a lane and one a
                    // fold, not one a lane and fold.
                    for (e, sh) in scale.iter_mut().zip(&shift) {
                        *e = sh.exp();
                    }
                    for l in 0..L {
                        let ex = x[l].exp();
                        let (a, b) = (&mut st0[l * nf..][..nf], &mut st1[l * nf..][..nf]);
                        for ((a, b), es) in a.iter_mut().zip(b.iter_mut()).zip(&scale) {
                            let mut pair = [*a, *b];
                            job.payoff.observe_scaled(&mut pair, ex, *es);
                            *a = pair[0];
                            *b = pair[1];
                        }
                    }
                    continue;
                }
                for l in 0..L {
                    let (xl, vl) = (x[l], var[l]);
                    let (a, b) = (&mut st0[l * nf..][..nf], &mut st1[l * nf..][..nf]);
                    for ((a, b), sh) in a.iter_mut().zip(b.iter_mut()).zip(&shift) {
                        let mut pair = [*a, *b];
                        job.payoff.observe(&mut pair, xl + *sh, vl);
                        *a = pair[0];
                        *b = pair[1];
                    }
                }
            }
            step0 += n as u32;
        }

        // Each fold's discounted payoff, per lane (as `lanes::run_jobs`).
        let steps = T::from_u32(job.steps);
        for ((sh, x0), dx) in shift.iter_mut().zip(&x0).zip(&dx) {
            *sh = *x0 + *dx * steps;
        }
        for l in 0..L {
            let (xl, al) = (x[l], aux[l]);
            let (a, b) = (&st0[l * nf..][..nf], &st1[l * nf..][..nf]);
            let v = &mut v[l * nf..][..nf];
            for ((((v, a), b), sh), d) in v.iter_mut().zip(a).zip(b).zip(&shift).zip(&discount) {
                let xs = xl + *sh;
                let val = job.payoff.value([*a, *b], xs) * *d;
                *v = val.nan_unless_finite(xs).nan_unless_finite(al).to_f64();
            }
        }

        // The sums in path order, every fold at once. A pass computes the
        // base's output as `0 + 1 v_0` and a scenario's as
        // `(0 + -1 v_0) + 1 v_k`: the same operations here, so the same
        // bits (signed zeros included).
        let mut l = 0;
        while l < valid {
            let this = &v[l * nf..][..nf];
            if job.antithetic {
                let next = &v[(l + 1).min(L - 1) * nf..][..nf];
                for ((o, a), b) in o.iter_mut().zip(this).zip(next) {
                    *o = 0.5 * (*a + *b);
                }
            } else {
                o.copy_from_slice(this);
            }
            let base = o[0];
            let minus = 0.0 + -1.0 * base;
            for o in o.iter_mut().skip(1) {
                *o = minus + 1.0 * *o;
            }
            o[0] = 0.0 + 1.0 * base;
            for ((s, q), o) in acc.sum.iter_mut().zip(acc.sum_sq.iter_mut()).zip(&o) {
                *s += *o;
                *q += *o * *o;
            }
            acc.n += 1;
            l += if job.antithetic { 2 } else { 1 };
        }
        p += L as u64;
    }
    acc
}
