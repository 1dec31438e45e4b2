// basket and rainbow (the twin of MultiPayoff::intrinsic in
// kernels/src/multi.rs; kernels/src/payoff/multi.cuh): the intrinsic value
// at asset values s, on the weighted sum (basket) or the largest or
// smallest asset (rainbow max, min). The kernel that includes it says
// where trade t's basket weights and strike are: multi_weight(t, j) and
// multi_strike(t).

// The value the option is struck on at asset values s: the weighted sum
// (basket), the largest or smallest asset (rainbow max, min).
fn multi_value(t: u32, flags: u32, s: ptr<private, array<f32, ASSETS>>, n: u32) -> f32 {
    var u = (*s)[0];
    if ((flags & E_MAX) != 0u) {
        for (var j = 1u; j < assets_to(n); j++) {
            if (j < n) {
                u = max(u, (*s)[j]);
            }
        }
    } else if ((flags & E_MIN) != 0u) {
        for (var j = 1u; j < assets_to(n); j++) {
            if (j < n) {
                u = min(u, (*s)[j]);
            }
        }
    } else {
        u = 0.0;
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                u = u + multi_weight(t, j) * (*s)[j];
            }
        }
    }
    return u;
}

fn multi_intrinsic(t: u32, flags: u32, s: ptr<private, array<f32, ASSETS>>, n: u32) -> f32 {
    let u = multi_value(t, flags, s, n);
    // A basket that is not finite is NaN, never paid 0 by the max below.
    if (!rp_is_finite(u)) {
        return rp_nan_unless_finite(u, u);
    }
    let k = multi_strike(t);
    if ((flags & E_PUT) != 0u) {
        return max(k - u, 0.0);
    }
    return max(u - k, 0.0);
}

// The intrinsic value's derivative in each asset value at s, into g (the
// twin of MultiPayoff::gradient; one-pass Greeks): the payoff's slope (1
// for a call in the money, -1 for a put, half that at the strike) times
// the basket's weights, or a rainbow's slope shared by the assets tied for
// its extreme.
fn multi_gradient(t: u32, flags: u32, s: ptr<private, array<f32, ASSETS>>, g: ptr<private, array<f32, ASSETS>>,
                  n: u32) {
    let sorted = (flags & (E_MAX | E_MIN)) != 0u;
    let u = multi_value(t, flags, s, n);
    // A value that is not finite (its intrinsic is NaN) has no slope:
    // every derivative NaN, never 0 beside a NaN PV.
    if (!rp_is_finite(u)) {
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                (*g)[j] = rp_nan_unless_finite(u, u);
            }
        }
        return;
    }
    let k = multi_strike(t);
    var slope = 0.0;
    if ((flags & E_PUT) != 0u) {
        slope = select(select(0.0, -0.5, u == k), -1.0, u < k);
    } else {
        slope = select(select(0.0, 0.5, u == k), 1.0, u > k);
    }
    var tied = 0.0;
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n && (*s)[j] == u) {
            tied = tied + 1.0;
        }
    }
    tied = max(tied, 1.0);
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            if (sorted) {
                (*g)[j] = select(0.0, slope / tied, (*s)[j] == u);
            } else {
                (*g)[j] = slope * multi_weight(t, j);
            }
        }
    }
}
