// European call or put (kernels/src/payoff/european.rs; shaders/european.wgsl).
// Slots: (spot, strike).

struct European {
    static constexpr bool OBSERVES = false;

    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        st[0] = R(0);
        st[1] = R(0);
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {}

    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        return vanilla(flags, p[0] * rp_exp(x), p[1]);
    }
};
