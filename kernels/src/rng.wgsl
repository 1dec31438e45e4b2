// Philox4x32-10 and Box-Muller: the stream contract of kernels/src/rng.rs,
// word for word. WGSL has no 64-bit integers, so the 32x32->64 multiply is
// built from 16-bit halves.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (hi, lo) of the 64-bit product a * b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox_round(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(PHILOX_M0, ctr.x);
    let p1 = mulhilo(PHILOX_M1, ctr.z);
    return vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = philox_round(ctr, key);
    var k = key;
    for (var i = 0u; i < 9u; i++) {
        k = vec2<u32>(k.x + PHILOX_W0, k.y + PHILOX_W1);
        c = philox_round(c, k);
    }
    return c;
}

// The counter of normals 4*block .. 4*block+3 of a path of a stream.
fn counter(stream: vec2<u32>, path: u32, block: u32) -> vec4<u32> {
    return vec4<u32>(block, path, stream.x, stream.y);
}

// u = ((w >> 9) + 0.5) * 2^-23, exact, in (0, 1). Built from bits, as
// 1 + k 2^-23 less (1 - 2^-24): both exact, and so is their difference,
// the same bits as the CPU engine's add and multiply (kernels/src/math.cuh
// does the same).
fn uniform_of(w: u32) -> f32 {
    return bitcast<f32>((w >> 9u) | 0x3f800000u) - 0.99999994039535522461;
}

// Box-Muller's radius sqrt(-2 ln u), u in (0, 1) (kernels/src/rng.cuh's twin).
fn radius_of(u: f32) -> f32 {
    return sqrt(-2.0 * rp_ln(u));
}

// `sign` (+-1: the odd path of an antithetic pair negates its normals)
// goes on the radii, two multiplies instead of four; +-r c is -+(r c)
// exactly, so the normals are the same.
fn normals_from_words(w: vec4<u32>, sign: f32) -> vec4<f32> {
    let r0 = radius_of(uniform_of(w.x)) * sign;
    let a = rp_sincos_turns(uniform_of(w.y));
    let r1 = radius_of(uniform_of(w.z)) * sign;
    let b = rp_sincos_turns(uniform_of(w.w));
    return vec4<f32>(r0 * a.y, r0 * a.x, r1 * b.y, r1 * b.x);
}
