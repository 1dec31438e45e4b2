// Cash-or-nothing digital (kernels/src/payoff/digital.rs). Slots: a = (log_strike, cash, -, -).

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
    let in_money = select(x > p.a.x, x < p.a.x, (p.flags & PUT) != 0u);
    return select(0.0, p.a.y, in_money);
}

// The one-pass twins (tangent.wgsl): a digital's pathwise derivative is 0
// (its Greeks are likelihood ratios, greeks.rs).
fn payoff_start_d(p: PayoffConsts, x0: D) -> DState {
    return DState(dc(0.0), dc(0.0));
}

fn payoff_observe_d(p: PayoffConsts, st: DState, x: D, var_dt: D) -> DState {
    return st;
}

fn payoff_value_d(p: PayoffConsts, st: DState, x: D) -> D {
    return dc(payoff_value(p, vec2<f32>(0.0), x.v));
}
