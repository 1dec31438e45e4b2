// Several correlated assets and early exercise (the twin of
// kernels/src/engine/cpu/extension.rs's Prepared::path and run;
// kernels/src/engine/cuda/extension.cu), in f32 (WGSL has none wider): one
// thread per sample (a path, or an antithetic pair), 64 samples per
// workgroup, carrying every revaluation a Greek needs along the same path;
// at each exercise date each revaluation exercises where the policy
// (fitted once on the host: kernels/src/gpu/extension.rs) says so in its own
// state. A scenario record (E_SCENARIO) carries instead one moved trade
// beside the base one, on the same normals, with its own spots, family,
// rate and policy; its outputs are the base value and the moved one less
// it. No path is stored; the workgroup writes (n, mean, M2) of its
// width's SIDE_OUTPUTS outputs (SIDE_PARTIAL slots), merged on the host in
// path order.
//
// Assembled at load time (kernels/src/engine/wgpu.rs): the prelude, rng.wgsl,
// math.wgsl, common.wgsl, one one-asset model file (gbm.wgsl or heston.wgsl), model/multi.wgsl,
// payoff/multi.wgsl, exercise.wgsl and this file. The prelude of the
// kernel's width (gpu/prelude.rs wgsl_width) sizes its per-thread arrays
// (ASSETS assets, SIDE_STATES revaluations, SIDE_OUTPUTS outputs) and
// ends its loops over the assets (assets_to).

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

// A model's step constants, as kernel.wgsl reads them.
struct ModelConsts {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> extension_trades: array<ExtensionTrade>;
@group(0) @binding(1) var<storage, read> block_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> dates: array<u32>;
@group(0) @binding(5) var<storage, read> coefs: array<f32>;

// The workgroup reduction (sh, sh_mean, cut): side_reduce.wgsl.

fn extension_val(t: u32, i: u32) -> f32 {
    return extension_trades[t].vals[i / 4u][i % 4u];
}

// What payoff/multi.wgsl reads: the basket's weights and the strike.
fn multi_weight(t: u32, j: u32) -> f32 {
    return extension_val(t, V_WEIGHTS + j);
}

fn multi_strike(t: u32) -> f32 {
    return extension_val(t, 5u);
}

fn extension_head(t: u32, i: u32) -> u32 {
    return extension_trades[t].head[i / 4u][i % 4u];
}

// Each invocation's path state, private, and passed by pointer: lavapipe's
// LLVM gives every array passed or returned by value stack of its own,
// which a long path (hundreds of exercise dates) overflows.
var<private> x: array<f32, ASSETS>;
var<private> v: array<f32, ASSETS>;
var<private> xu: array<f32, ASSETS>;
var<private> vu: array<f32, ASSETS>;
var<private> xd: array<f32, ASSETS>;
var<private> vd: array<f32, ASSETS>;
// The step's independent normals (spot, variance) and correlated spot normals.
var<private> e: array<f32, ASSETS>;
var<private> w: array<f32, ASSETS>;
var<private> z: array<f32, ASSETS>;
// At a date: exp(x), a revaluation's relative asset values, asset values,
// and the basis's (sorted) copy.
var<private> ex: array<f32, ASSETS>;
var<private> xs: array<f32, ASSETS>;
var<private> sv: array<f32, ASSETS>;
var<private> basis_x: array<f32, ASSETS>;
// The revaluations: their values, which are done, how many are left.
var<private> value: array<f32, SIDE_STATES>;
var<private> done: array<bool, SIDE_STATES>;
var<private> left: u32;
// A path's outputs.
var<private> res: array<f32, SIDE_OUTPUTS>;
// One pass (E_ONE_PASS): at each state's exercise, the discounted payoff's
// derivative in each log-spot: every asset's for the base state (grad),
// its own asset's for a spot state (own, by state); the payoff's gradient
// (dg); the base state's exercise time and log-spots.
var<private> grad: array<f32, ASSETS>;
var<private> own: array<f32, SIDE_STATES>;
var<private> dg: array<f32, ASSETS>;
var<private> x_tau: array<f32, ASSETS>;
var<private> tau: f32;

// State `st` at asset values xs relative to the spots at `spots`:
// exercised (or paid at maturity) where due, and whether it was (its asset
// values left in sv).
fn decide(t: u32, spots: u32, flags: u32, n: u32, st: u32, disc: f32, fitted: bool, last: bool, beta: u32) -> bool {
    if (done[st]) {
        return false;
    }
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            sv[j] = extension_val(t, spots + j) * xs[j];
        }
    }
    let iv = multi_intrinsic(t, flags, &sv, n);
    var exercise = last;
    if (!last && fitted && iv > 0.0) {
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                basis_x[j] = xs[j];
            }
        }
        exercise = iv >= continuation(beta, &basis_x, iv, n, (flags & E_SORTED) != 0u);
    }
    if (exercise) {
        value[st] = iv * disc;
        done[st] = true;
        left = left - 1u;
    }
    return exercise;
}

// xs = ex.
fn xs_from_ex(n: u32) {
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            xs[j] = ex[j];
        }
    }
}

// One pass: state st (the base, or a spot state) exercised at time tt,
// discounted by disc, at asset values sv (decide's): the base state's
// gradient `disc dg_j S_j` and its exercise time and log-spots, or a spot
// state's own asset's `disc dg_j S_j / S_j'` (its ratio is the base path's
// relative value ex_j exactly: no rounding to difference away).
fn exercised_gradient(t: u32, flags: u32, n: u32, st: u32, disc: f32, tt: f32) {
    multi_gradient(t, flags, &sv, &dg, n);
    if (st == 0u) {
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                grad[j] = disc * dg[j] * sv[j];
                x_tau[j] = x[j];
            }
        }
        tau = tt;
    } else {
        let j = (st - 1u) / 2u;
        own[st] = disc * dg[j] * ex[j];
    }
}

// One pass: a path's outputs from its gradients (Prepared::path's
// pathwise branch): delta per asset pathwise, gamma the difference of the
// spot states' pathwise deltas, vega pathwise for gbm (dx_j/dvol_j =
// W_j(t) - vol_j t, from the log-spot at exercise) or bumped, rho pathwise.
fn one_pass_outputs(t: u32, flags: u32, n: u32, vega0: u32, h_spot: f32, scale: f32, dt: f32) {
    let spot = (flags & E_SPOT) != 0u;
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            let s0 = extension_val(t, V_SPOTS + j);
            if ((flags & E_PW_DELTA) != 0u) {
                res[5u + j] = scale * grad[j] / s0;
            }
            if (spot) {
                res[5u + n + j] = scale * (own[1u + 2u * j] - own[2u + 2u * j]) / (2.0 * h_spot * s0);
            }
            let dvol = extension_val(t, V_DVOL + j);
            if ((flags & E_PW_VEGA) != 0u) {
                let m = asset_model(t, j, 0u);
                let mu = m.a.x / dt;
                let vol = m.a.y / sqrt(dt);
                res[5u + 2u * n + j] = scale * grad[j] * ((x_tau[j] - mu * tau) / vol - vol * tau);
            } else if ((flags & E_VEGA) != 0u && dvol > 0.0) {
                let u = value[vega0 + 2u * j];
                let d = value[vega0 + 2u * j + 1u];
                res[5u + 2u * n + j] = scale * (u - d) / (2.0 * dvol);
            }
            res[1] = res[1] + res[5u + j];
            res[2] = res[2] + res[5u + n + j];
            res[3] = res[3] + res[5u + 2u * n + j];
        }
    }
    if ((flags & E_PW_RHO) != 0u) {
        var g = 0.0;
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                g = g + grad[j];
            }
        }
        res[4] = scale * (g * tau - tau * value[0]);
    }
}

// One path (`draw` of the trade's stream, normals times `sign`): its outputs, into res.
fn extension_path(t: u32, draw: u32, sign: f32) {
    let steps = extension_head(t, 0u);
    let n = extension_head(t, 1u);
    let flags = extension_head(t, 2u);
    let nd = extension_head(t, 3u);
    let stream = vec2<u32>(extension_head(t, 4u), extension_head(t, 5u));
    let first_date = extension_head(t, 7u);
    let first_coef = extension_head(t, 8u);
    let terms = extension_head(t, 9u);
    let spot = (flags & E_SPOT) != 0u;
    let vega = (flags & E_VEGA) != 0u;
    let rho = (flags & E_RHO) != 0u;
    let one_pass = (flags & E_ONE_PASS) != 0u;
    // A scenario record: the moved trade in the vol-up family, its own
    // spots, rate and coefficients.
    let scenario = (flags & E_SCENARIO) != 0u;
    let moved_coef = extension_head(t, 10u);
    let moved_rate = extension_val(t, S_MOVED_RATE);
    let dt = extension_val(t, 0u);
    let rate = extension_val(t, 1u);
    let h_spot = extension_val(t, 2u);
    let dr = extension_val(t, 3u);
    let scale = extension_val(t, 4u);
    let nps = MODEL_NORMALS * n;
    let vega0 = 1u + select(0u, 2u * n, spot);
    let rho0 = vega0 + select(0u, 2u * n, vega);
    let ns = select(rho0 + select(0u, 2u, rho), 2u, scenario);

    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            x[j] = 0.0;
            xu[j] = 0.0;
            xd[j] = 0.0;
            v[j] = model_aux0(asset_model(t, j, 0u));
            vu[j] = model_aux0(asset_model(t, j, 1u));
            vd[j] = model_aux0(asset_model(t, j, 2u));
            w[j] = 0.0;
            grad[j] = 0.0;
            x_tau[j] = 0.0;
        }
    }
    tau = 0.0;
    for (var st = 0u; st < ns; st++) {
        value[st] = 0.0;
        done[st] = false;
        own[st] = 0.0;
    }
    left = ns;
    var cached = 0xffffffffu;
    var cache = vec4<f32>(0.0);
    var next = 0u;
    for (var i = 0u; i < steps && left > 0u; i++) {
        for (var j = 0u; j < 2u * assets_to(n); j++) {
            if (j >= nps) {
                break;
            }
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
        correlate(t, &e, &z, n);
        for (var j = 0u; j < assets_to(n); j++) {
            if (j < n) {
                let zw = vec2<f32>(z[j], w[j]);
                let r = model_step(asset_model(t, j, 0u), x[j], v[j], zw);
                x[j] = r.x;
                v[j] = r.y;
                if (vega || scenario) {
                    let ru = model_step(asset_model(t, j, 1u), xu[j], vu[j], zw);
                    xu[j] = ru.x;
                    vu[j] = ru.y;
                }
                if (vega) {
                    let rd = model_step(asset_model(t, j, 2u), xd[j], vd[j], zw);
                    xd[j] = rd.x;
                    vd[j] = rd.y;
                }
            }
        }
        let at_step = i + 1u;
        if (next < nd && (dates[first_date + next] & ~(FITTED | MOVED_FITTED)) == at_step) {
            // A path that overflowed or went NaN is valued NaN, never
            // exercised (extension.rs `finite`); a scenario record's moved
            // state alone, where only it did.
            var finite = true;
            var moved_finite = true;
            for (var j = 0u; j < assets_to(n); j++) {
                if (j < n) {
                    // The variances too: the step's full truncation would
                    // launder one that overflowed to 0, leaving x finite.
                    finite = finite && rp_is_finite(x[j]) && rp_is_finite(v[j])
                        && (!vega || (rp_is_finite(xu[j]) && rp_is_finite(xd[j]) && rp_is_finite(vu[j])
                            && rp_is_finite(vd[j])));
                    moved_finite = moved_finite && (!scenario || (rp_is_finite(xu[j]) && rp_is_finite(vu[j])));
                }
            }
            if (!finite) {
                for (var st = 0u; st < ns; st++) {
                    value[st] = bitcast<f32>(0x7fc00000u);
                    own[st] = bitcast<f32>(0x7fc00000u);
                }
                for (var j = 0u; j < assets_to(n); j++) {
                    grad[j] = bitcast<f32>(0x7fc00000u);
                }
                left = 0u;
                break;
            }
            let k = next;
            next = next + 1u;
            let fitted = (dates[first_date + k] & FITTED) != 0u;
            let last = k + 1u == nd;
            let beta = first_coef + k * terms;
            let tt = f32(at_step) * dt;
            let disc = rp_exp(-rate * tt);
            for (var j = 0u; j < assets_to(n); j++) {
                if (j < n) {
                    ex[j] = rp_exp(x[j]);
                }
            }
            // Every revaluation in one loop, so the decision is inlined once:
            // the base state, spot up and down per asset, vol up and down
            // per asset, rate up and down; or the base state and the moved
            // trade.
            for (var st = 0u; st < ns; st++) {
                if (done[st]) {
                    continue;
                }
                xs_from_ex(n);
                var d = disc;
                // A scenario record's moved trade is its state 1 (= rho0).
                let moved = scenario && st == 1u;
                if (moved && !moved_finite) {
                    value[st] = bitcast<f32>(0x7fc00000u);
                    done[st] = true;
                    left = left - 1u;
                    continue;
                }
                if (st >= rho0) {
                    let sgn = select(-1.0, 1.0, st == rho0);
                    let f = rp_exp(sgn * dr * tt);
                    for (var j = 0u; j < assets_to(n); j++) {
                        if (j < n) {
                            if (moved) {
                                xs[j] = rp_exp(xu[j]);
                            } else {
                                xs[j] = ex[j] * f;
                            }
                        }
                    }
                    d = rp_exp(-(select(rate + sgn * dr, moved_rate, moved)) * tt);
                } else if (st >= vega0) {
                    let j = (st - vega0) / 2u;
                    xs[j] = rp_exp(select(xd[j], xu[j], (st - vega0) % 2u == 0u));
                } else if (st >= 1u) {
                    let j = (st - 1u) / 2u;
                    xs[j] = ex[j] * select(1.0 - h_spot, 1.0 + h_spot, (st - 1u) % 2u == 0u);
                }
                let moved_fitted = (dates[first_date + k] & MOVED_FITTED) != 0u;
                let exercised = decide(t, select(V_SPOTS, V_MOVED_SPOTS, moved), flags, n, st, d,
                                       select(fitted, moved_fitted, moved), last,
                                       select(beta, moved_coef + k * terms, moved));
                if (one_pass && exercised && (st == 0u || (spot && st <= 2u * n))) {
                    exercised_gradient(t, flags, n, st, d, tt);
                }
            }
        }
    }
    for (var q = 0u; q < SIDE_OUTPUTS; q++) {
        res[q] = 0.0;
    }
    res[0] = value[0];
    if (one_pass) {
        one_pass_outputs(t, flags, n, vega0, h_spot, scale, dt);
        return;
    }
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            if (spot) {
                let hs = h_spot * extension_val(t, V_SPOTS + j);
                let u = value[1u + 2u * j];
                let d = value[2u + 2u * j];
                res[5u + j] = scale * (u - d) / (2.0 * hs);
                res[5u + n + j] = scale * (u - 2.0 * value[0] + d) / (hs * hs);
            }
            let dvol = extension_val(t, V_DVOL + j);
            if (vega && dvol > 0.0) {
                let u = value[vega0 + 2u * j];
                let d = value[vega0 + 2u * j + 1u];
                res[5u + 2u * n + j] = scale * (u - d) / (2.0 * dvol);
            }
            res[1] = res[1] + res[5u + j];
            res[2] = res[2] + res[5u + n + j];
            res[3] = res[3] + res[5u + 2u * n + j];
        }
    }
    if (rho) {
        res[4] = scale * (value[rho0] - value[rho0 + 1u]) / (2.0 * dr);
    }
    if (scenario) {
        res[1] = value[1] - value[0];
    }
}

@compute @workgroup_size(WG)
fn price_extension(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg_index = wg.x + wg.y * params.grid_x;
    if (wg_index >= params.n_blocks) {
        return;
    }
    // The trade this block of samples belongs to.
    let g = params.first_block + wg_index;
    let t = trade_of_block(g, params.n_trades);
    let anti = (extension_head(t, 2u) & E_ANTITHETIC) != 0u;
    let samples = extension_head(t, 6u);
    let block = g - block_start[t];
    let idx = block * WG + lid;
    let n = min(WG, samples - min(samples, block * WG));

    // An antithetic pair: the path, then its negated twin, averaged.
    var o = array<f32, SIDE_OUTPUTS>();
    var complete = true;
    if (idx < samples) {
        let passes = select(1u, 2u, anti);
        for (var p = 0u; p < passes; p++) {
            extension_path(t, idx, select(1.0, -1.0, p == 1u));
            // Every revaluation is paid by the last date.
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
