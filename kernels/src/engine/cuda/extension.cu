// Several correlated assets and early exercise (the twin of
// kernels/src/engine/cpu/extension.rs's Prepared::path and run;
// kernels/src/engine/wgpu/extension.wgsl), in double whatever --precision says,
// as the CPU pricer. Each thread prices RP_PATHS_PER_THREAD samples (a path,
// or an antithetic pair) of its block, carrying every revaluation a Greek
// needs along the same path; at each exercise date each revaluation
// exercises where the policy (fitted once on the host:
// kernels/src/gpu/extension.rs) says so in its own state. A scenario record
// (RP_E_SCENARIO) carries instead one moved trade beside the base one, on
// the same normals, with its own spots, family, rate and policy; its
// outputs are the base value and the moved one less it. No path is stored;
// the block writes (n, sums, sums of squares) of its width's outputs
// (W::SIDE_PARTIAL slots), merged on the host in path order.
// Each kernel is built for a width W (RpNarrow, RpWide: the prelude's),
// which sizes its per-thread arrays: W::ASSETS assets, W::SIDE_STATES
// revaluations, W::SIDE_OUTPUTS outputs.

static_assert(1 + 2 * RpNarrow::SIDE_OUTPUTS < RpNarrow::SIDE_PARTIAL, "a block's sums fit its partial");
static_assert(1 + 2 * RpWide::SIDE_OUTPUTS < RpWide::SIDE_PARTIAL, "a block's sums fit its partial");
static_assert(RpNarrow::SIDE_PARTIAL == RP_EXTENSION_PARTIAL, "the narrow kernels' partial is the extension's");

// State `st` at asset values xs relative to `spots`: its value and whether
// it is done; returns whether it exercised now, its asset values left in s.
template <class W>
__device__ __forceinline__ bool rp_extension_decide(const double* c, const double* spots, unsigned flags,
                                                unsigned n, unsigned st, const double* xs, double disc,
                                                bool fitted, bool last, const double* beta, double* value,
                                                bool* done, unsigned& left, double* s) {
    if (done[st]) {
        return false;
    }
    for (unsigned j = 0; j < n; j++) {
        s[j] = spots[j] * xs[j];
    }
    const double iv = rp_multi_intrinsic(c + W::V_WEIGHTS, c[5], flags, s, n);
    const bool exercise =
        last || (fitted && iv > 0.0 && iv >= rp_continuation<W>(beta, xs, iv, n, (flags & RP_E_SORTED) != 0u));
    if (exercise) {
        value[st] = iv * disc;
        done[st] = true;
        left--;
    }
    return exercise;
}

// One pass (RP_E_ONE_PASS): a path's gradients, as Prepared::path gathers
// them: at the base state's exercise the discounted payoff's derivative in
// each log-spot (grad) and its exercise time and log-spots; at a spot
// state's, its own asset's (own, by state).
template <class W> struct RpExerciseGradients {
    double grad[W::ASSETS], x_tau[W::ASSETS], own[W::SIDE_STATES];
    double tau;
};

// State st (the base, or a spot state) exercised at time t, discounted by
// disc, at asset values s: the base state's `disc dg_j S_j`, or a spot
// state's own asset's `disc dg_j S_j / S_j'` (its ratio is the base path's
// relative value ex_j exactly: no rounding to difference away).
template <class W>
__device__ __forceinline__ void rp_exercised_gradient(const double* c, unsigned flags, unsigned n, unsigned st,
                                                      double disc, double t, const double* s, const double* ex,
                                                      const double* x, RpExerciseGradients<W>& gr) {
    double dg[W::ASSETS];
    rp_multi_gradient(c + W::V_WEIGHTS, c[5], flags, s, n, dg);
    if (st == 0u) {
        for (unsigned j = 0; j < n; j++) {
            gr.grad[j] = disc * dg[j] * s[j];
            gr.x_tau[j] = x[j];
        }
        gr.tau = t;
    } else {
        const unsigned j = (st - 1u) / 2u;
        gr.own[st] = disc * dg[j] * ex[j];
    }
}

// One pass: a path's outputs from its gradients (Prepared::path's pathwise
// branch): delta per asset pathwise, gamma the difference of the spot
// states' pathwise deltas, vega pathwise for gbm (dx_j/dvol_j = W_j(t) -
// vol_j t, from the log-spot at exercise) or bumped, rho pathwise.
template <class W>
__device__ __forceinline__ void rp_one_pass_outputs(const double* c, unsigned flags, unsigned n, unsigned vega0,
                                                    const double* value, const RpExerciseGradients<W>& gr,
                                                    double* out) {
    const double dt = c[0], h_spot = c[2], scale = c[4];
    const bool spot = (flags & RP_E_SPOT) != 0u;
    for (unsigned j = 0; j < n; j++) {
        const double s0 = c[RP_V_SPOTS + j];
        if (flags & RP_E_PW_DELTA) {
            out[5 + j] = scale * gr.grad[j] / s0;
        }
        if (spot) {
            out[5 + n + j] = scale * (gr.own[1 + 2 * j] - gr.own[2 + 2 * j]) / (2.0 * h_spot * s0);
        }
        const double dvol = c[W::V_DVOL + j];
        if (flags & RP_E_PW_VEGA) {
            // gbm's constants: drift dt, vol sqrt(dt).
            const double* m = rp_asset_model<W>(c, j, 0);
            const double mu = m[0] / dt, vol = m[1] / sqrt(dt);
            out[5 + 2 * n + j] = scale * gr.grad[j] * ((gr.x_tau[j] - mu * gr.tau) / vol - vol * gr.tau);
        } else if ((flags & RP_E_VEGA) && dvol > 0.0) {
            const double u = value[vega0 + 2 * j], d = value[vega0 + 2 * j + 1];
            out[5 + 2 * n + j] = scale * (u - d) / (2.0 * dvol);
        }
        out[1] += out[5 + j];
        out[2] += out[5 + n + j];
        out[3] += out[5 + 2 * n + j];
    }
    if (flags & RP_E_PW_RHO) {
        double g = 0.0;
        for (unsigned j = 0; j < n; j++) {
            g += gr.grad[j];
        }
        out[4] = scale * (g * gr.tau - gr.tau * value[0]);
    }
}

// One path (`draw` of the trade's stream, normals times `sign`): its outputs.
template <class W, class M>
__device__ __forceinline__ void rp_extension_path(const ExtensionTrade<double, W>& tr,
                                                  const unsigned* __restrict__ dates, const double* __restrict__ coefs,
                                                  uint2 key, unsigned draw, double sign, double* out) {
    const double* c = tr.vals;
    const unsigned steps = tr.head[0], n = tr.head[1], flags = tr.head[2], nd = tr.head[3];
    const uint2 stream = make_uint2(tr.head[4], tr.head[5]);
    const unsigned* dt_of = dates + tr.head[7];
    const double* beta0 = coefs + tr.head[8];
    const unsigned terms = tr.head[9];
    const bool spot = (flags & RP_E_SPOT) != 0u, vega = (flags & RP_E_VEGA) != 0u, rho = (flags & RP_E_RHO) != 0u;
    const bool one_pass = (flags & RP_E_ONE_PASS) != 0u;
    // A scenario record: the moved trade in the vol-up family, its own
    // spots, rate and coefficients.
    const bool scenario = (flags & RP_E_SCENARIO) != 0u;
    const double* moved_beta0 = coefs + tr.head[10];
    const double dt = c[0], rate = c[1], h_spot = c[2], dr = c[3], scale = c[4];
    const unsigned nps = M::NORMALS * n;
    const unsigned vega0 = 1u + (spot ? 2u * n : 0u);
    const unsigned rho0 = vega0 + (vega ? 2u * n : 0u);
    const unsigned ns = scenario ? 2u : rho0 + (rho ? 2u : 0u);

    // The lower correlation factor, in the coefficient table.
    const double* factor = coefs + tr.head[11];
    double x[W::ASSETS], v[W::ASSETS], xu[W::ASSETS], vu[W::ASSETS], xd[W::ASSETS], vd[W::ASSETS];
    for (unsigned j = 0; j < n; j++) {
        x[j] = xu[j] = xd[j] = 0.0;
        v[j] = M::aux0(rp_asset_model<W>(c, j, 0));
        vu[j] = M::aux0(rp_asset_model<W>(c, j, 1));
        vd[j] = M::aux0(rp_asset_model<W>(c, j, 2));
    }
    double value[W::SIDE_STATES];
    bool done[W::SIDE_STATES];
    RpExerciseGradients<W> gr;
    gr.tau = 0.0;
    for (unsigned j = 0; j < n; j++) {
        gr.grad[j] = gr.x_tau[j] = 0.0;
    }
    for (unsigned st = 0; st < ns; st++) {
        value[st] = 0.0;
        done[st] = false;
        gr.own[st] = 0.0;
    }
    unsigned left = ns;
    unsigned cached = 0xffffffffu;
    Normals4<double> cache;
    unsigned next = 0;
    for (unsigned i = 0; i < steps && left > 0u; i++) {
        double e[W::ASSETS], w[W::ASSETS], z[W::ASSETS];
        for (unsigned j = 0; j < nps; j++) {
            const unsigned d = nps * i + j;
            if (d / 4u != cached) {
                cached = d / 4u;
                cache = normals_from_words<double>(philox4x32_10(counter(stream, draw, cached), key));
            }
            const double normal = sign * cache.v[d % 4u];
            if (j < n) {
                e[j] = normal;
            } else {
                w[j - n] = normal;
            }
        }
        if (M::NORMALS == 1) {
            for (unsigned j = 0; j < n; j++) {
                w[j] = 0.0;
            }
        }
        rp_correlate(factor, e, z, n);
        for (unsigned j = 0; j < n; j++) {
            M::step(rp_asset_model<W>(c, j, 0), x[j], v[j], z[j], w[j]);
            if (vega || scenario) {
                M::step(rp_asset_model<W>(c, j, 1), xu[j], vu[j], z[j], w[j]);
            }
            if (vega) {
                M::step(rp_asset_model<W>(c, j, 2), xd[j], vd[j], z[j], w[j]);
            }
        }
        const unsigned step = i + 1u;
        if (next < nd && (dt_of[next] & ~(RP_FITTED | RP_MOVED_FITTED)) == step) {
            // A path that overflowed or went NaN is valued NaN, never
            // exercised (extension.rs `finite`); a scenario record's moved
            // state alone, where only it did.
            bool finite = true, moved_finite = true;
            for (unsigned j = 0; j < n; j++) {
                // The variances too: the step's full truncation would
                // launder one that overflowed to 0, leaving x finite.
                finite = finite && rp_is_finite(x[j]) && rp_is_finite(v[j]) &&
                         (!vega || (rp_is_finite(xu[j]) && rp_is_finite(xd[j]) && rp_is_finite(vu[j]) &&
                                    rp_is_finite(vd[j])));
                moved_finite = moved_finite && (!scenario || (rp_is_finite(xu[j]) && rp_is_finite(vu[j])));
            }
            if (!finite) {
                const double nan = __longlong_as_double(0x7ff8000000000000ll);
                for (unsigned st = 0; st < ns; st++) {
                    value[st] = gr.own[st] = nan;
                }
                for (unsigned j = 0; j < n; j++) {
                    gr.grad[j] = nan;
                }
                left = 0;
                break;
            }
            const unsigned k = next++;
            const bool fitted = (dt_of[k] & RP_FITTED) != 0u, last = k + 1u == nd;
            const double* beta = beta0 + k * terms;
            const double t = (double)step * dt;
            const double disc = rp_exp(-rate * t);
            double ex[W::ASSETS], xs[W::ASSETS], s[W::ASSETS];
            for (unsigned j = 0; j < n; j++) {
                ex[j] = rp_exp(x[j]);
            }
            // Every revaluation in one loop (the WGSL's shape): the base
            // state, spot up and down per asset, vol up and down per asset,
            // rate up and down; or the base state and the moved trade.
            for (unsigned st = 0; st < ns; st++) {
                if (done[st]) {
                    continue;
                }
                for (unsigned l = 0; l < n; l++) {
                    xs[l] = ex[l];
                }
                double d = disc;
                // A scenario record's moved trade is its state 1 (= rho0).
                const bool moved = scenario && st == 1u;
                if (moved && !moved_finite) {
                    value[st] = __longlong_as_double(0x7ff8000000000000ll);
                    done[st] = true;
                    left--;
                    continue;
                }
                if (st >= rho0) {
                    const double sgn = st == rho0 ? 1.0 : -1.0;
                    const double f = rp_exp(sgn * dr * t);
                    for (unsigned j = 0; j < n; j++) {
                        xs[j] = moved ? rp_exp(xu[j]) : ex[j] * f;
                    }
                    d = rp_exp(-(moved ? c[RP_S_MOVED_RATE] : rate + sgn * dr) * t);
                } else if (st >= vega0) {
                    const unsigned j = (st - vega0) / 2u;
                    xs[j] = rp_exp((st - vega0) % 2u == 0u ? xu[j] : xd[j]);
                } else if (st >= 1u) {
                    const unsigned j = (st - 1u) / 2u;
                    xs[j] = ex[j] * ((st - 1u) % 2u == 0u ? 1.0 + h_spot : 1.0 - h_spot);
                }
                const bool exercised = rp_extension_decide<W>(
                    c, c + (moved ? W::V_MOVED_SPOTS : RP_V_SPOTS), flags, n, st, xs, d,
                    moved ? (dt_of[k] & RP_MOVED_FITTED) != 0u : fitted, last, moved ? moved_beta0 + k * terms : beta,
                    value, done, left, s);
                if (one_pass && exercised && (st == 0u || (spot && st <= 2u * n))) {
                    rp_exercised_gradient<W>(c, flags, n, st, d, t, s, ex, x, gr);
                }
            }
        }
    }
    for (unsigned q = 0; q < W::SIDE_OUTPUTS; q++) {
        out[q] = 0.0;
    }
    out[0] = value[0];
    if (one_pass) {
        rp_one_pass_outputs<W>(c, flags, n, vega0, value, gr, out);
        return;
    }
    for (unsigned j = 0; j < n; j++) {
        if (spot) {
            const double hs = h_spot * c[RP_V_SPOTS + j];
            const double u = value[1 + 2 * j], d = value[2 + 2 * j];
            out[5 + j] = scale * (u - d) / (2.0 * hs);
            out[5 + n + j] = scale * (u - 2.0 * value[0] + d) / (hs * hs);
        }
        const double dvol = c[W::V_DVOL + j];
        if (vega && dvol > 0.0) {
            const double u = value[vega0 + 2 * j], d = value[vega0 + 2 * j + 1];
            out[5 + 2 * n + j] = scale * (u - d) / (2.0 * dvol);
        }
        out[1] += out[5 + j];
        out[2] += out[5 + n + j];
        out[3] += out[5 + 2 * n + j];
    }
    if (rho) {
        out[4] = scale * (value[rho0] - value[rho0 + 1]) / (2.0 * dr);
    }
    if (scenario) {
        out[1] = value[1] - value[0];
    }
}

template <class W, class M>
__device__ __forceinline__ void rp_price_extension(const ExtensionTrade<double, W>* __restrict__ trades,
                                               const unsigned* __restrict__ block_start,
                                               const unsigned* __restrict__ dates, const double* __restrict__ coefs,
                                               double* __restrict__ partials, uint2 key, unsigned first_block,
                                               unsigned n_blocks, unsigned n_trades) {
    const unsigned b = blockIdx.x;
    if (b >= n_blocks) {
        return;
    }
    // The trade this block of samples belongs to.
    const unsigned g = first_block + b;
    const unsigned lo = rp_trade_of_block(block_start, n_trades, g);
    const ExtensionTrade<double, W>& tr = trades[lo];
    const bool anti = (tr.head[2] & RP_E_ANTITHETIC) != 0u;
    const unsigned samples = tr.head[6];
    const unsigned block = g - block_start[lo];

    constexpr int SUMS = 1 + 2 * W::SIDE_OUTPUTS;
    double acc[SUMS];
    for (int i = 0; i < SUMS; i++) {
        acc[i] = 0.0;
    }
    for (int rep = 0; rep < RP_PATHS_PER_THREAD; rep++) {
        const unsigned s = block * RP_PATHS_PER_BLOCK + rep * RP_BLOCK + threadIdx.x;
        if (s >= samples) {
            continue;
        }
        double a[W::SIDE_OUTPUTS];
        rp_extension_path<W, M>(tr, dates, coefs, key, s, 1.0, a);
        if (anti) {
            double o[W::SIDE_OUTPUTS];
            rp_extension_path<W, M>(tr, dates, coefs, key, s, -1.0, o);
            for (int q = 0; q < W::SIDE_OUTPUTS; q++) {
                a[q] = 0.5 * (a[q] + o[q]);
            }
        }
        acc[0] += 1.0;
        for (int q = 0; q < W::SIDE_OUTPUTS; q++) {
            acc[1 + q] += a[q];
            acc[1 + W::SIDE_OUTPUTS + q] += a[q] * a[q];
        }
    }

    // Block reduction: warp shuffles, then one thread over the warps' sums.
    for (int i = 0; i < SUMS; i++) {
        for (int off = 16; off > 0; off /= 2) {
            acc[i] += __shfl_down_sync(0xffffffffu, acc[i], off);
        }
    }
    __shared__ double warp_acc[RP_BLOCK / 32][SUMS];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    if (lane == 0u) {
        for (int i = 0; i < SUMS; i++) {
            warp_acc[warp][i] = acc[i];
        }
    }
    __syncthreads();
    if (threadIdx.x == 0u) {
        double* out = partials + (size_t)b * W::SIDE_PARTIAL;
        for (int i = 0; i < SUMS; i++) {
            double t = 0.0;
            for (int w = 0; w < RP_BLOCK / 32; w++) {
                t += warp_acc[w][i];
            }
            out[i] = t;
        }
        for (int i = SUMS; i < W::SIDE_PARTIAL; i++) {
            out[i] = 0.0;
        }
    }
}

#define RP_EXTENSION_KERNEL(W, M, NAME)                                                                               \
    extern "C" __global__ void __launch_bounds__(RP_BLOCK)                                                        \
        NAME(const ExtensionTrade<double, W>* __restrict__ trades, const unsigned* __restrict__ block_start,         \
             const unsigned* __restrict__ dates, const double* __restrict__ coefs, double* __restrict__ partials, \
             unsigned key_lo, unsigned key_hi, unsigned first_block, unsigned n_blocks, unsigned n_trades) {      \
        rp_price_extension<W, M>(trades, block_start, dates, coefs, partials, make_uint2(key_lo, key_hi), first_block, \
                          n_blocks, n_trades);                                                                    \
    }

// One kernel a multi-asset model and width: gbm_multi steps each asset as
// Gbm, heston_multi as Heston; the narrow kernels take up to
// RpNarrow::ASSETS assets, the wide (`_wide`) up to RpWide::ASSETS.
RP_EXTENSION_KERNEL(RpNarrow, Gbm, price_extension_gbm_multi)
RP_EXTENSION_KERNEL(RpNarrow, Heston, price_extension_heston_multi)
RP_EXTENSION_KERNEL(RpWide, Gbm, price_extension_gbm_multi_wide)
RP_EXTENSION_KERNEL(RpWide, Heston, price_extension_heston_multi_wide)
