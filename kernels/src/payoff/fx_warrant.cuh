// azfinsim's knock-out FX warrant (kernels/src/payoff/fx_warrant.rs; kernels/src/payoff/fx_warrant.wgsl).
// Slots: (spot, inv_strike, log_strike, amount). State: (1 while alive, -).

struct FxWarrant {
    static constexpr bool OBSERVES = true;

    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        st[0] = x0 < p[2] ? R(0) : R(1);
        st[1] = R(0);
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {
        st[0] = x < p[2] ? R(0) : st[0];
    }

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const R s = p[0] * rp_exp(x);
        const R intrinsic = rp_max(s * p[1] - R(1), R(0));
        return st[0] * p[3] * intrinsic / s;
    }
};
