// What the pricing kernel (kernel.wgsl) and the early-exercise kernel
// (extension.wgsl) share: which trade a workgroup's block belongs to. The twin
// of rp_trade_of_block in kernels/src/engine/cuda/common.cuh. Each kernel
// declares block_start (binding 1): block_start[t] is trade t's first block.

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
