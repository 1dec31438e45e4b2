//! Forward-mode derivatives for pathwise Greeks: a [`Dual`] number carries
//! its value and its derivatives along [`TANGENTS`] directions (delta, vega,
//! rho), and implements [`Real`], so every model's step and every payoff's
//! fold, written once for `T: Real`, carries each path's tangents beside
//! its state in the same pass, with no second copy of their math.
//!
//! A branch (`select`, `min`, `max`, a comparison) takes the derivative of
//! the branch it takes: the pathwise derivative of a Lipschitz payoff,
//! almost surely. Where a payoff jumps (a digital's indicator), that
//! derivative is zero and wrong, so those payoffs use a likelihood-ratio
//! estimator instead (`crate::greeks`). The normals are constants: they
//! are drawn as plain numbers and lifted ([`Real::normals_from_words`]).

use core::cmp::Ordering;
use core::ops::{Add, Div, Mul, Neg, Sub};

use crate::real::Real;

/// Directions a [`Dual`] carries.
pub const TANGENTS: usize = 3;
/// The direction of delta: `d/dS_0`.
pub const DELTA: usize = 0;
/// The direction of vega: `d/d(vol parameter)` (see `crate::greeks`).
pub const VEGA: usize = 1;
/// The direction of rho: `d/dr` (the drift, for sv_fx).
pub const RHO: usize = 2;

/// A number and its derivatives along [`TANGENTS`] directions.
#[derive(Clone, Copy, Debug)]
pub struct Dual<T> {
    pub v: T,
    pub d: [T; TANGENTS],
}

impl<T: Real> Dual<T> {
    /// A constant: every derivative zero.
    #[inline(always)]
    pub fn constant(v: T) -> Dual<T> {
        Dual {
            v,
            d: [T::ZERO; TANGENTS],
        }
    }

    /// `v` with derivatives `d` (f64 rounded once to `T`, as constants are).
    pub fn seeded(v: f64, d: [f64; TANGENTS]) -> Dual<T> {
        Dual {
            v: T::from_f64(v),
            d: d.map(T::from_f64),
        }
    }

    #[inline(always)]
    fn map_d(self, f: impl Fn(T) -> T) -> [T; TANGENTS] {
        [f(self.d[0]), f(self.d[1]), f(self.d[2])]
    }
}

impl<T: Real> PartialEq for Dual<T> {
    fn eq(&self, o: &Self) -> bool {
        self.v == o.v
    }
}

/// Compared by value: a branch follows the value, never a derivative.
impl<T: Real> PartialOrd for Dual<T> {
    #[inline(always)]
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.v.partial_cmp(&o.v)
    }
    #[inline(always)]
    fn lt(&self, o: &Self) -> bool {
        self.v < o.v
    }
    #[inline(always)]
    fn le(&self, o: &Self) -> bool {
        self.v <= o.v
    }
    #[inline(always)]
    fn gt(&self, o: &Self) -> bool {
        self.v > o.v
    }
    #[inline(always)]
    fn ge(&self, o: &Self) -> bool {
        self.v >= o.v
    }
}

impl<T: Real> Add for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Dual {
            v: self.v + o.v,
            d: [self.d[0] + o.d[0], self.d[1] + o.d[1], self.d[2] + o.d[2]],
        }
    }
}

impl<T: Real> Sub for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Dual {
            v: self.v - o.v,
            d: [self.d[0] - o.d[0], self.d[1] - o.d[1], self.d[2] - o.d[2]],
        }
    }
}

impl<T: Real> Mul for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        let (a, b) = (self.v, o.v);
        Dual {
            v: a * b,
            d: [
                self.d[0] * b + a * o.d[0],
                self.d[1] * b + a * o.d[1],
                self.d[2] * b + a * o.d[2],
            ],
        }
    }
}

impl<T: Real> Div for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let q = self.v / o.v;
        Dual {
            v: q,
            d: [
                (self.d[0] - q * o.d[0]) / o.v,
                (self.d[1] - q * o.d[1]) / o.v,
                (self.d[2] - q * o.d[2]) / o.v,
            ],
        }
    }
}

impl<T: Real> Neg for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Dual {
            v: -self.v,
            d: self.map_d(|x| -x),
        }
    }
}

impl<T: Real> Real for Dual<T> {
    type Plain = T;
    #[inline(always)]
    fn lift(p: T) -> Self {
        Dual::constant(p)
    }
    const ZERO: Self = Dual {
        v: T::ZERO,
        d: [T::ZERO; TANGENTS],
    };
    const ONE: Self = Dual {
        v: T::ONE,
        d: [T::ZERO; TANGENTS],
    };
    const NAME: &'static str = T::NAME;
    const TANGENTS: usize = TANGENTS;

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Dual::constant(T::from_f64(x))
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.v.to_f64()
    }
    #[inline(always)]
    fn from_u32(x: u32) -> Self {
        Dual::constant(T::from_u32(x))
    }
    #[inline(always)]
    fn tangent(self, j: usize) -> f64 {
        self.d[j].to_f64()
    }
    /// Below `x = -87` (f32's `exp` clamps there; `e^-87` is 1.6e-38) the
    /// derivative is 0, whatever the derivative of `x`: at `x = -inf` (a
    /// Brownian bridge's crossing weight over a step of zero variance,
    /// Heston's truncated variance) that derivative is NaN or infinite.
    #[inline(always)]
    fn exp(self) -> Self {
        let e = self.v.exp();
        let live = self.v > T::from_f64(-87.0);
        Dual {
            v: e,
            d: self.map_d(|x| T::select(live, x * e, T::ZERO)),
        }
    }
    #[inline(always)]
    fn ln(self) -> Self {
        let v = self.v;
        Dual {
            v: v.ln(),
            d: self.map_d(|x| x / v),
        }
    }
    /// At 0 (Heston's truncated variance) the derivative is taken as 0,
    /// the side the truncation holds the path on.
    #[inline(always)]
    fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        let pos = self.v > T::ZERO;
        let h = T::select(pos, T::from_f64(0.5) / s, T::ZERO);
        Dual {
            v: s,
            d: self.map_d(|x| T::select(pos, x * h, T::ZERO)),
        }
    }
    /// At a tie the derivative is the mean of the two sides': the limit of
    /// a central difference. It matters where a tie has a probability, as
    /// when a lookback's running minimum starts at the spot and the strike
    /// is the spot (`max(K - S_min, 0)` with `S_min = S_0 = K` on every
    /// path that never falls below it).
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        tie_or(self, o, self.v > o.v)
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        tie_or(self, o, self.v < o.v)
    }
    /// A path that is not finite spoils its derivatives too: NaN in each
    /// (a Greek of 0 would look like a number).
    #[inline(always)]
    fn nan_unless_finite(self, x: Self) -> Self {
        let nan = T::from_f64(f64::NAN);
        Self::select(
            x.to_f64().is_finite(),
            self,
            Dual {
                v: nan,
                d: [nan; TANGENTS],
            },
        )
    }
    fn sincos_turns(self) -> (Self, Self) {
        let (s, c) = self.v.sincos_turns();
        (Dual::constant(s), Dual::constant(c))
    }
    fn uniform(word: u32) -> Self {
        Dual::constant(T::uniform(word))
    }
    /// The normals are drawn as plain numbers, bit for bit the plain
    /// kernel's, and lifted: they do not depend on any parameter.
    #[inline(always)]
    fn normals_from_words(w: [u32; 4]) -> [Self; 4] {
        T::normals_from_words(w).map(Dual::constant)
    }
}

/// `a` if `pick_a`, else `b`; where they are equal, their mean derivative.
#[inline(always)]
fn tie_or<T: Real>(a: Dual<T>, b: Dual<T>, pick_a: bool) -> Dual<T> {
    let tie = a.v == b.v;
    let half = T::from_f64(0.5);
    let pick = |x: T, y: T| T::select(tie, half * (x + y), T::select(pick_a, x, y));
    Dual {
        v: T::select(pick_a, a.v, b.v),
        d: [
            pick(a.d[0], b.d[0]),
            pick(a.d[1], b.d[1]),
            pick(a.d[2], b.d[2]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Derivatives of a few compositions against their closed forms.
    #[test]
    fn derivatives_follow_the_chain_rule() {
        let x = Dual::<f64> {
            v: 0.7,
            d: [1.0, 0.0, 2.0],
        };
        let y = (x * x).exp() / x.sqrt() - x.ln();
        let f = |t: f64| (t * t).exp() / t.sqrt() - t.ln();
        let h = 1e-6;
        let fd = (f(0.7 + h) - f(0.7 - h)) / (2.0 * h);
        assert!((y.v - f(0.7)).abs() < 1e-15);
        assert!((y.d[0] - fd).abs() < 1e-8, "{} vs {fd}", y.d[0]);
        assert_eq!(y.d[1], 0.0);
        assert!((y.d[2] - 2.0 * fd).abs() < 2e-8);
        // A branch takes the derivative of the side taken.
        let m = x.max(Dual::constant(0.5));
        assert_eq!(m.d, [1.0, 0.0, 2.0]);
        let m = x.max(Dual::constant(0.9));
        assert_eq!(m.d, [0.0; 3]);
        // A tie: the mean of the sides (a central difference's limit).
        let m = x.min(Dual::constant(0.7));
        assert_eq!(m.d, [0.5, 0.0, 1.0]);
        // The truncation's corner: a zero under the root gives no NaN.
        let z = Dual::<f32>::ZERO.sqrt();
        assert_eq!(z.d, [0.0; 3]);
    }

    #[test]
    fn normals_are_the_plain_numbers_lifted() {
        let w = [1u32, 2, 3, 4];
        let plain = <f32 as Real>::normals_from_words(w);
        let dual = <Dual<f32> as Real>::normals_from_words(w);
        for (p, d) in plain.iter().zip(dual) {
            assert_eq!(p.to_bits(), d.v.to_bits());
            assert_eq!(d.d, [0.0; 3]);
        }
    }
}
