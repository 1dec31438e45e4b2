// Double knock-out with rebate, discrete or continuous (Brownian-bridge)
// monitoring (kernels/src/payoff/double_barrier.rs).
// Slots: a = (spot, strike, log_lower, log_upper), b = (rebate, -, -, -);
// flags PUT, CONTINUOUS. State: (survival weight, previous x).

const PAYOFF_OBSERVES: bool = true;

// A continuous barrier the spot starts at or through (a Greek's bump) has
// knocked: the bridge weight means nothing from there.
fn payoff_start(p: PayoffConsts, x0: f32) -> vec2<f32> {
    let through = x0 <= p.a.z || x0 >= p.a.w;
    let knocked = through && (p.flags & CONTINUOUS) != 0u;
    return vec2<f32>(select(1.0, 0.0, knocked), x0);
}

fn payoff_observe(p: PayoffConsts, st: vec2<f32>, x: f32, var_dt: f32) -> vec2<f32> {
    let l = p.a.z;
    let u = p.a.w;
    let hit = x <= l || x >= u;
    var survive = st.x;
    if ((p.flags & CONTINUOUS) != 0u) {
        let dl = (st.y - l) * (x - l);
        let du = (st.y - u) * (x - u);
        // Ends on both sides cross surely (double_barrier.rs): at most 1.
        let el = rp_exp(-2.0 * dl / var_dt);
        let eu = rp_exp(-2.0 * du / var_dt);
        let pl = select(1.0, el, el < 1.0);
        let pu = select(1.0, eu, eu < 1.0);
        survive = st.x * (1.0 - pl) * (1.0 - pu);
    }
    return vec2<f32>(select(survive, 0.0, hit), x);
}

fn payoff_value(p: PayoffConsts, st: vec2<f32>, x: f32) -> f32 {
    let payoff = vanilla(p.flags, p.a.x * rp_exp(x), p.a.y);
    let alive = st.x;
    let knocked = 1.0 - alive;
    return payoff * alive + p.b.x * knocked;
}

// The one-pass twins (tangent.wgsl).
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    let through = x0.v <= p.a.z || x0.v >= p.a.w;
    let knocked = through && (p.flags & CONTINUOUS) != 0u;
    return DState(dc(select(1.0, 0.0, knocked)), x0);
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    let l = dc(p.a.z);
    let u = dc(p.a.w);
    let hit = x.v <= l.v || x.v >= u.v;
    var survive = st.a;
    if ((p.flags & CONTINUOUS) != 0u) {
        let dl = d_mul(d_sub(st.b, l), d_sub(x, l));
        let du = d_mul(d_sub(st.b, u), d_sub(x, u));
        // Ends on both sides cross surely (double_barrier.rs): at most 1.
        let pl = d_min(d_exp(d_div(d_mul(dc(-2.0), dl), var_dt)), dc(1.0));
        let pu = d_min(d_exp(d_div(d_mul(dc(-2.0), du), var_dt)), dc(1.0));
        survive = d_mul(d_mul(st.a, d_sub(dc(1.0), pl)), d_sub(dc(1.0), pu));
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
    return d_add(d_mul(payoff, alive), d_mul(dc(p.b.x), knocked));
}
