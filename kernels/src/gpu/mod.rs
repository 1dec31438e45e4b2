//! What the GPU engines (wgpu and CUDA) share on the host: the trade
//! records they read ([`record`]), the constants and record layout emitted
//! into their sources ([`prelude`]), the plan of a batch (records, block
//! tables, launches, the merge of the partial sums: [`plan`]), the form
//! of the partial sums their blocks write ([`PARTIAL`]), the same for
//! trades with several assets or early exercise ([`extension`]: their own
//! records, exercise dates and policy coefficients, and kernels), dated
//! trades on one underlying ([`dated`]: their records, step and local
//! volatility tables, and kernels, launched as the extension's are), and the
//! [`Engine`](crate::engine::Engine) every GPU engine gets from its
//! [`backend::GpuBackend`].

pub mod backend;
pub mod dated;
pub mod dated_multi;
pub mod extension;
pub mod one_pass;
pub mod plan;
pub mod prelude;
pub mod record;

/// Slots of one block's partial sums, in both engines: `[n, a_0..a_4,
/// b_0..b_4, 0]` for the [`crate::greeks::OUTPUTS`] outputs (PV, delta,
/// gamma, vega, rho), the last slot padding. What `a` and `b` are differs
/// by what each language can add exactly: the CUDA kernels write sums and
/// sums of squares in f64; WGSL (f32 only) writes each block's mean and
/// M2 (sum of squared deviations), which keep their precision in f32.
pub const PARTIAL: usize = 1 + 2 * crate::greeks::OUTPUTS + 1;
