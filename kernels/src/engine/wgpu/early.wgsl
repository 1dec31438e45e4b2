// Several correlated assets and early exercise (the twin of
// kernels/src/engine/cpu/early.rs's Prepared::path and run;
// kernels/src/engine/cuda/early.cu), in f32 (WGSL has none wider): one
// thread per sample (a path, or an antithetic pair), 64 samples per
// workgroup, carrying every revaluation a Greek needs along the same path;
// at each exercise date each revaluation exercises where the policy
// (fitted once on the host: kernels/src/gpu/early.rs) says so in its own
// state. No path is stored; the workgroup writes (n, mean, M2) of
// EARLY_OUTPUTS outputs, merged on the host in path order.
//
// Assembled at load time (kernels/src/engine/wgpu.rs): the prelude, rng.wgsl,
// math.wgsl, one one-asset model file (gbm.wgsl or heston.wgsl), model/multi.wgsl,
// payoff/multi.wgsl, exercise.wgsl and this file.

struct Params {
    key: vec2<u32>,
    first_block: u32,
    n_blocks: u32,
    n_trades: u32,
    grid_x: u32,
    pad0: u32,
    pad1: u32,
}

// A model's step constants, as kernel.wgsl reads them.
struct ModelConsts {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> early_trades: array<EarlyTrade>;
@group(0) @binding(1) var<storage, read> block_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> dates: array<u32>;
@group(0) @binding(5) var<storage, read> coefs: array<f32>;

var<workgroup> sh: array<array<f32, EARLY_OUTPUTS>, WG>;
var<workgroup> sh_mean: array<f32, EARLY_OUTPUTS>;

fn early_val(t: u32, i: u32) -> f32 {
    return early_trades[t].vals[i / 4u][i % 4u];
}

fn early_head(t: u32, i: u32) -> u32 {
    return early_trades[t].head[i / 4u][i % 4u];
}

// The revaluations of one path: their values, which are done, how many are left.
struct States {
    value: array<f32, EARLY_STATES>,
    done: array<bool, EARLY_STATES>,
    left: u32,
}

// State `st` at relative asset values xs: exercised (or paid at maturity) where due.
fn decide(t: u32, flags: u32, n: u32, st: u32, xs: array<f32, MAX_ASSETS>, disc: f32, fitted: bool, last: bool,
          beta: u32, s: ptr<function, States>) {
    if ((*s).done[st]) {
        return;
    }
    var a: array<f32, MAX_ASSETS>;
    for (var j = 0u; j < n; j++) {
        a[j] = early_val(t, V_SPOTS + j) * xs[j];
    }
    let iv = multi_intrinsic(t, flags, a, n);
    var exercise = last;
    if (!last && fitted && iv > 0.0) {
        exercise = iv >= continuation(beta, xs, iv, n, (flags & E_SORTED) != 0u);
    }
    if (exercise) {
        (*s).value[st] = iv * disc;
        (*s).done[st] = true;
        (*s).left = (*s).left - 1u;
    }
}

// One path (`draw` of the trade's stream, normals times `sign`): its outputs.
fn early_path(t: u32, draw: u32, sign: f32) -> array<f32, EARLY_OUTPUTS> {
    let steps = early_head(t, 0u);
    let n = early_head(t, 1u);
    let flags = early_head(t, 2u);
    let nd = early_head(t, 3u);
    let stream = vec2<u32>(early_head(t, 4u), early_head(t, 5u));
    let first_date = early_head(t, 7u);
    let first_coef = early_head(t, 8u);
    let terms = early_head(t, 9u);
    let spot = (flags & E_SPOT) != 0u;
    let vega = (flags & E_VEGA) != 0u;
    let rho = (flags & E_RHO) != 0u;
    let dt = early_val(t, 0u);
    let rate = early_val(t, 1u);
    let h_spot = early_val(t, 2u);
    let dr = early_val(t, 3u);
    let scale = early_val(t, 4u);
    let nps = MODEL_NORMALS * n;
    let vega0 = 1u + select(0u, 2u * n, spot);
    let rho0 = vega0 + select(0u, 2u * n, vega);
    let ns = rho0 + select(0u, 2u, rho);

    var x: array<f32, MAX_ASSETS>;
    var v: array<f32, MAX_ASSETS>;
    var xu: array<f32, MAX_ASSETS>;
    var vu: array<f32, MAX_ASSETS>;
    var xd: array<f32, MAX_ASSETS>;
    var vd: array<f32, MAX_ASSETS>;
    for (var j = 0u; j < n; j++) {
        v[j] = model_aux0(asset_model(t, j, 0u));
        vu[j] = model_aux0(asset_model(t, j, 1u));
        vd[j] = model_aux0(asset_model(t, j, 2u));
    }
    var s: States;
    s.left = ns;
    var cached = 0xffffffffu;
    var cache = vec4<f32>(0.0);
    var next = 0u;
    for (var i = 0u; i < steps && s.left > 0u; i++) {
        var e: array<f32, MAX_ASSETS>;
        var w: array<f32, MAX_ASSETS>;
        for (var j = 0u; j < nps; j++) {
            let d = nps * i + j;
            if (d / 4u != cached) {
                cached = d / 4u;
                cache = normals_from_words(philox4x32_10(counter(stream, draw, cached), params.key), 1.0);
            }
            let normal = sign * cache[d % 4u];
            if (j < n) {
                e[j] = normal;
            } else {
                w[j - n] = normal;
            }
        }
        let z = correlate(t, e, n);
        for (var j = 0u; j < n; j++) {
            let zw = vec2<f32>(z[j], w[j]);
            let r = model_step(asset_model(t, j, 0u), x[j], v[j], zw);
            x[j] = r.x;
            v[j] = r.y;
            if (vega) {
                let ru = model_step(asset_model(t, j, 1u), xu[j], vu[j], zw);
                xu[j] = ru.x;
                vu[j] = ru.y;
                let rd = model_step(asset_model(t, j, 2u), xd[j], vd[j], zw);
                xd[j] = rd.x;
                vd[j] = rd.y;
            }
        }
        let at_step = i + 1u;
        if (next < nd && (dates[first_date + next] & ~FITTED) == at_step) {
            let k = next;
            next = next + 1u;
            let fitted = (dates[first_date + k] & FITTED) != 0u;
            let last = k + 1u == nd;
            let beta = first_coef + k * terms;
            let tt = f32(at_step) * dt;
            let disc = rp_exp(-rate * tt);
            var ex: array<f32, MAX_ASSETS>;
            for (var j = 0u; j < n; j++) {
                ex[j] = rp_exp(x[j]);
            }
            decide(t, flags, n, 0u, ex, disc, fitted, last, beta, &s);
            if (spot) {
                for (var j = 0u; j < n; j++) {
                    var xs = ex;
                    xs[j] = ex[j] * (1.0 + h_spot);
                    decide(t, flags, n, 1u + 2u * j, xs, disc, fitted, last, beta, &s);
                    xs[j] = ex[j] * (1.0 - h_spot);
                    decide(t, flags, n, 2u + 2u * j, xs, disc, fitted, last, beta, &s);
                }
            }
            if (vega) {
                for (var j = 0u; j < n; j++) {
                    var xs = ex;
                    xs[j] = rp_exp(xu[j]);
                    decide(t, flags, n, vega0 + 2u * j, xs, disc, fitted, last, beta, &s);
                    xs[j] = rp_exp(xd[j]);
                    decide(t, flags, n, vega0 + 2u * j + 1u, xs, disc, fitted, last, beta, &s);
                }
            }
            if (rho) {
                for (var r = 0u; r < 2u; r++) {
                    let sgn = select(-1.0, 1.0, r == 0u);
                    let f = rp_exp(sgn * dr * tt);
                    var xs: array<f32, MAX_ASSETS>;
                    for (var j = 0u; j < n; j++) {
                        xs[j] = ex[j] * f;
                    }
                    let d = rp_exp(-(rate + sgn * dr) * tt);
                    decide(t, flags, n, rho0 + r, xs, d, fitted, last, beta, &s);
                }
            }
        }
    }
    var res = array<f32, EARLY_OUTPUTS>();
    res[0] = s.value[0];
    for (var j = 0u; j < n; j++) {
        if (spot) {
            let hs = h_spot * early_val(t, V_SPOTS + j);
            let u = s.value[1u + 2u * j];
            let d = s.value[2u + 2u * j];
            res[5u + j] = scale * (u - d) / (2.0 * hs);
            res[5u + n + j] = scale * (u - 2.0 * s.value[0] + d) / (hs * hs);
        }
        let dvol = early_val(t, V_DVOL + j);
        if (vega && dvol > 0.0) {
            let u = s.value[vega0 + 2u * j];
            let d = s.value[vega0 + 2u * j + 1u];
            res[5u + 2u * n + j] = scale * (u - d) / (2.0 * dvol);
        }
        res[1] = res[1] + res[5u + j];
        res[2] = res[2] + res[5u + n + j];
        res[3] = res[3] + res[5u + 2u * n + j];
    }
    if (rho) {
        res[4] = scale * (s.value[rho0] - s.value[rho0 + 1u]) / (2.0 * dr);
    }
    return res;
}

// Sums sh[0..64][q] into sh[0][q] by a pairwise tree.
fn tree_sum(lid: u32) {
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            for (var q = 0u; q < EARLY_OUTPUTS; q++) {
                sh[lid][q] = sh[lid][q] + sh[lid + stride][q];
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn price_early(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg_index = wg.x + wg.y * params.grid_x;
    if (wg_index >= params.n_blocks) {
        return;
    }
    // The trade this block of samples belongs to.
    let g = params.first_block + wg_index;
    var lo = 0u;
    var hi = params.n_trades;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (block_start[mid] <= g) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = lo;
    let anti = (early_head(t, 2u) & E_ANTITHETIC) != 0u;
    let samples = early_head(t, 6u);
    let block = g - block_start[t];
    let idx = block * WG + lid;
    let n = min(WG, samples - min(samples, block * WG));

    var o = array<f32, EARLY_OUTPUTS>();
    if (idx < samples) {
        o = early_path(t, idx, 1.0);
        if (anti) {
            let b = early_path(t, idx, -1.0);
            for (var q = 0u; q < EARLY_OUTPUTS; q++) {
                o[q] = 0.5 * (o[q] + b[q]);
            }
        }
    }

    // Workgroup reduction: mean, then M2.
    for (var q = 0u; q < EARLY_OUTPUTS; q++) {
        sh[lid][q] = o[q];
    }
    workgroupBarrier();
    tree_sum(lid);
    if (lid == 0u) {
        for (var q = 0u; q < EARLY_OUTPUTS; q++) {
            sh_mean[q] = sh[0][q] / f32(max(n, 1u));
        }
    }
    workgroupBarrier();
    let mine = lid < n;
    for (var q = 0u; q < EARLY_OUTPUTS; q++) {
        let dev = o[q] - sh_mean[q];
        sh[lid][q] = select(0.0, dev * dev, mine);
    }
    workgroupBarrier();
    tree_sum(lid);
    if (lid == 0u) {
        let base = wg_index * EARLY_PARTIAL;
        partials[base] = f32(n);
        for (var q = 0u; q < EARLY_OUTPUTS; q++) {
            partials[base + 1u + q] = sh_mean[q];
            partials[base + 1u + EARLY_OUTPUTS + q] = sh[0][q];
        }
        partials[base + EARLY_PARTIAL - 1u] = 0.0;
    }
}
