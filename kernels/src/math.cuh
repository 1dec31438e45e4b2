// riskpool's special functions (kernels/src/real.rs; kernels/src/math.wgsl):
// in float the same Cephes polynomials as the CPU and WGSL engines; in
// double the CUDA math library, as the CPU engine uses libm.
//
// RP_FAST_MATH (the CUDA engine's --fast-math, a module of its own): in
// float, the chip's special-function unit (MUFU: ex2, lg2, sin, cos,
// sqrt) instead of the polynomials. Its results are a few ulp off the
// polynomials', so the normals are the same to about 1e-6, not bit for
// bit; a W1 path-step takes 58 instructions on Hopper instead of 128.5.
#ifndef RP_FAST_MATH
#define RP_FAST_MATH 0
#endif

#if RP_FAST_MATH
// The special-function unit's instructions, flushing subnormals to zero,
// which spares the scaling around each: no input the kernels give them is
// subnormal (uniforms are at least 2^-24, exponents at least -87 log2 e).
__device__ __forceinline__ float mufu_lg2(float x) {
    float r;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ float mufu_ex2(float x) {
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ float mufu_sqrt(float x) {
    float r;
    asm("sqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}
#endif

template <typename R> __device__ R uniform_of(unsigned w);

// u = ((w >> 9) + 0.5) * 2^-23: exact in float, in (0, 1). Built from
// bits, as 1 + k 2^-23 less (1 - 2^-24): both exact, and so is their
// difference, (k + 0.5) 2^-23, the same bits as the other engines' add
// and multiply in two instructions instead of four.
template <> __device__ __forceinline__ float uniform_of<float>(unsigned w) {
    return __uint_as_float((w >> 9) | 0x3f800000u) - 0.99999994039535522461f;
}

// u = (w + 0.5) * 2^-32.
template <> __device__ __forceinline__ double uniform_of<double>(unsigned w) {
    return ((double)w + 0.5) * (1.0 / 4294967296.0);
}

__device__ __forceinline__ float rp_exp(float v) {
    const float x = fminf(fmaxf(v, -87.0f), 88.0f);
#if RP_FAST_MATH
    return mufu_ex2(x * 1.44269504088896340736f);
#endif
    // rintf rounds ties to even, as the CPU's 1.5 * 2^23 trick does.
    const float n = rintf(x * 1.442695041f);
    const int ni = (int)n;
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    const float z = r * r;
    const float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r
        + 4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * z + r + 1.0f;
    return p * __int_as_float((ni + 127) << 23);
}

__device__ __forceinline__ double rp_exp(double x) {
    return exp(x);
}

__device__ __forceinline__ float rp_ln(float v) {
#if RP_FAST_MATH
    return mufu_lg2(v) * 0.69314718055994530942f;
#endif
    const unsigned bits = __float_as_uint(v);
    int e = (int)((bits >> 23) & 0xffu) - 126;
    float m = __uint_as_float((bits & 0x007fffffu) | 0x3f000000u);
    const bool small = m < 0.70710678118654752440f;
    e -= small ? 1 : 0;
    m = small ? m + m - 1.0f : m - 1.0f;
    const float z = m * m;
    const float p = ((((((((7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m
        - 1.2420140846e-1f) * m + 1.4249322787e-1f) * m - 1.6668057665e-1f) * m
        + 2.0000714765e-1f) * m - 2.4999993993e-1f) * m + 3.3333331174e-1f) * m * z;
    const float fe = (float)e;
    const float y = p + fe * -2.12194440e-4f + -0.5f * z;
    return m + y + fe * 0.693359375f;
}

__device__ __forceinline__ double rp_ln(double x) {
    return log(x);
}

// (sin 2 pi u, cos 2 pi u) for u in [0, 1).
__device__ __forceinline__ void rp_sincos_turns(float u, float* s_out, float* c_out) {
#if RP_FAST_MATH
    __sincosf(6.28318530717958647692f * u, s_out, c_out);
    return;
#endif
    const float t = u * 4.0f;
    const float qf = rintf(t);
    const unsigned q = (unsigned)qf;
    const float f = t - qf;
    const float a = f * 1.57079632679489661923f;
    const float z = a * a;
    const float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * a + a;
    const float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z
        - 0.5f * z + 1.0f;
    const bool swap = (q & 1u) != 0u;
    const float sr = swap ? c : s;
    const float cr = swap ? s : c;
    *s_out = __uint_as_float(__float_as_uint(sr) ^ ((q & 2u) << 30));
    *c_out = __uint_as_float(__float_as_uint(cr) ^ (((q + 1u) & 2u) << 30));
}

__device__ __forceinline__ void rp_sincos_turns(double u, double* s_out, double* c_out) {
    sincospi(2.0 * u, s_out, c_out);
}

// v where the path state x is finite, else NaN (real.rs nan_unless_finite):
// tested on the exponent bits, which fast math does not assume away.
__device__ __forceinline__ bool rp_is_finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

__device__ __forceinline__ bool rp_is_finite(double x) {
    return ((unsigned long long)__double_as_longlong(x) & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
}

__device__ __forceinline__ float rp_nan_unless_finite(float v, float x) {
    return rp_is_finite(x) ? v : __uint_as_float(0x7fc00000u);
}

__device__ __forceinline__ double rp_nan_unless_finite(double v, double x) {
    return rp_is_finite(x) ? v : __longlong_as_double(0x7ff8000000000000ll);
}

template <typename R> __device__ __forceinline__ R rp_max(R a, R b) {
    return a > b ? a : b;
}

template <typename R> __device__ __forceinline__ R rp_min(R a, R b) {
    return a < b ? a : b;
}

// The normal quantile sqrt(2) erfinv(2u - 1) of u in (0, 1): Giles's
// single-precision erfinv, both polynomials evaluated and one selected,
// coefficient for coefficient kernels/src/real.rs's inverse_normal_poly
// (each a double rounded to R, as the Rust's from_f64).
template <typename R> __device__ __forceinline__ R rp_inverse_normal_poly(R u) {
    const R x = R(2.0) * u - R(1.0);
    const R w = -rp_ln((R(1.0) - x) * (R(1.0) + x));
    const R a = w - R(2.5);
    R p = R(2.81022636e-08);
    p = R(3.43273939e-07) + p * a;
    p = R(-3.5233877e-06) + p * a;
    p = R(-4.39150654e-06) + p * a;
    p = R(0.00021858087) + p * a;
    p = R(-0.00125372503) + p * a;
    p = R(-0.00417768164) + p * a;
    p = R(0.246640727) + p * a;
    p = R(1.50140941) + p * a;
    const R b = sqrt(w) - R(3.0);
    R q = R(-0.000200214257);
    q = R(0.000100950558) + q * b;
    q = R(0.00134934322) + q * b;
    q = R(-0.00367342844) + q * b;
    q = R(0.00573950773) + q * b;
    q = R(-0.0076224613) + q * b;
    q = R(0.00943887047) + q * b;
    q = R(1.00167406) + q * b;
    q = R(2.83297682) + q * b;
    return (w < R(5.0) ? p : q) * x * R(1.4142135623730951);
}

__device__ __forceinline__ float rp_inverse_normal(float u) {
    return rp_inverse_normal_poly<float>(u);
}

// In double, the polynomial refined by two Halley steps on the lower half
// with the math library's erfc (real.rs's f64 inverse_normal).
__device__ __forceinline__ double rp_inverse_normal(double u) {
    const bool upper = u > 0.5;
    const double q = upper ? 1.0 - u : u;
    double x = rp_inverse_normal_poly<double>(q);
    for (int i = 0; i < 2; i++) {
        const double e = 0.5 * erfc(-x * 0.7071067811865476) - q;
        const double t = e * (sqrt(6.283185307179586) * exp(0.5 * x * x));
        x = x - t / (1.0 + 0.5 * x * t);
    }
    return upper ? -x : x;
}
