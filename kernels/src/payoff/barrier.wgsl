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

// The one-pass twins (tangent.wgsl): the bridge's survival weight carries
// its derivatives; a knock is a branch on the value.
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    let b = p.a.z;
    let through = select(x0.v >= b, x0.v <= b, (p.flags & DOWN) != 0u);
    let knocked = through && (p.flags & CONTINUOUS) != 0u;
    return DState(dc(select(1.0, 0.0, knocked)), x0);
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    let b = dc(p.a.z);
    let hit = select(x.v >= b.v, x.v <= b.v, (p.flags & DOWN) != 0u);
    var survive = st.a;
    if ((p.flags & CONTINUOUS) != 0u) {
        let d = d_mul(d_sub(st.b, b), d_sub(x, b));
        // Ends on both sides cross surely (barrier.rs): at most 1.
        let q = d_min(d_exp(d_div(d_mul(dc(-2.0), d), var_dt)), dc(1.0));
        survive = d_mul(st.a, d_sub(dc(1.0), q));
    }
    if (hit) {
        return DState(dc(0.0), x);
    }
    return DState(survive, x);
}

fn payoff_value_d(p: PayoffConsts, st: DState, x: D) -> D {
    let payoff = d_vanilla(p.flags, d_mul(dc(p.a.x), d_exp(x)), dc(p.a.y));
    let alive = st.a;
    let knocked = d_sub(dc(1.0), alive);
    if ((p.flags & KNOCK_IN) != 0u) {
        return d_add(d_mul(payoff, knocked), d_mul(dc(p.a.w), alive));
    }
    return d_add(d_mul(payoff, alive), d_mul(dc(p.a.w), knocked));
}
