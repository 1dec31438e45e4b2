// Several correlated assets, gbm_multi and heston_multi (the twin of
// Prepared::simulate in kernels/src/engine/cpu/extension.rs;
// kernels/src/model/multi.cuh). At step i the path draws n normals e_j
// (normals n i + j; heston_multi: 2n i + j, its variance normals
// 2n i + n + j); asset j's spot normal is row j of the lower factor (n x n,
// row-major, in the coefficient table from the record's head[11]) times e,
// summed in order. Each asset then steps as its one-asset model (model_step
// of gbm.wgsl, heston.wgsl).

// Loops over the assets end at assets_to(n) with the bound inside (here and
// in the other several-asset WGSL): the narrow kernels' end is the
// constant ASSETS, so that they unroll (lavapipe caps the loop iterations
// of an invocation at 65,535 in all, which a path of hundreds of exercise
// dates would pass); the wide kernels' is n (their ASSETS is MAX_ASSETS, the
// most a trade has).
fn correlate(t: u32, e: ptr<private, array<f32, ASSETS>>, z: ptr<private, array<f32, ASSETS>>, n: u32) {
    let factor = extension_head(t, 11u);
    for (var j = 0u; j < assets_to(n); j++) {
        if (j < n) {
            var acc = 0.0;
            for (var l = 0u; l < assets_to(n); l++) {
                if (l <= j) {
                    acc = acc + coefs[factor + j * n + l] * (*e)[l];
                }
            }
            (*z)[j] = acc;
        }
    }
}

// The step constants of asset j's family f (0 base, 1 vol up, 2 vol down).
fn asset_model(t: u32, j: u32, f: u32) -> ModelConsts {
    let at = (V_MODEL + (j * 3u + f) * EXTENSION_MODEL_CONSTS) / 4u;
    return ModelConsts(extension_trades[t].vals[at], extension_trades[t].vals[at + 1u], extension_trades[t].vals[at + 2u]);
}
