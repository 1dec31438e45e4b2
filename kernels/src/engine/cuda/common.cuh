// What every CUDA source shares beyond the prelude emitted from Rust
// (kernels/src/gpu/prelude.rs: the flag bits, the sizes, struct Trade):
// the vanilla payoff and the terminal payoffs' defaults.

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
