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
