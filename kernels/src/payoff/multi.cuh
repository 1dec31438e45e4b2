// basket and rainbow (the twin of MultiPayoff::intrinsic in
// kernels/src/multi.rs; kernels/src/payoff/multi.wgsl): the intrinsic value
// at asset values s, on the weighted sum (basket) or the largest or
// smallest asset (rainbow max, min); `weights` are the basket's.

// The value the option is struck on at asset values s: the weighted sum
// (basket), the largest or smallest asset (rainbow max, min).
template <typename R>
__device__ __forceinline__ R rp_multi_value(const R* weights, unsigned flags, const R* s, unsigned n) {
    R u;
    if (flags & RP_E_MAX) {
        u = s[0];
        for (unsigned j = 1; j < n; j++) {
            u = rp_max(u, s[j]);
        }
    } else if (flags & RP_E_MIN) {
        u = s[0];
        for (unsigned j = 1; j < n; j++) {
            u = rp_min(u, s[j]);
        }
    } else {
        u = R(0);
        for (unsigned j = 0; j < n; j++) {
            u += weights[j] * s[j];
        }
    }
    return u;
}

template <typename R>
__device__ __forceinline__ R rp_multi_intrinsic(const R* weights, R k, unsigned flags, const R* s, unsigned n) {
    const R u = rp_multi_value(weights, flags, s, n);
    // A basket that is not finite is NaN, never paid 0 by the max below.
    if (!rp_is_finite(u)) {
        return rp_nan_unless_finite(u, u);
    }
    return (flags & RP_E_PUT) ? rp_max(k - u, R(0)) : rp_max(u - k, R(0));
}

// The intrinsic value's derivative in each asset value at s, into g (the
// twin of MultiPayoff::gradient; one-pass Greeks): the payoff's slope (1
// for a call in the money, -1 for a put, half that at the strike) times
// the basket's weights, or a rainbow's slope shared by the assets tied for
// its extreme.
template <typename R>
__device__ __forceinline__ void rp_multi_gradient(const R* weights, R k, unsigned flags, const R* s, unsigned n,
                                                  R* g) {
    const bool sorted = (flags & (RP_E_MAX | RP_E_MIN)) != 0u;
    const R u = rp_multi_value(weights, flags, s, n);
    // A value that is not finite (its intrinsic is NaN) has no slope:
    // every derivative NaN, never 0 beside a NaN PV.
    if (!rp_is_finite(u)) {
        for (unsigned j = 0; j < n; j++) {
            g[j] = rp_nan_unless_finite(u, u);
        }
        return;
    }
    R slope;
    if (flags & RP_E_PUT) {
        slope = u < k ? R(-1) : u == k ? R(-0.5) : R(0);
    } else {
        slope = u > k ? R(1) : u == k ? R(0.5) : R(0);
    }
    R tied = R(0);
    for (unsigned j = 0; j < n; j++) {
        if (s[j] == u) {
            tied += R(1);
        }
    }
    tied = rp_max(tied, R(1));
    for (unsigned j = 0; j < n; j++) {
        g[j] = sorted ? (s[j] == u ? slope / tied : R(0)) : slope * weights[j];
    }
}
