// azfinsim's knock-out FX warrant (kernels/src/payoff/fx_warrant.rs).
// Slots: a = (spot, inv_strike, log_strike, amount). State: (1 while alive, -).

const PAYOFF_OBSERVES: bool = true;

fn payoff_start(p: PayoffConsts, x0: f32) -> vec2<f32> {
    return vec2<f32>(select(1.0, 0.0, x0 < p.a.z), 0.0);
}

fn payoff_observe(p: PayoffConsts, st: vec2<f32>, x: f32, var_dt: f32) -> vec2<f32> {
    return vec2<f32>(select(st.x, 0.0, x < p.a.z), st.y);
}

fn payoff_value(p: PayoffConsts, st: vec2<f32>, x: f32) -> f32 {
    let s = p.a.x * rp_exp(x);
    let intrinsic = max(s * p.a.y - 1.0, 0.0);
    return st.x * p.a.w * intrinsic / s;
}

// The one-pass twins (tangent.wgsl).
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    return DState(dc(select(1.0, 0.0, x0.v < p.a.z)), dc(0.0));
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    if (x.v < p.a.z) {
        return DState(dc(0.0), st.b);
    }
    return st;
}

fn payoff_value_d(p: PayoffConsts, st: DState, x: D) -> D {
    let s = d_mul(dc(p.a.x), d_exp(x));
    let intrinsic = d_max(d_sub(d_mul(s, dc(p.a.y)), dc(1.0)), dc(0.0));
    return d_div(d_mul(d_mul(st.a, dc(p.a.w)), intrinsic), s);
}
