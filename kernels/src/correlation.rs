//! The correlation matrix of a multi-asset model (`gbm_multi`,
//! `heston_multi`): checked and factored once per trade, on the host, in
//! f64, so every engine correlates its drivers with the same factor.
//!
//! The factor is lower-triangular (`C = L L^T`), so asset `i`'s driver is
//! `z_i = sum_{j <= i} L_ij e_j` of the independent normals `e_0..e_i`. A
//! singular but positive semi-definite matrix (two assets perfectly
//! correlated, say) is accepted: where a pivot is zero, that column of the
//! factor is zero and the asset takes its driver from the ones before it.
//! Anything else is refused with the entry and the reason.

use std::fmt;

/// Most assets a multi-asset trade (or underlyings a dated one) may have:
/// each engine keeps a path's assets in fixed-size arrays (the GPU kernels'
/// per-thread state, in two widths: `crate::gpu::extension::Width`).
/// STAC-A2's large case has 10.
pub const MAX_ASSETS: usize = 32;

/// How far from exact the checks allow: a matrix read from a file with a
/// few decimals is symmetric and unit-diagonal to this, and an eigenvalue
/// down to `-PSD_TOLERANCE` is rounding, not a negative one.
pub const TOLERANCE: f64 = 1e-12;
pub const PSD_TOLERANCE: f64 = 1e-10;

/// Why a correlation matrix was refused; `i` and `j` are 0-based entries.
/// An eigenvalue as an error shows it: three decimals, or three
/// significant digits when that would show only zeros (-1.2e-9, not
/// -0.000).
fn shown(x: f64) -> String {
    if x.abs() >= 1e-3 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorrelationError {
    #[error("no assets")]
    Empty,
    #[error(
        "{assets} assets: at most {MAX_ASSETS} are supported (each engine's fixed path state)"
    )]
    TooMany { assets: usize },
    #[error("{rows} rows for {assets} assets: it must be {assets} x {assets}")]
    Rows { rows: usize, assets: usize },
    #[error("row {i} has {len} entries for {assets} assets")]
    RowLength { i: usize, len: usize, assets: usize },
    #[error("entry [{i}][{j}] is not a finite number")]
    NotFinite { i: usize, j: usize },
    #[error("entry [{i}][{j}] = {value} is outside [-1, 1]")]
    OutOfRange { i: usize, j: usize, value: f64 },
    #[error("diagonal entry [{i}][{i}] = {value}: it must be 1")]
    Diagonal { i: usize, value: f64 },
    #[error("not symmetric: [{i}][{j}] = {a} but [{j}][{i}] = {b}")]
    NotSymmetric { i: usize, j: usize, a: f64, b: f64 },
    #[error("not positive semi-definite: it has the negative eigenvalue {}", shown(*.eigenvalue))]
    NotPositiveSemiDefinite { eigenvalue: f64 },
}

/// A checked correlation matrix and its lower-triangular factor.
#[derive(Clone, PartialEq)]
pub struct Correlation {
    n: usize,
    /// Row-major n x n.
    matrix: Vec<f64>,
    /// Row-major n x n, zero above the diagonal.
    factor: Vec<f64>,
}

impl fmt::Debug for Correlation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Correlation")
            .field("n", &self.n)
            .field("matrix", &self.matrix)
            .finish()
    }
}

impl Correlation {
    /// Checks `rows` as the correlation of `assets` assets and factors it.
    pub fn new(rows: &[Vec<f64>], assets: usize) -> Result<Correlation, CorrelationError> {
        use CorrelationError as E;
        if assets == 0 {
            return Err(E::Empty);
        }
        if assets > MAX_ASSETS {
            return Err(E::TooMany { assets });
        }
        if rows.len() != assets {
            return Err(E::Rows {
                rows: rows.len(),
                assets,
            });
        }
        let n = assets;
        for (i, row) in rows.iter().enumerate() {
            if row.len() != n {
                return Err(E::RowLength {
                    i,
                    len: row.len(),
                    assets,
                });
            }
            for (j, &v) in row.iter().enumerate() {
                if !v.is_finite() {
                    return Err(E::NotFinite { i, j });
                }
                if !(-1.0..=1.0).contains(&v) {
                    return Err(E::OutOfRange { i, j, value: v });
                }
            }
            if (row[i] - 1.0).abs() > TOLERANCE {
                return Err(E::Diagonal { i, value: row[i] });
            }
        }
        for i in 0..n {
            for j in 0..i {
                let (a, b) = (rows[i][j], rows[j][i]);
                if (a - b).abs() > TOLERANCE {
                    return Err(E::NotSymmetric { i, j, a, b });
                }
            }
        }
        // The matrix as used: exactly symmetric (the lower triangle's
        // values), exactly unit-diagonal.
        let mut matrix = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = if i == j { 1.0 } else { rows[i][j] };
                matrix[i * n + j] = v;
                matrix[j * n + i] = v;
            }
        }
        let eigenvalue = smallest_eigenvalue(&matrix, n);
        if eigenvalue < -PSD_TOLERANCE {
            return Err(E::NotPositiveSemiDefinite { eigenvalue });
        }
        let factor = semidefinite_cholesky(&matrix, n);
        Ok(Correlation { n, matrix, factor })
    }

    /// The identity on `n` assets (independent drivers).
    pub fn identity(n: usize) -> Result<Correlation, CorrelationError> {
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
            .collect();
        Correlation::new(&rows, n)
    }

    pub fn assets(&self) -> usize {
        self.n
    }

    /// Entry `[i][j]` of the matrix.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.matrix[i * self.n + j]
    }

    /// The lower-triangular factor, row-major n x n (what the GPU records
    /// carry, rounded to their precision).
    pub fn factor(&self) -> &[f64] {
        &self.factor
    }

    /// Correlated drivers from independent normals: `z = L e`.
    pub fn correlate(&self, e: &[f64], z: &mut [f64]) {
        for i in 0..self.n {
            let row = &self.factor[i * self.n..i * self.n + i + 1];
            z[i] = row.iter().zip(e).map(|(l, x)| l * x).sum();
        }
    }
}

/// `L` with `L L^T = a` for a positive semi-definite `a`: Cholesky, with a
/// column of zeros wherever the pivot left is (to rounding) zero, which a
/// semi-definite matrix allows (its entries below such a pivot are zero
/// too, up to the same rounding).
fn semidefinite_cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let d = a[j * n + j] - (0..j).map(|k| l[j * n + k] * l[j * n + k]).sum::<f64>();
        if d <= PSD_TOLERANCE {
            continue;
        }
        let pivot = d.sqrt();
        l[j * n + j] = pivot;
        for i in j + 1..n {
            let s = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            l[i * n + j] = s / pivot;
        }
    }
    // Rows whose squares no longer sum to 1 (rounding after a zero pivot)
    // are scaled back: each driver keeps unit variance.
    for i in 0..n {
        let norm = (0..=i)
            .map(|k| l[i * n + k] * l[i * n + k])
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for k in 0..=i {
                l[i * n + k] /= norm;
            }
        }
    }
    l
}

/// The smallest eigenvalue of the symmetric `a` (n x n), by cyclic Jacobi
/// rotations: exact to rounding for the few assets a trade has.
pub fn smallest_eigenvalue(a: &[f64], n: usize) -> f64 {
    let mut m = a.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
            }
        }
    }
    (0..n).map(|i| m[i * n + i]).fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, v: &[f64]) -> Vec<Vec<f64>> {
        v.chunks(n).map(|r| r.to_vec()).collect()
    }

    fn product(c: &Correlation) -> Vec<f64> {
        let (n, l) = (c.assets(), c.factor());
        let mut p = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                p[i * n + j] = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
            }
        }
        p
    }

    #[test]
    fn the_factor_reproduces_the_matrix() {
        let m = [
            1.0, 0.5, 0.3, -0.2, //
            0.5, 1.0, 0.4, 0.1, //
            0.3, 0.4, 1.0, 0.25, //
            -0.2, 0.1, 0.25, 1.0,
        ];
        let c = Correlation::new(&rows(4, &m), 4).unwrap();
        for (a, b) in product(&c).iter().zip(&m) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        // Lower-triangular: asset i uses the first i + 1 normals only.
        for i in 0..4 {
            for j in i + 1..4 {
                assert_eq!(c.factor()[i * 4 + j], 0.0);
            }
        }
    }

    #[test]
    fn singular_semidefinite_matrices_are_accepted() {
        // Perfectly correlated, perfectly anti-correlated, and a rank-2
        // matrix on three assets.
        for (n, m) in [
            (2, vec![1.0, 1.0, 1.0, 1.0]),
            (2, vec![1.0, -1.0, -1.0, 1.0]),
            (3, vec![1.0, 1.0, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 1.0]),
        ] {
            let c = Correlation::new(&rows(n, &m), n).unwrap();
            for (a, b) in product(&c).iter().zip(&m) {
                assert!((a - b).abs() < 1e-12, "{m:?}: {a} vs {b}");
            }
            let mut z = vec![0.0; n];
            c.correlate(&[0.7, -1.3, 0.4][..n], &mut z);
            assert!((z[0] - z[1] * m[1]).abs() < 1e-12, "{z:?}");
        }
    }

    #[test]
    fn each_bad_matrix_is_refused_with_its_reason() {
        use CorrelationError as E;
        let bad = |n: usize, m: &[f64]| Correlation::new(&rows(n, m), n).unwrap_err();
        assert!(matches!(
            bad(2, &[1.0, 0.5, 0.4, 1.0]),
            E::NotSymmetric { i: 1, j: 0, .. }
        ));
        assert!(matches!(
            bad(2, &[0.9, 0.0, 0.0, 1.0]),
            E::Diagonal { i: 0, .. }
        ));
        assert!(matches!(
            bad(2, &[1.0, 1.5, 1.5, 1.0]),
            E::OutOfRange { i: 0, j: 1, .. }
        ));
        assert!(matches!(
            bad(2, &[1.0, f64::NAN, f64::NAN, 1.0]),
            E::NotFinite { i: 0, j: 1 }
        ));
        // Pairwise fine, jointly impossible: eigenvalues 1.9, 1.9 and -0.8.
        let e = bad(3, &[1.0, -0.9, -0.9, -0.9, 1.0, -0.9, -0.9, -0.9, 1.0]);
        match e {
            E::NotPositiveSemiDefinite { eigenvalue } => {
                assert!((eigenvalue + 0.8).abs() < 1e-12, "{eigenvalue}")
            }
            e => panic!("{e}"),
        }
        assert!(e.to_string().contains("-0.8"), "{e}");
        assert_eq!(shown(-1.234e-9), "-1.23e-9");
        assert!(matches!(
            Correlation::new(&rows(2, &[1.0, 0.0, 0.0, 1.0]), 3).unwrap_err(),
            E::Rows { rows: 2, assets: 3 }
        ));
        assert!(matches!(
            Correlation::new(&[vec![1.0, 0.0], vec![0.0]], 2).unwrap_err(),
            E::RowLength { i: 1, len: 1, .. }
        ));
        assert!(matches!(
            Correlation::identity(MAX_ASSETS + 1).unwrap_err(),
            E::TooMany { .. }
        ));
        assert!(matches!(Correlation::new(&[], 0).unwrap_err(), E::Empty));
    }

    #[test]
    fn the_smallest_eigenvalue_is_exact() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3.
        assert!((smallest_eigenvalue(&[2.0, 1.0, 1.0, 2.0], 2) - 1.0).abs() < 1e-14);
        // Equicorrelation rho on n assets: 1 - rho (n - 1 times) and 1 + (n-1) rho.
        let (n, rho) = (6, 0.35);
        let m: Vec<f64> = (0..n * n)
            .map(|k| if k / n == k % n { 1.0 } else { rho })
            .collect();
        assert!((smallest_eigenvalue(&m, n) - (1.0 - rho)).abs() < 1e-13);
    }
}
