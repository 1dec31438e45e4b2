// Heston, full-truncation Euler in log space (kernels/src/model/heston.rs;
// kernels/src/model/heston.wgsl). Slots: (carry_dt, dt, half_dt, kappa_dt, theta, xi, rho, rho_bar, v0).

struct Heston {
    static constexpr int NORMALS = 2;

    template <typename R> __device__ static R aux0(const R* m) {
        return m[8];
    }

    // rho_bar z0 - rho z1: the log-spot's noise independent of the
    // variance's driver, of which z0 holds rho_bar (heston.rs x_noise).
    template <typename R> __device__ static void x_noise(const R* m, R z0, R z1, R& nz, R& c) {
        nz = m[7] * z0 - m[6] * z1;
        c = m[7];
    }

    template <typename R> __device__ static R step(const R* m, R& x, R& v, R z0, R z1) {
        const R vp = rp_max(v, R(0));
        const R sd = sqrt(vp * m[1]);
        x = x + (m[0] - vp * m[2] + sd * z0);
        v = v + (m[3] * (m[4] - vp) + m[5] * sd * (m[6] * z0 + m[7] * z1));
        return vp * m[1];
    }
};
