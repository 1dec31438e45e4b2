// riskpool's fused pricing kernel (the twin of kernels/src/engine/wgpu/kernel.wgsl and of
// kernels/src/engine/cpu/lanes.rs): generate, evolve every model family on
// the same normals, fold the payoff into each revaluation, never store a
// path; each thread prices RP_PATHS_PER_THREAD paths and sums its outputs
// in double, then a warp-shuffle and shared-memory reduction writes the
// block's (n, sums, sums of squares), merged on the host in path order.
//
// Assembled at load time (kernels/src/engine/cuda/source.rs): the prelude
// emitted from Rust (kernels/src/gpu/prelude.rs: the flag bits, the sizes,
// RP_BLOCK, struct Trade), common.cuh, math.cuh, rng.cuh, the model and
// payoff files, this file, then one extern "C" wrapper per model x payoff x
// precision.

#define RP_PATHS_PER_BLOCK (RP_BLOCK * RP_PATHS_PER_THREAD)
// The reduction's slots: n, then a sum and a sum of squares per output.
#define RP_SUMS (1 + 2 * RP_OUTPUTS)
static_assert(RP_SUMS < RP_PARTIAL, "a block's sums fit its partial");
// pick3 below chooses among the three families.
static_assert(RP_MAX_FAMILIES == 3, "pick3 covers every family");

template <typename R> __device__ __forceinline__ R pick3(int i, R a, R b, R c) {
    return i == 0 ? a : (i == 1 ? b : c);
}

// A block's (n, sums, sums of squares) into its partial: warp shuffles,
// then one warp over the warps' sums. Shared by the fused and one-pass
// kernels.
__device__ __forceinline__ void rp_block_sums(double* __restrict__ partials, unsigned b, unsigned n,
                                              const double* sum, const double* sum_sq) {
    double acc[RP_SUMS];
    acc[0] = (double)n;
#pragma unroll
    for (int q = 0; q < RP_OUTPUTS; q++) {
        acc[1 + q] = sum[q];
        acc[1 + RP_OUTPUTS + q] = sum_sq[q];
    }
#pragma unroll
    for (int i = 0; i < RP_SUMS; i++) {
#pragma unroll
        for (int off = 16; off > 0; off /= 2) {
            acc[i] += __shfl_down_sync(0xffffffffu, acc[i], off);
        }
    }
    __shared__ double warp_acc[RP_BLOCK / 32][RP_SUMS];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    if (lane == 0u) {
#pragma unroll
        for (int i = 0; i < RP_SUMS; i++) {
            warp_acc[warp][i] = acc[i];
        }
    }
    __syncthreads();
    if (threadIdx.x == 0u) {
        double* out = partials + (size_t)b * RP_PARTIAL;
#pragma unroll
        for (int i = 0; i < RP_SUMS; i++) {
            double t = 0.0;
#pragma unroll
            for (int w = 0; w < RP_BLOCK / 32; w++) {
                t += warp_acc[w][i];
            }
            out[i] = t;
        }
        for (int i = RP_SUMS; i < RP_PARTIAL; i++) {
            out[i] = 0.0;
        }
    }
}

// A path's outputs `o` into the thread's sums: antithetic pairs (neighbouring
// threads; an even path count keeps both live or both not) averaged first,
// counted once. Shared by the fused and one-pass kernels.
__device__ __forceinline__ void rp_add_path(double* o, bool anti, bool live, unsigned& n, double* sum,
                                            double* sum_sq) {
    if (anti) {
#pragma unroll
        for (int q = 0; q < RP_OUTPUTS; q++) {
            const double partner = __shfl_xor_sync(0xffffffffu, o[q], 1);
            o[q] = 0.5 * (o[q] + partner);
        }
        if (live && (threadIdx.x & 1u) == 0u) {
            n++;
#pragma unroll
            for (int q = 0; q < RP_OUTPUTS; q++) {
                sum[q] += o[q];
                sum_sq[q] += o[q] * o[q];
            }
        }
    } else if (live) {
        n++;
#pragma unroll
        for (int q = 0; q < RP_OUTPUTS; q++) {
            sum[q] += o[q];
            sum_sq[q] += o[q] * o[q];
        }
    }
}

// PV_ONLY: every trade of the launch has one model family and one fold
// (a price with no Greeks, as azfinsim's pvonly runs), known at compile
// time, so the loops over families and folds, and their per-step tests,
// compile away. The arithmetic is the same, so are the results.
// SOBOL: the kernel's trades may draw Sobol points (qmc.cuh); the Philox
// kernels compile without the bridge's stack, which lives in local memory.
template <class M, class P, typename R, bool PV_ONLY, bool SOBOL>
__device__ __forceinline__ void price_paths(const Trade<R>* __restrict__ trades, const unsigned* __restrict__ block_start,
                                            double* __restrict__ partials, SobolTables sobol_tables, uint2 key, unsigned first_block,
                                            unsigned n_blocks, unsigned n_trades) {
    const unsigned b = blockIdx.x;
    if (b >= n_blocks) {
        return;
    }
    // The trade this block of paths belongs to.
    const unsigned g = first_block + b;
    const unsigned lo = rp_trade_of_block(block_start, n_trades, g);
    const Trade<R>& tr = trades[lo];
    const unsigned steps = tr.head[0];
    const unsigned n_families = PV_ONLY ? 1u : tr.head[1];
    const unsigned n_folds = PV_ONLY ? 1u : tr.head[2];
    const unsigned flags = tr.head[3];
    const bool anti = (flags & RP_ANTITHETIC) != 0u;
    const unsigned n_paths = tr.ids[2];
    const uint2 stream = make_uint2(tr.ids[0], tr.ids[1]);
    const unsigned block = g - block_start[lo];
    // Sobol points (qmc.cuh): path p is point p of the trade's replicate.
    const bool sobol = SOBOL && (flags & RP_SOBOL) != 0u;
    SobolPath<R> qp;

    // Constants in registers: every index below is a compile-time constant.
    R m[RP_MAX_FAMILIES][RP_MODEL_CONSTS], fo[RP_MAX_FOLDS][RP_FOLD_CONSTS], pc[RP_PAYOFF_CONSTS];
#pragma unroll
    for (int f = 0; f < RP_MAX_FAMILIES; f++) {
#pragma unroll
        for (int i = 0; i < RP_MODEL_CONSTS; i++) {
            m[f][i] = tr.families[f][i];
        }
    }
#pragma unroll
    for (int k = 0; k < RP_MAX_FOLDS; k++) {
#pragma unroll
        for (int i = 0; i < RP_FOLD_CONSTS; i++) {
            fo[k][i] = tr.folds[k][i];
        }
    }
#pragma unroll
    for (int i = 0; i < RP_PAYOFF_CONSTS; i++) {
        pc[i] = tr.payoff[i];
    }

    double sum[RP_OUTPUTS] = {0, 0, 0, 0, 0}, sum_sq[RP_OUTPUTS] = {0, 0, 0, 0, 0};
    unsigned n = 0;
    for (int rep = 0; rep < RP_PATHS_PER_THREAD; rep++) {
        const unsigned path = block * RP_PATHS_PER_BLOCK + rep * RP_BLOCK + threadIdx.x;
        const bool live = path < n_paths;
        const unsigned path_ctr = anti ? path >> 1 : path;
        const R sign = (anti && (path & 1u)) ? R(-1) : R(1);
        if (sobol) {
            qp.start(sobol_tables, key, stream, tr.qmc[0], path, M::NORMALS, tr.qmc[1]);
        }

        R x[RP_MAX_FAMILIES], aux[RP_MAX_FAMILIES], var[RP_MAX_FAMILIES];
#pragma unroll
        for (int f = 0; f < RP_MAX_FAMILIES; f++) {
            x[f] = R(0);
            aux[f] = M::aux0(m[f]);
            var[f] = R(0);
        }
        R st[RP_MAX_FOLDS][2];
#pragma unroll
        for (int k = 0; k < RP_MAX_FOLDS; k++) {
            P::start(pc, flags, fo[k][1], st[k]);
        }

        // One Philox call feeds 4 / NORMALS steps.
        constexpr int PER_CALL = 4 / M::NORMALS;
        for (unsigned s0 = 0; s0 < steps; s0 += PER_CALL) {
            Normals4<R> z4 =
                sobol ? qp.normals4(s0, steps)
                      : normals_from_words<R>(philox4x32_10(counter(stream, path_ctr, s0 * M::NORMALS / 4u), key), sign);
#pragma unroll
            for (int jj = 0; jj < PER_CALL; jj++) {
                const unsigned s = s0 + jj;
                if (s < steps) {
                    const R z0 = z4.v[jj * M::NORMALS];
                    const R z1 = M::NORMALS == 2 ? z4.v[jj * M::NORMALS + 1] : R(0);
#pragma unroll
                    for (int f = 0; f < RP_MAX_FAMILIES; f++) {
                        if (f < (int)n_families) {
                            var[f] = M::step(m[f], x[f], aux[f], z0, z1);
                        }
                    }
                    if (P::OBSERVES) {
                        const R i = (R)(s + 1u);
#pragma unroll
                        for (int k = 0; k < RP_MAX_FOLDS; k++) {
                            if (k < (int)n_folds) {
                                const int fam = PV_ONLY ? 0 : (int)fo[k][0];
                                // PV_ONLY: the one fold is the base one, whose shift
                                // x0 + dx i has dx = 0 (GpuTrade::pv_only), so it is x0
                                // (but for the sign of a zero, which no payoff sees).
                                const R shift = PV_ONLY ? fo[k][1] : fo[k][1] + fo[k][2] * i;
                                P::observe(pc, flags, st[k], pick3(fam, x[0], x[1], x[2]) + shift,
                                           pick3(fam, var[0], var[1], var[2]));
                            }
                        }
                    }
                }
            }
        }

        // Discounted fold values, combined into the outputs in double.
        double o[RP_OUTPUTS] = {0, 0, 0, 0, 0};
        const R n_steps = (R)steps;
#pragma unroll
        for (int k = 0; k < RP_MAX_FOLDS; k++) {
            if (k < (int)n_folds) {
                const int fam = PV_ONLY ? 0 : (int)fo[k][0];
                const R xf = pick3(fam, x[0], x[1], x[2]) + (fo[k][1] + fo[k][2] * n_steps);
                // The variance too: one that overflowed is laundered to 0
                // by the step's max, leaving the log-spot finite.
                const double v = (double)rp_nan_unless_finite(
                    rp_nan_unless_finite(P::value(pc, flags, st[k], xf) * fo[k][3], xf), pick3(fam, aux[0], aux[1], aux[2]));
#pragma unroll
                for (int q = 0; q < RP_OUTPUTS; q++) {
                    // Only the folds an output uses (as the CPU's lanes.rs):
                    // a fold that is not finite spoils its own outputs alone.
                    const double c = (double)tr.coef[q][k];
                    o[q] += c != 0.0 ? c * v : 0.0;
                }
            }
        }
        rp_add_path(o, anti, live, n, sum, sum_sq);
    }

    rp_block_sums(partials, b, n, sum, sum_sq);
}

// Known answers: Philox words and float normals for given counters and keys.
extern "C" __global__ void rp_kat(const uint4* __restrict__ in, uint4* __restrict__ out, unsigned n) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) {
        return;
    }
    const uint4 w = philox4x32_10(in[2 * i], make_uint2(in[2 * i + 1].x, in[2 * i + 1].y));
    const Normals4<float> z = normals_from_words<float>(w);
    out[2 * i] = w;
    out[2 * i + 1] = make_uint4(__float_as_uint(z.v[0]), __float_as_uint(z.v[1]), __float_as_uint(z.v[2]),
                                __float_as_uint(z.v[3]));
}

#define RP_KERNEL_AS(M, P, R, PV_ONLY, SOBOL, NAME)                                                                       \
    extern "C" __global__ void __launch_bounds__(RP_BLOCK)                                                        \
        NAME(const Trade<R>* __restrict__ trades, const unsigned* __restrict__ block_start,                      \
             double* __restrict__ partials, const unsigned* __restrict__ sobol_dirs,                             \
             const unsigned* __restrict__ sweep_nodes, const double* __restrict__ sweep_coef, unsigned key_lo,    \
             unsigned key_hi, unsigned first_block, unsigned n_blocks, unsigned n_trades) {                       \
        price_paths<M, P, R, PV_ONLY, SOBOL>(trades, block_start, partials, SobolTables{sobol_dirs, sweep_nodes, sweep_coef}, \
                                      make_uint2(key_lo, key_hi), first_block, n_blocks, n_trades);              \
    }

// Each model x payoff x precision: the general kernel, NAME_pv for
// launches whose trades all have one family and one fold, and NAME_sobol
// for launches of trades on Sobol points.
#define RP_KERNEL(M, P, R, NAME)                                                                                  \
    RP_KERNEL_AS(M, P, R, false, false, NAME)                                                                     \
    RP_KERNEL_AS(M, P, R, true, false, NAME##_pv)                                                                 \
    RP_KERNEL_AS(M, P, R, false, true, NAME##_sobol)
