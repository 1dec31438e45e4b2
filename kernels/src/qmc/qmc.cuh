// Sobol points, their scrambling, their normals and a bridge's sweep: the
// twin of kernels/src/qmc/ (sobol.rs: point, scramble, dimension_seed;
// mod.rs: SobolDraws::path_swept, the loop sobol_advance is) and of
// qmc.wgsl. The pricing and one-pass kernels take the batch's direction
// numbers and sweeps (kernels/src/gpu/plan.rs, SobolTables) as SobolTables.

struct SobolTables {
    const unsigned* dirs;   // v[d][b] at 32 d + b
    const unsigned* nodes;  // per sweep node: target << 16 | rank
    const double* coef;     // and its wl, wr, sd
};

// Point `index` of dimension `d`, unscrambled: the XOR of the direction
// numbers over the set bits of index's Gray code.
__device__ __forceinline__ unsigned sobol_point(const unsigned* dirs, unsigned d, unsigned index) {
    unsigned g = index ^ (index >> 1);
    const unsigned* v = dirs + 32u * d;
    unsigned x = 0u;
    while (g != 0u) {
        if (g & 1u) {
            x ^= *v;
        }
        g >>= 1;
        v++;
    }
    return x;
}

__device__ __forceinline__ unsigned sobol_reverse(unsigned x) {
#ifdef __CUDA_ARCH__
    return __brev(x);
#else
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
    return (x >> 16) | (x << 16);
#endif
}

// Nested-uniform scrambling by hashing (sobol.rs's scramble).
__device__ __forceinline__ unsigned sobol_scramble(unsigned x, uint2 seed) {
    x = sobol_reverse(x);
    x += seed.x;
    x ^= x * 0x6c50b47cu;
    x *= seed.y | 1u;
    x ^= x * 0xb82f1e52u;
    x ^= x * 0xc7afe638u;
    x ^= x * 0x8d22f6e6u;
    return sobol_reverse(x);
}

// One path's walk through its bridge: the stack of points set and not yet
// reached (pos, w per factor; the bottom is no point, W = 0), W at the
// current step, and the next sweep node.
template <typename R> struct SobolPath {
    SobolTables tables;
    uint2 key, stream;
    unsigned replicate, index, k, next, top;
    R cur[2];
    unsigned pos[RP_SWEEP_DEPTH];
    R w[RP_SWEEP_DEPTH][2];

    // Point `index` of replicate `replicate` of the trade of stream
    // `stream` under the run's key, `k` normals a step, its bridge's
    // sweep from node `first`.
    __device__ __forceinline__ void start(SobolTables t, uint2 run_key, uint2 s, unsigned rep, unsigned i,
                                          unsigned normals, unsigned first) {
        tables = t;
        key = make_uint2(run_key.x ^ RP_SOBOL_KEY_LO, run_key.y ^ RP_SOBOL_KEY_HI);
        stream = s;
        replicate = rep;
        index = i;
        k = normals;
        next = first;
        top = 0u;
        cur[0] = cur[1] = R(0);
        pos[0] = 0xffffffffu;
        w[0][0] = w[0][1] = R(0);
    }

    // The normal of dimension d of the path's point: scrambled with the
    // seed of (key, stream, replicate, d) (sobol.rs's dimension_seed),
    // then the uniform of the word (math.cuh's uniform_of) and its quantile.
    __device__ __forceinline__ R normal(unsigned d) const {
        const uint4 s = philox4x32_10(make_uint4(d, replicate, stream.x, stream.y), key);
        return rp_inverse_normal(uniform_of<R>(sobol_scramble(sobol_point(tables.dirs, d, index), make_uint2(s.x, s.y))));
    }

    // Step s's increments W(s + 1) - W(s) into z[0 .. k]: the sweep's nodes
    // until the stack's top is W(s + 1) (each from W(s) and the top), then
    // that point popped.
    __device__ __forceinline__ void advance(unsigned s, R* z) {
        // The bound only guards a malformed table: a sweep never goes deeper.
        while (pos[top] != s + 1u && top + 1u < RP_SWEEP_DEPTH) {
            const unsigned e = tables.nodes[next];
            const R wl = (R)tables.coef[3 * next], wr = (R)tables.coef[3 * next + 1], sd = (R)tables.coef[3 * next + 2];
            next++;
            const unsigned rank = e & 0xffffu;
            R nw[2] = {R(0), R(0)};
            for (unsigned j = 0; j < k; j++) {
                nw[j] = wl * cur[j] + wr * w[top][j] + sd * normal(rank * k + j);
            }
            top++;
            pos[top] = e >> 16;
            w[top][0] = nw[0];
            w[top][1] = nw[1];
        }
        for (unsigned j = 0; j < k; j++) {
            z[j] = w[top][j] - cur[j];
            cur[j] = w[top][j];
        }
        top--;
    }

    // The normals of steps s .. s + 4 / k - 1 (those before `steps`) in
    // the places Philox's four would take: step s + i factor j at i k + j.
    __device__ __forceinline__ Normals4<R> normals4(unsigned s, unsigned steps) {
        Normals4<R> z;
        for (int i = 0; i < 4; i++) {
            z.v[i] = R(0);
        }
        for (unsigned i = 0; i < 4u / k; i++) {
            if (s + i < steps) {
                advance(s + i, z.v + i * k);
            }
        }
        return z;
    }
};
