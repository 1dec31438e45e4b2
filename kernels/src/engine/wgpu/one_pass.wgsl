// riskpool's one-pass kernel (the twin of kernels/src/engine/cuda/one_pass.cu
// and of kernels/src/engine/cpu/lanes.rs on dual numbers): kernel.wgsl's
// walk with every path state a dual number (tangent.wgsl), so each path
// carries its derivatives in spot, vol and rate beside its value, seeded by
// the record's one-pass section (kernels/src/gpu/one_pass.rs): the base
// family's constants along vega, each fold's x0, dx and discount along all
// three. The base path also sums the likelihood-ratio scores where an
// output asks for a weight. Each output is sum coef * value + sum tcoef *
// tangent + weight(scores) * value of the base fold.
//
// Assembled at load time (kernels/src/engine/wgpu/source.rs): the prelude,
// rng.wgsl, math.wgsl, common.wgsl, tangent.wgsl, one model file, one
// payoff file (their `_d` twins), price_reduce.wgsl and this file.

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

@group(0) @binding(0) var<storage, read> trades: array<OnePassTrade>;
@group(0) @binding(1) var<storage, read> block_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn family(t: u32, f: u32) -> ModelConsts {
    let at = FAMILY_VEC4S * f;
    return ModelConsts(trades[t].t.families[at], trades[t].t.families[at + 1u], trades[t].t.families[at + 2u]);
}

// Family f's constants as dual numbers: the base family's along vega.
fn family_d(t: u32, f: u32) -> DModel {
    var out: DModel;
    for (var i = 0u; i < 12u; i++) {
        let v = trades[t].t.families[FAMILY_VEC4S * f + i / 4u][i % 4u];
        let vega = select(0.0, trades[t].vega[i / 4u][i % 4u], f == 0u);
        out.c[i] = D(v, vec3<f32>(0.0, vega, 0.0));
    }
    return out;
}

// Fold k's seed i: x0 (0..3), dx (3..6), discount (6..9) along delta,
// vega, rho.
fn seed(t: u32, k: u32, i: u32) -> vec3<f32> {
    let at = SEED_STRIDE * k + i;
    return vec3<f32>(
        trades[t].seeds[at / 4u][at % 4u],
        trades[t].seeds[(at + 1u) / 4u][(at + 1u) % 4u],
        trades[t].seeds[(at + 2u) / 4u][(at + 2u) % 4u],
    );
}

// An output's likelihood-ratio term: its weight of a path with scores
// sc = (first, curvature, rate) (greeks.rs LrWeight::weight) times the
// base fold's value v; c = (scale, spot, t, vol). The CPU takes the weight
// in f64; here the spot divides the value and the score apart, never as a
// square (which overflows f32 from a spot of 1.8e19) nor twice the score
// (which underflows where the Greek itself does not: a gamma of 6e-26 at
// a spot of 1e25).
fn lr_term(kind: u32, c: vec4<f32>, sc: vec3<f32>, v: f32) -> f32 {
    let spot = c.y;
    let t = c.z;
    let vol = c.w;
    let a = sc.z / t;
    let per_spot = v / spot;
    var w = 0.0;
    switch kind {
        case LR_DELTA: {
            w = sc.x * per_spot;
        }
        case LR_GAMMA: {
            w = (sc.x * sc.x - sc.y - sc.x) / spot * per_spot;
        }
        case LR_DELTA_TERMINAL: {
            w = a * per_spot;
        }
        case LR_GAMMA_TERMINAL: {
            w = (a * a - 1.0 / (vol * vol * t) - a) / spot * per_spot;
        }
        case LR_VEGA_TERMINAL: {
            w = ((vol * vol * t * a * a - 1.0) / vol - vol * t * a) * v;
        }
        case LR_RHO: {
            w = (sc.z - t) * v;
        }
        default: {}
    }
    return c.x * w;
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
    let head = trades[t].t.head;
    let ids = trades[t].t.ids;
    let steps = head.x;
    let n_families = head.y;
    let n_folds = head.z;
    let flags = head.w;
    let anti = (flags & ANTITHETIC) != 0u;
    let block = g - block_start[t];
    let path = block * WG + lid;
    let n_paths = ids.z;
    let live = path < n_paths;
    let pc = PayoffConsts(trades[t].t.payoff[0], trades[t].t.payoff[1], flags);
    let dt = trades[t].misc.x;
    let scored = trades[t].misc.y != 0.0;

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
    let qmc = trades[t].t.qmc;
    var qp = sobol_start(params.key, stream, qmc.x, path, MODEL_NORMALS, qmc.y);

    var md: array<DModel, MAX_FAMILIES>;
    var x: array<D, MAX_FAMILIES>;
    var aux: array<D, MAX_FAMILIES>;
    var var_dt: array<D, MAX_FAMILIES>;
    for (var f = 0u; f < n_families; f++) {
        md[f] = family_d(t, f);
        x[f] = dc(0.0);
        aux[f] = model_aux0_d(md[f]);
    }
    let m0 = family(t, 0u);
    // Each fold's family and its x0, dx and discount as dual numbers.
    var ffam: array<u32, MAX_FOLDS>;
    var fx0: array<D, MAX_FOLDS>;
    var fdx: array<D, MAX_FOLDS>;
    var fdisc: array<D, MAX_FOLDS>;
    var st: array<DState, MAX_FOLDS>;
    for (var k = 0u; k < n_folds; k++) {
        let fo = trades[t].t.folds[k];
        ffam[k] = u32(fo.x);
        fx0[k] = D(fo.y, seed(t, k, 0u));
        fdx[k] = D(fo.z, seed(t, k, 3u));
        fdisc[k] = D(fo.w, seed(t, k, 6u));
        st[k] = payoff_start_d(pc, fx0[k]);
    }
    // The base path's scores: the first step's, its curvature, the rate's.
    var sc = vec3<f32>(0.0);

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
            let r = model_step_d(md[f], x[f], aux[f], z);
            x[f] = r.x;
            aux[f] = r.aux;
            var_dt[f] = r.var_dt;
        }
        if (scored) {
            let nc = model_x_noise(m0, z);
            let sd = sqrt(var_dt[0].v);
            let inv = 1.0 / (nc.y * sd);
            let score = nc.x * inv;
            sc.z = sc.z + dt * score;
            if (s == 0u) {
                sc.x = score;
                sc.y = inv * inv;
            }
        }
        if (PAYOFF_OBSERVES) {
            let i = dc(f32(s + 1u));
            for (var k = 0u; k < n_folds; k++) {
                let f = ffam[k];
                let shift = d_add(fx0[k], d_mul(fdx[k], i));
                st[k] = payoff_observe_d(pc, st[k], d_add(x[f], shift), var_dt[f]);
            }
        }
    }

    // Each fold's discounted value and its tangents, then the outputs.
    var o = array<f32, OUTPUTS>();
    if (live) {
        let n_steps = dc(f32(steps));
        var v: array<f32, MAX_FOLDS>;
        var vt: array<vec3<f32>, MAX_FOLDS>;
        for (var k = 0u; k < n_folds; k++) {
            let f = ffam[k];
            let xf = d_add(x[f], d_add(fx0[k], d_mul(fdx[k], n_steps)));
            // The variance too: one that overflowed is laundered to 0 by
            // the step's max, leaving the log-spot finite.
            let val = d_nan_unless_finite(d_nan_unless_finite(d_mul(payoff_value_d(pc, st[k], xf), fdisc[k]), xf), aux[f]);
            v[k] = val.v;
            vt[k] = val.d;
        }
        for (var q = 0u; q < OUTPUTS; q++) {
            // Only the folds and tangents an output uses (as the CPU's
            // lanes.rs): a fold that is not finite spoils its own outputs.
            for (var k = 0u; k < n_folds; k++) {
                let c = trades[t].t.coef[COEF_VEC4S * q + k / 4u][k % 4u];
                o[q] = o[q] + select(0.0, c * v[k], c != 0.0);
            }
            for (var k = 0u; k < n_folds; k++) {
                let tc = trades[t].tcoef[MAX_FOLDS * q + k];
                for (var j = 0u; j < 3u; j++) {
                    o[q] = o[q] + select(0.0, tc[j] * vt[k][j], tc[j] != 0.0);
                }
            }
            let kind = trades[t].lr_kind[q / 4u][q % 4u];
            if (kind != LR_NONE) {
                o[q] = o[q] + lr_term(kind, trades[t].lr[q], sc, v[0]);
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
