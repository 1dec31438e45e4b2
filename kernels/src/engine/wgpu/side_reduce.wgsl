// The side kernels' workgroup reduction (extension.wgsl and
// dated_multi.wgsl share it): each block writes its sample count, each
// output's mean and M2, and how many of its invocations were cut short.
// The including kernel declares `partials` (binding 2).

// The workgroup reduces OUT_CHUNK outputs at a time (the wide kernels'
// 101 at once would need 26 KiB, past many devices' 16 KiB).
var<workgroup> sh: array<array<f32, OUT_CHUNK>, WG>;
var<workgroup> sh_mean: array<f32, OUT_CHUNK>;
// Invocations of the workgroup whose walk was cut short.
var<workgroup> cut: atomic<u32>;

// Sums sh[0..64][q] into sh[0][q] by a pairwise tree (constant bounds: the
// loops unroll).
fn tree_sum(lid: u32) {
    for (var k = 1u; k <= 6u; k++) {
        let stride = WG >> k;
        if (lid < stride) {
            for (var q = 0u; q < OUT_CHUNK; q++) {
                sh[lid][q] = sh[lid][q] + sh[lid + stride][q];
            }
        }
        workgroupBarrier();
    }
}

// Block `wg_index`'s partials from each invocation's outputs `o` (the
// first `n` invocations hold samples), OUT_CHUNK outputs at a time (the
// narrow kernels' all at once): mean, then M2; each output's sums as one
// reduction of all of them would add them.
fn side_reduce(lid: u32, n: u32, wg_index: u32, o: ptr<function, array<f32, SIDE_OUTPUTS>>) {
    let mine = lid < n;
    let base = wg_index * SIDE_PARTIAL;
    for (var c = 0u; c < SIDE_OUTPUTS; c += OUT_CHUNK) {
        for (var q = 0u; q < OUT_CHUNK; q++) {
            sh[lid][q] = select(0.0, (*o)[min(c + q, SIDE_OUTPUTS - 1u)], c + q < SIDE_OUTPUTS);
        }
        workgroupBarrier();
        tree_sum(lid);
        if (lid == 0u) {
            for (var q = 0u; q < OUT_CHUNK; q++) {
                sh_mean[q] = sh[0][q] / f32(max(n, 1u));
            }
        }
        workgroupBarrier();
        for (var q = 0u; q < OUT_CHUNK; q++) {
            let dev = (*o)[min(c + q, SIDE_OUTPUTS - 1u)] - sh_mean[q];
            sh[lid][q] = select(0.0, dev * dev, mine && c + q < SIDE_OUTPUTS);
        }
        workgroupBarrier();
        tree_sum(lid);
        if (lid == 0u) {
            for (var q = 0u; q < OUT_CHUNK; q++) {
                if (c + q < SIDE_OUTPUTS) {
                    partials[base + 1u + c + q] = sh_mean[q];
                    partials[base + 1u + SIDE_OUTPUTS + c + q] = sh[0][q];
                }
            }
        }
        // The next chunk writes sh only once lane 0 has read it.
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[base] = f32(n);
        partials[base + SIDE_PARTIAL - 1u] = f32(atomicLoad(&cut));
    }
}
