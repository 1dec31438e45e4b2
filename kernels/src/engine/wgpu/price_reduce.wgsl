// The pricing kernels' workgroup reduction (kernel.wgsl and one_pass.wgsl
// share it): antithetic pairs first, then each output's mean and M2 over
// the block's paths. The including kernel declares `partials` (binding 2).

var<workgroup> sh: array<array<f32, OUTPUTS>, WG>;
var<workgroup> sh_mean: array<f32, OUTPUTS>;

// Sums sh[0..64][q] into sh[0][q] by a pairwise tree.
fn tree_sum(lid: u32) {
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            for (var q = 0u; q < OUTPUTS; q++) {
                sh[lid][q] = sh[lid][q] + sh[lid + stride][q];
            }
        }
        workgroupBarrier();
    }
}

// Block `wg_index`'s partial from each invocation's outputs `o_in`: the
// block is block `block` of a trade of `n_paths` paths; antithetic pairs
// (`anti`) are neighbouring invocations.
fn reduce_block(lid: u32, o_in: array<f32, OUTPUTS>, n_paths: u32, block: u32, anti: bool, wg_index: u32) {
    var o = o_in;
    let in_block = min(WG, n_paths - min(n_paths, block * WG));
    var n = in_block;
    for (var q = 0u; q < OUTPUTS; q++) {
        sh[lid][q] = o[q];
    }
    workgroupBarrier();
    if (anti) {
        n = in_block / 2u;
        var pair = array<f32, OUTPUTS>();
        if (lid < WG / 2u) {
            for (var q = 0u; q < OUTPUTS; q++) {
                pair[q] = 0.5 * (sh[2u * lid][q] + sh[2u * lid + 1u][q]);
            }
        }
        workgroupBarrier();
        for (var q = 0u; q < OUTPUTS; q++) {
            o[q] = pair[q];
            sh[lid][q] = pair[q];
        }
        workgroupBarrier();
    }
    tree_sum(lid);
    if (lid == 0u) {
        for (var q = 0u; q < OUTPUTS; q++) {
            sh_mean[q] = sh[0][q] / f32(max(n, 1u));
        }
    }
    workgroupBarrier();
    let mine = lid < n;
    for (var q = 0u; q < OUTPUTS; q++) {
        let dev = o[q] - sh_mean[q];
        sh[lid][q] = select(0.0, dev * dev, mine);
    }
    workgroupBarrier();
    tree_sum(lid);
    if (lid == 0u) {
        let base = wg_index * PARTIAL;
        partials[base] = f32(n);
        for (var q = 0u; q < OUTPUTS; q++) {
            partials[base + 1u + q] = sh_mean[q];
            partials[base + 1u + OUTPUTS + q] = sh[0][q];
        }
    }
}
