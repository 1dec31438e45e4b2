// Heston, full-truncation Euler in log space (kernels/src/model/heston.rs).
// Slots: a = (carry_dt, dt, half_dt, kappa_dt), b = (theta, xi, rho, rho_bar), c = (v0, -, -, -).

const MODEL_NORMALS: u32 = 2u;

fn model_aux0(m: ModelConsts) -> f32 {
    return m.c.x;
}

fn model_step(m: ModelConsts, x: f32, v: f32, z: vec2<f32>) -> vec3<f32> {
    let vp = select(0.0, v, v > 0.0);
    let sd = sqrt(vp * m.a.y);
    let xn = x + (m.a.x - vp * m.a.z + sd * z.x);
    let vn = v + (m.a.w * (m.b.x - vp) + m.b.y * sd * (m.b.z * z.x + m.b.w * z.y));
    return vec3<f32>(xn, vn, vp * m.a.y);
}

// The one-pass twins (tangent.wgsl): the same step on dual numbers, and
// the log-spot's noise independent of the variance's driver with its
// factor rho_bar (heston.rs x_noise).
fn model_aux0_d(m: DModel) -> D {
    return m.c[8];
}

fn model_step_d(m: DModel, x: D, v: D, z: vec2<f32>) -> DStep {
    let vp = d_max(v, dc(0.0));
    let sd = d_sqrt(d_mul(vp, m.c[1]));
    let xn = d_add(x, d_add(d_sub(m.c[0], d_mul(vp, m.c[2])), d_mul(sd, dc(z.x))));
    let mix = d_add(d_mul(m.c[6], dc(z.x)), d_mul(m.c[7], dc(z.y)));
    let vn = d_add(v, d_add(d_mul(m.c[3], d_sub(m.c[4], vp)), d_mul(d_mul(m.c[5], sd), mix)));
    return DStep(xn, vn, d_mul(vp, m.c[1]));
}

fn model_x_noise(m: ModelConsts, z: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(m.b.w * z.x - m.b.z * z.y, m.b.w);
}
