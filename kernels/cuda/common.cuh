// What every CUDA source shares: the trade record and flag bits
// (kernels/src/portfolio.rs, kernels/src/payoff/mod.rs) and the vanilla payoff.

#define RP_PUT 1u
#define RP_GEOMETRIC 2u
#define RP_DOWN 4u
#define RP_KNOCK_IN 8u
#define RP_CONTINUOUS 16u
#define RP_FIXED_STRIKE 32u
#define RP_ANTITHETIC 65536u

// GpuTrade (float, 480 bytes) and GpuTrade64 (double, 928 bytes).
template <typename R> struct Trade {
    unsigned head[4];     // steps, n_families, n_folds, flags
    unsigned ids[4];      // stream lo, stream hi, paths lo, paths hi
    R families[3][12];    // model constants per family (base, vol up, vol down)
    R folds[7][4];        // family, x0, dx, discount
    R payoff[8];          // payoff constants
    R coef[5][8];         // outputs (pv, delta, gamma, vega, rho) x folds
};

template <typename R> __device__ __forceinline__ R vanilla(unsigned flags, R s, R k) {
    return (flags & RP_PUT) ? (k - s > R(0) ? k - s : R(0)) : (s - k > R(0) ? s - k : R(0));
}

// What a payoff that only reads the terminal spot inherits (the defaults of
// PathPayoff in kernels/src/payoff/mod.rs): no per-step fold.
struct TerminalPayoff {
    static constexpr bool OBSERVES = false;

    template <typename R> __device__ static void start(const R* p, unsigned flags, R x0, R* st) {
        st[0] = R(0);
        st[1] = R(0);
    }

    template <typename R> __device__ static void observe(const R* p, unsigned flags, R* st, R x, R var_dt) {}
};
