// European call or put (kernels/src/payoff/european.rs). Slots: a = (spot, strike, -, -).

// WGSL has no default functions: the no-op start and observe that Rust and
// CUDA C inherit (TerminalPayoff) are spelled out here.
const PAYOFF_OBSERVES: bool = false;

fn payoff_start(p: PayoffConsts, x0: f32) -> vec2<f32> {
    return vec2<f32>(0.0);
}

fn payoff_observe(p: PayoffConsts, st: vec2<f32>, x: f32, var_dt: f32) -> vec2<f32> {
    return st;
}

fn payoff_value(p: PayoffConsts, st: vec2<f32>, x: f32) -> f32 {
    return vanilla(p.flags, p.a.x * rp_exp(x), p.a.y);
}

// The one-pass twins (tangent.wgsl).
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    return DState(dc(0.0), dc(0.0));
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    return st;
}

fn payoff_value_d(p: PayoffConsts, st: DState, x: D) -> D {
    return d_vanilla(p.flags, d_mul(dc(p.a.x), d_exp(x)), dc(p.a.y));
}
