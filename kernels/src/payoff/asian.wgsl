// Asian on the average of S_1..S_N (kernels/src/payoff/asian.rs).
// Slots: a = (spot, strike, inv_steps, -); flags PUT, GEOMETRIC. State: (sum, -).

const PAYOFF_OBSERVES: bool = true;

fn payoff_start(p: PayoffConsts, x0: f32) -> vec2<f32> {
    return vec2<f32>(0.0);
}

fn payoff_observe(p: PayoffConsts, st: vec2<f32>, x: f32, var_dt: f32) -> vec2<f32> {
    let geometric = (p.flags & GEOMETRIC) != 0u;
    return vec2<f32>(st.x + select(rp_exp(x), x, geometric), st.y);
}

fn payoff_value(p: PayoffConsts, st: vec2<f32>, x: f32) -> f32 {
    let mean = st.x * p.a.z;
    let geometric = (p.flags & GEOMETRIC) != 0u;
    let avg = select(p.a.x * mean, p.a.x * rp_exp(mean), geometric);
    return vanilla(p.flags, avg, p.a.y);
}

// The one-pass twins (tangent.wgsl).
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    return DState(dc(0.0), dc(0.0));
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    if ((p.flags & GEOMETRIC) != 0u) {
        return DState(d_add(st.a, x), st.b);
    }
    return DState(d_add(st.a, d_exp(x)), st.b);
}

fn payoff_value_d(p: PayoffConsts, st: DState, x: D) -> D {
    let mean = d_mul(st.a, dc(p.a.z));
    var avg = d_mul(dc(p.a.x), mean);
    if ((p.flags & GEOMETRIC) != 0u) {
        avg = d_mul(dc(p.a.x), d_exp(mean));
    }
    return d_vanilla(p.flags, avg, dc(p.a.y));
}
