// Dated trades with early exercise or on several underlyings (the twin of
// kernels/src/engine/cpu/dated.rs's walk and Pricer::value;
// kernels/src/engine/cuda/dated_multi.cu), in f32: one thread per sample (a
// path, or an antithetic pair), 64 samples per workgroup. Each step the
// thread draws the step's normals, correlates the spot drivers by the
// trade's lower factor, and steps every family of its record (the trade
// on one market: a Greek's bump, a scenario's move) over each underlying
// (black, local volatility, Heston; cash dividends). At an exercise node
// a family exercises where its policy (fitted once on the host,
// kernels/src/gpu/dated_multi.rs) says so at its state normalised by its
// spots, or at expiry; its value is the intrinsic value there discounted
// on its curve. The record's outputs are combinations of the families'
// values. No path is stored; the workgroup writes (n, mean, M2) in the
// extension kernels' partial layout, its width's (SIDE_PARTIAL slots).
//
// A family's underlying whose step reads the base family's values (the
// host compares them, gpu/dated_multi.rs) reads the base's path state,
// its slot: the base family steps its states while any family is live.
// The prelude of the kernel's width sizes the per-thread arrays
// (SIDE_SLOTS states, SIDE_STATES families, SIDE_OUTPUTS outputs) and ends
// the loops over the underlyings (assets_to).
//
// Assembled at load time (kernels/src/engine/wgpu/source.rs): the prelude,
// rng.wgsl, math.wgsl, common.wgsl, payoff/multi.wgsl, exercise.wgsl,
// dated_step.wgsl and this file.

struct Params {
    key: vec2<u32>,
    first_block: u32,
    n_blocks: u32,
    n_trades: u32,
    grid_x: u32,
    // 2: the bound of the canary loop below (a run-time bound, so that it
    // never unrolls).
    canary: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> multi_trades: array<DatedMultiTrade>;
@group(0) @binding(1) var<storage, read> block_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
// The u32 table: each family's ints, then each trade's exercise nodes.
@group(0) @binding(4) var<storage, read> ints: array<u32>;
// The value table (named as exercise.wgsl reads its coefficients).
@group(0) @binding(5) var<storage, read> coefs: array<f32>;

// The workgroup reduction (sh, sh_mean, cut): side_reduce.wgsl.

// Each invocation's state, private (lavapipe gives arrays passed by value
// stack of their own): per path state (slot), the log-spot and variance;
// per family whether it is valued, its next exercise date and its value;
// whether each of the base's underlyings held this step (a family that
// reads its state breaks with it).
var<private> xs: array<f32, SIDE_SLOTS>;
var<private> vs: array<f32, SIDE_SLOTS>;
var<private> done: array<bool, SIDE_STATES>;
var<private> next_date: array<u32, SIDE_STATES>;
var<private> value: array<f32, SIDE_STATES>;
var<private> left: u32;
var<private> e: array<f32, SIDE_NORMALS>;
var<private> w: array<f32, ASSETS>;
var<private> sv: array<f32, ASSETS>;
var<private> basis_x: array<f32, ASSETS>;
var<private> base_ok: array<bool, ASSETS>;
var<private> res: array<f32, SIDE_OUTPUTS>;

fn multi_head(t: u32, i: u32) -> u32 {
    return multi_trades[t].head[i / 4u][i % 4u];
}

// What payoff/multi.wgsl reads: the basket's weights and the strike, in
// the trade's block of the value table.
fn multi_weight(t: u32, j: u32) -> f32 {
    return coefs[multi_head(t, 10u) + T_WEIGHTS + j];
}

fn multi_strike(t: u32) -> f32 {
    return coefs[multi_head(t, 10u) + T_STRIKE];
}

// NaN or +inf: a broken path (-inf is a spot floored at zero, which stays).
fn rp_breaks(x: f32) -> bool {
    let b = bitcast<u32>(x);
    return (b & 0x7f800000u) == 0x7f800000u && b != 0xff800000u;
}

fn rp_is_nan(x: f32) -> bool {
    let b = bitcast<u32>(x);
    return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}

// One path (`draw` of the trade's stream, normals times `sign`): the
// record's outputs in res.
fn multi_path(t: u32, draw: u32, sign: f32) {
    let steps = multi_head(t, 0u);
    let nf = multi_head(t, 1u);
    let stream = vec2<u32>(multi_head(t, 4u), multi_head(t, 5u));
    let k = multi_head(t, 6u);
    let n_out = multi_head(t, 7u);
    let n = multi_head(t, 8u);
    let fi0 = multi_head(t, 9u);
    let tv = multi_head(t, 10u);
    let nd = multi_head(t, 11u);
    let d0 = multi_head(t, 12u);
    let terms = multi_head(t, 13u);
    let pflags = multi_head(t, 14u);
    let row = 1u + terms;
    // A family's ints, and where the factor and the outputs' coefficients are.
    let fstride = FI_ASSETS + FI_PER_ASSET * n;
    let tf = tv + T_WEIGHTS + n;
    let tc = tf + n * n;
    for (var f = 0u; f < SIDE_STATES; f++) {
        if (f >= nf) {
            break;
        }
        let fb = fi0 + f * fstride;
        let fv = ints[fb];
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                let at = ints[fb + FI_ASSETS + FI_PER_ASSET * j + 2u];
                xs[at] = 0.0;
                vs[at] = coefs[fv + j * MULTI_ASSET_VALS + 3u];
            }
        }
        done[f] = false;
        next_date[f] = 0u;
        value[f] = 0.0;
    }
    left = nf;
    var block = 0xffffffffu;
    var z4 = vec4<f32>(0.0);
    for (var s = 0u; s < steps; s++) {
        if (left == 0u) {
            break;
        }
        // The step's normals, four to a Philox block.
        for (var m = 0u; m < 2u * assets_to(n); m++) {
            if (m < k) {
                let d = s * k + m;
                if (d / 4u != block) {
                    block = d / 4u;
                    z4 = normals_from_words(philox4x32_10(counter(stream, draw, block), params.key), sign);
                }
                e[m] = z4[d % 4u];
            }
        }
        // The spot drivers: row j of the lower factor times e.
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                var acc = 0.0;
                for (var m = 0u; m < assets_to(n); m++) {
                    if (m <= j) {
                        acc = acc + coefs[tf + j * n + m] * e[m];
                    }
                }
                w[j] = acc;
            }
        }
        let i = s + 1u;
        for (var f = 0u; f < SIDE_STATES; f++) {
            if (f >= nf) {
                break;
            }
            // The base family steps its states until every family is
            // valued: the others may read them.
            if (done[f] && f != 0u) {
                continue;
            }
            let fb = fi0 + f * fstride;
            let fv = ints[fb];
            let so = ints[fb + 2u] + s * (STEP_HEAD + 3u * n);
            let disc = coefs[so + 1u];
            var h = n;
            var ok = true;
            for (var j = 0u; j < assets_to(n); j++) {
                if (j >= n) {
                    continue;
                }
                let ja = fb + FI_ASSETS + FI_PER_ASSET * j;
                let model = ints[ja];
                let at = ints[ja + 2u];
                // The base's state, stepped by the base this step.
                if (f > 0u && at < n) {
                    ok = ok && base_ok[j];
                    if (model == M_HESTON) {
                        h = h + 1u;
                    }
                    continue;
                }
                let c = coefs[so + STEP_HEAD + 3u * j];
                let a = coefs[so + STEP_HEAD + 3u * j + 1u];
                let q = coefs[so + STEP_HEAD + 3u * j + 2u];
                let av = fv + j * MULTI_ASSET_VALS;
                var m = DatedModel(model, 0u, vec2<f32>(0.0), vec4<f32>(0.0), 0.0);
                var zh = 0.0;
                if (model == M_LOCAL_VOL) {
                    m.row = ints[ja + 1u] + s * NODES;
                    m.lv = vec2<f32>(coefs[av + 1u], coefs[av + 2u]);
                } else if (model == M_HESTON) {
                    m.h = vec4<f32>(coefs[av + 4u], coefs[av + 5u], coefs[av + 6u], coefs[av + 7u]);
                    m.rho_bar = coefs[av + 8u];
                    zh = e[min(h, SIDE_NORMALS - 1u)];
                    h = h + 1u;
                }
                let r = dated_step(m, xs[at], vs[at], c, a, w[j], zh);
                var x = r.x;
                vs[at] = r.y;
                let var_dt = r.z;
                // A cash dividend, as a fraction of the spot (0: none).
                if (q > 0.0) {
                    let ex = rp_exp(x) - q;
                    x = select(bitcast<f32>(0xff800000u), rp_ln(ex), ex > 0.0);
                }
                let held = !(rp_breaks(x) || !rp_is_finite(vs[at]) || rp_is_nan(var_dt));
                ok = ok && held;
                if (f == 0u) {
                    base_ok[j] = held;
                }
                xs[at] = x;
            }
            // The base, valued already: its states stepped for the others.
            if (done[f]) {
                continue;
            }
            if (!ok) {
                value[f] = bitcast<f32>(0x7fc00000u);
                done[f] = true;
                left = left - 1u;
                continue;
            }
            let kf = next_date[f];
            var at_date = i == steps;
            if (nd > 0u) {
                at_date = kf < nd && ints[d0 + kf] == i;
            }
            if (!at_date) {
                continue;
            }
            for (var j = 0u; j < assets_to(n); j++) {
                if (j < n) {
                    let av = fv + j * MULTI_ASSET_VALS;
                    sv[j] = coefs[av] * rp_exp(xs[ints[fb + FI_ASSETS + FI_PER_ASSET * j + 2u]]);
                    basis_x[j] = sv[j] / coefs[av + A_NORM];
                }
            }
            let iv = multi_intrinsic(t, pflags, &sv, n);
            let pol = ints[fb + 1u];
            var exercise = i == steps;
            if (!exercise && pol != NO_POLICY && kf + 1u < nd && iv > 0.0) {
                let at = pol + kf * row;
                if (coefs[at] != 0.0) {
                    exercise = iv >= continuation(at + 1u, &basis_x, iv, n, (pflags & E_SORTED) != 0u);
                }
            }
            next_date[f] = kf + 1u;
            if (exercise) {
                value[f] = iv * disc;
                done[f] = true;
                left = left - 1u;
            }
        }
    }
    for (var q = 0u; q < SIDE_OUTPUTS; q++) {
        var o = 0.0;
        if (q < n_out) {
            for (var f = 0u; f < SIDE_STATES; f++) {
                if (f >= nf) {
                    break;
                }
                // Only the families an output uses: a family that is not
                // finite spoils its own outputs alone.
                let cf = coefs[tc + q * nf + f];
                if (cf != 0.0) {
                    o = o + cf * value[f];
                }
            }
        }
        res[q] = o;
    }
}

@compute @workgroup_size(WG)
fn price_dated_multi(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg_index = wg.x + wg.y * params.grid_x;
    if (wg_index >= params.n_blocks) {
        return;
    }
    // The record this block of samples belongs to.
    let g = params.first_block + wg_index;
    let t = trade_of_block(g, params.n_trades);
    let anti = (multi_head(t, 2u) & D_ANTITHETIC) != 0u;
    let samples = multi_head(t, 3u);
    let block = g - block_start[t];
    let idx = block * WG + lid;
    let n = min(WG, samples - min(samples, block * WG));

    // An antithetic pair: the path, then its negated twin, averaged.
    var o = array<f32, SIDE_OUTPUTS>();
    var complete = true;
    if (idx < samples) {
        let passes = select(1u, 2u, anti);
        for (var p = 0u; p < passes; p++) {
            multi_path(t, idx, select(1.0, -1.0, p == 1u));
            // Every family is valued by the last node.
            complete = complete && left == 0u;
            for (var q = 0u; q < SIDE_OUTPUTS; q++) {
                o[q] = o[q] + res[q];
            }
        }
        if (anti) {
            for (var q = 0u; q < SIDE_OUTPUTS; q++) {
                o[q] = 0.5 * o[q];
            }
        }
    }

    // A device may cap an invocation's loop iterations (lavapipe ends every
    // loop after 65,535 in all): a walk cut short, or a canary loop that
    // no longer runs its two rounds, is reported to the host, which
    // refuses the trade rather than return its sums.
    var canary = 0u;
    for (var k = 0u; k < params.canary; k++) {
        canary = canary + 1u;
    }
    if (!complete || canary != params.canary) {
        atomicAdd(&cut, 1u);
    }

    side_reduce(lid, n, wg_index, &o);
}
