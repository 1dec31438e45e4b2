// The Longstaff-Schwartz continuation value (the twin of Basis::terms and
// Policy::exercises in kernels/src/exercise.rs; kernels/src/exercise.cuh):
// the coefficients from `at` (fitted on the host, rounded to f32) times the
// terms 1, x_1..x_n, x_1^2..x_n^2 and the intrinsic value, summed in that
// order; x sorted, largest first, for a rainbow.

// `v` holds the state and is sorted in place (the caller's scratch).
fn continuation(at: u32, v: ptr<private, array<f32, MAX_ASSETS>>, intrinsic: f32, n: u32, sorted: bool) -> f32 {
    if (sorted) {
        // Largest first, by exchanges of neighbours (the order is the
        // CUDA C's and the Rust's: a sort's result is unique).
        for (var i = 0u; i < MAX_ASSETS; i++) {
            for (var j = 0u; j + 1u < MAX_ASSETS; j++) {
                if (j + 1u < n && (*v)[j] < (*v)[j + 1u]) {
                    let a = (*v)[j];
                    (*v)[j] = (*v)[j + 1u];
                    (*v)[j + 1u] = a;
                }
            }
        }
    }
    var c = coefs[at];
    for (var i = 0u; i < MAX_ASSETS; i++) {
        if (i < n) {
            c = c + coefs[at + 1u + i] * (*v)[i];
        }
    }
    for (var i = 0u; i < MAX_ASSETS; i++) {
        if (i < n) {
            c = c + coefs[at + 1u + n + i] * ((*v)[i] * (*v)[i]);
        }
    }
    return c + coefs[at + 1u + 2u * n] * intrinsic;
}
