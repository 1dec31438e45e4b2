// azfinsim's stochastic-vol FX model (kernels/src/model/sv_fx.rs).
// Slots: a = (drift_dt, dt, half_dt, sqrt_dt), b = (sigma0, vol_drift_dt, volvol_sqrt_dt, rho),
// c = (rho_bar, -, -, -). aux is y = ln(sigma_t / sigma_0).

const MODEL_NORMALS: u32 = 2u;

fn model_aux0(m: ModelConsts) -> f32 {
    return 0.0;
}

fn model_step(m: ModelConsts, x: f32, y: f32, z: vec2<f32>) -> vec3<f32> {
    let yn = y + (m.b.y + m.b.z * (m.b.w * z.x + m.c.x * z.y));
    let sigma = m.b.x * rp_exp(yn);
    let v = sigma * sigma;
    let xn = x + ((m.a.x - v * m.a.z) + sigma * m.a.w * z.x);
    return vec3<f32>(xn, yn, v * m.a.y);
}

// The one-pass twins (tangent.wgsl): the same step on dual numbers, and
// the log-spot's noise independent of the vol's driver with its factor
// rho_bar (sv_fx.rs x_noise).
fn model_aux0_d(m: DModel) -> D {
    return dc(0.0);
}

fn model_step_d(m: DModel, x: D, y: D, z: vec2<f32>) -> DStep {
    let mix = d_add(d_mul(m.c[7], dc(z.x)), d_mul(m.c[8], dc(z.y)));
    let yn = d_add(y, d_add(m.c[5], d_mul(m.c[6], mix)));
    let sigma = d_mul(m.c[4], d_exp(yn));
    let v = d_mul(sigma, sigma);
    let xn = d_add(x, d_add(d_sub(m.c[0], d_mul(v, m.c[2])), d_mul(d_mul(sigma, m.c[3]), dc(z.x))));
    return DStep(xn, yn, d_mul(v, m.c[1]));
}

fn model_x_noise(m: ModelConsts, z: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(m.c.x * z.x - m.b.w * z.y, m.c.x);
}
