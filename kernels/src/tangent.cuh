// Forward-mode derivatives for pathwise Greeks (kernels/src/tangent.rs;
// kernels/src/tangent.wgsl): a Dual<R> carries its value and its
// derivatives along the three directions delta, vega and rho, and has the
// operators and special functions the models' steps and the payoffs'
// folds use, so that the same templates (model/NAME.cuh, payoff/NAME.cuh)
// carry each path's tangents beside its state in the one-pass kernel
// (engine/cuda/one_pass.cu). Every rule is tangent.rs's: a branch takes the
// derivative of the side it takes, the value compared alone; at a tie,
// max and min take the mean of the two sides'; exp's derivative is 0 below
// -87 and sqrt's at 0. The value is the plain arithmetic's, bit for bit.

template <typename R> struct Dual {
    R v, d0, d1, d2;

    Dual() = default;
    __device__ Dual(R x) : v(x), d0(R(0)), d1(R(0)), d2(R(0)) {}
    __device__ Dual(R x, R a, R b, R c) : v(x), d0(a), d1(b), d2(c) {}

    friend __device__ __forceinline__ Dual operator+(Dual a, Dual b) {
        return Dual(a.v + b.v, a.d0 + b.d0, a.d1 + b.d1, a.d2 + b.d2);
    }
    friend __device__ __forceinline__ Dual operator-(Dual a, Dual b) {
        return Dual(a.v - b.v, a.d0 - b.d0, a.d1 - b.d1, a.d2 - b.d2);
    }
    friend __device__ __forceinline__ Dual operator-(Dual a) {
        return Dual(-a.v, -a.d0, -a.d1, -a.d2);
    }
    friend __device__ __forceinline__ Dual operator*(Dual a, Dual b) {
        return Dual(a.v * b.v, a.d0 * b.v + a.v * b.d0, a.d1 * b.v + a.v * b.d1, a.d2 * b.v + a.v * b.d2);
    }
    friend __device__ __forceinline__ Dual operator/(Dual a, Dual b) {
        const R q = a.v / b.v;
        return Dual(q, (a.d0 - q * b.d0) / b.v, (a.d1 - q * b.d1) / b.v, (a.d2 - q * b.d2) / b.v);
    }
    // Compared by value: a branch follows the value, never a derivative.
    friend __device__ __forceinline__ bool operator<(Dual a, Dual b) {
        return a.v < b.v;
    }
    friend __device__ __forceinline__ bool operator<=(Dual a, Dual b) {
        return a.v <= b.v;
    }
    friend __device__ __forceinline__ bool operator>(Dual a, Dual b) {
        return a.v > b.v;
    }
    friend __device__ __forceinline__ bool operator>=(Dual a, Dual b) {
        return a.v >= b.v;
    }
};

// Below -87 (float's exp clamps there) the derivative is 0, whatever the
// argument's: at -inf (a bridge weight over a step of zero variance) that
// derivative is NaN or infinite.
template <typename R> __device__ __forceinline__ Dual<R> rp_exp(Dual<R> a) {
    const R e = rp_exp(a.v);
    const bool live = a.v > R(-87);
    return Dual<R>(e, live ? a.d0 * e : R(0), live ? a.d1 * e : R(0), live ? a.d2 * e : R(0));
}

template <typename R> __device__ __forceinline__ Dual<R> rp_ln(Dual<R> a) {
    return Dual<R>(rp_ln(a.v), a.d0 / a.v, a.d1 / a.v, a.d2 / a.v);
}

// At 0 (Heston's truncated variance) the derivative is 0: the side the
// truncation holds the path on.
template <typename R> __device__ __forceinline__ Dual<R> sqrt(Dual<R> a) {
    const R s = sqrt(a.v);
    const bool pos = a.v > R(0);
    const R h = pos ? R(0.5) / s : R(0);
    return Dual<R>(s, pos ? a.d0 * h : R(0), pos ? a.d1 * h : R(0), pos ? a.d2 * h : R(0));
}

// a if pick_a, else b; where they are equal, their mean derivative (the
// limit of a central difference: a lookback whose extreme starts at a
// strike equal to the spot ties on every path that never passes it).
template <typename R> __device__ __forceinline__ Dual<R> rp_tie_or(Dual<R> a, Dual<R> b, bool pick_a) {
    const bool tie = a.v == b.v;
    const R half = R(0.5);
    return Dual<R>(pick_a ? a.v : b.v, tie ? half * (a.d0 + b.d0) : (pick_a ? a.d0 : b.d0),
                   tie ? half * (a.d1 + b.d1) : (pick_a ? a.d1 : b.d1),
                   tie ? half * (a.d2 + b.d2) : (pick_a ? a.d2 : b.d2));
}

template <typename R> __device__ __forceinline__ Dual<R> rp_max(Dual<R> a, Dual<R> b) {
    return rp_tie_or(a, b, a.v > b.v);
}

template <typename R> __device__ __forceinline__ Dual<R> rp_min(Dual<R> a, Dual<R> b) {
    return rp_tie_or(a, b, a.v < b.v);
}

// The vanilla payoff through max, so that a tie at the strike takes the
// mean of its sides (payoff/mod.rs's vanilla is a max).
template <typename R> __device__ __forceinline__ Dual<R> vanilla(unsigned flags, Dual<R> s, Dual<R> k) {
    return (flags & RP_PUT) ? rp_max(k - s, Dual<R>(R(0))) : rp_max(s - k, Dual<R>(R(0)));
}

// v where x's value is finite, else NaN in the value and every derivative.
template <typename R> __device__ __forceinline__ Dual<R> rp_nan_unless_finite(Dual<R> v, Dual<R> x) {
    const R nan = rp_nan_unless_finite(v.v, x.v);
    return rp_is_finite(x.v) ? v : Dual<R>(nan, nan, nan, nan);
}
