// Geometric Brownian motion (kernels/src/model/gbm.rs; kernels/src/model/gbm.wgsl).
// Slots: (drift_dt, vol_sqrt_dt, var_dt).

struct Gbm {
    static constexpr int NORMALS = 1;

    template <typename R> __device__ static R aux0(const R* m) {
        return R(0);
    }

    // Advances x and aux; returns the step's log-variance.
    template <typename R> __device__ static R step(const R* m, R& x, R& aux, R z0, R z1) {
        x = x + (m[0] + m[1] * z0);
        return m[2];
    }
};
