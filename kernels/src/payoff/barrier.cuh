// Single barrier with rebate, discrete or continuous (Brownian-bridge)
// monitoring (kernels/src/payoff/barrier.rs; kernels/src/payoff/barrier.wgsl).
// Slots: (spot, strike, log_barrier, rebate); flags PUT, DOWN, KNOCK_IN, CONTINUOUS.
// State: (survival weight, previous x).

struct Barrier {
    static constexpr bool OBSERVES = true;

    // A continuous barrier the spot starts at or through (a Greek's bump)
    // has knocked: the bridge weight means nothing from there.
    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        const R b = p[2];
        const bool through = (flags & RP_DOWN) ? x0 <= b : x0 >= b;
        st[0] = (through && (flags & RP_CONTINUOUS)) ? R(0) : R(1);
        st[1] = x0;
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {
        const R b = p[2];
        const bool hit = (flags & RP_DOWN) ? x <= b : x >= b;
        R survive = st[0];
        if (flags & RP_CONTINUOUS) {
            const R d = (st[1] - b) * (x - b);
            // Ends on both sides cross surely (barrier.rs): at most 1.
            const R q = rp_min(rp_exp(R(-2) * d / var_dt), R(1));
            survive = st[0] * (R(1) - q);
        }
        st[0] = hit ? R(0) : survive;
        st[1] = x;
    }

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const R payoff = vanilla(flags, p[0] * rp_exp(x), p[1]);
        const R alive = st[0];
        const R knocked = R(1) - alive;
        if (flags & RP_KNOCK_IN) {
            return payoff * knocked + p[3] * alive;
        }
        return payoff * alive + p[3] * knocked;
    }
};
