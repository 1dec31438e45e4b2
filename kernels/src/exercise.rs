//! Early exercise: the exercise styles a trade may have, and the
//! Longstaff-Schwartz policy that prices them.
//!
//! **The policy.** At each exercise date before maturity the holder
//! exercises when the intrinsic value is positive and at least the
//! continuation value, estimated by a least-squares regression of the
//! discounted cash flows that follow on a basis of the state. The
//! regression runs on paths of their own (their own stream range, not the
//! pricing paths), once per trade, on the host, in f64: so the policy is
//! fixed before any pricing path is drawn, the price on the pricing paths
//! is a low-biased estimate with an honest standard error, and every
//! engine applies bit-identical coefficients.
//!
//! **The basis** ([`Basis`]): with `x_i = S_i / S_i(0)` (sorted, largest
//! first, for rainbows, whose value depends on the order statistics), the
//! terms `1`, `x_1..x_n`, `x_1^2..x_n^2` and the intrinsic value: `2n + 2`
//! terms. One asset takes powers up to the fourth of `u = x - 1` (centred,
//! so the terms stay far from collinear and the continuation value does
//! not cancel in f32): `1, u, u^2, u^3, u^4` and the intrinsic value, 6
//! terms. On Longstaff and Schwartz's Table 1 (100,000 paths) the
//! quadratic basis priced -1.0 to -1.2 SE low on average, the quartic
//! -0.25 to -0.44 (`bench/results/issue24-ls-table1-basis-2core-epyc.txt`).
//!
//! **The regression** uses in-the-money paths only (where the decision is
//! made), needs at least [`MIN_PATHS_PER_TERM`] of them per basis term (a
//! date with fewer never exercises: the policy stays low-biased), and
//! solves by Householder QR on equilibrated columns, in f64, dropping a
//! term whose column depends on the earlier ones (a deep in-the-money
//! date, where the intrinsic value is linear in the asset, has one).

use std::fmt;

/// The most terms a basis has (`2 x MAX_ASSETS + 2`; one asset: 6).
pub const MAX_TERMS: usize = 2 * crate::correlation::MAX_ASSETS + 2;

/// The most a policy's continuation value may cancel
/// ([`Policy::cancellation`]) for an f32 kernel (WGSL) to apply it: f32
/// rounding (6e-8) times it stays within the f32 contract's 1e-4 of the
/// payoff's size. Fits on ordinary trades cancel by 2 to 20; terms made
/// nearly collinear (underlyings correlated at 1) by 1e7 and more.
pub const F32_CANCELLATION: f64 = 1e3;

/// Fewest in-the-money regression paths per basis term for a date's fit.
pub const MIN_PATHS_PER_TERM: usize = 8;

/// When the holder may exercise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Exercise {
    /// At maturity only.
    #[default]
    European,
    /// At the end of every step of the trade's grid (a Bermudan on the
    /// grid, converging to the American price as the steps grow).
    American,
    /// At the end of the listed steps (1-based, increasing, the last the
    /// trade's `steps`).
    Bermudan { steps: Vec<u32> },
}

/// Why an exercise schedule was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExerciseError {
    #[error("a bermudan exercise needs at least one step")]
    NoSteps,
    #[error("exercise step {index} is 0: steps are 1-based")]
    Zero { index: usize },
    #[error("exercise steps must increase: step {index} is {step}, after {previous}")]
    NotIncreasing {
        index: usize,
        step: u32,
        previous: u32,
    },
    #[error("exercise step {step} is past the trade's {steps} steps")]
    PastMaturity { step: u32, steps: u32 },
    #[error("the last exercise step is {last}: it must be the trade's last step ({steps})")]
    LastNotMaturity { last: u32, steps: u32 },
}

impl Exercise {
    /// The steps (1-based) at which the holder may exercise, maturity
    /// last, for a trade of `steps` steps.
    pub fn dates(&self, steps: u32) -> Result<Vec<u32>, ExerciseError> {
        match self {
            Exercise::European => Ok(vec![steps]),
            Exercise::American => Ok((1..=steps).collect()),
            Exercise::Bermudan { steps: list } => {
                let Some(&last) = list.last() else {
                    return Err(ExerciseError::NoSteps);
                };
                for (index, &step) in list.iter().enumerate() {
                    if step == 0 {
                        return Err(ExerciseError::Zero { index });
                    }
                    if step > steps {
                        return Err(ExerciseError::PastMaturity { step, steps });
                    }
                    if index > 0 && step <= list[index - 1] {
                        return Err(ExerciseError::NotIncreasing {
                            index,
                            step,
                            previous: list[index - 1],
                        });
                    }
                }
                if last != steps {
                    return Err(ExerciseError::LastNotMaturity { last, steps });
                }
                Ok(list.clone())
            }
        }
    }

    /// Whether the holder may exercise before maturity.
    pub fn is_extended(&self, steps: u32) -> bool {
        self.dates(steps).is_ok_and(|d| d.len() > 1)
    }
}

/// The regression basis of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Basis {
    pub assets: usize,
    /// Sort the assets, largest first, before the terms (rainbows).
    pub sorted: bool,
}

impl Basis {
    /// The highest power of each asset: 4 for one asset, else 2.
    pub fn degree(&self) -> usize {
        if self.assets == 1 {
            4
        } else {
            2
        }
    }

    /// Terms: 1, each power of the assets, the intrinsic value.
    pub fn len(&self) -> usize {
        self.degree() * self.assets + 2
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The terms for normalised assets `x` (`S_i / S_i(0)`) and intrinsic
    /// value `intrinsic`, into `out` (at least [`Basis::len`] long).
    pub fn terms(&self, x: &[f64], intrinsic: f64, out: &mut [f64]) {
        let n = self.assets;
        if self.sorted {
            sorted(&x[..n], |v| self.powers(v, intrinsic, out))
        } else {
            self.powers(&x[..n], intrinsic, out)
        }
    }

    /// The continuation value `sum_j beta_j t_j` of [`Basis::terms`],
    /// without writing the terms out: the same products added in the same
    /// order (term 0 first), so the same bits as the dot product over
    /// `terms` and as the GPU twins (`continuation` in exercise.wgsl and
    /// exercise.cuh). The pricing paths call it at every in-the-money date.
    pub fn continuation(&self, beta: &[f64], x: &[f64], intrinsic: f64) -> f64 {
        let n = self.assets;
        if self.sorted {
            sorted(&x[..n], |v| self.sum_terms(beta, v, intrinsic))
        } else {
            self.sum_terms(beta, &x[..n], intrinsic)
        }
    }

    #[inline(always)]
    fn sum_terms(&self, beta: &[f64], v: &[f64], intrinsic: f64) -> f64 {
        let n = self.assets;
        let centre = if n == 1 { 1.0 } else { 0.0 };
        let d = self.degree();
        // beta_0 x 1 is beta_0.
        let mut c = beta[0];
        if n == 1 {
            let u = v[0] - centre;
            let mut power = u;
            c += beta[1] * power;
            for p in 1..d {
                power *= u;
                c += beta[1 + p] * power;
            }
        } else {
            // Each power multiplied out again, as `powers` builds it (no
            // scratch array as wide as the most assets, cleared per call).
            for p in 0..d {
                for i in 0..n {
                    let u = v[i] - centre;
                    let mut power = u;
                    for _ in 0..p {
                        power *= u;
                    }
                    c += beta[1 + p * n + i] * power;
                }
            }
        }
        c + beta[1 + d * n] * intrinsic
    }

    /// [`Basis::terms`] of assets already in order.
    #[inline(always)]
    fn powers(&self, v: &[f64], intrinsic: f64, out: &mut [f64]) {
        let n = self.assets;
        // One asset: centred at its initial value (x - 0 is x, bit for bit).
        let centre = if n == 1 { 1.0 } else { 0.0 };
        let d = self.degree();
        out[0] = 1.0;
        for i in 0..n {
            let u = v[i] - centre;
            let mut power = u;
            out[1 + i] = power;
            for p in 1..d {
                power *= u;
                out[1 + p * n + i] = power;
            }
        }
        out[1 + d * n] = intrinsic;
    }
}

/// `f` of the assets `x` sorted, largest first, in a stack copy no wider
/// than it needs: up to 8 assets in 8 slots, as every trade took before
/// the limit was 32 (a 32-wide copy, cleared on each of the pricing
/// paths' calls, cost W5 a tenth). Copied element by element: a slice
/// copy of a run-time length is a libc call.
#[inline(always)]
fn sorted<R>(x: &[f64], f: impl FnOnce(&[f64]) -> R) -> R {
    fn run<R, const W: usize>(x: &[f64], f: impl FnOnce(&[f64]) -> R) -> R {
        let mut v = [0.0f64; W];
        for (v, x) in v.iter_mut().zip(x) {
            *v = *x;
        }
        let v = &mut v[..x.len()];
        v.sort_by(|a, b| b.total_cmp(a));
        f(v)
    }
    if x.len() <= 8 {
        run::<R, 8>(x, f)
    } else {
        run::<R, { crate::correlation::MAX_ASSETS }>(x, f)
    }
}

/// A fitted exercise policy: per exercise date before maturity, the
/// continuation value's coefficients, or `None` where the date never
/// exercises (too few in-the-money regression paths to fit).
#[derive(Clone, PartialEq)]
pub struct Policy {
    pub basis: Basis,
    /// Exercise steps (1-based), maturity last.
    pub dates: Vec<u32>,
    pub coefficients: Vec<Option<Vec<f64>>>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("basis", &self.basis)
            .field("dates", &self.dates.len())
            .field(
                "fitted",
                &self.coefficients.iter().filter(|c| c.is_some()).count(),
            )
            .finish()
    }
}

impl Policy {
    /// Whether to exercise at date `k` (an index into `dates`, before
    /// maturity) in state `x` with intrinsic value `intrinsic`.
    pub fn exercises(&self, k: usize, x: &[f64], intrinsic: f64) -> bool {
        if intrinsic <= 0.0 {
            return false;
        }
        let Some(Some(beta)) = self.coefficients.get(k) else {
            return false;
        };
        intrinsic >= self.basis.continuation(beta, x, intrinsic)
    }

    /// How much the continuation value's terms cancel, at every date's
    /// fit: the largest over the dates of `sum_j |beta_j t_j|` at the
    /// initial state (every `x` at 1, the intrinsic value `intrinsic`),
    /// over `scale` (the payoff's size: its strike). A continuation value
    /// evaluated in a precision of relative rounding `u` is then off by
    /// about `u x cancellation x scale`: near-collinear terms (underlyings
    /// correlated near 1) make the coefficients large and of both signs,
    /// beyond what f32 evaluates.
    pub fn cancellation(&self, intrinsic: f64, scale: f64) -> f64 {
        let n = self.basis.assets;
        let mut t = [0.0f64; MAX_TERMS];
        self.basis.terms(
            &[1.0; crate::correlation::MAX_ASSETS][..n],
            intrinsic,
            &mut t,
        );
        self.coefficients
            .iter()
            .flatten()
            .map(|beta| beta.iter().zip(&t).map(|(b, t)| (b * t).abs()).sum::<f64>())
            .fold(0.0, f64::max)
            / scale.abs().max(f64::MIN_POSITIVE)
    }

    /// One path's cash flow discounted to time 0: the first date the policy
    /// exercises, else maturity. `x(k)` and `intrinsic(k)` give the state
    /// and intrinsic value at date `k`; `discount(step)` the discount
    /// factor from that step to 0.
    pub fn path_value(
        &self,
        x: impl Fn(usize) -> Vec<f64>,
        intrinsic: impl Fn(usize) -> f64,
        discount: impl Fn(u32) -> f64,
    ) -> f64 {
        let last = self.dates.len() - 1;
        for k in 0..last {
            let v = intrinsic(k);
            if v > 0.0 && self.exercises(k, &x(k), v) {
                return v * discount(self.dates[k]);
            }
        }
        intrinsic(last).max(0.0) * discount(self.dates[last])
    }
}

/// The regression paths' states at the exercise dates.
pub struct RegressionPaths {
    pub paths: usize,
    pub dates: usize,
    pub assets: usize,
    /// `x[(p * dates + k) * assets + i]`: asset i of path p at date k,
    /// normalised by its spot.
    pub x: Vec<f64>,
    /// `intrinsic[p * dates + k]`, undiscounted.
    pub intrinsic: Vec<f64>,
}

impl RegressionPaths {
    fn x(&self, p: usize, k: usize) -> &[f64] {
        let at = (p * self.dates + k) * self.assets;
        &self.x[at..at + self.assets]
    }
}

/// Fits the policy by backward induction over `dates` (steps, maturity
/// last). `discount(from, to)` is the discount factor from step `to` back
/// to step `from`.
pub fn fit(
    paths: &RegressionPaths,
    basis: Basis,
    dates: &[u32],
    discount: impl Fn(u32, u32) -> f64,
) -> Policy {
    let (np, nd) = (paths.paths, dates.len());
    let last = nd - 1;
    // Each path's cash flow and the date (index into `dates`) it is paid at.
    let mut cash: Vec<f64> = (0..np)
        .map(|p| paths.intrinsic[p * nd + last].max(0.0))
        .collect();
    let mut paid: Vec<usize> = vec![last; np];
    let mut coefficients = vec![None; last];
    let terms = basis.len();
    // The date's regression, column-major (the QR works on columns).
    let mut a = Vec::new();
    let mut y = Vec::new();
    let mut row = vec![0.0; terms];
    let mut itm = Vec::with_capacity(np);
    // Date k's discount factors to each later date, once a date rather
    // than once a path (the same calls, so the same bits).
    let mut df = vec![0.0; nd];
    for k in (0..last).rev() {
        y.clear();
        itm.clear();
        itm.extend((0..np).filter(|&p| paths.intrinsic[p * nd + k] > 0.0));
        if itm.len() < MIN_PATHS_PER_TERM * terms {
            continue;
        }
        for (j, d) in df.iter_mut().enumerate().skip(k + 1) {
            *d = discount(dates[k], dates[j]);
        }
        let rows = itm.len();
        a.resize(rows * terms, 0.0);
        for (i, &p) in itm.iter().enumerate() {
            basis.terms(paths.x(p, k), paths.intrinsic[p * nd + k], &mut row);
            for (j, t) in row.iter().enumerate() {
                a[j * rows + i] = *t;
            }
            y.push(cash[p] * df[paid[p]]);
        }
        let beta = least_squares_columns(&mut a, rows, terms, &mut y);
        for &p in &itm {
            let v = paths.intrinsic[p * nd + k];
            if v >= basis.continuation(&beta, paths.x(p, k), v) {
                cash[p] = v;
                paid[p] = k;
            }
        }
        coefficients[k] = Some(beta);
    }
    Policy {
        basis,
        dates: dates.to_vec(),
        coefficients,
    }
}

/// Least squares `min |X b - y|` for `X` of `rows` x `cols` (row-major), by
/// Householder QR on columns scaled to unit norm. A column (after scaling)
/// whose remaining part is below 1e-10 of its norm depends on the earlier
/// ones: its coefficient is 0 and the others fit without it.
pub fn least_squares(x: &[f64], rows: usize, cols: usize, y: &[f64]) -> Vec<f64> {
    let mut a = vec![0.0; rows * cols];
    for j in 0..cols {
        for i in 0..rows {
            a[j * rows + i] = x[i * cols + j];
        }
    }
    least_squares_columns(&mut a, rows, cols, &mut y.to_vec())
}

/// [`least_squares`] on `a` column-major (`a[j * rows + i]`), overwritten
/// with the factorisation, and `b` (`y`), overwritten.
pub fn least_squares_columns(a: &mut [f64], rows: usize, cols: usize, b: &mut [f64]) -> Vec<f64> {
    // Each column scaled to unit norm.
    let mut scale = vec![0.0; cols];
    for j in 0..cols {
        let col = &mut a[j * rows..(j + 1) * rows];
        let norm = dot(col, col).sqrt();
        scale[j] = if norm > 0.0 { norm } else { 1.0 };
        for v in col.iter_mut() {
            *v /= scale[j];
        }
    }
    let mut dropped = vec![false; cols];
    let mut diag = vec![0.0; cols];
    let mut row = 0; // the next pivot row
    for j in 0..cols {
        if row >= rows {
            dropped[j] = true;
            continue;
        }
        let col = &mut a[j * rows..(j + 1) * rows];
        let norm = dot(&col[row..], &col[row..]).sqrt();
        if norm < 1e-10 {
            dropped[j] = true;
            continue;
        }
        // Householder vector v = col[row..] + sign * norm * e1, kept in
        // the column itself while it is applied (no copy), then replaced
        // by the column's R part.
        let alpha = if col[row] >= 0.0 { -norm } else { norm };
        col[row] -= alpha;
        let vnorm2 = dot(&col[row..], &col[row..]);
        diag[j] = alpha;
        // Apply to the later columns and to b.
        let (done, later) = a.split_at_mut((j + 1) * rows);
        let v = &done[j * rows + row..];
        for k in j + 1..cols {
            let at = (k - j - 1) * rows;
            let ck = &mut later[at + row..at + rows];
            let f = 2.0 * dot(v, ck) / vnorm2;
            for (c, v) in ck.iter_mut().zip(v) {
                *c -= f * v;
            }
        }
        let f = 2.0 * dot(v, &b[row..]) / vnorm2;
        for (c, v) in b[row..].iter_mut().zip(v) {
            *c -= f * v;
        }
        let col = &mut a[j * rows..(j + 1) * rows];
        col[row] = alpha;
        for c in col[row + 1..].iter_mut() {
            *c = 0.0;
        }
        row += 1;
    }
    // Back-substitution over the kept columns: kept column j sits at the
    // pivot row equal to the number of kept columns before it.
    let kept: Vec<usize> = (0..cols).filter(|&j| !dropped[j]).collect();
    let mut beta = vec![0.0; cols];
    for (r, &j) in kept.iter().enumerate().rev() {
        let mut s = b[r];
        for &k in &kept[r + 1..] {
            s -= a[k * rows + r] * beta[k];
        }
        beta[j] = s / diag[j];
    }
    for j in 0..cols {
        beta[j] /= scale[j];
    }
    beta
}

/// `sum a_i b_i` in eight interleaved partial sums, added pairwise at the
/// end: one running sum waits on each add's latency, eight overlap (the
/// QR's reductions were a fifth of a one-asset fit's time). The order
/// depends on the length alone, so the bits are the same on every machine.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            s[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        s[l] += x * y;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_checked() {
        assert_eq!(Exercise::European.dates(5).unwrap(), vec![5]);
        assert_eq!(Exercise::American.dates(3).unwrap(), vec![1, 2, 3]);
        let b = |s: &[u32]| Exercise::Bermudan { steps: s.to_vec() }.dates(10);
        assert_eq!(b(&[2, 5, 10]).unwrap(), vec![2, 5, 10]);
        assert!(matches!(b(&[]), Err(ExerciseError::NoSteps)));
        assert!(matches!(b(&[0, 10]), Err(ExerciseError::Zero { index: 0 })));
        assert!(matches!(
            b(&[5, 5, 10]),
            Err(ExerciseError::NotIncreasing { index: 1, .. })
        ));
        assert!(matches!(
            b(&[5, 11]),
            Err(ExerciseError::PastMaturity { step: 11, .. })
        ));
        assert!(matches!(
            b(&[5, 9]),
            Err(ExerciseError::LastNotMaturity { last: 9, .. })
        ));
        assert!(!Exercise::European.is_extended(5));
        assert!(Exercise::American.is_extended(2));
    }

    #[test]
    fn least_squares_recovers_a_fit_and_drops_dependent_columns() {
        // y = 2 - 3 t + 0.5 t^2 exactly, with a repeated column.
        let ts: Vec<f64> = (0..50).map(|i| i as f64 / 7.0).collect();
        let x: Vec<f64> = ts.iter().flat_map(|&t| [1.0, t, t * t, 2.0 * t]).collect();
        let y: Vec<f64> = ts.iter().map(|&t| 2.0 - 3.0 * t + 0.5 * t * t).collect();
        let b = least_squares(&x, ts.len(), 4, &y);
        let fitted: Vec<f64> = ts
            .iter()
            .map(|&t| b[0] + b[1] * t + b[2] * t * t + b[3] * 2.0 * t)
            .collect();
        for (f, y) in fitted.iter().zip(&y) {
            assert!((f - y).abs() < 1e-10, "{f} vs {y}");
        }
        assert_eq!(b[3], 0.0, "the dependent column is dropped: {b:?}");
        assert!(
            (b[0] - 2.0).abs() < 1e-10 && (b[1] + 3.0).abs() < 1e-10,
            "{b:?}"
        );
    }

    #[test]
    fn sorted_terms_follow_the_order_statistics() {
        let basis = Basis {
            assets: 3,
            sorted: true,
        };
        let mut t = [0.0; 8];
        basis.terms(&[0.9, 1.2, 1.0], 0.5, &mut t);
        assert_eq!(t, [1.0, 1.2, 1.0, 0.9, 1.44, 1.0, 0.81, 0.5]);
    }

    /// The pricing paths' continuation value is the fit's dot product over
    /// the terms, bit for bit, for one asset (centred quartic) and several
    /// (sorted or not).
    #[test]
    fn continuation_is_the_dot_product_over_the_terms() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for (assets, sorted) in [
            (1, false),
            (3, false),
            (3, true),
            (8, true),
            (12, true),
            (32, false),
        ] {
            let basis = Basis { assets, sorted };
            for _ in 0..200 {
                let x: Vec<f64> = (0..assets).map(|_| 0.3 + 1.4 * next()).collect();
                let beta: Vec<f64> = (0..basis.len()).map(|_| 40.0 * (next() - 0.5)).collect();
                let intrinsic = 10.0 * next();
                let mut t = [0.0; MAX_TERMS];
                basis.terms(&x, intrinsic, &mut t);
                let dot: f64 = beta.iter().zip(&t).map(|(b, t)| b * t).sum();
                assert_eq!(
                    basis.continuation(&beta, &x, intrinsic).to_bits(),
                    dot.to_bits(),
                    "{assets} assets, sorted {sorted}, x {x:?}"
                );
            }
        }
    }
}
