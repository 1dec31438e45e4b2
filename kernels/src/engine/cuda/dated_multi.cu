// Dated trades with early exercise or on several underlyings (the twin of
// kernels/src/engine/cpu/dated.rs's walk and Pricer::value;
// kernels/src/engine/wgpu/dated_multi.wgsl), in double whatever --precision
// says, as the CPU pricer. Each thread prices RP_PATHS_PER_THREAD samples (a
// path, or an antithetic pair): each step it draws the step's normals,
// correlates the spot drivers by the trade's lower factor, and steps every
// family of its record (the trade on one market: a Greek's bump, a
// scenario's move) over each underlying (black, local volatility, Heston;
// cash dividends). At an exercise node a family exercises where its
// policy (fitted once on the host, kernels/src/gpu/dated_multi.rs) says so
// at its state normalised by its spots, or at expiry; its value is the
// intrinsic value there discounted on its curve. Path states are indexed
// by slot, in local memory by design (as the extension's): a family's
// underlying whose step reads the base family's values (the host compares
// them, gpu/dated_multi.rs) reads the base's state, which the base family
// steps while any family is live. The block writes (n, sums, sums of
// squares) in the extension kernels' partial layout. Same arithmetic, in
// the same order, as the CPU pricer. Each kernel is built for a width W
// (RpNarrow, RpWide), which sizes its per-thread arrays: W::SIDE_SLOTS
// states, W::SIDE_STATES families, W::SIDE_OUTPUTS outputs.

// One path (`draw` of the trade's stream, normals times `sign`): the
// record's outputs.
template <class W>
__device__ __forceinline__ void rp_multi_path(const DatedMultiTrade& tr, const unsigned* __restrict__ ints,
                                           const double* __restrict__ vals, uint2 key, unsigned draw, double sign,
                                           double* out) {
    const unsigned* hd = tr.head;
    const unsigned steps = hd[0], nf = hd[1], k = hd[6], n_out = hd[7], n = hd[8], fi0 = hd[9], tv = hd[10];
    const unsigned nd = hd[11], d0 = hd[12], terms = hd[13], pflags = hd[14];
    const uint2 stream = make_uint2(hd[4], hd[5]);
    const unsigned row = 1u + terms;
    const double* tvals = vals + tv;
    // A family's ints; the factor and the outputs' coefficients.
    const unsigned fstride = RP_FI_ASSETS + RP_FI_PER_ASSET * n;
    const double* factor = tvals + RP_T_WEIGHTS + n;
    const double* coef = factor + n * n;
    double xs[W::SIDE_SLOTS], vs[W::SIDE_SLOTS], value[W::SIDE_STATES];
    unsigned next_date[W::SIDE_STATES];
    bool done[W::SIDE_STATES];
    // Whether each of the base's underlyings held this step.
    bool base_ok[W::ASSETS];
    for (unsigned f = 0; f < nf; f++) {
        const unsigned* fi = ints + fi0 + f * fstride;
        const double* fv = vals + fi[0];
        for (unsigned j = 0; j < n; j++) {
            const unsigned at = fi[RP_FI_ASSETS + RP_FI_PER_ASSET * j + 2u];
            xs[at] = 0.0;
            vs[at] = fv[j * RP_MULTI_ASSET_VALS + 3];
        }
        done[f] = false;
        next_date[f] = 0;
        value[f] = 0.0;
    }
    unsigned left = nf;
    unsigned block = 0xffffffffu;
    Normals4<double> z4;
    double e[W::SIDE_NORMALS], w[W::ASSETS], s[W::ASSETS], bx[W::ASSETS];
    for (unsigned st = 0; st < steps && left > 0u; st++) {
        // The step's normals, four to a Philox block.
        for (unsigned m = 0; m < k; m++) {
            const unsigned d = st * k + m;
            if (d / 4u != block) {
                block = d / 4u;
                z4 = normals_from_words<double>(philox4x32_10(counter(stream, draw, block), key), sign);
            }
            e[m] = z4.v[d % 4u];
        }
        // The spot drivers: row j of the lower factor times e, in order.
        for (unsigned j = 0; j < n; j++) {
            double acc = -0.0;
            for (unsigned m = 0; m <= j; m++) {
                acc += factor[j * n + m] * e[m];
            }
            w[j] = acc;
        }
        const unsigned i = st + 1u;
        for (unsigned f = 0; f < nf; f++) {
            // The base family steps its states until every family is
            // valued: the others may read them.
            if (done[f] && f != 0u) {
                continue;
            }
            const unsigned* fi = ints + fi0 + f * fstride;
            const double* fv = vals + fi[0];
            const double* sv = vals + fi[2] + (size_t)st * (RP_STEP_HEAD + 3u * n);
            const double disc = sv[1];
            unsigned h = n;
            bool ok = true;
            for (unsigned j = 0; j < n; j++) {
                const unsigned* ja = fi + RP_FI_ASSETS + RP_FI_PER_ASSET * j;
                const unsigned model = ja[0], at = ja[2];
                // The base's state, stepped by the base this step.
                if (f > 0u && at < n) {
                    ok = ok && base_ok[j];
                    if (model == RP_M_HESTON) {
                        h++;
                    }
                    continue;
                }
                const double c = sv[RP_STEP_HEAD + 3u * j], a = sv[RP_STEP_HEAD + 3u * j + 1u];
                const double q = sv[RP_STEP_HEAD + 3u * j + 2u];
                const double* av = fv + j * RP_MULTI_ASSET_VALS;
                double x = xs[at];
                const RpDatedModel md = {model, vals + ja[1] + (size_t)st * RP_NODES, av[1], av[2], av + 4};
                const double var_dt = rp_dated_step(md, x, vs[at], c, a, w[j], e[h < W::SIDE_NORMALS ? h : 0u]);
                if (model == RP_M_HESTON) {
                    h++;
                }
                // A cash dividend, as a fraction of the spot (0: none).
                if (q > 0.0) {
                    const double ex = rp_exp(x) - q;
                    x = ex > 0.0 ? rp_ln(ex) : __longlong_as_double((long long)0xfff0000000000000ull);
                }
                const bool held = !(x != x || x > 1.7976931348623157e308 || !rp_is_finite(vs[at]) || var_dt != var_dt);
                ok = ok && held;
                if (f == 0u) {
                    base_ok[j] = held;
                }
                xs[at] = x;
            }
            // The base, valued already: its states stepped for the others.
            if (done[f]) {
                continue;
            }
            if (!ok) {
                value[f] = __longlong_as_double(0x7ff8000000000000ll);
                done[f] = true;
                left--;
                continue;
            }
            const unsigned kf = next_date[f];
            const bool at_date = nd > 0u ? (kf < nd && ints[d0 + kf] == i) : i == steps;
            if (!at_date) {
                continue;
            }
            for (unsigned j = 0; j < n; j++) {
                const double* av = fv + j * RP_MULTI_ASSET_VALS;
                s[j] = av[0] * rp_exp(xs[fi[RP_FI_ASSETS + RP_FI_PER_ASSET * j + 2u]]);
                bx[j] = s[j] / av[RP_A_NORM];
            }
            const double iv = rp_multi_intrinsic(tvals + RP_T_WEIGHTS, tvals[RP_T_STRIKE], pflags, s, n);
            const unsigned pol = fi[1];
            bool exercise = i == steps;
            if (!exercise && pol != RP_NO_POLICY && kf + 1u < nd && iv > 0.0) {
                const double* beta = vals + pol + (size_t)kf * row;
                if (beta[0] != 0.0) {
                    exercise = iv >= rp_continuation<W>(beta + 1, bx, iv, n, (pflags & RP_E_SORTED) != 0u);
                }
            }
            next_date[f] = kf + 1u;
            if (exercise) {
                value[f] = iv * disc;
                done[f] = true;
                left--;
            }
        }
    }
    for (unsigned o = 0; o < W::SIDE_OUTPUTS; o++) {
        // Only the families an output uses: a family that is not finite
        // spoils its own outputs alone.
        double acc = o < n_out ? -0.0 : 0.0;
        for (unsigned f = 0; o < n_out && f < nf; f++) {
            const double cf = coef[o * nf + f];
            if (cf != 0.0) {
                acc += cf * value[f];
            }
        }
        out[o] = acc;
    }
}

template <class W>
__device__ __forceinline__ void rp_price_dated_multi(const DatedMultiTrade* __restrict__ trades,
                                                  const unsigned* __restrict__ block_start,
                                                  const unsigned* __restrict__ ints, const double* __restrict__ vals,
                                                  double* __restrict__ partials, uint2 key, unsigned first_block,
                                                  unsigned n_blocks, unsigned n_trades) {
    const unsigned b = blockIdx.x;
    if (b >= n_blocks) {
        return;
    }
    // The record this block of samples belongs to.
    const unsigned g = first_block + b;
    const unsigned lo = rp_trade_of_block(block_start, n_trades, g);
    const DatedMultiTrade& tr = trades[lo];
    const bool anti = (tr.head[2] & RP_D_ANTITHETIC) != 0u;
    const unsigned samples = tr.head[3];
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
        rp_multi_path<W>(tr, ints, vals, key, s, 1.0, a);
        if (anti) {
            double o[W::SIDE_OUTPUTS];
            rp_multi_path<W>(tr, ints, vals, key, s, -1.0, o);
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
        // The extension's layout, of the width's outputs.
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

// The extension kernels' signature: the u32 table in the dates' place,
// the value table in the coefficients'. One kernel a width: the narrow
// one takes up to RpNarrow::ASSETS underlyings, the wide (`_wide`) up to
// RpWide::ASSETS.
#define RP_DATED_MULTI_KERNEL(W, NAME)                                                                              \
    extern "C" __global__ void __launch_bounds__(RP_BLOCK)                                                        \
        NAME(const DatedMultiTrade* __restrict__ trades, const unsigned* __restrict__ block_start,                 \
             const unsigned* __restrict__ ints, const double* __restrict__ vals, double* __restrict__ partials,    \
             unsigned key_lo, unsigned key_hi, unsigned first_block, unsigned n_blocks, unsigned n_trades) {      \
        rp_price_dated_multi<W>(trades, block_start, ints, vals, partials, make_uint2(key_lo, key_hi), first_block, \
                                n_blocks, n_trades);                                                              \
    }

RP_DATED_MULTI_KERNEL(RpNarrow, price_dated_multi)
RP_DATED_MULTI_KERNEL(RpWide, price_dated_multi_wide)
