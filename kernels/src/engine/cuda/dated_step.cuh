// One underlying's step on a dated grid, shared by dated.cu and
// dated_multi.cu: the twin of the model arms of the walk in
// kernels/src/engine/cpu/dated.rs (same arithmetic, same order) and of
// dated_step in kernels/src/engine/wgpu/dated_step.wgsl. `c` is the curves'
// carry over the step; `a` black's variance, local volatility's ln(S0 / F)
// or Heston's dt; `w` the spot's normal and `zh` Heston's variance normal.
// Advances x (log-spot) and v (Heston's variance); returns the step's
// variance.

// What a model reads beyond the step's values: local volatility the step's
// row of vol x sqrt(dt) and its columns (k0, 1/dk); Heston (kappa, theta,
// xi, rho, sqrt(1 - rho^2)).
struct RpDatedModel {
    unsigned model;
    const double* row;
    double k0, inv_dk;
    const double* h;
};

__device__ __forceinline__ double rp_dated_step(const RpDatedModel& m, double& x, double& v, double c, double a,
                                                double w, double zh) {
    if (m.model == RP_M_BLACK) {
        const double sd = sqrt(a);
        x += c - 0.5 * a + sd * w;
        return a;
    }
    if (m.model == RP_M_LOCAL_VOL) {
        double u = (x + a - m.k0) * m.inv_dk;
        u = u < 0.0 ? 0.0 : (u > (double)(RP_NODES - 1) ? (double)(RP_NODES - 1) : u);
        unsigned col = u >= 0.0 ? (unsigned)u : 0u;
        col = col < RP_NODES - 2u ? col : RP_NODES - 2u;
        const double fr = u - (double)col;
        const double lo = m.row[col], hi = m.row[col + 1u];
        const double sd = lo + fr * (hi - lo);
        const double s2 = sd * sd;
        x += c - 0.5 * s2 + sd * w;
        return s2;
    }
    if (m.model == RP_M_HESTON) {
        const double vp = rp_max(v, 0.0);
        const double sd = sqrt(vp * a);
        x += c - 0.5 * vp * a + sd * w;
        v += m.h[0] * (m.h[1] - vp) * a + m.h[2] * sd * (m.h[3] * w + m.h[4] * zh);
        return vp * a;
    }
    return 0.0;
}
