// Cash-or-nothing digital (kernels/src/payoff/digital.rs; shaders/digital.wgsl).
// Slots: (log_strike, cash).

struct Digital {
    static constexpr bool OBSERVES = false;

    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        st[0] = R(0);
        st[1] = R(0);
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {}

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const bool in_money = (flags & RP_PUT) ? x < p[0] : x > p[0];
        return in_money ? p[1] : R(0);
    }
};
