// One underlying's step on a dated grid, shared by dated.wgsl and
// dated_multi.wgsl: the twin of the model arms of the walk in
// kernels/src/engine/cpu/dated.rs and of rp_dated_step in
// kernels/src/engine/cuda/dated_step.cuh. `c` is the curves' carry over the
// step; `a` black's variance, local volatility's ln(S0 / F) or Heston's
// dt; `w` the spot's normal and `zh` Heston's variance normal. Returns the
// log-spot, the variance state and the step's variance.

// What a model reads beyond the step's values: local volatility the first
// value of the step's row in the value table (`coefs`, bound by the
// including kernel) and its columns (k0, 1/dk); Heston (kappa, theta, xi,
// rho) and sqrt(1 - rho^2).
struct DatedModel {
    model: u32,
    row: u32,
    lv: vec2<f32>,
    h: vec4<f32>,
    rho_bar: f32,
}

fn dated_step(m: DatedModel, x: f32, v: f32, c: f32, a: f32, w: f32, zh: f32) -> vec3<f32> {
    if (m.model == M_BLACK) {
        let sd = sqrt(a);
        return vec3<f32>(x + (c - 0.5 * a + sd * w), v, a);
    }
    if (m.model == M_LOCAL_VOL) {
        // The step's vol x sqrt(dt) at the log-moneyness, between the two
        // columns around it (LocalVolGrid::column).
        let u = clamp((x + a - m.lv.x) * m.lv.y, 0.0, f32(NODES - 1u));
        let col = min(u32(u), NODES - 2u);
        let fr = u - f32(col);
        let lo = coefs[m.row + col];
        let hi = coefs[m.row + col + 1u];
        let sd = lo + fr * (hi - lo);
        let s2 = sd * sd;
        return vec3<f32>(x + (c - 0.5 * s2 + sd * w), v, s2);
    }
    if (m.model == M_HESTON) {
        let vp = max(v, 0.0);
        let sd = sqrt(vp * a);
        let v1 = v + m.h.x * (m.h.y - vp) * a + m.h.z * sd * (m.h.w * w + m.rho_bar * zh);
        return vec3<f32>(x + (c - 0.5 * vp * a + sd * w), v1, vp * a);
    }
    return vec3<f32>(x, v, 0.0);
}
