// Double knock-out with rebate, discrete or continuous (Brownian-bridge)
// monitoring (kernels/src/payoff/double_barrier.rs; kernels/src/payoff/double_barrier.wgsl).
// Slots: (spot, strike, log_lower, log_upper, rebate); flags PUT, CONTINUOUS.
// State: (survival weight, previous x).

struct DoubleBarrier {
    static constexpr bool OBSERVES = true;

    // A continuous barrier the spot starts at or through (a Greek's bump)
    // has knocked: the bridge weight means nothing from there.
    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        const bool through = x0 <= p[2] || x0 >= p[3];
        st[0] = (through && (flags & RP_CONTINUOUS)) ? R(0) : R(1);
        st[1] = x0;
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {
        const R l = p[2];
        const R u = p[3];
        const bool hit = x <= l || x >= u;
        R survive = st[0];
        if (flags & RP_CONTINUOUS) {
            const R dl = (st[1] - l) * (x - l);
            const R du = (st[1] - u) * (x - u);
            // Ends on both sides cross surely (double_barrier.rs): at most 1.
            const R pl = rp_min(rp_exp(R(-2) * dl / var_dt), R(1));
            const R pu = rp_min(rp_exp(R(-2) * du / var_dt), R(1));
            survive = st[0] * (R(1) - pl) * (R(1) - pu);
        }
        st[0] = hit ? R(0) : survive;
        st[1] = x;
    }

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const R payoff = vanilla(flags, p[0] * rp_exp(x), p[1]);
        const R alive = st[0];
        const R knocked = R(1) - alive;
        return payoff * alive + p[4] * knocked;
    }
};
