// riskpool's fused pricing kernel: one thread per path, 64 paths per
// workgroup. Generate (Philox + Box-Muller), evolve every model family on
// the same normals, fold the payoff into each revaluation, never store a
// path; then reduce the workgroup's outputs to (n, mean, M2) per output.
// The same shape as kernels/src/engine/cpu/lanes.rs with one lane per thread.
//
// Assembled at load time (kernels/src/engine/wgpu.rs): the prelude emitted
// from Rust (kernels/src/gpu/prelude.rs: the flag bits, the sizes, WG,
// struct Trade), rng.wgsl, math.wgsl, common.wgsl, one model file, one payoff
// file and this file.

struct Params {
    key: vec2<u32>,
    first_block: u32,
    n_blocks: u32,
    n_trades: u32,
    grid_x: u32,
    // 2: the bound of the canary loop below (a run-time bound, so that it
    // stays a loop).
    canary: u32,
    pad1: u32,
}

struct ModelConsts {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
}

// One model family and one fold (a price with no Greeks), fixed when the
// pipeline is made: the loops over families and folds then have constant
// bounds. The twin of PV_ONLY in kernels/src/engine/cuda/kernel.cu; same arithmetic.
override PV_ONLY: bool = false;

@group(0) @binding(0) var<storage, read> trades: array<Trade>;
@group(0) @binding(1) var<storage, read> block_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;


fn family(t: u32, f: u32) -> ModelConsts {
    let at = FAMILY_VEC4S * f;
    return ModelConsts(trades[t].families[at], trades[t].families[at + 1u], trades[t].families[at + 2u]);
}

@compute @workgroup_size(WG)
fn price(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg_index = wg.x + wg.y * params.grid_x;
    if (wg_index >= params.n_blocks) {
        return;
    }
    // The trade this block of paths belongs to.
    let g = params.first_block + wg_index;
    let t = trade_of_block(g, params.n_trades);
    let head = trades[t].head;
    let ids = trades[t].ids;
    let steps = head.x;
    let n_families = select(head.y, 1u, PV_ONLY);
    let n_folds = select(head.z, 1u, PV_ONLY);
    let flags = head.w;
    let anti = (flags & ANTITHETIC) != 0u;
    let block = g - block_start[t];
    let path = block * WG + lid;
    let n_paths = ids.z;
    let live = path < n_paths;
    let pc = PayoffConsts(trades[t].payoff[0], trades[t].payoff[1], flags);

    var path_ctr = path;
    var sign = 1.0;
    if (anti) {
        path_ctr = path >> 1u;
        sign = select(1.0, -1.0, (path & 1u) == 1u);
    }
    let stream = vec2<u32>(ids.x, ids.y);
    // Sobol points (qmc.wgsl): this path is point `path` of the trade's
    // replicate.
    let sobol = (flags & SOBOL) != 0u;
    let qmc = trades[t].qmc;
    var qp = sobol_start(params.key, stream, qmc.x, path, MODEL_NORMALS, qmc.y);

    var x: array<f32, MAX_FAMILIES>;
    var aux: array<f32, MAX_FAMILIES>;
    var var_dt: array<f32, MAX_FAMILIES>;
    for (var f = 0u; f < n_families; f++) {
        x[f] = 0.0;
        aux[f] = model_aux0(family(t, f));
    }
    var st: array<vec2<f32>, MAX_FOLDS>;
    for (var k = 0u; k < n_folds; k++) {
        st[k] = payoff_start(pc, trades[t].folds[k].y);
    }

    var z4 = vec4<f32>(0.0);
    for (var s = 0u; s < steps; s++) {
        let d = s * MODEL_NORMALS;
        if (d % 4u == 0u) {
            if (sobol) {
                z4 = sobol_normals4(&qp, s, steps);
            } else {
                z4 = normals_from_words(philox4x32_10(counter(stream, path_ctr, d / 4u), params.key), sign);
            }
        }
        let j = d % 4u;
        let z = vec2<f32>(z4[j], z4[min(j + 1u, 3u)]);
        for (var f = 0u; f < n_families; f++) {
            let r = model_step(family(t, f), x[f], aux[f], z);
            x[f] = r.x;
            aux[f] = r.y;
            var_dt[f] = r.z;
        }
        if (PAYOFF_OBSERVES) {
            let i = f32(s + 1u);
            for (var k = 0u; k < n_folds; k++) {
                let fo = trades[t].folds[k];
                let f = select(u32(fo.x), 0u, PV_ONLY);
                // PV_ONLY: the one fold is the base one, whose shift x0 + dx i
                // has dx = 0 (GpuTrade::pv_only), so it is x0 (but for the
                // sign of a zero, which no payoff sees).
                let shift = select(fo.y + fo.z * i, fo.y, PV_ONLY);
                st[k] = payoff_observe(pc, st[k], x[f] + shift, var_dt[f]);
            }
        }
    }

    // Discounted fold values, then the outputs as their combinations.
    var o = array<f32, OUTPUTS>();
    if (live) {
        let n_steps = f32(steps);
        for (var k = 0u; k < n_folds; k++) {
            let fo = trades[t].folds[k];
            let f = select(u32(fo.x), 0u, PV_ONLY);
            let xf = x[f] + (fo.y + fo.z * n_steps);
            // The variance too: one that overflowed is laundered to 0 by
            // the step's max, leaving the log-spot finite.
            let v = rp_nan_unless_finite(rp_nan_unless_finite(payoff_value(pc, st[k], xf) * fo.w, xf), aux[f]);
            for (var q = 0u; q < OUTPUTS; q++) {
                // Only the folds an output uses (as the CPU's lanes.rs): a
                // fold that is not finite spoils its own outputs alone.
                let c = trades[t].coef[COEF_VEC4S * q + k / 4u][k % 4u];
                o[q] = o[q] + select(0.0, c * v, c != 0.0);
            }
        }
    }

    // A device may cap an invocation's loop iterations (lavapipe ends every
    // loop after 65,535 in all, which a long path passes, Sobol's sooner):
    // a canary loop that no longer runs its two rounds marks the block in
    // its partial's last slot, and the host refuses the trade rather than
    // return its sums.
    var canary = 0u;
    for (var c = 0u; c < params.canary; c++) {
        canary = canary + 1u;
    }
    if (canary != params.canary) {
        partials[wg_index * PARTIAL + PARTIAL - 1u] = 1.0;
    }
    reduce_block(lid, o, n_paths, block, anti, wg_index);
}
