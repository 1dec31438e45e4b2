// Geometric Brownian motion (kernels/src/model/gbm.rs).
// Slots: a = (drift_dt, vol_sqrt_dt, var_dt, -).

const MODEL_NORMALS: u32 = 1u;

fn model_aux0(m: ModelConsts) -> f32 {
    return 0.0;
}

// Returns (x, aux, var_dt) after one step.
fn model_step(m: ModelConsts, x: f32, aux: f32, z: vec2<f32>) -> vec3<f32> {
    return vec3<f32>(x + (m.a.x + m.a.y * z.x), aux, m.a.z);
}

// The one-pass twins (tangent.wgsl): the same step on dual numbers, and
// the log-spot's driving normal and its factor c (model/mod.rs x_noise).
fn model_aux0_d(m: DModel) -> D {
    return dc(0.0);
}

fn model_step_d(m: DModel, x: D, aux: D, z: vec2<f32>) -> DStep {
    return DStep(d_add(x, d_add(m.c[0], d_mul(m.c[1], dc(z.x)))), aux, m.c[2]);
}

fn model_x_noise(m: ModelConsts, z: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(z.x, 1.0);
}
