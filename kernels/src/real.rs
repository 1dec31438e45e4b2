//! The path-state number type (`f32` by default, `f64` on request) and the
//! few special functions the kernels need.
//!
//! For `f32` the functions are riskpool's own: Cephes-style minimax
//! polynomials built from `+`, `*`, `sqrt` and bit moves only, never `fma`
//! (Rust never contracts `a * b + c`). That gives two things:
//!
//! - the loops over SIMD lanes vectorize (a libm call would not), at any
//!   width, with the same bits at every width and on every x86-64 node;
//! - the WGSL (`kernels/src/math.wgsl`) and CUDA C (`kernels/src/math.cuh`)
//!   sources carry the same polynomials, so the engines agree far inside
//!   the Monte Carlo error.
//!
//! For `f64` (the accuracy reference) the functions are the platform's libm.

#![allow(clippy::excessive_precision)] // Cephes' coefficients, kept digit for digit.

use core::ops::{Add, Div, Mul, Neg, Sub};

/// A floating-point type that path state can be kept in.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// Name for logs and result files (`f32`, `f64`).
    const NAME: &'static str;
    /// Derivatives the number carries beside its value: 0 for a plain
    /// number, [`crate::tangent::TANGENTS`] for a [`crate::tangent::Dual`].
    const TANGENTS: usize = 0;
    /// The plain number beneath (itself, or a dual number's value type):
    /// what the normals are drawn and kept in.
    type Plain: Real;
    /// A plain number as this type (a dual number with no derivatives).
    fn lift(p: Self::Plain) -> Self;

    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn from_u32(x: u32) -> Self;
    /// Its derivative along direction `j` (0 for a plain number).
    #[inline(always)]
    fn tangent(self, _j: usize) -> f64 {
        0.0
    }
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    /// `(sin 2 pi u, cos 2 pi u)` for `u` in `[0, 1)`.
    fn sincos_turns(self) -> (Self, Self);
    /// The uniform in (0, 1) that a Philox word stands for (see [`crate::rng`]).
    fn uniform(word: u32) -> Self;

    #[inline(always)]
    fn max(self, o: Self) -> Self {
        if self > o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        if self < o {
            self
        } else {
            o
        }
    }
    /// `self` where the path state `x` is finite, else NaN: a path that
    /// overflowed or went NaN is never paid (its trade's sums turn NaN,
    /// which is refused naming the trade), where a payoff's `max` would
    /// pay it 0 or a clamped `exp` a finite garbage. The GPU twins
    /// (`rp_nan_unless_finite`) test the exponent bits, which no fast-math
    /// assumption removes.
    #[inline(always)]
    fn nan_unless_finite(self, x: Self) -> Self {
        Self::select(x.to_f64().is_finite(), self, Self::from_f64(f64::NAN))
    }
    /// `if c { a } else { b }`, written so that it vectorizes to a blend.
    #[inline(always)]
    fn select(c: bool, a: Self, b: Self) -> Self {
        if c {
            a
        } else {
            b
        }
    }

    /// The standard normal whose distribution function is `u`, for `u` in
    /// (0, 1): the quasi-Monte Carlo normals ([`crate::qmc`]), which must
    /// keep the points' structure (Box-Muller pairs two dimensions and
    /// breaks it). [`inverse_normal_poly`]; f64 refines it to full
    /// precision.
    #[inline(always)]
    fn inverse_normal(u: Self) -> Self {
        inverse_normal_poly(u)
    }

    /// Box-Muller on one Philox output: four standard normals.
    #[inline(always)]
    fn normals_from_words(w: [u32; 4]) -> [Self; 4] {
        let two = Self::from_f64(-2.0);
        let r0 = (two * Self::uniform(w[0]).ln()).sqrt();
        let (s0, c0) = Self::uniform(w[1]).sincos_turns();
        let r1 = (two * Self::uniform(w[2]).ln()).sqrt();
        let (s1, c1) = Self::uniform(w[3]).sincos_turns();
        [r0 * c0, r0 * s0, r1 * c1, r1 * s1]
    }
}

/// `sqrt(2) erfinv(2u - 1)`, the normal quantile of `u` in (0, 1), by
/// Giles's single-precision `erfinv` ("Approximating the erfinv function",
/// GPU Computing Gems, 2011): `w = -ln((1 - x)(1 + x))` for `x = 2u - 1`,
/// then a polynomial in `w - 2.5` where `w < 5` and in `sqrt(w) - 3`
/// beyond. Both polynomials are evaluated and one selected, so the lanes
/// stay branch-free; only `+`, `*`, `sqrt` and [`Real::ln`]. For the f32
/// uniforms (a multiple of 2^-24 from 2^-24) `x`, `1 - x` and `1 + x` are
/// exact. Relative error about 1e-7 (f32 rounding); the WGSL and CUDA C
/// twins (`rp_inverse_normal`) carry the same coefficients.
#[inline(always)]
pub fn inverse_normal_poly<T: Real>(u: T) -> T {
    let c = T::from_f64;
    let x = c(2.0) * u - T::ONE;
    let w = -((T::ONE - x) * (T::ONE + x)).ln();
    let a = w - c(2.5);
    let mut p = c(2.810_226_36e-08);
    for k in [
        3.432_739_39e-07,
        -3.523_387_7e-06,
        -4.391_506_54e-06,
        0.000_218_580_87,
        -0.001_253_725_03,
        -0.004_177_681_64,
        0.246_640_727,
        1.501_409_41,
    ] {
        p = c(k) + p * a;
    }
    let b = w.sqrt() - c(3.0);
    let mut q = c(-0.000_200_214_257);
    for k in [
        0.000_100_950_558,
        0.001_349_343_22,
        -0.003_673_428_44,
        0.005_739_507_73,
        -0.007_622_461_3,
        0.009_438_870_47,
        1.001_674_06,
        2.832_976_82,
    ] {
        q = c(k) + q * b;
    }
    T::select(w < c(5.0), p, q) * x * c(core::f64::consts::SQRT_2)
}

/// `N` constant slots for the GPU engines: `vals`, then zeros.
pub fn slots<T: Real, const N: usize>(vals: &[T]) -> [T; N] {
    let mut out = [T::ZERO; N];
    out[..vals.len()].copy_from_slice(vals);
    out
}

/// 1.5 * 2^23: adding and subtracting it rounds an f32 to the nearest integer
/// (ties to even) without SSE4.1. The GPU sources use `round()` instead: GPU
/// compilers may fold `(t + c) - c` back to `t`.
const ROUND_MAGIC: f32 = 12_582_912.0;

impl Real for f32 {
    type Plain = f32;
    #[inline(always)]
    fn lift(p: f32) -> f32 {
        p
    }
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NAME: &'static str = "f32";

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_u32(x: u32) -> Self {
        x as f32
    }

    /// `e^x`, relative error below 2 ulp on [-87, 88] (inputs are clamped there).
    #[inline(always)]
    fn exp(self) -> Self {
        let x = self.clamp_to(-87.0, 88.0);
        let t = x * core::f32::consts::LOG2_E + ROUND_MAGIC;
        let n = t - ROUND_MAGIC;
        let ni = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
        // Cody-Waite reduction: ln 2 split so that n * LN2_HI is exact.
        let r = x - n * 0.693_359_375 + n * 2.121_944_400_5e-4;
        let z = r * r;
        let p = (((((1.987_569_150_0e-4 * r + 1.398_199_950_7e-3) * r + 8.333_451_907_3e-3) * r
            + 4.166_579_589_4e-2)
            * r
            + 1.666_666_545_9e-1)
            * r
            + 5.000_000_120_1e-1)
            * z
            + r
            + 1.0;
        p * f32::from_bits(((ni + 127) as u32) << 23)
    }

    /// Natural logarithm of a positive normal number, below 2 ulp.
    #[inline(always)]
    fn ln(self) -> Self {
        let bits = self.to_bits();
        let e = ((bits >> 23) & 0xff) as i32 - 126;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // [0.5, 1)
        let small = m < core::f32::consts::FRAC_1_SQRT_2;
        let e = e - small as i32;
        let m = if small { m + m - 1.0 } else { m - 1.0 };
        let z = m * m;
        let p = ((((((((7.037_683_629_2e-2 * m - 1.151_461_031_0e-1) * m
            + 1.167_699_874_0e-1)
            * m
            - 1.242_014_084_6e-1)
            * m
            + 1.424_932_278_7e-1)
            * m
            - 1.666_805_766_5e-1)
            * m
            + 2.000_071_476_5e-1)
            * m
            - 2.499_999_399_3e-1)
            * m
            + 3.333_333_117_4e-1)
            * m
            * z;
        let fe = e as f32;
        let y = p + fe * -2.121_944_400_5e-4 + -0.5 * z;
        m + y + fe * 0.693_359_375
    }

    #[inline(always)]
    fn sqrt(self) -> Self {
        // IEEE square root: one instruction, correctly rounded everywhere.
        f32::sqrt(self)
    }

    #[inline(always)]
    fn sincos_turns(self) -> (Self, Self) {
        // Quarter turns: q = round(4u) exactly, f = 4u - q in [-1/2, 1/2].
        let t = self * 4.0;
        let qt = t + ROUND_MAGIC;
        let q = qt.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
        let f = t - (qt - ROUND_MAGIC);
        let a = f * core::f32::consts::FRAC_PI_2;
        let z = a * a;
        let s =
            ((-1.951_529_589_1e-4 * z + 8.332_160_873_6e-3) * z - 1.666_665_461_1e-1) * z * a + a;
        let c = ((2.443_315_711_809_948e-5 * z - 1.388_731_625_493_765e-3) * z
            + 4.166_664_568_298_827e-2)
            * z
            * z
            - 0.5 * z
            + 1.0;
        // Rotate by q quarter turns.
        let swap = q & 1 != 0;
        let (sr, cr) = if swap { (c, s) } else { (s, c) };
        let sin_sign = (q & 2) << 30;
        let cos_sign = (q.wrapping_add(1) & 2) << 30;
        (
            f32::from_bits(sr.to_bits() ^ sin_sign),
            f32::from_bits(cr.to_bits() ^ cos_sign),
        )
    }

    #[inline(always)]
    fn uniform(word: u32) -> Self {
        // 23 bits: `k + 0.5` then needs 24 bits, so `u` is exact and < 1.
        ((word >> 9) as i32 as f32 + 0.5) * (1.0 / 8_388_608.0)
    }
}

trait Clamp {
    fn clamp_to(self, lo: Self, hi: Self) -> Self;
}

impl Clamp for f32 {
    #[inline(always)]
    fn clamp_to(self, lo: f32, hi: f32) -> f32 {
        // Written as selects (not f32::clamp) so NaN handling never blocks
        // vectorization; a NaN input stays NaN through the polynomial.
        let x = if self < lo { lo } else { self };
        if x > hi {
            hi
        } else {
            x
        }
    }
}

impl Real for f64 {
    type Plain = f64;
    #[inline(always)]
    fn lift(p: f64) -> f64 {
        p
    }
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NAME: &'static str = "f64";

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_u32(x: u32) -> Self {
        x as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn sincos_turns(self) -> (Self, Self) {
        (core::f64::consts::TAU * self).sin_cos()
    }
    #[inline(always)]
    fn uniform(word: u32) -> Self {
        (word as f64 + 0.5) * (1.0 / 4_294_967_296.0)
    }

    /// [`inverse_normal_poly`] (about 1e-7 where f32's uniforms reach,
    /// 1e-3 at f64's smallest, 2^-33) refined by two Halley steps on the
    /// lower half, `q = min(u, 1 - u)`: `e = Phi(x) - q` with
    /// `Phi(x) = erfc(-x / sqrt 2) / 2` (libm's, as f64's other functions),
    /// `t = e / phi(x)`, `x - t / (1 + x t / 2)`: each step cubes the
    /// error, to f64 rounding. The upper half by symmetry (`1 - u` is
    /// exact for the f64 uniforms).
    #[inline(always)]
    fn inverse_normal(u: f64) -> f64 {
        let upper = u > 0.5;
        let q = if upper { 1.0 - u } else { u };
        let mut x = inverse_normal_poly(q);
        for _ in 0..2 {
            let e = 0.5 * libm_erfc(-x * core::f64::consts::FRAC_1_SQRT_2) - q;
            // 1 / phi(x) = sqrt(2 pi) e^(x^2 / 2).
            let t = e * (core::f64::consts::TAU.sqrt() * (0.5 * x * x).exp());
            x = x - t / (1.0 + 0.5 * x * t);
        }
        if upper {
            -x
        } else {
            x
        }
    }
}

/// The C library's `erfc` (Rust's standard library has none; it links
/// libm on every target riskpool builds for).
#[inline(always)]
pub fn libm_erfc(x: f64) -> f64 {
    extern "C" {
        fn erfc(x: f64) -> f64;
    }
    // SAFETY: a pure C function of one double, no pointers or state.
    unsafe { erfc(x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f64) -> f64 {
        ((a as f64 - b) / b).abs() / f32::EPSILON as f64
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            worst = worst.max(ulps(Real::exp(x), (x as f64).exp()));
            x += 0.000_77;
        }
        assert!(worst < 2.0, "exp worst {worst} ulp");
        assert_eq!(Real::exp(0.0f32), 1.0);
        assert!(Real::exp(-1.0e30f32) < 1e-37);
    }

    #[test]
    fn ln_is_accurate() {
        let mut worst = 0.0f64;
        for k in 0..(1u32 << 23) {
            if k % 7 != 0 {
                continue;
            }
            let u = <f32 as Real>::uniform(k << 9);
            worst = worst.max(ulps(Real::ln(u), (u as f64).ln()));
        }
        for x in [1.5f32, 2.0, 10.0, 123.456, 1e30] {
            worst = worst.max(ulps(Real::ln(x), (x as f64).ln()));
        }
        assert!(worst < 3.0, "ln worst {worst} ulp");
    }

    #[test]
    fn sincos_is_accurate() {
        let mut worst = 0.0f64;
        for k in (0..(1u32 << 23)).step_by(5) {
            let u = <f32 as Real>::uniform(k << 9);
            let (s, c) = u.sincos_turns();
            let a = std::f64::consts::TAU * u as f64;
            worst = worst
                .max((s as f64 - a.sin()).abs())
                .max((c as f64 - a.cos()).abs());
        }
        assert!(
            worst < 4.0 * f32::EPSILON as f64,
            "sincos worst abs error {worst}"
        );
    }

    #[test]
    fn uniforms_are_open_interval() {
        assert!(<f32 as Real>::uniform(0) > 0.0);
        assert!(<f32 as Real>::uniform(u32::MAX) < 1.0);
        assert!(<f64 as Real>::uniform(0) > 0.0);
        assert!(<f64 as Real>::uniform(u32::MAX) < 1.0);
    }
}
