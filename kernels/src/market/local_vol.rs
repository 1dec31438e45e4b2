//! Dupire local volatility from an implied-volatility surface, and the
//! grid the engines look it up on.
//!
//! **Interpolation.** Each expiry row's total implied variance
//! `w = vol^2 T` is a natural cubic spline in log-forward-moneyness
//! `k = ln(K / F(T))` through the row's strikes (second derivative 0 at
//! the first and last strike), continued beyond them with the end's value
//! and slope `s`: in a straight line where `w` rises away from the
//! strikes, as `w_e + s L tanh((k - k_e) / L)` where it falls (levelling
//! off at half the end's, `L = w_e / (2 |s|)`): `w`, `dw/dk` and `d2w/dk2` are continuous
//! everywhere, which is what Dupire's formula needs (an interpolation only
//! piecewise linear in strike has no second derivative, and misprices the
//! pillars). In time,
//! `w` is linear between expiries at fixed `k`; before the first expiry it
//! is the first row's `w(k) t / T_1` (the first expiry's implied vols),
//! after the last the last row's `w(k sqrt(T_n / t)) t / T_n` (the ATM
//! implied vol held, the skew flattening as `1 / sqrt(t)`).
//!
//! **Local variance** (Gatheral's form of Dupire's equation in `k` and
//! `w`):
//!
//! `sigma^2(t, k) = (dw/dt) / (1 - k w_k / w + (w_k^2 / 4)(-1/4 - 1/w + k^2 / w^2) + w_kk / 2)`
//!
//! **Grid.** Rows in time: each interval between expiries (and from 0 to
//! the first) cut into equal pieces of at most a week (1/52 year), both
//! ends of each piece kept in the interval's own block of rows, so a row
//! never mixes the slopes in time of two intervals; after the last expiry,
//! ten more years in quarter-year pieces. Columns: [`NODES`] equally spaced
//! values of `k` over the pillars' moneyness widened by five standard
//! deviations at the surface's highest vol (at least 0.5 each side).
//! The engines interpolate the local *volatility* linearly in `k` and in
//! time, flat beyond the columns and after the last row (a step's
//! variance is then the square of its interpolated volatility, so the
//! drift's correction matches the diffusion exactly). Every node inside
//! the surface (up to its last expiry, between its first and last strike)
//! is checked positive and finite when the grid is built: a surface where
//! it is not is refused, naming the underlying, the expiry and the strike.
//! Beyond the surface the local variance is the extrapolation's, kept
//! within `[vmin^2 / 100, 100 vmax^2]` of the surface's vols.
//!
//! A grid depends on the underlying's spot, vols and curves (the strikes
//! are absolute): it is built once per underlying and market move, and
//! shared by every trade on it ([`GridCache`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{bad, Market, MarketError, Underlying, Vol};

/// Columns of a local-volatility grid.
pub const NODES: usize = 161;
/// Most time a grid row spans between expiries (years).
pub const ROW_YEARS: f64 = 1.0 / 52.0;
/// How far the grid reaches after the last expiry (years), in rows of a quarter.
pub const TAIL_YEARS: f64 = 10.0;

/// A clamped cubic spline of total variance in `k`, flat outside.
#[derive(Clone, Debug)]
struct RowSpline {
    k: Vec<f64>,
    w: Vec<f64>,
    /// Second derivatives at the knots.
    m: Vec<f64>,
}

impl RowSpline {
    fn new(k: Vec<f64>, w: Vec<f64>) -> RowSpline {
        let n = k.len();
        if n < 2 {
            return RowSpline {
                m: vec![0.0; n],
                k,
                w,
            };
        }
        // Tridiagonal system for the second derivatives (natural: 0 at
        // both ends).
        let h: Vec<f64> = (0..n - 1).map(|j| k[j + 1] - k[j]).collect();
        let s: Vec<f64> = (0..n - 1).map(|j| (w[j + 1] - w[j]) / h[j]).collect();
        let (mut a, mut b, mut c, mut d) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        b[0] = 1.0;
        for j in 1..n - 1 {
            a[j] = h[j - 1];
            b[j] = 2.0 * (h[j - 1] + h[j]);
            c[j] = h[j];
            d[j] = 6.0 * (s[j] - s[j - 1]);
        }
        b[n - 1] = 1.0;
        // Thomas algorithm.
        for j in 1..n {
            let f = a[j] / b[j - 1];
            b[j] -= f * c[j - 1];
            d[j] -= f * d[j - 1];
        }
        let mut m = vec![0.0; n];
        m[n - 1] = d[n - 1] / b[n - 1];
        for j in (0..n - 1).rev() {
            m[j] = (d[j] - c[j] * m[j + 1]) / b[j];
        }
        RowSpline { k, w, m }
    }

    /// The slope at end knot `e` (where the second derivative is 0).
    fn end_slope(&self, e: usize) -> f64 {
        let n = self.k.len();
        let (j, sign) = if e == 0 { (0, -1.0) } else { (n - 2, 1.0) };
        let h = self.k[j + 1] - self.k[j];
        // The spline's derivative at the interval's end `e`.
        let other = if e == 0 { 1 } else { n - 2 };
        (self.w[j + 1] - self.w[j]) / h + sign * h / 6.0 * (2.0 * self.m[e] + self.m[other])
    }

    /// Beyond end knot `e`, the end's value, slope `s` and second
    /// derivative (0) continued: where `w` rises away from the strikes, in
    /// a straight line; where it falls, as `w_e + s L tanh((x - k_e) / L)`
    /// with `L = w_e / (2 |s|)`, levelling off at half the end's.
    fn wing(&self, e: usize, x: f64) -> (f64, f64, f64) {
        let we = self.w[e];
        let s = self.end_slope(e);
        if s == 0.0 || !s.is_finite() {
            return (we, 0.0, 0.0);
        }
        let dx = x - self.k[e];
        if s * dx > 0.0 {
            // Rising away from the strikes: on in a straight line (no
            // curvature to turn the local variance negative).
            return (we + s * dx, s, 0.0);
        }
        let l = we / (2.0 * s.abs());
        let th = (dx / l).tanh();
        let sech2 = 1.0 - th * th;
        (we + s * l * th, s * sech2, -2.0 * s / l * sech2 * th)
    }

    /// `(w, dw/dk, d2w/dk2)` at `x`.
    fn eval(&self, x: f64) -> (f64, f64, f64) {
        let n = self.k.len();
        if n == 1 {
            return (self.w[0], 0.0, 0.0);
        }
        if x <= self.k[0] {
            return self.wing(0, x);
        }
        if x >= self.k[n - 1] {
            return self.wing(n - 1, x);
        }
        let j = self.k.partition_point(|&kj| kj <= x).clamp(1, n - 1) - 1;
        let h = self.k[j + 1] - self.k[j];
        let a = (self.k[j + 1] - x) / h;
        let b = (x - self.k[j]) / h;
        let (m0, m1) = (self.m[j], self.m[j + 1]);
        let w = a * self.w[j]
            + b * self.w[j + 1]
            + ((a * a * a - a) * m0 + (b * b * b - b) * m1) * h * h / 6.0;
        let dw = (self.w[j + 1] - self.w[j]) / h - (3.0 * a * a - 1.0) / 6.0 * h * m0
            + (3.0 * b * b - 1.0) / 6.0 * h * m1;
        let d2w = a * m0 + b * m1;
        (w, dw, d2w)
    }
}

/// An underlying's implied-variance surface, interpolated as the module
/// says.
#[derive(Clone, Debug)]
pub struct VarianceSurface {
    expiries: Vec<f64>,
    rows: Vec<RowSpline>,
}

impl VarianceSurface {
    /// The surface of `u` (whose vol is a surface) in `market`.
    pub fn new(market: &Market, u: &Underlying) -> Option<VarianceSurface> {
        let Vol::Surface {
            expiries,
            strikes,
            vols,
        } = &u.vol
        else {
            return None;
        };
        let rows = expiries
            .iter()
            .zip(vols)
            .map(|(&t, row)| {
                let f = market.forward(u, t);
                let k = strikes.iter().map(|s| (s / f).ln()).collect();
                let w = row.iter().map(|v| v * v * t).collect();
                RowSpline::new(k, w)
            })
            .collect();
        Some(VarianceSurface {
            expiries: expiries.clone(),
            rows,
        })
    }

    /// `(w, dw/dk, d2w/dk2, dw/dt)` at time `t` (`t > 0`) and moneyness `k`;
    /// `interval` picks the slope in time where `t` is an expiry (the
    /// interval `t` starts).
    fn at(&self, t: f64, k: f64, interval: usize) -> (f64, f64, f64, f64) {
        let n = self.expiries.len();
        if interval == 0 {
            let t1 = self.expiries[0];
            let (w, dw, d2w) = self.rows[0].eval(k);
            let f = t / t1;
            return (w * f, dw * f, d2w * f, w / t1);
        }
        if interval >= n {
            // The last row read at k sqrt(T_n / t), scaled by t / T_n: its
            // skew flattens as 1/sqrt(t), so its local variance stays
            // positive (a skew held fixed in k would turn it negative
            // within a few years).
            let tn = self.expiries[n - 1];
            let s = (tn / t).sqrt();
            let (w, dw, d2w) = self.rows[n - 1].eval(k * s);
            let f = t / tn;
            return (
                w * f,
                dw * s * f,
                d2w,
                w / tn - 0.5 * dw * k / (tn * t).sqrt(),
            );
        }
        let (t0, t1) = (self.expiries[interval - 1], self.expiries[interval]);
        let a = (t - t0) / (t1 - t0);
        let (w0, d0, e0) = self.rows[interval - 1].eval(k);
        let (w1, d1, e1) = self.rows[interval].eval(k);
        (
            w0 + a * (w1 - w0),
            d0 + a * (d1 - d0),
            e0 + a * (e1 - e0),
            (w1 - w0) / (t1 - t0),
        )
    }

    /// The local variance at time `t` in interval `interval` and moneyness `k`.
    fn local_variance(&self, t: f64, k: f64, interval: usize) -> f64 {
        let (w, wk, wkk, wt) = self.at(t, k, interval);
        let denom =
            1.0 - k * wk / w + 0.25 * wk * wk * (-0.25 - 1.0 / w + k * k / (w * w)) + 0.5 * wkk;
        wt / denom
    }
}

/// A local-volatility grid: local variances by row (time) and column
/// (moneyness `k = ln(K / F(t))`).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalVolGrid {
    /// Per block (time interval): its start, its row spacing, its first
    /// row and its number of pieces (rows - 1).
    pub blocks: Vec<Block>,
    pub k0: f64,
    pub dk: f64,
    pub inv_dk: f64,
    /// Local volatilities, `vol[row * NODES + col]`.
    pub vol: Vec<f64>,
}

/// One interval of a grid's rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Block {
    pub start: f64,
    pub step: f64,
    pub first_row: usize,
    pub pieces: usize,
}

/// Where a time falls in a grid: rows `row` and `row + 1`, with weight
/// `weight` on the second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowAt {
    pub row: usize,
    pub weight: f64,
}

impl LocalVolGrid {
    /// Builds the grid of underlying `name` (`u`, possibly moved) in
    /// `market`, checking every node.
    pub fn build(market: &Market, name: &str, u: &Underlying) -> Result<LocalVolGrid, MarketError> {
        let Some(surface) = VarianceSurface::new(market, u) else {
            return Err(bad(format!("underlyings.{name}.vol"), "not a surface"));
        };
        let Vol::Surface {
            expiries,
            strikes,
            vols,
        } = &u.vol
        else {
            return Err(bad(format!("underlyings.{name}.vol"), "not a surface"));
        };
        let t_last = expiries[expiries.len() - 1];
        let vmax = vols.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
        let vmin = vols.iter().flatten().fold(f64::INFINITY, |a, &b| a.min(b));
        let (mut kmin, mut kmax) = (f64::INFINITY, f64::NEG_INFINITY);
        for row in &surface.rows {
            kmin = kmin.min(row.k[0]);
            kmax = kmax.max(row.k[row.k.len() - 1]);
        }
        let wide = (5.0 * vmax * t_last.max(0.25).sqrt()).max(0.5);
        let (k0, k1) = (kmin - wide, kmax + wide);
        let dk = (k1 - k0) / (NODES - 1) as f64;

        let mut blocks = Vec::new();
        let mut vol = Vec::new();
        let mut start = 0.0;
        let mut row = 0;
        for interval in 0..=expiries.len() {
            let (end, size) = if interval < expiries.len() {
                (expiries[interval], ROW_YEARS)
            } else {
                (t_last + TAIL_YEARS, 0.25)
            };
            let pieces = ((end - start) / size).ceil().max(1.0) as usize;
            let step = (end - start) / pieces as f64;
            blocks.push(Block {
                start,
                step,
                first_row: row,
                pieces,
            });
            for j in 0..=pieces {
                // The limit at t = 0 is taken just after it.
                let t = (start + j as f64 * step).max(1e-6 * expiries[0]);
                let forward = market.forward(u, t);
                for c in 0..NODES {
                    let k = k0 + c as f64 * dk;
                    let v = surface.local_variance(t, k, interval);
                    // Beyond the surface (after its last expiry, or past
                    // its strikes) the local variance is the
                    // extrapolation's, not the surface's: kept within
                    // [vmin^2 / 100, 100 vmax^2] rather than refused.
                    let strike = forward * k.exp();
                    let inside = interval < expiries.len()
                        && strike >= strikes[0]
                        && strike <= strikes[strikes.len() - 1];
                    if !inside {
                        let (lo, hi) = (0.01 * vmin * vmin, 100.0 * vmax * vmax);
                        let v = if v.is_finite() { v.clamp(lo, hi) } else { hi };
                        vol.push(v.sqrt());
                        continue;
                    }
                    if !(v.is_finite() && v > 0.0) {
                        let e = expiries.len().min(interval + 1) - 1;
                        let nearest = strikes
                            .iter()
                            .enumerate()
                            .min_by(|a, b| (a.1 - strike).abs().total_cmp(&(b.1 - strike).abs()))
                            .map_or(0, |(j, _)| j);
                        return Err(bad(
                            format!("underlyings.{name}.vol.vols[{e}][{nearest}]"),
                            format!(
                                "the local variance built from the surface is {v:.6e} at {t:.4} years, strike {strike:.6} (expiry {} and strike {} are the nearest pillars): not positive and finite, so the surface admits arbitrage",
                                market.date_of(expiries[e]),
                                strikes[nearest],
                            ),
                        ));
                    }
                    vol.push(v.sqrt());
                }
            }
            row += pieces + 1;
            start = end;
        }
        Ok(LocalVolGrid {
            blocks,
            k0,
            dk,
            inv_dk: 1.0 / dk,
            vol,
        })
    }

    /// The rows time `t` falls between.
    pub fn row_at(&self, t: f64) -> RowAt {
        let b = self
            .blocks
            .partition_point(|b| b.start <= t)
            .clamp(1, self.blocks.len())
            - 1;
        let blk = self.blocks[b];
        let u = ((t - blk.start) / blk.step).max(0.0);
        if u >= blk.pieces as f64 {
            // After the last row: its values.
            return RowAt {
                row: blk.first_row + blk.pieces - 1,
                weight: 1.0,
            };
        }
        let j = u.floor();
        RowAt {
            row: blk.first_row + j as usize,
            weight: u - j,
        }
    }

    /// The local volatility of column `col` at the time `at` points to:
    /// its two rows interpolated.
    #[inline]
    pub fn vol_between(&self, at: RowAt, col: usize) -> f64 {
        let (v0, v1) = (
            self.vol[at.row * NODES + col],
            self.vol[(at.row + 1) * NODES + col],
        );
        v0 + at.weight * (v1 - v0)
    }

    /// Where moneyness `k` falls between the columns: the left column and
    /// the weight on the right one (flat beyond the columns).
    #[inline(always)]
    pub fn column(&self, k: f64) -> (usize, f64) {
        let u = ((k - self.k0) * self.inv_dk).clamp(0.0, (NODES - 1) as f64);
        let c = (u as usize).min(NODES - 2);
        (c, u - c as f64)
    }
}

/// Local-volatility grids already built, by underlying and move: a grid is
/// built once per underlying (and market move), whatever the number of
/// trades on it.
#[derive(Default)]
pub struct GridCache {
    grids: Mutex<HashMap<(String, [u64; 3]), Arc<LocalVolGrid>>>,
}

impl GridCache {
    /// The grid of `name` moved by `key` (the move's bits), built by
    /// `build` the first time.
    pub fn get(
        &self,
        name: &str,
        key: [u64; 3],
        build: impl FnOnce() -> Result<LocalVolGrid, MarketError>,
    ) -> Result<Arc<LocalVolGrid>, MarketError> {
        let k = (name.to_string(), key);
        if let Some(g) = self.grids.lock().ok().and_then(|m| m.get(&k).cloned()) {
            return Ok(g);
        }
        let g = Arc::new(build()?);
        if let Ok(mut m) = self.grids.lock() {
            m.insert(k, g.clone());
        }
        Ok(g)
    }

    /// Grids built so far.
    pub fn len(&self) -> usize {
        self.grids.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for GridCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GridCache({} grids)", self.len())
    }
}

/// The cache holds what a market implies, not a part of it.
impl PartialEq for GridCache {
    fn eq(&self, _: &GridCache) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spline_passes_through_its_knots_and_its_wings_join_it_smoothly() {
        let s = RowSpline::new(vec![-0.3, 0.0, 0.2, 0.5], vec![0.02, 0.01, 0.008, 0.009]);
        for j in 0..4 {
            let (w, _, _) = s.eval(s.k[j]);
            assert!((w - s.w[j]).abs() < 1e-15, "{j}: {w}");
        }
        for e in [-0.3, 0.5] {
            let (a, b) = (s.eval(e - 1e-9), s.eval(e + 1e-9));
            assert!(
                (a.0 - b.0).abs() < 1e-10 && (a.1 - b.1).abs() < 1e-7 && (a.2 - b.2).abs() < 1e-6,
                "{a:?} {b:?}"
            );
        }
        // The falling wing levels off above half its end; the rising one
        // goes on in a straight line.
        let (w, _, d2) = s.eval(-5.0);
        let (_, slope, _) = s.eval(-0.3 - 1e-12);
        assert!(
            (w - (0.02 + slope * (-5.0 + 0.3))).abs() < 1e-12 && d2 == 0.0,
            "{w}"
        );
        // Falling wings (a hump): above half their ends.
        let hump = RowSpline::new(vec![-0.3, 0.0, 0.3], vec![0.01, 0.02, 0.012]);
        for (x, end) in [(-5.0, 0.01), (5.0, 0.012)] {
            let (w, _, _) = hump.eval(x);
            assert!(w >= 0.5 * end - 1e-12 && w < end, "{x}: {w}");
        }
        // Derivatives against differences.
        let x = 0.1;
        let h = 1e-5;
        let (w, dw, d2w) = s.eval(x);
        let (wu, _, _) = s.eval(x + h);
        let (wd, _, _) = s.eval(x - h);
        assert!((dw - (wu - wd) / (2.0 * h)).abs() < 1e-8);
        assert!((d2w - (wu - 2.0 * w + wd) / (h * h)).abs() < 1e-4);
    }
}
