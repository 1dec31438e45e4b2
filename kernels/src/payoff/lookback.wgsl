// Lookback on the running min and max of S_0..S_N (kernels/src/payoff/lookback.rs).
// Slots: a = (spot, strike, -, -); flags PUT, FIXED_STRIKE. State: (min x, max x).

const PAYOFF_OBSERVES: bool = true;

fn payoff_start(p: PayoffConsts, x0: f32) -> vec2<f32> {
    return vec2<f32>(x0, x0);
}

fn payoff_observe(p: PayoffConsts, st: vec2<f32>, x: f32, var_dt: f32) -> vec2<f32> {
    return vec2<f32>(select(st.x, x, x < st.x), select(st.y, x, x > st.y));
}

fn payoff_value(p: PayoffConsts, st: vec2<f32>, x: f32) -> f32 {
    let put = (p.flags & PUT) != 0u;
    if ((p.flags & FIXED_STRIKE) != 0u) {
        return select(vanilla(0u, p.a.x * rp_exp(st.y), p.a.y), vanilla(PUT, p.a.x * rp_exp(st.x), p.a.y), put);
    }
    return select(p.a.x * (rp_exp(x) - rp_exp(st.x)), p.a.x * (rp_exp(st.y) - rp_exp(x)), put);
}

// The one-pass twins (tangent.wgsl): the running extremes carry the
// derivatives of the steps they were taken at.
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    return DState(x0, x0);
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    return DState(d_min(st.a, x), d_max(st.b, x));
}

fn payoff_value_d(p: PayoffConsts, st: DState, x: D) -> D {
    let spot = dc(p.a.x);
    if ((p.flags & FIXED_STRIKE) != 0u) {
        if ((p.flags & PUT) != 0u) {
            return d_vanilla(PUT, d_mul(spot, d_exp(st.a)), dc(p.a.y));
        }
        return d_vanilla(0u, d_mul(spot, d_exp(st.b)), dc(p.a.y));
    }
    if ((p.flags & PUT) != 0u) {
        return d_mul(spot, d_sub(d_exp(st.b), d_exp(x)));
    }
    return d_mul(spot, d_sub(d_exp(x), d_exp(st.a)));
}
