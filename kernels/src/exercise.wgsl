// The Longstaff-Schwartz continuation value (the twin of Basis::terms and
// Policy::exercises in kernels/src/exercise.rs; kernels/src/exercise.cuh):
// the coefficients from `at` (fitted on the host, rounded to f32) times the
// terms 1, x_1..x_n, x_1^2..x_n^2 and the intrinsic value, summed in that
// order; x sorted, largest first, for a rainbow.

fn continuation(at: u32, x: array<f32, MAX_ASSETS>, intrinsic: f32, n: u32, sorted: bool) -> f32 {
    var v = x;
    if (sorted) {
        for (var i = 1u; i < n; i++) {
            let a = v[i];
            var j = i;
            while (j > 0u && v[j - 1u] < a) {
                v[j] = v[j - 1u];
                j = j - 1u;
            }
            v[j] = a;
        }
    }
    var c = coefs[at];
    for (var i = 0u; i < n; i++) {
        c = c + coefs[at + 1u + i] * v[i];
    }
    for (var i = 0u; i < n; i++) {
        c = c + coefs[at + 1u + n + i] * (v[i] * v[i]);
    }
    return c + coefs[at + 1u + 2u * n] * intrinsic;
}
