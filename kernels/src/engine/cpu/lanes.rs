//! The CPU path kernel: `L` paths at a time in structure-of-arrays lanes.
//!
//! Every loop over `0..L` is straight-line code on arrays, so LLVM turns it
//! into SIMD at whatever width the caller was compiled for (see
//! `dispatch.rs`). Each lane does exactly the scalar operations of one path,
//! without `fma`, so the bits do not depend on `L`; and the payoffs are
//! summed in path order, so neither does the total.
//!
//! Per block of `L` paths, steps are taken in segments of [`SEGMENT`]:
//!
//! 1. draw the segment's normals for every lane (Philox + Box-Muller);
//! 2. for each model family (base, vol-bumped), step every lane on those
//!    normals, then fold the step into each revaluation read off that family;
//!
//! then the folds' discounted payoffs are combined into the outputs (across
//! the lanes) and added to the f64 sums (in path order). The GPU kernels have the same shape, one lane per
//! thread. Several jobs over the same trade's paths (its scenario passes)
//! run as a group ([`run_group`]): step 1 once a segment for [`GROUP`] of
//! them, and a family whose auxiliary path is the base's
//! ([`PathModel::shares_aux`]: sv_fx's vol factor under a `sigma` move)
//! takes the base's auxiliary step instead of its own.

use crate::greeks::{Likelihood, Scores, MAX_FOLDS, OUTPUTS};
use crate::model::PathModel;
use crate::payoff::PathPayoff;
use crate::qmc::{LaneScratch, SobolDraws};
use crate::real::Real;
use crate::rng::{counter, philox4x32_10};
use crate::stats::Sums;
use crate::tangent::TANGENTS;

/// Steps whose normals are drawn at once (a multiple of 4, so a segment
/// starts on a Philox block for any normals-per-step).
pub const SEGMENT: usize = 64;

/// Model families a CPU job carries: beyond the GPU records'
/// [`crate::greeks::MAX_FAMILIES`] (base, vol up, vol down), enough for a
/// scenario pass whose every output has a vol move of its own, and the
/// base (`crate::revalue::PassLimits::CPU`).
pub const FAMILIES: usize = OUTPUTS + 1;

/// A revaluation in path precision (see [`crate::greeks::Fold`]).
#[derive(Clone, Copy, Debug)]
pub struct FoldStep<T> {
    pub family: usize,
    pub x0: T,
    pub dx: T,
    pub discount: T,
}

/// Everything the kernel needs to price paths of one trade.
#[derive(Clone, Copy, Debug)]
pub struct Job<T, M, P> {
    pub families: [M; FAMILIES],
    pub n_families: usize,
    pub folds: [FoldStep<T>; MAX_FOLDS],
    pub n_folds: usize,
    pub payoff: P,
    pub steps: u32,
    pub key: [u32; 2],
    pub stream: u64,
    pub antithetic: bool,
    pub coef: [[f64; MAX_FOLDS]; OUTPUTS],
    pub active: [bool; OUTPUTS],
    /// Pathwise Greeks: `outputs[q] += sum tangent_coef[q][k][j] * d_j
    /// value[k]`, where `T` carries tangents ([`crate::tangent::Dual`]).
    pub tangent_coef: [[[f64; TANGENTS]; MAX_FOLDS]; OUTPUTS],
    /// Likelihood-ratio Greeks: `outputs[q] += weight(scores) * value[0]`.
    pub likelihood: [Option<Likelihood>; OUTPUTS],
    /// The step in years (the scores' rate term).
    pub dt: T,
    /// Sobol points of this replicate instead of Philox numbers
    /// ([`crate::qmc`]; the replicate's index).
    pub sobol: Option<u32>,
}

impl<T: Copy, M: Copy, P> Job<T, M, P> {
    /// The same job with `payoff` (the CPU engine re-types a job with its
    /// payoff's own type, so each model x payoff pair gets its kernel).
    pub fn with_payoff<Q>(&self, payoff: Q) -> Job<T, M, Q> {
        Job {
            families: self.families,
            n_families: self.n_families,
            folds: self.folds,
            n_folds: self.n_folds,
            payoff,
            steps: self.steps,
            key: self.key,
            stream: self.stream,
            antithetic: self.antithetic,
            coef: self.coef,
            active: self.active,
            tangent_coef: self.tangent_coef,
            likelihood: self.likelihood,
            dt: self.dt,
            sobol: self.sobol,
        }
    }
}

/// Lanes `0..L` price paths `p..p + L`: each lane's Philox path counter
/// and its normals' sign (antithetic pairs share a counter, the odd path
/// negated).
#[inline(always)]
pub(super) fn lane_paths<R: Real, const L: usize>(p: u64, antithetic: bool) -> ([u32; L], [R; L]) {
    let mut path_ctr = [0u32; L];
    let mut sign = [R::ONE; L];
    for l in 0..L {
        let q = p + l as u64;
        if antithetic {
            path_ctr[l] = (q >> 1) as u32;
            sign[l] = R::select(q & 1 == 1, -R::ONE, R::ONE);
        } else {
            path_ctr[l] = q as u32;
        }
    }
    (path_ctr, sign)
}

/// The normals of steps `step0 .. step0 + n` (`k` a step), for every
/// lane, into `z` (Philox + Box-Muller, or the lanes' Sobol normals of the
/// whole path, `sobol`, drawn at the block's start by [`Draws::block`]):
/// the one draw the pass kernel and the fan kernel (`fan.rs`) share.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_segment<T: Real, M, P, const L: usize>(
    z: &mut [[T::Plain; L]; SEGMENT * 2],
    job: &Job<T, M, P>,
    path_ctr: &[u32; L],
    sign: &[T::Plain; L],
    step0: u32,
    n: usize,
    k: usize,
    sobol: Option<&[[T::Plain; L]]>,
) {
    if let Some(full) = sobol {
        let at = step0 as usize * k;
        z[..n * k].copy_from_slice(&full[at..at + n * k]);
        return;
    }
    let block0 = step0 * k as u32 / 4;
    let blocks = (n * k).div_ceil(4);
    for b in 0..blocks {
        for l in 0..L {
            let w = philox4x32_10(counter(job.stream, path_ctr[l], block0 + b as u32), job.key);
            let nz = T::Plain::normals_from_words(w);
            for j in 0..4 {
                z[4 * b + j][l] = nz[j] * sign[l];
            }
        }
    }
}

/// A call's Sobol draws, where its job takes them: the replicate's
/// seeds and bridge, and the lanes' normals of the block in hand.
pub(super) struct Draws<R: Real, const L: usize> {
    sobol: Option<(SobolDraws, LaneScratch<R, L>)>,
}

impl<R: Real, const L: usize> Draws<R, L> {
    /// `job`'s draws (`k` normals a step).
    pub(super) fn of<T: Real, M, P>(job: &Job<T, M, P>, k: usize) -> Self {
        let seed = job.key[0] as u64 | (job.key[1] as u64) << 32;
        Draws {
            sobol: job.sobol.map(|r| {
                (
                    SobolDraws::new(seed, job.stream, r, job.steps, k),
                    LaneScratch::default(),
                )
            }),
        }
    }

    /// Philox's: nothing to keep.
    pub(super) fn philox() -> Self {
        Draws { sobol: None }
    }

    /// Draws the whole path of lanes `p .. p + L` where they are Sobol
    /// points (a bridge needs the path's end before its first step).
    #[inline(always)]
    pub(super) fn block(&mut self, p: u64) {
        if let Some((d, s)) = &mut self.sobol {
            d.lanes::<R, L>(p as u32, s);
        }
    }

    /// The block's Sobol normals, where drawn.
    #[inline(always)]
    pub(super) fn full(&self) -> Option<&[[R; L]]> {
        self.sobol.as_ref().map(|(_, s)| &s.out[..])
    }
}

/// Prices paths `first .. first + count` of `job` into `acc`, in path order.
/// `first` and `count` are even when antithetic pairs are on.
#[inline(always)]
pub fn run_paths<T: Real, M: PathModel<T>, P: PathPayoff<T>, const L: usize>(
    job: &Job<T, M, P>,
    first: u64,
    count: u64,
    acc: &mut Sums,
) {
    run_jobs::<T, M, P, L, 1>(
        std::slice::from_ref(job),
        first,
        count,
        std::slice::from_mut(acc),
    )
}

/// Jobs a group runs at once: their lane states live on the stack (a
/// heap state, or one sized at run time, costs a plain run a sixth).
pub const GROUP: usize = 8;

/// Prices paths `first .. first + count` of every job in `jobs` into its
/// own `accs[j]`, [`GROUP`] jobs at a time drawing each block's normals
/// and evolving the base family (family 0) once for all of them: the jobs
/// are passes over the same trade's paths (a trade's scenario passes: the
/// same stream, key, steps, payoff and base model; the caller groups only
/// those), so they read the same normals and the same base path. Each
/// job's sums are exactly what [`run_paths`] gives it alone.
#[inline(always)]
pub fn run_group<T: Real, M: PathModel<T>, P: PathPayoff<T>, const L: usize>(
    jobs: &[Job<T, M, P>],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    if let ([job], [acc]) = (jobs, &mut *accs) {
        return run_paths::<T, M, P, L>(job, first, count, acc);
    }
    for (jobs, accs) in jobs.chunks(GROUP).zip(accs.chunks_mut(GROUP)) {
        run_jobs::<T, M, P, L, GROUP>(jobs, first, count, accs);
    }
}

/// The kernel: up to `G` jobs over the same paths (`jobs.len() <= G`).
#[inline(always)]
fn run_jobs<T: Real, M: PathModel<T>, P: PathPayoff<T>, const L: usize, const G: usize>(
    jobs: &[Job<T, M, P>],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    let Some(job) = jobs.first() else { return };
    let jobs = &jobs[..jobs.len().min(G)];
    // Sobol points: a kernel of their own (`SOBOL`), so Philox's stays
    // what it was (the draw's run-time tests cost W1 2-3%); its families
    // take no shared steps (a saving beside the points' cost).
    if job.sobol.is_some() {
        let none = [[false; FAMILIES]; G];
        return run_jobs_with::<T, M, P, L, G, false, true>(jobs, &none, first, count, accs);
    }
    // The families whose auxiliary path is the base's
    // (`PathModel::shares_aux`). Where there are any, a kernel of its own
    // (`SHARE`): the plain kernel stays what it was without them (a run
    // time test in it cost a plain price a few percent).
    let mut shares = [[false; FAMILIES]; G];
    for (g, j) in jobs.iter().enumerate().filter(|_| M::SHARES_AUX) {
        for f in 1..j.n_families {
            shares[g][f] = j.families[f].shares_aux(&job.families[0]);
        }
    }
    // Not for tangents: a dual number's equality reads its value alone,
    // so two families could compare equal with other derivatives.
    if M::SHARES_AUX && T::TANGENTS == 0 && shares.iter().flatten().any(|s| *s) {
        run_jobs_with::<T, M, P, L, G, true, false>(jobs, &shares, first, count, accs)
    } else {
        run_jobs_with::<T, M, P, L, G, false, false>(jobs, &shares, first, count, accs)
    }
}

/// [`run_jobs`] with `SHARE`: whether some family takes the base's
/// auxiliary step (`shares[g][f]`), kept a segment at a time in
/// `base_aux`; and `SOBOL`: whether the jobs draw Sobol points
/// ([`Draws`]) rather than Philox numbers.
#[inline(always)]
fn run_jobs_with<
    T: Real,
    M: PathModel<T>,
    P: PathPayoff<T>,
    const L: usize,
    const G: usize,
    const SHARE: bool,
    const SOBOL: bool,
>(
    jobs: &[Job<T, M, P>],
    shares: &[[bool; FAMILIES]; G],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    let Some(job) = jobs.first() else { return };
    let k = M::NORMALS;
    // The normals in plain numbers (a dual kernel lifts them as it reads
    // them: a quarter of the memory traffic).
    let mut z = [[T::Plain::ZERO; L]; SEGMENT * 2];
    let mut base_aux = [[T::ZERO; L]; SEGMENT];
    let mut draws = if SOBOL {
        Draws::<T::Plain, L>::of(job, k)
    } else {
        Draws::philox()
    };
    let end = first + count;
    let mut p = first;
    while p < end {
        let valid = (end - p).min(L as u64) as usize;

        let (path_ctr, sign) = lane_paths::<T::Plain, L>(p, job.antithetic);
        if SOBOL {
            draws.block(p);
        }

        let mut x = [[[T::ZERO; L]; FAMILIES]; G];
        let mut aux = [[[T::ZERO; L]; FAMILIES]; G];
        let mut st = [[[[T::ZERO; L]; 2]; MAX_FOLDS]; G];
        for (g, job) in jobs.iter().enumerate() {
            for f in 0..job.n_families {
                let a0 = job.families[f].aux0();
                aux[g][f] = [a0; L];
            }
            for (fo, fold) in job.folds[..job.n_folds].iter().enumerate() {
                let s0 = job.payoff.start(fold.x0);
                st[g][fo] = [[s0[0]; L], [s0[1]; L]];
            }
        }

        let mut var = [T::ZERO; L];
        // The base path's likelihood-ratio scores (greeks::Scores), where
        // job 0 asks for them: first, curvature, rate.
        let scored = job.likelihood.iter().any(Option::is_some);
        let mut sc = [[T::ZERO; L]; 3];
        let mut step0 = 0u32;
        while step0 < job.steps {
            let n = ((job.steps - step0) as usize).min(SEGMENT);

            // 1. Normals for steps step0 .. step0 + n, once for every job.
            let full = if SOBOL { draws.full() } else { None };
            draw_segment(&mut z, job, &path_ctr, &sign, step0, n, k, full);

            // 2. Evolve each family on those normals and fold: the base
            // (family 0, every job's) once, into job 0's state, each job's
            // folds on it reading it there; then each job's own families.
            for (g0, job0) in jobs.iter().enumerate() {
                for f in 0..job0.n_families {
                    if f == 0 && g0 > 0 {
                        continue;
                    }
                    let g = if f == 0 { 0 } else { g0 };
                    let model = jobs[g].families[f];
                    let on_base = SHARE && f > 0 && shares[g][f];
                    for s in 0..n {
                        let zs = &z[s * k..];
                        let zl = |l: usize| {
                            let z2 = if k == 2 { T::lift(zs[1][l]) } else { T::ZERO };
                            [T::lift(zs[0][l]), z2]
                        };
                        if on_base {
                            for l in 0..L {
                                var[l] = model.step_on(&mut x[g][f][l], base_aux[s][l], zl(l));
                            }
                        } else if SHARE && f == 0 {
                            for l in 0..L {
                                let a = model.aux_step(&mut aux[0][0][l], zl(l));
                                base_aux[s][l] = a;
                                var[l] = model.step_on(&mut x[0][0][l], a, zl(l));
                            }
                        } else {
                            for l in 0..L {
                                var[l] = model.step(&mut x[g][f][l], &mut aux[g][f][l], zl(l));
                            }
                        }
                        if scored && f == 0 {
                            let first = step0 == 0 && s == 0;
                            for l in 0..L {
                                let z2 = if k == 2 { T::lift(zs[1][l]) } else { T::ZERO };
                                let (nz, c) = model.x_noise([T::lift(zs[0][l]), z2]);
                                let sd = var[l].sqrt();
                                let inv = T::ONE / (c * sd);
                                let score = nz * inv;
                                sc[2][l] = sc[2][l] + job.dt * score;
                                if first {
                                    sc[0][l] = score;
                                    sc[1][l] = inv * inv;
                                }
                            }
                        }
                        if P::OBSERVES {
                            let i = T::from_u32(step0 + s as u32 + 1);
                            // The base's folds are every job's; another
                            // family's, its own job's.
                            let readers = if f == 0 { 0..jobs.len() } else { g..g + 1 };
                            for h in readers {
                                let job = &jobs[h];
                                for (fo, fold) in job.folds[..job.n_folds].iter().enumerate() {
                                    if fold.family != f {
                                        continue;
                                    }
                                    let shift = fold.x0 + fold.dx * i;
                                    let [s0, s1] = &mut st[h][fo];
                                    for l in 0..L {
                                        let mut pair = [s0[l], s1[l]];
                                        job.payoff.observe(&mut pair, x[g][f][l] + shift, var[l]);
                                        s0[l] = pair[0];
                                        s1[l] = pair[1];
                                    }
                                }
                            }
                        }
                    }
                    if on_base {
                        // The base's auxiliary path is this family's.
                        aux[g][f] = aux[0][0];
                    }
                }
            }
            step0 += n as u32;
        }

        for ((g, job), acc) in jobs.iter().enumerate().zip(accs.iter_mut()) {
            // Discounted payoff of every fold, per lane, and its tangents.
            let mut v = [[0.0f64; L]; MAX_FOLDS];
            let mut vt = [[[0.0f64; L]; TANGENTS]; MAX_FOLDS];
            let steps = T::from_u32(job.steps);
            for (fo, fold) in job.folds[..job.n_folds].iter().enumerate() {
                let shift = fold.x0 + fold.dx * steps;
                // The base family lives in job 0's state.
                let owner = if fold.family == 0 { 0 } else { g };
                let xf = &x[owner][fold.family];
                for l in 0..L {
                    let x = xf[l] + shift;
                    let val =
                        job.payoff.value([st[g][fo][0][l], st[g][fo][1][l]], x) * fold.discount;
                    // The variance too: a variance that overflowed is laundered
                    // to 0 by the step's max, leaving the log-spot finite.
                    let val = val
                        .nan_unless_finite(x)
                        .nan_unless_finite(aux[owner][fold.family][l]);
                    v[fo][l] = val.to_f64();
                    if T::TANGENTS > 0 {
                        for (j, t) in vt[fo].iter_mut().enumerate() {
                            t[l] = val.tangent(j);
                        }
                    }
                }
            }
            let scores = |l: usize| Scores {
                first: sc[0][l].to_f64(),
                curvature: sc[1][l].to_f64(),
                rate: sc[2][l].to_f64(),
            };

            // Outputs, summed in path order (pairs averaged first).
            let mut sample = [0.0f64; OUTPUTS];
            let stride = if job.antithetic { 2 } else { 1 };
            if T::TANGENTS == 0 && job.likelihood.iter().all(Option::is_none) {
                // Only folds' values: each output's per-lane sum across
                // the lanes first (vector loops, the branches hoisted out
                // of them), then the sums in path order. Lane by lane it
                // is the same operations in the same order as below, so
                // the same bits; a scenario pass's output stage was a
                // third of its time done path by path.
                let mut out = [[0.0f64; L]; OUTPUTS];
                for (q, o) in out.iter_mut().enumerate() {
                    if !job.active[q] {
                        continue;
                    }
                    for (fo, vf) in v[..job.n_folds].iter().enumerate() {
                        let c = job.coef[q][fo];
                        if c == 0.0 {
                            continue;
                        }
                        if stride == 2 {
                            for l in 0..L {
                                o[l] += c * (0.5 * (vf[l] + vf[(l + 1).min(L - 1)]));
                            }
                        } else {
                            for l in 0..L {
                                o[l] += c * vf[l];
                            }
                        }
                    }
                }
                let mut l = 0;
                while l < valid {
                    for q in 0..OUTPUTS {
                        if job.active[q] {
                            sample[q] = out[q][l];
                        }
                    }
                    acc.add(&sample);
                    l += stride;
                }
                continue;
            }
            let mut l = 0;
            while l < valid {
                for q in 0..OUTPUTS {
                    if !job.active[q] {
                        continue;
                    }
                    let pair = |a: f64, b: f64| if stride == 2 { 0.5 * (a + b) } else { a };
                    let mut o = 0.0;
                    for fo in 0..job.n_folds {
                        let c = job.coef[q][fo];
                        if c != 0.0 {
                            o += c * pair(v[fo][l], v[fo][(l + 1).min(L - 1)]);
                        }
                    }
                    if T::TANGENTS > 0 {
                        for fo in 0..job.n_folds {
                            for j in 0..TANGENTS {
                                let c = job.tangent_coef[q][fo][j];
                                if c != 0.0 {
                                    o += c * pair(vt[fo][j][l], vt[fo][j][(l + 1).min(L - 1)]);
                                }
                            }
                        }
                    }
                    if let Some(lr) = job.likelihood[q] {
                        let w = |l: usize| lr.scale * lr.weight.weight(&scores(l)) * v[0][l];
                        o += pair(w(l), if stride == 2 { w(l + 1) } else { 0.0 });
                    }
                    sample[q] = o;
                }
                acc.add(&sample);
                l += stride;
            }
        }
        p += L as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SvFx, SvFxStep};
    use crate::payoff::{Asian, Average, PayoffSpec, PayoffStep};

    /// sv_fx stepped as a model that never shares its auxiliary path: every
    /// family evolves its own.
    #[derive(Clone, Copy)]
    struct Alone(SvFxStep<f64>);

    impl PathModel<f64> for Alone {
        const NORMALS: usize = 2;
        fn aux0(&self) -> f64 {
            self.0.aux0()
        }
        fn step(&self, x: &mut f64, aux: &mut f64, z: [f64; 2]) -> f64 {
            self.0.step(x, aux, z)
        }
    }

    /// A pass's families that share the base's vol factor (sigma moved)
    /// and one that does not (volvol moved too) give the bits of each
    /// evolving its own, over steps past a segment and a partial lane block.
    #[test]
    fn families_on_the_base_s_auxiliary_path_give_their_own_bits() {
        let base = SvFx {
            spot: 100.0,
            drift: 0.01,
            sigma: 0.2,
            volvol: 0.4,
            rho: -0.3,
        };
        let moved = |sigma: f64, volvol: f64| SvFx {
            sigma,
            volvol,
            ..base.clone()
        };
        let dt = 1.0 / 52.0;
        let models = [
            base.clone(),
            moved(0.21, 0.4),
            moved(0.19, 0.4),
            moved(0.25, 0.5),
            moved(0.2, 0.4),
            moved(0.0, 0.4),
        ];
        let steps: [SvFxStep<f64>; FAMILIES] = std::array::from_fn(|f| models[f].prepare(dt));
        assert!(steps[1].shares_aux(&steps[0]) && !steps[3].shares_aux(&steps[0]));
        let spec = PayoffSpec::Asian(Asian {
            option: crate::payoff::OptionType::Call,
            strike: 100.0,
            average: Average::Arithmetic,
        });
        let PayoffStep::Asian(payoff) = spec.prepare::<f64>(100.0, 70) else {
            panic!("an asian payoff")
        };
        let mut folds = [FoldStep {
            family: 0,
            x0: 0.0,
            dx: 0.0,
            discount: 1.0,
        }; MAX_FOLDS];
        let mut coef = [[0.0; MAX_FOLDS]; OUTPUTS];
        for (k, f) in folds.iter_mut().enumerate().take(FAMILIES) {
            f.family = k;
            f.x0 = 0.01 * k as f64;
        }
        for (q, c) in coef.iter_mut().enumerate() {
            c[q] = 1.0;
            c[q + 1] = -0.5;
        }
        let job = Job {
            families: steps,
            n_families: FAMILIES,
            folds,
            n_folds: FAMILIES,
            payoff,
            steps: 70,
            key: [7, 11],
            stream: 42,
            antithetic: true,
            coef,
            active: [true; OUTPUTS],
            tangent_coef: [[[0.0; TANGENTS]; MAX_FOLDS]; OUTPUTS],
            likelihood: [None; OUTPUTS],
            dt,
            sobol: None,
        };
        let alone = Job {
            families: steps.map(Alone),
            n_families: job.n_families,
            folds: job.folds,
            n_folds: job.n_folds,
            payoff: job.payoff,
            steps: job.steps,
            key: job.key,
            stream: job.stream,
            antithetic: job.antithetic,
            coef: job.coef,
            active: job.active,
            tangent_coef: job.tangent_coef,
            likelihood: job.likelihood,
            dt: job.dt,
            sobol: None,
        };
        // Two jobs in a group (the second's base is the first's) and one.
        let (mut shared, mut own) = (
            [Sums::default(), Sums::default()],
            [Sums::default(), Sums::default()],
        );
        run_group::<f64, _, _, 8>(&[job, job], 0, 250, &mut shared);
        run_group::<f64, _, _, 8>(&[alone, alone], 0, 250, &mut own);
        assert_eq!(shared, own);
        let mut one = Sums::default();
        run_paths::<f64, _, _, 8>(&job, 0, 250, &mut one);
        assert_eq!(one, shared[0]);
        assert!(one.sum.iter().all(|s| s.is_finite() && *s != 0.0));
    }
}
