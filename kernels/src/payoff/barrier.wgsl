// Single barrier with rebate, discrete or continuous (Brownian-bridge)
// monitoring (kernels/src/payoff/barrier.rs).
// Slots: a = (spot, strike, log_barrier, rebate); flags PUT, DOWN, KNOCK_IN, CONTINUOUS.
// State: (survival weight, previous x).

const PAYOFF_OBSERVES: bool = true;

// A continuous barrier the spot starts at or through (a Greek's bump) has
// knocked: the bridge weight means nothing from there.
fn payoff_start(p: PayoffConsts, x0: f32) -> vec2<f32> {
    let b = p.a.z;
    let through = select(x0 >= b, x0 <= b, (p.flags & DOWN) != 0u);
    let knocked = through && (p.flags & CONTINUOUS) != 0u;
    return vec2<f32>(select(1.0, 0.0, knocked), x0);
}

fn payoff_observe(p: PayoffConsts, st: vec2<f32>, x: f32, var_dt: f32) -> vec2<f32> {
    let b = p.a.z;
    let hit = select(x >= b, x <= b, (p.flags & DOWN) != 0u);
    var survive = st.x;
    if ((p.flags & CONTINUOUS) != 0u) {
        let d = (st.y - b) * (x - b);
        // Ends on both sides cross surely (barrier.rs): at most 1.
        let e = rp_exp(-2.0 * d / var_dt);
        let q = select(1.0, e, e < 1.0);
        survive = st.x * (1.0 - q);
    }
    return vec2<f32>(select(survive, 0.0, hit), x);
}

fn payoff_value(p: PayoffConsts, st: vec2<f32>, x: f32) -> f32 {
    let payoff = vanilla(p.flags, p.a.x * rp_exp(x), p.a.y);
    let alive = st.x;
    let knocked = 1.0 - alive;
    if ((p.flags & KNOCK_IN) != 0u) {
        return payoff * knocked + p.a.w * alive;
    }
    return payoff * alive + p.a.w * knocked;
}
