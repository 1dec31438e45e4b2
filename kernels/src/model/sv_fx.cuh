// azfinsim's stochastic-vol FX model (kernels/src/model/sv_fx.rs; kernels/src/model/sv_fx.wgsl).
// Slots: (drift_dt, dt, half_dt, sqrt_dt, sigma0, vol_drift_dt, volvol_sqrt_dt, rho, rho_bar).
// aux is y = ln(sigma_t / sigma_0).

struct SvFx {
    static constexpr int NORMALS = 2;

    template <typename R> __device__ static R aux0(const R* m) {
        return R(0);
    }

    // rho_bar z0 - rho z1: the log-spot's noise independent of the vol's
    // driver, of which z0 holds rho_bar (sv_fx.rs x_noise).
    template <typename R> __device__ static void x_noise(const R* m, R z0, R z1, R& nz, R& c) {
        nz = m[8] * z0 - m[7] * z1;
        c = m[8];
    }

    template <typename R> __device__ static R step(const R* m, R& x, R& y, R z0, R z1) {
        y = y + (m[5] + m[6] * (m[7] * z0 + m[8] * z1));
        const R sigma = m[4] * rp_exp(y);
        const R var = sigma * sigma;
        x = x + ((m[0] - var * m[2]) + sigma * m[3] * z0);
        return var * m[1];
    }
};
