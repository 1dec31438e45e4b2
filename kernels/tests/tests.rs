//! The kernels' end-to-end tests, one test binary: reference prices,
//! streams, the engines' conformance (wgpu on lavapipe, the CUDA C on the
//! CPU and, where there is one, on a GPU), scenarios and the golden file.
//! `common` holds the shared portfolio, references and contracts.

mod common;

mod azfinsim_model;
mod barrier_bumps;
mod basket_lattice;
mod cancel;
mod cuda_engine;
mod dated_engines;
mod dated_gpu_hostile;
mod dated_multi_hostile;
mod double_barrier;
mod golden;
mod ls_table1;
mod many_assets;
mod multi_asset;
mod non_finite;
mod one_pass_engines;
mod one_pass_multi_hostile;
mod pathwise;
mod qmc;
mod qmc_engines;
mod qmc_multi;
mod reference_prices;
mod scenario_fans;
mod scenarios;
mod streams;
mod twin_sources;
mod wgpu_conformance;
