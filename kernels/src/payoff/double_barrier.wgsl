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
