//! Randomised quasi-Monte Carlo: scrambled Sobol points through an
//! inverse normal and a Brownian bridge, the same numbers on every engine.
//!
//! This module is the QMC half of the stream contract (`crate::rng` is
//! Philox's); `docs/streams.md` says it in words. For a trade priced with
//! `rng: sobol` and `R` replicates (`paths = R x 2^m`):
//!
//! - path `p` of the trade is point `n = p mod 2^m` of replicate
//!   `r = p / 2^m`; the engines price each replicate as a trade of `2^m`
//!   paths ([`Rng::SobolReplicate`]) and the price is the mean of the
//!   replicate means, its standard error their spread
//!   (`crate::engine::replicates`);
//! - a path needs `D = steps x k` dimensions (`k` normals a step, as
//!   Philox's layout). Dimension `rank x k + j` is factor `j`'s `rank`th
//!   bridge node ([`bridge`]): the first `k` dimensions fix each factor's
//!   end, the next `k` their middles, and so on;
//! - coordinate `d` of point `n` is Sobol's ([`sobol::point`], Gray code
//!   order) scrambled ([`sobol::scramble`]) with the seed of
//!   `(run seed, stream id, r, d)` ([`sobol::dimension_seed`]), then the
//!   uniform of that 32-bit word as Philox's words give theirs
//!   ([`crate::real::Real::uniform`]), then its normal quantile
//!   ([`crate::real::Real::inverse_normal`]);
//! - each factor's `steps` normals go through the bridge; the increments
//!   are the step's normals, `k*i + j` for factor `j` of step `i`, where
//!   Philox's would be.
//!
//! Trades with more than [`sobol::MAX_DIMENSIONS`] dimensions are refused
//! with the count, and so are antithetic pairs (the points are already
//! balanced; pairing breaks their nets). Trades with several assets, early
//! exercise or on a market's dates draw their pricing paths' normals here
//! too (their regression paths stay Philox's: a policy is a fit, not an
//! integral; a dated path's bridge runs on its grid's step index).

pub mod bridge;
pub mod sobol;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::real::Real;
use bridge::Bridge;
use sobol::{dimension_seed, directions, gray_step, point, scramble, BITS, MAX_DIMENSIONS};

/// Replicates of a Sobol trade when none are asked for.
pub const DEFAULT_REPLICATES: u32 = 16;
/// The most replicates a trade may ask for (each is priced as a trade of
/// its own; their spread needs tens, not millions).
pub const MAX_REPLICATES: u32 = 4096;

/// Where a trade's normals come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rng {
    /// Philox4x32-10 pseudo-random numbers ([`crate::rng`]), the default.
    #[default]
    Philox,
    /// Scrambled Sobol points in `replicates` independent replicates.
    Sobol { replicates: u32 },
    /// Replicate `index` of a Sobol trade alone: its paths are that
    /// replicate's points (how an engine prices a Sobol trade; its
    /// standard error is the sample's, not an honest one).
    SobolReplicate { index: u32 },
}

impl Rng {
    /// `philox` or `sobol`, as the input names it.
    pub fn name(self) -> &'static str {
        match self {
            Rng::Philox => "philox",
            Rng::Sobol { .. } | Rng::SobolReplicate { .. } => "sobol",
        }
    }
}

/// Normals a step of a one-asset model takes (Philox's layout; the
/// dimension count of a path is `steps` times this).
pub fn normals_per_step(trade: &crate::instrument::Trade) -> usize {
    use crate::model::ModelSpec;
    // A trade on a market's dates: its path's (its `steps` are the grid's).
    if let Some(d) = &trade.dated {
        return d.normals_per_step();
    }
    if let Some(m) = trade.extension.as_ref().and_then(|e| e.multi.as_ref()) {
        return match m.model {
            crate::multi::MultiModel::GbmMulti { .. } => m.model.assets(),
            crate::multi::MultiModel::HestonMulti { .. } => 2 * m.model.assets(),
        };
    }
    match trade.model {
        ModelSpec::Gbm(_) => 1,
        ModelSpec::Heston(_) | ModelSpec::SvFx(_) => 2,
    }
}

/// Whether the GPU engines draw Sobol points for a trade's kind: several
/// assets, early exercise and a market's dates on Sobol points are the CPU
/// engine's only so far (the GPU side kernels draw Philox's); the reason
/// where not.
pub fn on_gpu(trade: &crate::instrument::Trade) -> Result<(), String> {
    if trade.extension.is_some() || trade.dated.is_some() {
        return Err(format!(
            "trade `{}`: sobol points for several assets, early exercise or a market's dates are drawn by the cpu engine only so far (--engine cpu, or auto)",
            trade.id
        ));
    }
    Ok(())
}

/// Checks a Sobol trade's terms: `(field, message)` of the first problem.
pub fn check(
    paths: u64,
    replicates: u32,
    steps: u32,
    normals: usize,
    antithetic: bool,
) -> Result<(), (&'static str, String)> {
    if antithetic {
        return Err((
            "rng",
            "sobol points with antithetic pairs: the points are balanced already and pairs break their nets; drop one of `rng: sobol` and antithetic".into(),
        ));
    }
    if !(2..=MAX_REPLICATES).contains(&replicates) {
        return Err((
            "qmc.replicates",
            format!("must be from 2 to {MAX_REPLICATES} (the standard error is the replicates' spread), got {replicates}"),
        ));
    }
    let r = replicates as u64;
    let per = paths / r;
    if paths % r != 0 || !per.is_power_of_two() {
        // The nearest counts that are, within the path limit.
        let lo = (per >= 1).then(|| r << per.ilog2());
        let hi_exp = if per >= 1 { per.ilog2() + 1 } else { 0 };
        let hi = r
            .checked_shl(hi_exp)
            .filter(|&h| h <= crate::instrument::MAX_PATHS);
        let nearest: Vec<String> = [lo, hi]
            .into_iter()
            .flatten()
            .map(|x| x.to_string())
            .collect();
        let nearest = nearest.join(" or ");
        return Err((
            "paths",
            format!(
                "{paths} paths in {replicates} replicates: sobol needs replicates x 2^m paths (each replicate a power of two), e.g. {nearest}"
            ),
        ));
    }
    let dims = steps as u64 * normals as u64;
    if dims > MAX_DIMENSIONS as u64 {
        return Err((
            "steps",
            format!(
                "{steps} steps x {normals} normals a step is {dims} sobol dimensions; the direction numbers hold {MAX_DIMENSIONS}"
            ),
        ));
    }
    Ok(())
}

/// One replicate's draws for one trade: its dimensions' scrambling seeds
/// and its bridge.
#[derive(Clone, Debug)]
pub struct SobolDraws {
    /// Normals a step (the bridge's factors).
    pub k: usize,
    pub steps: u32,
    seeds: Vec<[u32; 2]>,
    bridge: Arc<Bridge>,
}

/// The bridge of `steps` steps, built once a process.
pub(crate) fn bridge_of(steps: u32) -> Arc<Bridge> {
    static CACHE: OnceLock<Mutex<HashMap<u32, Arc<Bridge>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked mid-insert of a
    // value it had finished building: the map is still whole.
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(steps)
        .or_insert_with(|| Arc::new(Bridge::new(steps)))
        .clone()
}

impl SobolDraws {
    /// Replicate `replicate` of the trade with stream id `stream` under
    /// run seed `seed`, `steps` steps of `k` normals (checked by
    /// [`check`]: at most [`MAX_DIMENSIONS`] dimensions).
    pub fn new(seed: u64, stream: u64, replicate: u32, steps: u32, k: usize) -> SobolDraws {
        let dims = (steps as usize * k).min(MAX_DIMENSIONS);
        SobolDraws {
            k,
            steps,
            seeds: (0..dims as u32)
                .map(|d| dimension_seed(seed, stream, replicate, d))
                .collect(),
            bridge: bridge_of(steps),
        }
    }

    /// Dimensions a path takes.
    pub fn dims(&self) -> usize {
        self.seeds.len()
    }

    /// Coordinate `d` of point `index`, scrambled (a 32-bit fraction).
    pub fn coordinate(&self, d: usize, index: u32) -> u32 {
        scramble(point(&directions()[d], index), self.seeds[d])
    }

    /// The normals of points `first .. first + L` (lane `l` point
    /// `first + l`, wrapping), step `i` factor `j` at `out[k*i + j][l]`.
    /// Inlined into the CPU kernel, so it is compiled at the kernel's SIMD
    /// level (`engine/cpu/dispatch.rs`).
    #[inline(always)]
    pub fn lanes<T: Real, const L: usize>(&self, first: u32, s: &mut LaneScratch<T, L>) {
        let v = directions();
        let dims = self.dims();
        s.z.resize(dims, [T::ZERO; L]);
        s.w.resize(self.steps as usize + 1, [T::ZERO; L]);
        s.out.resize(dims, [T::ZERO; L]);
        let mut step = [0usize; L];
        for (l, st) in step.iter_mut().enumerate().skip(1) {
            *st = gray_step(first.wrapping_add(l as u32)).min(BITS - 1);
        }
        for d in 0..dims {
            let vd = &v[d];
            let mut x = point(vd, first);
            let mut xs = [0u32; L];
            xs[0] = x;
            for l in 1..L {
                x ^= vd[step[l]];
                xs[l] = x;
            }
            let seed = self.seeds[d];
            let zd = &mut s.z[d];
            for l in 0..L {
                zd[l] = T::inverse_normal(T::uniform(scramble(xs[l], seed)));
            }
        }
        let k = self.k;
        for j in 0..k {
            s.w[0] = [T::ZERO; L];
            for (r, node) in self.bridge.nodes.iter().enumerate() {
                let (wl, wr, sd) = (
                    T::from_f64(node.wl),
                    T::from_f64(node.wr),
                    T::from_f64(node.sd),
                );
                let (a, b) = (s.w[node.left as usize], s.w[node.right as usize]);
                let zr = s.z[r * k + j];
                let t = &mut s.w[node.target as usize];
                for l in 0..L {
                    t[l] = wl * a[l] + wr * b[l] + sd * zr[l];
                }
            }
            for i in 0..self.steps as usize {
                let (lo, hi) = (s.w[i], s.w[i + 1]);
                let o = &mut s.out[i * k + j];
                for l in 0..L {
                    o[l] = hi[l] - lo[l];
                }
            }
        }
    }

    /// One path's normals (point `index`), as [`SobolDraws::lanes`] gives
    /// them: the scalar reference.
    pub fn path<T: Real>(&self, index: u32) -> Vec<T> {
        let mut s = LaneScratch::<T, 1>::default();
        self.lanes(index, &mut s);
        s.out.iter().map(|o| o[0]).collect()
    }

    /// One path's normals (point `index`) made as the GPU kernels make
    /// them, step after step through [`Bridge::sweep`] with a small stack
    /// (`sobol_advance` in `qmc.wgsl` and `qmc.cuh` is this loop): the
    /// same bits as [`SobolDraws::path`], which a test checks. Each
    /// coordinate by [`sobol::point`] and its seed by
    /// [`sobol::dimension_seed`] of `seed`, `stream`, `replicate`.
    pub fn path_swept<T: Real>(
        &self,
        seed: u64,
        stream: u64,
        replicate: u32,
        index: u32,
    ) -> Vec<T> {
        let (sweep, _) = self.bridge.sweep();
        let k = self.k;
        let normal = |d: usize| {
            let x = point(&directions()[d], index);
            let s = dimension_seed(seed, stream, replicate, d as u32);
            T::inverse_normal(T::uniform(scramble(x, s)))
        };
        let mut out = Vec::with_capacity(self.dims());
        let mut cur = vec![T::ZERO; k];
        // The stack: (point, W per factor); its bottom is no point, W = 0.
        let mut stack: Vec<(u32, Vec<T>)> = vec![(u32::MAX, vec![T::ZERO; k])];
        let mut next = 0;
        for s in 0..self.steps {
            while stack.last().map(|t| t.0) != Some(s + 1) {
                let e = sweep[next];
                next += 1;
                let (wl, wr, sd) = (T::from_f64(e.wl), T::from_f64(e.wr), T::from_f64(e.sd));
                let top = &stack[stack.len() - 1].1;
                let w: Vec<T> = (0..k)
                    .map(|j| wl * cur[j] + wr * top[j] + sd * normal(e.rank as usize * k + j))
                    .collect();
                stack.push((e.target, w));
            }
            let (_, w) = stack.pop().unwrap_or((0, vec![T::ZERO; k]));
            for j in 0..k {
                out.push(w[j] - cur[j]);
            }
            cur = w;
        }
        out
    }
}

/// Working memory of [`SobolDraws::lanes`], kept between calls.
#[derive(Clone, Debug)]
pub struct LaneScratch<T, const L: usize> {
    z: Vec<[T; L]>,
    w: Vec<[T; L]>,
    /// The normals: step `i` factor `j` at `out[k*i + j]`.
    pub out: Vec<[T; L]>,
}

impl<T, const L: usize> Default for LaneScratch<T, L> {
    fn default() -> Self {
        LaneScratch {
            z: Vec::new(),
            w: Vec::new(),
            out: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU kernels' forward walk through the bridge gives the bits
    /// of the breadth-first one, in f32 and f64, one and two factors.
    #[test]
    fn the_swept_path_is_the_path() {
        for (steps, k) in [(1u32, 1usize), (2, 2), (7, 1), (12, 2), (100, 1), (252, 2)] {
            let (seed, stream, replicate) = (20171229u64, 0x0123_4567_89ab_cdefu64, 3u32);
            let d = SobolDraws::new(seed, stream, replicate, steps, k);
            for index in [0u32, 1, 5, 1000, u32::MAX] {
                let a = d.path::<f32>(index);
                let b = d.path_swept::<f32>(seed, stream, replicate, index);
                assert_eq!(
                    a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "f32 steps {steps} k {k} point {index}"
                );
                let a = d.path::<f64>(index);
                let b = d.path_swept::<f64>(seed, stream, replicate, index);
                assert_eq!(
                    a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "f64 steps {steps} k {k} point {index}"
                );
            }
        }
    }
}
