// Known-answer entry point: Philox words and their normals for given
// counters and keys, so tests can compare the GPU with kernels/src/rng.rs.
// Input pairs: (counter, (key.x, key.y, -, -)); output pairs: (words, normal bits).

@group(0) @binding(0) var<storage, read> kat_in: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> kat_out: array<vec4<u32>>;

@compute @workgroup_size(64)
fn kat(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= arrayLength(&kat_out) / 2u) {
        return;
    }
    let w = philox4x32_10(kat_in[2u * i], kat_in[2u * i + 1u].xy);
    kat_out[2u * i] = w;
    kat_out[2u * i + 1u] = bitcast<vec4<u32>>(normals_from_words(w, 1.0));
}
