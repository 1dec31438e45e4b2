// Philox4x32-10 and Box-Muller: the stream contract of kernels/src/rng.rs,
// word for word (kernels/src/rng.wgsl is the WGSL twin).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ uint4 philox_round(uint4 c, uint2 k) {
    const unsigned hi0 = __umulhi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
    const unsigned hi1 = __umulhi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
    return make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
}

__device__ __forceinline__ uint4 philox4x32_10(uint4 ctr, uint2 key) {
    uint4 c = philox_round(ctr, key);
    uint2 k = key;
#pragma unroll
    for (int i = 0; i < 9; i++) {
        k.x += PHILOX_W0;
        k.y += PHILOX_W1;
        c = philox_round(c, k);
    }
    return c;
}

// The counter of normals 4*block .. 4*block+3 of a path of a stream.
__device__ __forceinline__ uint4 counter(uint2 stream, unsigned path, unsigned block) {
    return make_uint4(block, path, stream.x, stream.y);
}

template <typename R> struct Normals4 {
    R v[4];
};

// Box-Muller's radius sqrt(-2 ln u), u in (0, 1) (kernels/src/rng.wgsl's twin).
template <typename R> __device__ __forceinline__ R radius_of(R u) {
    return sqrt(R(-2) * rp_ln(u));
}

#if RP_FAST_MATH
// The fast logarithm is off by up to about 2^-22 absolute, so for u within
// that of 1 it can give ln u >= 0: clamp at zero.
template <> __device__ __forceinline__ float radius_of<float>(float u) {
    return mufu_sqrt(fmaxf(-1.38629436111989061883f * mufu_lg2(u), 0.0f));  // -2 ln 2 log2 u
}
#endif

// Box-Muller on one Philox output: (w0, w1) -> (n0, n1), (w2, w3) -> (n2, n3).
// `sign` (+-1: the odd path of an antithetic pair negates its normals)
// goes on the radii, two multiplies instead of four; +-r c is -+(r c)
// exactly, so the normals are the same.
template <typename R> __device__ __forceinline__ Normals4<R> normals_from_words(uint4 w, R sign = R(1)) {
    const R r0 = radius_of<R>(uniform_of<R>(w.x)) * sign;
    R s0, c0, s1, c1;
    rp_sincos_turns(uniform_of<R>(w.y), &s0, &c0);
    const R r1 = radius_of<R>(uniform_of<R>(w.z)) * sign;
    rp_sincos_turns(uniform_of<R>(w.w), &s1, &c1);
    Normals4<R> n;
    n.v[0] = r0 * c0;
    n.v[1] = r0 * s0;
    n.v[2] = r1 * c1;
    n.v[3] = r1 * s1;
    return n;
}
