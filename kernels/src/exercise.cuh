// The Longstaff-Schwartz continuation value (the twin of Basis::terms and
// Policy::exercises in kernels/src/exercise.rs; kernels/src/exercise.wgsl):
// the coefficients beta (fitted on the host) times the terms 1, x_1..x_n,
// x_1^2..x_n^2 and the intrinsic value, summed in that order; x sorted,
// largest first, for a rainbow.

template <typename R>
__device__ __forceinline__ R rp_continuation(const R* beta, const R* x, R intrinsic, unsigned n, bool sorted) {
    R v[RP_MAX_ASSETS];
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
    R c = beta[0];
    for (unsigned i = 0; i < n; i++) {
        c += beta[1 + i] * v[i];
    }
    for (unsigned i = 0; i < n; i++) {
        c += beta[1 + n + i] * (v[i] * v[i]);
    }
    return c + beta[1 + 2 * n] * intrinsic;
}
