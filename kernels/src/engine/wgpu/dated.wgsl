// Dated trades on one underlying (the twin of kernels/src/engine/cpu/dated.rs's
// walk and OneValue; kernels/src/engine/cuda/dated.cu), in f32 (WGSL has
// none wider): one thread per sample (a path, or an antithetic pair), 64
// samples per workgroup. Each thread draws its path's normals step by step
// and steps every family of its record (the trade on one market: a Greek's
// bump, a scenario's move) on them over the trade's own grid: the curves'
// carry, black's per-step variance, the local-volatility row of the step
// looked up at the family's log-moneyness, or Heston; cash dividends off
// the spot; the payoff observing its dated fixings (a continuous barrier's
// bridge runs to the spot before a dividend). The record's outputs are
// combinations of the families' values. No path is stored; the workgroup
// writes (n, mean, M2) in the extension kernels' partial layout, merged on
// the host in path order (kernels/src/gpu/dated.rs lays the records out).
//
// Assembled at load time (kernels/src/engine/wgpu/source.rs): the prelude,
// rng.wgsl, math.wgsl, common.wgsl, one payoff file, dated_step.wgsl and
// this file.

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

@group(0) @binding(0) var<storage, read> dated_trades: array<DatedTrade>;
@group(0) @binding(1) var<storage, read> block_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
// Binding 4 (the extension's exercise dates) is not read here.
// The value table (named as dated_step.wgsl reads it).
@group(0) @binding(5) var<storage, read> coefs: array<f32>;

var<workgroup> sh: array<array<f32, DATED_OUTPUTS>, WG>;
var<workgroup> sh_mean: array<f32, DATED_OUTPUTS>;
// Invocations of the workgroup whose walk was cut short.
var<workgroup> cut: atomic<u32>;

// Each invocation's per-family state, private (lavapipe gives arrays
// passed by value stack of their own).
var<private> xs: array<f32, DATED_FAMILIES>;
var<private> vs: array<f32, DATED_FAMILIES>;
var<private> sts: array<vec2<f32>, DATED_FAMILIES>;
var<private> oks: array<bool, DATED_FAMILIES>;
var<private> res: array<f32, DATED_OUTPUTS>;
// Steps the last walk completed.
var<private> walked: u32;

fn dated_int(t: u32, i: u32) -> u32 {
    return dated_trades[t].head[i / 4u][i % 4u];
}

fn dated_val(t: u32, i: u32) -> f32 {
    return dated_trades[t].vals[i / 4u][i % 4u];
}

fn family_int(t: u32, f: u32, i: u32) -> u32 {
    return dated_int(t, DATED_HEAD + f * FAMILY_INTS + i);
}

fn family_val(t: u32, f: u32, i: u32) -> f32 {
    return dated_val(t, f * FAMILY_VALS + i);
}

fn family_payoff(t: u32, f: u32) -> PayoffConsts {
    let a = vec4<f32>(family_val(t, f, 0u), family_val(t, f, 1u), family_val(t, f, 2u), family_val(t, f, 3u));
    let b = vec4<f32>(family_val(t, f, 4u), family_val(t, f, 5u), family_val(t, f, 6u), family_val(t, f, 7u));
    return PayoffConsts(a, b, family_int(t, f, 1u));
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
fn dated_path(t: u32, draw: u32, sign: f32) {
    let steps = dated_int(t, 0u);
    let nf = dated_int(t, 1u);
    let stream = vec2<u32>(dated_int(t, 4u), dated_int(t, 5u));
    let k = dated_int(t, 6u);
    let n_out = dated_int(t, 7u);
    for (var f = 0u; f < DATED_FAMILIES; f++) {
        xs[f] = 0.0;
        vs[f] = family_val(t, f, F_HESTON);
        sts[f] = payoff_start(family_payoff(t, f), 0.0);
        oks[f] = true;
    }
    var z4 = vec4<f32>(0.0);
    walked = 0u;
    for (var s = 0u; s < steps; s++) {
        let d = s * k;
        if (d % 4u == 0u) {
            z4 = normals_from_words(philox4x32_10(counter(stream, draw, d / 4u), params.key), sign);
        }
        let j = d % 4u;
        let z0 = z4[j];
        let z1 = z4[min(j + 1u, 3u)];
        for (var f = 0u; f < DATED_FAMILIES; f++) {
            if (f >= nf) {
                break;
            }
            let how = family_int(t, f, 2u);
            if ((how & D_REBATE) != 0u) {
                continue;
            }
            let so = family_int(t, f, 4u) + s * STEP_VALS;
            let c = coefs[so];
            let a = coefs[so + 1u];
            let q = coefs[so + 2u];
            let sf = u32(coefs[so + 3u]);
            let model = family_int(t, f, 0u);
            var m = DatedModel(model, 0u, vec2<f32>(0.0), vec4<f32>(0.0), 0.0);
            if (model == M_LOCAL_VOL) {
                m.row = family_int(t, f, 5u) + s * NODES;
                m.lv = vec2<f32>(family_val(t, f, F_K0), family_val(t, f, F_INV_DK));
            } else if (model == M_HESTON) {
                m.h = vec4<f32>(family_val(t, f, F_HESTON + 1u), family_val(t, f, F_HESTON + 2u),
                    family_val(t, f, F_HESTON + 3u), family_val(t, f, F_HESTON + 4u));
                m.rho_bar = family_val(t, f, F_HESTON + 5u);
            }
            let r = dated_step(m, xs[f], vs[f], c, a, z0, z1);
            var x = r.x;
            vs[f] = r.y;
            let var_dt = r.z;
            let pre = x;
            if ((sf & S_DIVIDEND) != 0u) {
                let e = rp_exp(x) - q;
                x = select(bitcast<f32>(0xff800000u), rp_ln(e), e > 0.0);
            }
            if (rp_breaks(x) || !rp_is_finite(vs[f]) || rp_is_nan(var_dt)) {
                oks[f] = false;
            }
            if (PAYOFF_OBSERVES && (sf & S_OBSERVE) != 0u && (how & D_EUROPEAN) == 0u) {
                let pc = family_payoff(t, f);
                if ((how & D_BRIDGE) != 0u && (sf & S_DIVIDEND) != 0u) {
                    // The bridge to the spot before the dividend, then the
                    // spot after it checked alone (a bridge over no time).
                    sts[f] = payoff_observe(pc, sts[f], pre, var_dt);
                    sts[f] = payoff_observe(pc, sts[f], max(x, -3.40282347e38), 1.17549435e-38);
                } else {
                    sts[f] = payoff_observe(pc, sts[f], x, var_dt);
                }
            }
            xs[f] = x;
        }
        walked = walked + 1u;
    }
    var value: array<f32, DATED_FAMILIES>;
    for (var f = 0u; f < DATED_FAMILIES; f++) {
        let how = family_int(t, f, 2u);
        let pc = family_payoff(t, f);
        let disc = family_val(t, f, F_DISCOUNT);
        if ((how & D_REBATE) != 0u) {
            value[f] = family_val(t, f, F_REBATE);
        } else if (!oks[f]) {
            value[f] = bitcast<f32>(0x7fc00000u);
        } else if ((how & D_EUROPEAN) != 0u) {
            value[f] = vanilla(pc.flags, pc.a.x * rp_exp(xs[f]), pc.a.y) * disc;
        } else {
            value[f] = payoff_value(pc, sts[f], xs[f]) * disc;
        }
    }
    for (var q = 0u; q < DATED_OUTPUTS; q++) {
        var o = 0.0;
        for (var f = 0u; f < DATED_FAMILIES; f++) {
            let cf = dated_val(t, DATED_COEF + q * DATED_FAMILIES + f);
            // Only the families an output uses: a family that is not
            // finite spoils its own outputs alone.
            if (cf != 0.0 && f < nf && q < n_out) {
                o = o + cf * value[f];
            }
        }
        res[q] = o;
    }
}

// Sums sh[0..64][q] into sh[0][q] by a pairwise tree (constant bounds: the
// loops unroll).
fn tree_sum(lid: u32) {
    for (var k = 1u; k <= 6u; k++) {
        let stride = WG >> k;
        if (lid < stride) {
            for (var q = 0u; q < DATED_OUTPUTS; q++) {
                sh[lid][q] = sh[lid][q] + sh[lid + stride][q];
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn price_dated(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg_index = wg.x + wg.y * params.grid_x;
    if (wg_index >= params.n_blocks) {
        return;
    }
    // The record this block of samples belongs to.
    let g = params.first_block + wg_index;
    let t = trade_of_block(g, params.n_trades);
    let anti = (dated_int(t, 2u) & D_ANTITHETIC) != 0u;
    let samples = dated_int(t, 3u);
    let steps = dated_int(t, 0u);
    let block = g - block_start[t];
    let idx = block * WG + lid;
    let n = min(WG, samples - min(samples, block * WG));

    // An antithetic pair: the path, then its negated twin, averaged.
    var o = array<f32, DATED_OUTPUTS>();
    var complete = true;
    if (idx < samples) {
        let passes = select(1u, 2u, anti);
        for (var p = 0u; p < passes; p++) {
            dated_path(t, idx, select(1.0, -1.0, p == 1u));
            complete = complete && walked == steps;
            for (var q = 0u; q < DATED_OUTPUTS; q++) {
                o[q] = o[q] + res[q];
            }
        }
        if (anti) {
            for (var q = 0u; q < DATED_OUTPUTS; q++) {
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

    // Workgroup reduction: mean, then M2.
    for (var q = 0u; q < DATED_OUTPUTS; q++) {
        sh[lid][q] = o[q];
    }
    workgroupBarrier();
    tree_sum(lid);
    if (lid == 0u) {
        for (var q = 0u; q < DATED_OUTPUTS; q++) {
            sh_mean[q] = sh[0][q] / f32(max(n, 1u));
        }
    }
    workgroupBarrier();
    let mine = lid < n;
    for (var q = 0u; q < DATED_OUTPUTS; q++) {
        let dev = o[q] - sh_mean[q];
        sh[lid][q] = select(0.0, dev * dev, mine);
    }
    workgroupBarrier();
    tree_sum(lid);
    if (lid == 0u) {
        let base = wg_index * EXTENSION_PARTIAL;
        partials[base] = f32(n);
        for (var q = 0u; q < EXTENSION_OUTPUTS; q++) {
            partials[base + 1u + q] = select(0.0, sh_mean[min(q, DATED_OUTPUTS - 1u)], q < DATED_OUTPUTS);
            partials[base + 1u + EXTENSION_OUTPUTS + q] = select(0.0, sh[0][min(q, DATED_OUTPUTS - 1u)], q < DATED_OUTPUTS);
        }
        partials[base + EXTENSION_PARTIAL - 1u] = f32(atomicLoad(&cut));
    }
}
