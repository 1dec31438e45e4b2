// The Longstaff-Schwartz continuation value (the twin of Basis::terms and
// Policy::exercises in kernels/src/exercise.rs; kernels/src/exercise.cuh):
// the coefficients from `at` (fitted on the host, rounded to f32) times the
// terms 1, x_1..x_n, x_1^2..x_n^2 and the intrinsic value, summed in that
// order; x sorted, largest first, for a rainbow. One asset: u = x - 1 and
// its powers up to the fourth (Basis::degree).

// `v` holds the state and is sorted in place (the caller's scratch).
fn continuation(at: u32, v: ptr<private, array<f32, ASSETS>>, intrinsic: f32, n: u32, sorted: bool) -> f32 {
    if (sorted) {
        // Largest first, by exchanges of neighbours (the order is the
        // CUDA C's and the Rust's: a sort's result is unique).
        for (var i = 0u; i < assets_to(n); i++) {
            for (var j = 0u; j + 1u < assets_to(n); j++) {
                if (j + 1u < n && (*v)[j] < (*v)[j + 1u]) {
                    let a = (*v)[j];
                    (*v)[j] = (*v)[j + 1u];
                    (*v)[j + 1u] = a;
                }
            }
        }
    }
    let degree = select(2u, 4u, n == 1u);
    let centre = select(0.0, 1.0, n == 1u);
    // u = x - centre in place; `power` its running power.
    var power: array<f32, ASSETS>;
    for (var i = 0u; i < assets_to(n); i++) {
        if (i < n) {
            (*v)[i] = (*v)[i] - centre;
            power[i] = (*v)[i];
        }
    }
    var c = coefs[at];
    for (var p = 0u; p < 4u; p++) {
        if (p < degree) {
            for (var i = 0u; i < assets_to(n); i++) {
                if (i < n) {
                    if (p > 0u) {
                        power[i] = power[i] * (*v)[i];
                    }
                    c = c + coefs[at + 1u + p * n + i] * power[i];
                }
            }
        }
    }
    return c + coefs[at + 1u + degree * n] * intrinsic;
}
