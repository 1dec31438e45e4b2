// riskpool's f32 special functions (kernels/src/real.rs): Cephes
// polynomials, the same coefficients, so every engine draws the same normals.

// The CPU rounds with the 1.5 * 2^23 trick; here round() (ties to even, the
// same result), because GPU compilers may fold (t + c) - c back to t.

// v where the path state x is finite, else NaN (real.rs nan_unless_finite):
// tested on the exponent bits, as WGSL may assume no NaN or infinity in
// arithmetic.
fn rp_nan_unless_finite(v: f32, x: f32) -> f32 {
    return select(bitcast<f32>(0x7fc00000u), v, rp_is_finite(x));
}

fn rp_is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn rp_exp(v: f32) -> f32 {
    let x = min(max(v, -87.0), 88.0);
    let n = round(x * 1.442695041);
    let ni = i32(n);
    let r = x - n * 0.693359375 + n * 2.12194440e-4;
    let z = r * r;
    let p = (((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r
        + 4.1665795894e-2) * r + 1.6666665459e-1) * r + 5.0000001201e-1) * z + r + 1.0;
    return p * bitcast<f32>(u32(ni + 127) << 23u);
}

fn rp_ln(v: f32) -> f32 {
    let bits = bitcast<u32>(v);
    var e = i32((bits >> 23u) & 0xffu) - 126;
    var m = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
    let small = m < 0.70710678118654752440;
    e = e - select(0, 1, small);
    m = select(m - 1.0, m + m - 1.0, small);
    let z = m * m;
    let p = ((((((((7.0376836292e-2 * m - 1.1514610310e-1) * m + 1.1676998740e-1) * m
        - 1.2420140846e-1) * m + 1.4249322787e-1) * m - 1.6668057665e-1) * m
        + 2.0000714765e-1) * m - 2.4999993993e-1) * m + 3.3333331174e-1) * m * z;
    let fe = f32(e);
    let y = p + fe * -2.12194440e-4 + -0.5 * z;
    return m + y + fe * 0.693359375;
}

// (sin 2 pi u, cos 2 pi u) for u in [0, 1).
fn rp_sincos_turns(u: f32) -> vec2<f32> {
    let t = u * 4.0;
    let qf = round(t);
    let q = u32(qf);
    let f = t - qf;
    let a = f * 1.57079632679489661923;
    let z = a * a;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * a + a;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z
        - 0.5 * z + 1.0;
    let swap = (q & 1u) != 0u;
    let sr = select(s, c, swap);
    let cr = select(c, s, swap);
    let sin_sign = (q & 2u) << 30u;
    let cos_sign = ((q + 1u) & 2u) << 30u;
    return vec2<f32>(bitcast<f32>(bitcast<u32>(sr) ^ sin_sign), bitcast<f32>(bitcast<u32>(cr) ^ cos_sign));
}

// The normal quantile sqrt(2) erfinv(2u - 1) of u in (0, 1): Giles's
// single-precision erfinv, both polynomials evaluated and one selected,
// coefficient for coefficient kernels/src/real.rs's inverse_normal_poly.
fn rp_inverse_normal(u: f32) -> f32 {
    let x = 2.0 * u - 1.0;
    let w = -rp_ln((1.0 - x) * (1.0 + x));
    let a = w - 2.5;
    var p = 2.81022636e-08;
    p = 3.43273939e-07 + p * a;
    p = -3.5233877e-06 + p * a;
    p = -4.39150654e-06 + p * a;
    p = 0.00021858087 + p * a;
    p = -0.00125372503 + p * a;
    p = -0.00417768164 + p * a;
    p = 0.246640727 + p * a;
    p = 1.50140941 + p * a;
    let b = sqrt(w) - 3.0;
    var q = -0.000200214257;
    q = 0.000100950558 + q * b;
    q = 0.00134934322 + q * b;
    q = -0.00367342844 + q * b;
    q = 0.00573950773 + q * b;
    q = -0.0076224613 + q * b;
    q = 0.00943887047 + q * b;
    q = 1.00167406 + q * b;
    q = 2.83297682 + q * b;
    return select(q, p, w < 5.0) * x * 1.4142135623730951;
}
