// The Longstaff-Schwartz continuation value (the twin of Basis::terms and
// Policy::exercises in kernels/src/exercise.rs; kernels/src/exercise.wgsl):
// the coefficients beta (fitted on the host) times the terms 1, x_1..x_n,
// x_1^2..x_n^2 and the intrinsic value, summed in that order; x sorted,
// largest first, for a rainbow. One asset: u = x - 1 and its powers up to
// the fourth (Basis::degree).

// W: the kernel's width (RpNarrow, RpWide), which sizes its scratch.
template <class W, typename R>
__device__ __forceinline__ R rp_continuation(const R* beta, const R* x, R intrinsic, unsigned n, bool sorted) {
    static_assert(W::ASSETS <= RP_MAX_ASSETS, "a width holds at most MAX_ASSETS assets");
    R v[W::ASSETS];
    for (unsigned i = 0; i < n; i++) {
        v[i] = x[i];
    }
    if (sorted) {
        // Largest first, by exchanges of neighbours (the WGSL's order; a
        // sort's result is unique).
        for (unsigned i = 0; i < n; i++) {
            for (unsigned j = 0; j + 1 < n; j++) {
                if (v[j] < v[j + 1]) {
                    const R a = v[j];
                    v[j] = v[j + 1];
                    v[j + 1] = a;
                }
            }
        }
    }
    const unsigned degree = n == 1u ? 4u : 2u;
    const R centre = n == 1u ? R(1) : R(0);
    R u[W::ASSETS], power[W::ASSETS];
    for (unsigned i = 0; i < n; i++) {
        u[i] = v[i] - centre;
        power[i] = u[i];
    }
    R c = beta[0];
    for (unsigned p = 0; p < degree; p++) {
        for (unsigned i = 0; i < n; i++) {
            if (p > 0u) {
                power[i] = power[i] * u[i];
            }
            c += beta[1 + p * n + i] * power[i];
        }
    }
    return c + beta[1 + degree * n] * intrinsic;
}
