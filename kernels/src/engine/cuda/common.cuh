// What every CUDA source shares beyond the prelude emitted from Rust
// (kernels/src/gpu/prelude.rs: the flag bits, the sizes, struct Trade):
// which trade a block belongs to, the vanilla payoff and the terminal
// payoffs' defaults.

// The trade whose blocks hold global block g: the last t < n_trades with
// block_start[t] <= g (block_start[t] is trade t's first block), by
// bisection. Shared by kernel.cu and extension.cu; the twin of trade_of_block
// in kernels/src/engine/wgpu/common.wgsl.
__device__ __forceinline__ unsigned rp_trade_of_block(const unsigned* __restrict__ block_start, unsigned n_trades,
                                                      unsigned g) {
    unsigned lo = 0, hi = n_trades;
    while (hi - lo > 1u) {
        const unsigned mid = (lo + hi) / 2u;
        if (block_start[mid] <= g) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

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
