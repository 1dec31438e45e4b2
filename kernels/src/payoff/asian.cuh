// Asian on the average of S_1..S_N (kernels/src/payoff/asian.rs; kernels/src/payoff/asian.wgsl).
// Slots: (spot, strike, inv_steps); flags PUT, GEOMETRIC. State: (sum, -).

struct Asian {
    static constexpr bool OBSERVES = true;

    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        st[0] = R(0);
        st[1] = R(0);
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {
        st[0] = st[0] + ((flags & RP_GEOMETRIC) ? x : rp_exp(x));
    }

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const R mean = st[0] * p[2];
        const R avg = (flags & RP_GEOMETRIC) ? p[0] * rp_exp(mean) : p[0] * mean;
        return vanilla(flags, avg, p[1]);
    }
};
