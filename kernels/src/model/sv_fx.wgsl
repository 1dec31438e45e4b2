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
