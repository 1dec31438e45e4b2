// Sobol points, their scrambling, their normals and a bridge's sweep: the
// twin of kernels/src/qmc/ (sobol.rs: point, scramble, dimension_seed;
// mod.rs: SobolDraws::path_swept, the loop sobol_advance is) and of
// qmc.cuh. A kernel that includes this file binds the batch's direction
// numbers and sweeps (kernels/src/gpu/plan.rs, SobolTables) at 4 and 5.

@group(0) @binding(4) var<storage, read> sobol_dirs: array<u32>;
// Per node: target << 16 | rank, then wl, wr, sd as f32 bits.
@group(0) @binding(5) var<storage, read> sobol_sweep: array<vec4<u32>>;

// Point `index` of dimension `d`, unscrambled: the XOR of the direction
// numbers over the set bits of index's Gray code.
fn sobol_point(d: u32, index: u32) -> u32 {
    var g = index ^ (index >> 1u);
    var at = d * 32u;
    var x = 0u;
    while (g != 0u) {
        if ((g & 1u) != 0u) {
            x = x ^ sobol_dirs[at];
        }
        g = g >> 1u;
        at = at + 1u;
    }
    return x;
}

// Nested-uniform scrambling by hashing (sobol.rs's scramble).
fn sobol_scramble(x0: u32, seed: vec2<u32>) -> u32 {
    var x = reverseBits(x0);
    x = x + seed.x;
    x = x ^ (x * 0x6c50b47cu);
    x = x * (seed.y | 1u);
    x = x ^ (x * 0xb82f1e52u);
    x = x ^ (x * 0xc7afe638u);
    x = x ^ (x * 0x8d22f6e6u);
    return reverseBits(x);
}

// One path's walk through its bridge: the stack of points set and not yet
// reached (pos, w per factor; the bottom is no point, W = 0), W at the
// current step, and the next sweep node.
struct SobolPath {
    key: vec2<u32>,
    stream: vec2<u32>,
    replicate: u32,
    index: u32,
    k: u32,
    next: u32,
    top: u32,
    cur: vec2<f32>,
    pos: array<u32, SWEEP_DEPTH>,
    w: array<vec2<f32>, SWEEP_DEPTH>,
}

// Point `index` of replicate `replicate` of the trade of stream `stream`
// under the run's key, `k` normals a step, its bridge's sweep from node
// `first`.
fn sobol_start(key: vec2<u32>, stream: vec2<u32>, replicate: u32, index: u32, k: u32, first: u32) -> SobolPath {
    var p: SobolPath;
    p.key = key ^ vec2<u32>(SOBOL_KEY_LO, SOBOL_KEY_HI);
    p.stream = stream;
    p.replicate = replicate;
    p.index = index;
    p.k = k;
    p.next = first;
    p.top = 0u;
    p.cur = vec2<f32>(0.0);
    p.pos[0] = 0xffffffffu;
    p.w[0] = vec2<f32>(0.0);
    return p;
}

// The normal of dimension d of the path's point: scrambled with the seed
// of (key, stream, replicate, d) (sobol.rs's dimension_seed), then the
// f32 uniform of the word (rng.wgsl's uniform_of) and its quantile.
fn sobol_normal(p: ptr<function, SobolPath>, d: u32) -> f32 {
    let seed = philox4x32_10(vec4<u32>(d, (*p).replicate, (*p).stream.x, (*p).stream.y), (*p).key).xy;
    return rp_inverse_normal(uniform_of(sobol_scramble(sobol_point(d, (*p).index), seed)));
}

// Step s's increments W(s + 1) - W(s), factor j in component j: the sweep's
// nodes until the stack's top is W(s + 1) (each from W(s) and the top),
// then that point popped.
fn sobol_advance(p: ptr<function, SobolPath>, s: u32) -> vec2<f32> {
    let k = (*p).k;
    // The bound only guards a malformed table: a sweep never goes deeper.
    while ((*p).pos[(*p).top] != s + 1u && (*p).top + 1u < SWEEP_DEPTH) {
        let e = sobol_sweep[(*p).next];
        (*p).next = (*p).next + 1u;
        let rank = e.x & 0xffffu;
        let wl = bitcast<f32>(e.y);
        let wr = bitcast<f32>(e.z);
        let sd = bitcast<f32>(e.w);
        let right = (*p).w[(*p).top];
        var w = vec2<f32>(0.0);
        w.x = wl * (*p).cur.x + wr * right.x + sd * sobol_normal(p, rank * k);
        if (k == 2u) {
            w.y = wl * (*p).cur.y + wr * right.y + sd * sobol_normal(p, rank * k + 1u);
        }
        (*p).top = (*p).top + 1u;
        (*p).pos[(*p).top] = e.x >> 16u;
        (*p).w[(*p).top] = w;
    }
    let w = (*p).w[(*p).top];
    (*p).top = (*p).top - 1u;
    let inc = w - (*p).cur;
    (*p).cur = w;
    return inc;
}

// The normals of steps s .. s + 4 / k - 1 (those before `steps`) in the
// places Philox's four would take: step s + i factor j at i k + j.
fn sobol_normals4(p: ptr<function, SobolPath>, s: u32, steps: u32) -> vec4<f32> {
    var z = vec4<f32>(0.0);
    let k = (*p).k;
    for (var i = 0u; i < 4u / k; i++) {
        if (s + i < steps) {
            let a = sobol_advance(p, s + i);
            z[i * k] = a.x;
            if (k == 2u) {
                z[i * k + 1u] = a.y;
            }
        }
    }
    return z;
}
