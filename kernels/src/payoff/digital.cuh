// Cash-or-nothing digital (kernels/src/payoff/digital.rs; kernels/src/payoff/digital.wgsl).
// Slots: (log_strike, cash).

struct Digital : TerminalPayoff {
    template <typename R> __device__ static R value(const R* p, unsigned flags, const R* st, R x) {
        const bool in_money = (flags & RP_PUT) ? x < p[0] : x > p[0];
        return in_money ? p[1] : R(0);
    }
};
