// Forward-mode derivatives for pathwise Greeks (kernels/src/tangent.rs;
// kernels/src/tangent.cuh): a D carries its value and its derivatives along
// the three directions delta, vega and rho. WGSL has no operators to
// overload, so the one-pass twins of the models' steps and payoffs' folds
// (model_step_d, payoff_*_d, beside each plain one) are written with
// these. Every rule is tangent.rs's: a branch takes the derivative of the
// side it takes, the value compared alone; at a tie, max and min take the
// mean of the two sides'; exp's derivative is 0 below -87 and sqrt's at 0.

struct D {
    v: f32,
    d: vec3<f32>,
}

// A constant: no derivatives.
fn dc(v: f32) -> D {
    return D(v, vec3<f32>(0.0));
}

fn d_add(a: D, b: D) -> D {
    return D(a.v + b.v, a.d + b.d);
}

fn d_sub(a: D, b: D) -> D {
    return D(a.v - b.v, a.d - b.d);
}

fn d_mul(a: D, b: D) -> D {
    return D(a.v * b.v, a.d * b.v + a.v * b.d);
}

fn d_div(a: D, b: D) -> D {
    let q = a.v / b.v;
    return D(q, (a.d - q * b.d) / b.v);
}

fn d_exp(a: D) -> D {
    let e = rp_exp(a.v);
    return D(e, select(vec3<f32>(0.0), a.d * e, a.v > -87.0));
}

fn d_sqrt(a: D) -> D {
    let s = sqrt(a.v);
    let pos = a.v > 0.0;
    let h = select(0.0, 0.5 / s, pos);
    return D(s, select(vec3<f32>(0.0), a.d * h, pos));
}

// a if pick_a, else b; where they are equal, their mean derivative.
fn d_tie_or(a: D, b: D, pick_a: bool) -> D {
    let tie = a.v == b.v;
    return D(select(b.v, a.v, pick_a), select(select(b.d, a.d, pick_a), 0.5 * (a.d + b.d), tie));
}

fn d_max(a: D, b: D) -> D {
    return d_tie_or(a, b, a.v > b.v);
}

fn d_min(a: D, b: D) -> D {
    return d_tie_or(a, b, a.v < b.v);
}

// The vanilla payoff through max (payoff/mod.rs's vanilla is a max).
fn d_vanilla(flags: u32, s: D, k: D) -> D {
    if ((flags & PUT) != 0u) {
        return d_max(d_sub(k, s), dc(0.0));
    }
    return d_max(d_sub(s, k), dc(0.0));
}

// v where x's value is finite, else NaN in the value and every derivative.
fn d_nan_unless_finite(v: D, x: D) -> D {
    if (rp_is_finite(x.v)) {
        return v;
    }
    let nan = rp_nan_unless_finite(v.v, x.v);
    return D(nan, vec3<f32>(nan));
}

// A model's constants (ModelConsts' twelve slots) as dual numbers.
struct DModel {
    c: array<D, 12>,
}

// A model step's result: the log-spot, the auxiliary variable, and the
// step's variance.
struct DStep {
    x: D,
    aux: D,
    var_dt: D,
}

// A payoff's fold state (the plain kernels' vec2).
struct DState {
    a: D,
    b: D,
}
