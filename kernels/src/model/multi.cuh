// Several correlated assets, gbm_multi and heston_multi (the twin of
// Prepared::simulate in kernels/src/engine/cpu/extension.rs;
// kernels/src/model/multi.wgsl). At step i the path draws n normals e_j
// (normals n i + j; heston_multi: 2n i + j, its variance normals
// 2n i + n + j); asset j's spot normal is row j of the lower factor (n x n,
// row-major: the coefficient table's, from the record's head[11]) times e,
// summed in order. Each asset then steps as its one-asset model (Gbm,
// Heston).

template <typename R> __device__ __forceinline__ void rp_correlate(const R* factor, const R* e, R* z, unsigned n) {
    for (unsigned j = 0; j < n; j++) {
        R acc = R(0);
        for (unsigned l = 0; l <= j; l++) {
            acc += factor[j * n + l] * e[l];
        }
        z[j] = acc;
    }
}

// The step constants of asset j's family f (0 base, 1 vol up, 2 vol down)
// in a record of the kernels of width W.
template <class W, typename R>
__device__ __forceinline__ const R* rp_asset_model(const R* vals, unsigned j, unsigned f) {
    return vals + W::V_MODEL + (j * 3u + f) * RP_EXTENSION_MODEL_CONSTS;
}
