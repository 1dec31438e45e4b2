// Dated trades on one underlying (the twin of kernels/src/engine/cpu/dated.rs's
// walk and OneValue; kernels/src/engine/wgpu/dated.wgsl), in double whatever
// --precision says, as the CPU pricer. Each thread prices RP_PATHS_PER_THREAD
// samples (a path, or an antithetic pair) of its block: it draws the path's
// normals step by step and steps every family of its record (the trade on
// one market: a Greek's bump, a scenario's move) on them over the trade's
// own grid: the curves' carry, black's per-step variance, the
// local-volatility row of the step looked up at the family's log-moneyness,
// or Heston; cash dividends off the spot; the payoff observing its dated
// fixings (a continuous barrier's bridge runs to the spot before a
// dividend). The record's outputs are combinations of the families' values.
// No path is stored; the block writes (n, sums, sums of squares) in the
// extension kernels' partial layout, merged on the host in path order
// (kernels/src/gpu/dated.rs lays the records out). Same arithmetic, in the
// same order, as the CPU pricer: built for the CPU without contraction, the
// same bits per path.

// A thread's sums: n, then each output's sum and sum of squares.
#define RP_DATED_SUMS (1 + 2 * RP_DATED_OUTPUTS)

// Normal j of four, by selects: a register, never an indexed array.
__device__ __forceinline__ double rp_pick4(const Normals4<double>& z, unsigned j) {
    return j == 0u ? z.v[0] : (j == 1u ? z.v[1] : (j == 2u ? z.v[2] : z.v[3]));
}

// One path (`draw` of the trade's stream, normals times `sign`): the
// record's outputs.
template <class P>
__device__ __forceinline__ void rp_dated_path(const DatedTrade<double>& tr, const double* __restrict__ values, uint2 key,
                                           unsigned draw, double sign, double* out) {
    const unsigned steps = tr.head[0], nf = tr.head[1], k = tr.head[6], n_out = tr.head[7];
    const uint2 stream = make_uint2(tr.head[4], tr.head[5]);
    double x[RP_DATED_FAMILIES], v[RP_DATED_FAMILIES], st[RP_DATED_FAMILIES][2];
    bool ok[RP_DATED_FAMILIES];
    // The family loops unroll to the record's bound, so the per-family
    // state stays in registers.
#pragma unroll
    for (unsigned f = 0; f < RP_DATED_FAMILIES; f++) {
        if (f >= nf) {
            break;
        }
        const double* fv = tr.vals + f * RP_FAMILY_VALS;
        x[f] = 0.0;
        v[f] = fv[RP_F_HESTON];
        P::start(fv, tr.head[RP_DATED_HEAD + f * RP_FAMILY_INTS + 1], 0.0, st[f]);
        ok[f] = true;
    }
    Normals4<double> z4;
    for (unsigned s = 0; s < steps; s++) {
        const unsigned d = s * k;
        if (d % 4u == 0u) {
            z4 = normals_from_words<double>(philox4x32_10(counter(stream, draw, d / 4u), key), sign);
        }
        const unsigned j = d % 4u;
        const double z0 = rp_pick4(z4, j);
        const double z1 = rp_pick4(z4, j + 1u < 4u ? j + 1u : 3u);
#pragma unroll
        for (unsigned f = 0; f < RP_DATED_FAMILIES; f++) {
            if (f >= nf) {
                break;
            }
            const unsigned* fi = tr.head + RP_DATED_HEAD + f * RP_FAMILY_INTS;
            const double* fv = tr.vals + f * RP_FAMILY_VALS;
            const unsigned how = fi[2];
            if (how & RP_D_REBATE) {
                continue;
            }
            const double* sv = values + fi[4] + (size_t)s * RP_STEP_VALS;
            const double c = sv[0], a = sv[1], q = sv[2];
            const unsigned sf = (unsigned)sv[3];
            double xf = x[f];
            const RpDatedModel m = {fi[0], values + fi[5] + (size_t)s * RP_NODES, fv[RP_F_K0], fv[RP_F_INV_DK],
                                    fv + RP_F_HESTON + 1};
            const double var_dt = rp_dated_step(m, xf, v[f], c, a, z0, z1);
            const double pre = xf;
            if (sf & RP_S_DIVIDEND) {
                const double e = rp_exp(xf) - q;
                xf = e > 0.0 ? rp_ln(e) : __longlong_as_double((long long)0xfff0000000000000ull);
            }
            // A spot floored at zero is -inf, and stays there; NaN, +inf or
            // a variance that is not finite break the path.
            if (xf != xf || xf > 1.7976931348623157e308 || !rp_is_finite(v[f]) || var_dt != var_dt) {
                ok[f] = false;
            }
            if (P::OBSERVES && (sf & RP_S_OBSERVE) && !(how & RP_D_EUROPEAN)) {
                if ((how & RP_D_BRIDGE) && (sf & RP_S_DIVIDEND)) {
                    // The bridge to the spot before the dividend, then the
                    // spot after it checked alone (a bridge over no time).
                    P::observe(fv, fi[1], st[f], pre, var_dt);
                    P::observe(fv, fi[1], st[f], rp_max(xf, -1.7976931348623157e308), 2.2250738585072014e-308);
                } else {
                    P::observe(fv, fi[1], st[f], xf, var_dt);
                }
            }
            x[f] = xf;
        }
    }
    double value[RP_DATED_FAMILIES];
#pragma unroll
    for (unsigned f = 0; f < RP_DATED_FAMILIES; f++) {
        if (f >= nf) {
            value[f] = 0.0;
            continue;
        }
        const unsigned* fi = tr.head + RP_DATED_HEAD + f * RP_FAMILY_INTS;
        const double* fv = tr.vals + f * RP_FAMILY_VALS;
        if (fi[2] & RP_D_REBATE) {
            value[f] = fv[RP_F_REBATE];
        } else if (!ok[f]) {
            value[f] = __longlong_as_double(0x7ff8000000000000ll);
        } else if (fi[2] & RP_D_EUROPEAN) {
            value[f] = European::value(fv, fi[1], st[f], x[f]) * fv[RP_F_DISCOUNT];
        } else {
            value[f] = P::value(fv, fi[1], st[f], x[f]) * fv[RP_F_DISCOUNT];
        }
    }
#pragma unroll
    for (unsigned o = 0; o < RP_DATED_OUTPUTS; o++) {
        // Only the families an output uses: a family that is not finite
        // spoils its own outputs alone.
        double acc = o < n_out ? -0.0 : 0.0;
#pragma unroll
        for (unsigned f = 0; f < RP_DATED_FAMILIES; f++) {
            const double cf = tr.vals[RP_DATED_COEF + o * RP_DATED_FAMILIES + f];
            if (o < n_out && f < nf && cf != 0.0) {
                acc += cf * value[f];
            }
        }
        out[o] = acc;
    }
}

template <class P>
__device__ __forceinline__ void rp_price_dated(const DatedTrade<double>* __restrict__ trades,
                                            const unsigned* __restrict__ block_start,
                                            const double* __restrict__ values, double* __restrict__ partials,
                                            uint2 key, unsigned first_block, unsigned n_blocks, unsigned n_trades) {
    const unsigned b = blockIdx.x;
    if (b >= n_blocks) {
        return;
    }
    // The record this block of samples belongs to.
    const unsigned g = first_block + b;
    const unsigned lo = rp_trade_of_block(block_start, n_trades, g);
    const DatedTrade<double>& tr = trades[lo];
    const bool anti = (tr.head[2] & RP_D_ANTITHETIC) != 0u;
    const unsigned samples = tr.head[3];
    const unsigned block = g - block_start[lo];

    double acc[RP_DATED_SUMS];
    for (int i = 0; i < RP_DATED_SUMS; i++) {
        acc[i] = 0.0;
    }
    for (int rep = 0; rep < RP_PATHS_PER_THREAD; rep++) {
        const unsigned s = block * RP_PATHS_PER_BLOCK + rep * RP_BLOCK + threadIdx.x;
        if (s >= samples) {
            continue;
        }
        double a[RP_DATED_OUTPUTS];
        rp_dated_path<P>(tr, values, key, s, 1.0, a);
        if (anti) {
            double o[RP_DATED_OUTPUTS];
            rp_dated_path<P>(tr, values, key, s, -1.0, o);
            for (int q = 0; q < RP_DATED_OUTPUTS; q++) {
                a[q] = 0.5 * (a[q] + o[q]);
            }
        }
        acc[0] += 1.0;
        for (int q = 0; q < RP_DATED_OUTPUTS; q++) {
            acc[1 + q] += a[q];
            acc[1 + RP_DATED_OUTPUTS + q] += a[q] * a[q];
        }
    }

    // Block reduction: warp shuffles, then one thread over the warps' sums.
    for (int i = 0; i < RP_DATED_SUMS; i++) {
        for (int off = 16; off > 0; off /= 2) {
            acc[i] += __shfl_down_sync(0xffffffffu, acc[i], off);
        }
    }
    __shared__ double warp_acc[RP_BLOCK / 32][RP_DATED_SUMS];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    if (lane == 0u) {
        for (int i = 0; i < RP_DATED_SUMS; i++) {
            warp_acc[warp][i] = acc[i];
        }
    }
    __syncthreads();
    if (threadIdx.x == 0u) {
        // The extension kernels' layout: n, sums, sums of squares (of
        // RP_EXTENSION_OUTPUTS outputs, the first RP_DATED_OUTPUTS used).
        double* out = partials + (size_t)b * RP_EXTENSION_PARTIAL;
        for (int i = 0; i < RP_EXTENSION_PARTIAL; i++) {
            out[i] = 0.0;
        }
        for (int i = 0; i < RP_DATED_SUMS; i++) {
            double t = 0.0;
            for (int w = 0; w < RP_BLOCK / 32; w++) {
                t += warp_acc[w][i];
            }
            const int q = i - 1;
            out[i == 0 ? 0 : (q < RP_DATED_OUTPUTS ? 1 + q : 1 + RP_EXTENSION_OUTPUTS + q - RP_DATED_OUTPUTS)] = t;
        }
    }
}

// The extension kernels' signature (the exercise-date table unused), so
// the engines launch both alike.
#define RP_DATED_KERNEL(P, NAME)                                                                                     \
    extern "C" __global__ void __launch_bounds__(RP_BLOCK)                                                        \
        NAME(const DatedTrade<double>* __restrict__ trades, const unsigned* __restrict__ block_start,               \
             const unsigned* __restrict__ dates, const double* __restrict__ values, double* __restrict__ partials, \
             unsigned key_lo, unsigned key_hi, unsigned first_block, unsigned n_blocks, unsigned n_trades) {      \
        rp_price_dated<P>(trades, block_start, values, partials, make_uint2(key_lo, key_hi), first_block, n_blocks, \
                          n_trades);                                                                              \
    }
