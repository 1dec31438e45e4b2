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
