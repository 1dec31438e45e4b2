// riskpool's one-pass kernel (the twin of kernels/src/engine/wgpu/one_pass.wgsl
// and of kernels/src/engine/cpu/lanes.rs on dual numbers): kernel.cu's
// walk with every path state a Dual (tangent.cuh), so each path carries its
// derivatives in spot, vol and rate beside its value, seeded by the record's
// one-pass section (kernels/src/gpu/one_pass.rs): the base family's
// constants along vega, each fold's x0, dx and discount along all three.
// The base path also sums the likelihood-ratio scores where an output asks
// for a weight. Each output is sum coef * value + sum tcoef * tangent +
// weight(scores) * value of the base fold; the block reduction is kernel.cu's.

// An output's likelihood-ratio weight of a path with scores (first,
// curvature, rate), in double as the CPU's (greeks.rs LrWeight::weight);
// c = [scale, spot, t, vol].
__device__ __forceinline__ double rp_lr_weight(unsigned kind, const double* c, double first, double curvature,
                                               double rate) {
    const double spot = c[1], t = c[2], vol = c[3];
    double w = 0.0;
    if (kind == RP_LR_DELTA) {
        w = first / spot;
    } else if (kind == RP_LR_GAMMA) {
        w = (first * first - curvature - first) / (spot * spot);
    } else if (kind == RP_LR_DELTA_TERMINAL) {
        w = rate / t / spot;
    } else if (kind == RP_LR_GAMMA_TERMINAL) {
        const double a = rate / t;
        w = (a * a - 1.0 / (vol * vol * t) - a) / (spot * spot);
    } else if (kind == RP_LR_VEGA_TERMINAL) {
        const double a = rate / t;
        w = (vol * vol * t * a * a - 1.0) / vol - vol * t * a;
    } else if (kind == RP_LR_RHO) {
        w = rate - t;
    }
    return c[0] * w;
}

// SOBOL: as kernel.cu's price_paths.
template <class M, class P, typename R, bool SOBOL>
__device__ __forceinline__ void price_paths_one_pass(const OnePassTrade<R>* __restrict__ trades,
                                                     const unsigned* __restrict__ block_start,
                                                     double* __restrict__ partials, SobolTables sobol_tables, uint2 key, unsigned first_block,
                                                     unsigned n_blocks, unsigned n_trades) {
    typedef Dual<R> D;
    const unsigned b = blockIdx.x;
    if (b >= n_blocks) {
        return;
    }
    const unsigned g = first_block + b;
    const unsigned lo = rp_trade_of_block(block_start, n_trades, g);
    const OnePassTrade<R>& op = trades[lo];
    const Trade<R>& tr = op.t;
    const unsigned steps = tr.head[0];
    const unsigned n_families = tr.head[1];
    const unsigned n_folds = tr.head[2];
    const unsigned flags = tr.head[3];
    const bool anti = (flags & RP_ANTITHETIC) != 0u;
    const unsigned n_paths = tr.ids[2];
    const uint2 stream = make_uint2(tr.ids[0], tr.ids[1]);
    const unsigned block = g - block_start[lo];
    // Sobol points (qmc.cuh): path p is point p of the trade's replicate.
    const bool sobol = SOBOL && (flags & RP_SOBOL) != 0u;
    SobolPath<R> qp;
    const R dt = op.misc[0];
    const bool scored = op.misc[1] != R(0);

    // The constants as dual numbers: the base family's along vega, each
    // fold's x0, dx and discount along every direction.
    D m[RP_MAX_FAMILIES][RP_MODEL_CONSTS], fo[RP_MAX_FOLDS][RP_FOLD_CONSTS], pc[RP_PAYOFF_CONSTS];
    R m0[RP_MODEL_CONSTS];
    #pragma unroll
    for (int f = 0; f < RP_MAX_FAMILIES; f++) {
        #pragma unroll
        for (int i = 0; i < RP_MODEL_CONSTS; i++) {
            m[f][i] = f == 0 ? D(tr.families[f][i], R(0), op.vega[i], R(0)) : D(tr.families[f][i]);
        }
    }
    #pragma unroll
    for (int i = 0; i < RP_MODEL_CONSTS; i++) {
        m0[i] = tr.families[0][i];
    }
    #pragma unroll
    for (int k = 0; k < RP_MAX_FOLDS; k++) {
        const R* s = op.seeds[k];
        fo[k][0] = D(tr.folds[k][0]);
        fo[k][1] = D(tr.folds[k][1], s[0], s[1], s[2]);
        fo[k][2] = D(tr.folds[k][2], s[3], s[4], s[5]);
        fo[k][3] = D(tr.folds[k][3], s[6], s[7], s[8]);
    }
    #pragma unroll
    for (int i = 0; i < RP_PAYOFF_CONSTS; i++) {
        pc[i] = D(tr.payoff[i]);
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

        D x[RP_MAX_FAMILIES], aux[RP_MAX_FAMILIES], var[RP_MAX_FAMILIES];
        #pragma unroll
        for (int f = 0; f < RP_MAX_FAMILIES; f++) {
            x[f] = D(R(0));
            aux[f] = M::aux0(m[f]);
            var[f] = D(R(0));
        }
        D st[RP_MAX_FOLDS][2];
        #pragma unroll
        for (int k = 0; k < RP_MAX_FOLDS; k++) {
            P::start(pc, flags, fo[k][1], st[k]);
        }
        // The base path's scores: first step's, its curvature, the rate's.
        R sc_first = R(0), sc_curvature = R(0), sc_rate = R(0);

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
                            var[f] = M::step(m[f], x[f], aux[f], D(z0), D(z1));
                        }
                    }
                    if (scored) {
                        R nz, c;
                        M::x_noise(m0, z0, z1, nz, c);
                        const R sd = sqrt(var[0].v);
                        const R inv = R(1) / (c * sd);
                        const R score = nz * inv;
                        sc_rate = sc_rate + dt * score;
                        if (s == 0u) {
                            sc_first = score;
                            sc_curvature = inv * inv;
                        }
                    }
                    if (P::OBSERVES) {
                        const D i = D((R)(s + 1u));
                        #pragma unroll
                        for (int k = 0; k < RP_MAX_FOLDS; k++) {
                            if (k < (int)n_folds) {
                                const int fam = (int)fo[k][0].v;
                                const D shift = fo[k][1] + fo[k][2] * i;
                                P::observe(pc, flags, st[k], pick3(fam, x[0], x[1], x[2]) + shift,
                                           pick3(fam, var[0], var[1], var[2]));
                            }
                        }
                    }
                }
            }
        }

        // Each fold's discounted value and its tangents, then the outputs.
        double v[RP_MAX_FOLDS], vt[RP_MAX_FOLDS][3];
        const D n_steps = D((R)steps);
        #pragma unroll
        for (int k = 0; k < RP_MAX_FOLDS; k++) {
            v[k] = 0.0;
            vt[k][0] = vt[k][1] = vt[k][2] = 0.0;
            if (k < (int)n_folds) {
                const int fam = (int)fo[k][0].v;
                const D xf = pick3(fam, x[0], x[1], x[2]) + (fo[k][1] + fo[k][2] * n_steps);
                // The variance too: one that overflowed is laundered to 0
                // by the step's max, leaving the log-spot finite.
                const D val = rp_nan_unless_finite(rp_nan_unless_finite(P::value(pc, flags, st[k], xf) * fo[k][3], xf),
                                                   pick3(fam, aux[0], aux[1], aux[2]));
                v[k] = (double)val.v;
                vt[k][0] = (double)val.d0;
                vt[k][1] = (double)val.d1;
                vt[k][2] = (double)val.d2;
            }
        }
        double o[RP_OUTPUTS] = {0, 0, 0, 0, 0};
        #pragma unroll
        for (int q = 0; q < RP_OUTPUTS; q++) {
            // Only the folds and tangents an output uses (as the CPU's
            // lanes.rs): a fold that is not finite spoils its own outputs.
            #pragma unroll
            for (int k = 0; k < RP_MAX_FOLDS; k++) {
                const double c = k < (int)n_folds ? (double)tr.coef[q][k] : 0.0;
                o[q] += c != 0.0 ? c * v[k] : 0.0;
            }
            #pragma unroll
            for (int k = 0; k < RP_MAX_FOLDS; k++) {
                #pragma unroll
                for (int j = 0; j < 3; j++) {
                    const double c = k < (int)n_folds ? (double)op.tcoef[q][k][j] : 0.0;
                    o[q] += c != 0.0 ? c * vt[k][j] : 0.0;
                }
            }
            if (op.lr_kind[q] != RP_LR_NONE) {
                const double lc[4] = {(double)op.lr[q][0], (double)op.lr[q][1], (double)op.lr[q][2],
                                      (double)op.lr[q][3]};
                o[q] += rp_lr_weight(op.lr_kind[q], lc, (double)sc_first, (double)sc_curvature, (double)sc_rate) *
                        v[0];
            }
        }
        rp_add_path(o, anti, live, n, sum, sum_sq);
    }
    rp_block_sums(partials, b, n, sum, sum_sq);
}

#define RP_ONE_PASS_KERNEL_AS(M, P, R, SOBOL, NAME)                                                                         \
    extern "C" __global__ void __launch_bounds__(RP_BLOCK)                                                        \
        NAME(const OnePassTrade<R>* __restrict__ trades, const unsigned* __restrict__ block_start,               \
             double* __restrict__ partials, const unsigned* __restrict__ sobol_dirs,                             \
             const unsigned* __restrict__ sweep_nodes, const double* __restrict__ sweep_coef, unsigned key_lo,    \
             unsigned key_hi, unsigned first_block, unsigned n_blocks, unsigned n_trades) {                       \
        price_paths_one_pass<M, P, R, SOBOL>(trades, block_start, partials, SobolTables{sobol_dirs, sweep_nodes, sweep_coef}, \
                                      make_uint2(key_lo, key_hi), first_block, n_blocks, n_trades);              \
    }

// Each model x payoff x precision: the one-pass kernel and its Sobol variant.
#define RP_ONE_PASS_KERNEL(M, P, R, NAME)      \
    RP_ONE_PASS_KERNEL_AS(M, P, R, false, NAME) \
    RP_ONE_PASS_KERNEL_AS(M, P, R, true, NAME##_sobol)
