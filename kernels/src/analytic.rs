//! Closed forms the tests and benchmarks compare Monte Carlo against:
//! Black-Scholes with a continuous dividend yield and the normal
//! distribution, in f64. The normal distribution function comes from a
//! rational approximation of `erfc` (relative error below 1.2e-7), enough
//! for a reference several standard errors wide; riskpool's pricing never
//! uses it.

/// Complementary error function (Numerical Recipes' erfcc, |rel err| < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    // The polynomial in t, highest power first (Horner).
    const C: [f64; 10] = [
        0.17087277,
        -0.82215223,
        1.48851587,
        -1.13520398,
        0.27886807,
        -0.18628806,
        0.09678418,
        0.37409196,
        1.00002368,
        -1.26551223,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = C.iter().fold(0.0, |acc, c| acc * t + c);
    let ans = t * (-z * z + poly).exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// The standard normal distribution function.
pub fn ncdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal density.
pub fn npdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Black-Scholes with a continuous dividend yield; `call` or put.
pub fn black_scholes(call: bool, s: f64, k: f64, r: f64, q: f64, vol: f64, t: f64) -> f64 {
    let sd = vol * t.sqrt();
    let d1 = ((s / k).ln() + (r - q + 0.5 * vol * vol) * t) / sd;
    let d2 = d1 - sd;
    if call {
        s * (-q * t).exp() * ncdf(d1) - k * (-r * t).exp() * ncdf(d2)
    } else {
        k * (-r * t).exp() * ncdf(-d2) - s * (-q * t).exp() * ncdf(-d1)
    }
}

/// Black-Scholes' `d1`.
pub fn bs_d1(s: f64, k: f64, r: f64, q: f64, vol: f64, t: f64) -> f64 {
    ((s / k).ln() + (r - q + 0.5 * vol * vol) * t) / (vol * t.sqrt())
}
