// Geometric Brownian motion (kernels/src/model/gbm.rs; kernels/src/model/gbm.wgsl).
// Slots: (drift_dt, vol_sqrt_dt, var_dt).

struct Gbm {
    static constexpr int NORMALS = 1;

    template <typename R> __device__ static R aux0(const R* m) {
        return R(0);
    }

    // The normal that drives the log-spot given aux's own driver, and the
    // factor c making c sqrt(var_dt) the log-step's deviation (the
    // likelihood-ratio scores, model/mod.rs x_noise).
    template <typename R> __device__ static void x_noise(const R* m, R z0, R z1, R& nz, R& c) {
        nz = z0;
        c = R(1);
    }

    // Advances x and aux; returns the step's log-variance.
    template <typename R> __device__ static R step(const R* m, R& x, R& aux, R z0, R z1) {
        x = x + (m[0] + m[1] * z0);
        return m[2];
    }
};
