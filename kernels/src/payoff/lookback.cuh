// Lookback on the running min and max of S_0..S_N (kernels/src/payoff/lookback.rs;
// kernels/src/payoff/lookback.wgsl). Slots: (spot, strike); flags PUT, FIXED_STRIKE. State: (min x, max x).

struct Lookback {
    static constexpr bool OBSERVES = true;

    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        st[0] = x0;
        st[1] = x0;
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {
        st[0] = rp_min(st[0], x);
        st[1] = rp_max(st[1], x);
    }

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const bool put = (flags & RP_PUT) != 0u;
        if (flags & RP_FIXED_STRIKE) {
            return put ? vanilla(RP_PUT, p[0] * rp_exp(st[0]), p[1]) : vanilla(0u, p[0] * rp_exp(st[1]), p[1]);
        }
        return put ? p[0] * (rp_exp(st[1]) - rp_exp(x)) : p[0] * (rp_exp(x) - rp_exp(st[0]));
    }
};
