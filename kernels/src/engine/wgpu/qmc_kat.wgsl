// Known answers for Sobol points (after qmc.wgsl): for each query
// (dimension, point, replicate), the unscrambled point, the scrambled word
// and the f32 normal's bits, so tests can compare the device with
// kernels/src/qmc/ to the bit. qkat_in[0] holds (key, stream).

@group(0) @binding(0) var<storage, read> qkat_in: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> qkat_out: array<vec4<u32>>;

@compute @workgroup_size(64)
fn sobol_kat(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i + 1u >= arrayLength(&qkat_in) || i >= arrayLength(&qkat_out)) {
        return;
    }
    let h = qkat_in[0];
    let q = qkat_in[i + 1u];
    var p = sobol_start(h.xy, h.zw, q.z, q.y, 1u, 0u);
    let x = sobol_point(q.x, q.y);
    let seed = philox4x32_10(vec4<u32>(q.x, q.z, h.z, h.w), p.key).xy;
    qkat_out[i] = vec4<u32>(x, sobol_scramble(x, seed), bitcast<u32>(sobol_normal(&p, q.x)), 0u);
}
