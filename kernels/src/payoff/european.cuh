// European call or put (kernels/src/payoff/european.rs; kernels/src/payoff/european.wgsl).
// Slots: (spot, strike).

struct European : TerminalPayoff {
    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        return vanilla(flags, p[0] * rp_exp(x), p[1]);
    }
};
