// What the pricing kernel (kernel.wgsl), the early-exercise kernel
// (extension.wgsl) and the dated kernel (dated.wgsl) share: which trade a
// workgroup's block belongs to (the twin of rp_trade_of_block in
// kernels/src/engine/cuda/common.cuh; each kernel declares block_start,
// binding 1: block_start[t] is trade t's first block), the payoffs'
// constants as the payoff files read them, and the vanilla payoff.

// The trade whose blocks hold global block g: the last t < n_trades with
// block_start[t] <= g, by bisection.
fn trade_of_block(g: u32, n_trades: u32) -> u32 {
    var lo = 0u;
    var hi = n_trades;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (block_start[mid] <= g) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// A payoff's constants (PayoffStep::gpu_consts) and flag bits.
struct PayoffConsts {
    a: vec4<f32>,
    b: vec4<f32>,
    flags: u32,
}

fn vanilla(flags: u32, s: f32, k: f32) -> f32 {
    if ((flags & PUT) != 0u) {
        return max(k - s, 0.0);
    }
    return max(s - k, 0.0);
}
