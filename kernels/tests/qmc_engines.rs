//! Sobol points on the GPU engines' kernels (`qmc.wgsl`, `qmc.cuh`, the
//! twins of `riskpool_kernels::qmc`): the CUDA C on the CPU prices every
//! model x payoff x Greek on Sobol points as the CPU engine does, to the
//! bit but for the order the blocks' sums are added in (so its normals are
//! the CPU's, bit for bit: points, scrambling, inverse normal and bridge);
//! wgpu on lavapipe to the f32 contract. Replicates of two sizes (one
//! ending mid-block), Sobol and Philox trades in one batch.

use crate::common::*;
use riskpool_kernels::greeks::{Greek, GreekSet, GreeksMethod};
use riskpool_kernels::instrument::Trade;
use riskpool_kernels::qmc::Rng;
use riskpool_kernels::{CpuEngine, Engine, Precision, PricingRequest};

/// Every model x payoff on Sobol points: most take the run's 4 replicates
/// of 512 points, every fifth its own 2 of 256 (a CUDA block is 512
/// paths, so those end mid-block), every seventh is Philox's.
fn sobol_book() -> Vec<Trade> {
    every_model_and_payoff(0)
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            t.steps = 24 + (i as u32 % 3) * 7;
            if i % 7 == 3 {
                t.rng = Some(Rng::Philox);
                t.paths = 1_000;
            } else if i % 5 == 1 {
                t.rng = Some(Rng::Sobol { replicates: 2 });
                t.paths = 512;
            } else {
                t.paths = 2_048;
            }
            t
        })
        .collect()
}

/// The requests: each precision, no Greeks, every Greek bumped and every
/// Greek in one pass, on the run's 4 replicates.
fn requests(precisions: &[Precision]) -> Vec<PricingRequest> {
    let mut out = Vec::new();
    for &precision in precisions {
        for (greeks, method) in [
            (vec![], GreeksMethod::Bump),
            (Greek::ALL.to_vec(), GreeksMethod::Bump),
            (Greek::ALL.to_vec(), GreeksMethod::Pathwise),
        ] {
            out.push(PricingRequest {
                precision,
                greeks: GreekSet(greeks),
                greeks_method: method,
                rng: Rng::Sobol { replicates: 4 },
                ..Default::default()
            });
        }
    }
    out
}

fn assert_sobol_conforms(
    engine: &dyn Engine,
    precisions: &[Precision],
    tol: impl Fn(Precision) -> Tolerance,
) {
    let cpu = CpuEngine::new(None).unwrap();
    let trades = sobol_book();
    for req in requests(precisions) {
        let a = cpu.price(&trades, &req).unwrap();
        let b = engine.price(&trades, &req).unwrap();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            assert_eq!(x.paths, y.paths, "{}", t.id);
            assert_eq!(x.estimators, y.estimators, "{}", t.id);
            let what = format!(
                "{} on {}: {:?} greeks={} {:?}",
                t.id,
                engine.name(),
                req.precision,
                req.greeks.0.len(),
                req.greeks_method
            );
            assert_conform(&what, t, &req, x, y, tol(req.precision));
        }
    }
}

#[test]
fn the_cuda_c_on_the_cpu_prices_sobol_points_as_the_cpu_engine() {
    let Some(k) = crate::cuda_engine::cuda_c_on_the_cpu() else {
        return;
    };
    assert_sobol_conforms(&k, &[Precision::F32, Precision::F64], Tolerance::same_paths);
}

#[test]
fn wgpu_prices_sobol_points_as_the_cpu_engine() {
    let Some(gpu) = wgpu() else { return };
    assert_sobol_conforms(&gpu, &[Precision::F32], |_| Tolerance::F32);
}

/// The device's Sobol points and scrambled words are the Rust's to the
/// bit, over dimensions up to the last and points up to 2^32 - 1; its f32
/// normals within f32 rounding (lavapipe may fuse a multiply and an add).
#[test]
fn sobol_points_on_the_device_are_the_cpus() {
    use riskpool_kernels::qmc::sobol::{
        dimension_seed, directions, point, scramble, MAX_DIMENSIONS,
    };
    use riskpool_kernels::real::Real;
    let Some(gpu) = wgpu() else { return };
    let (seed, stream) = (20171229u64, 0xfedc_ba98_7654_3210u64);
    let mut queries = Vec::new();
    for d in [0u32, 1, 2, 7, 63, 64, 500, 4_999, MAX_DIMENSIONS as u32 - 1] {
        for index in [0u32, 1, 2, 3, 1023, 1024, 65_537, 0x7fff_ffff, u32::MAX] {
            for replicate in [0u32, 5, 4095] {
                queries.push([d, index, replicate]);
            }
        }
    }
    let key = riskpool_kernels::rng::key_of(seed);
    let out = gpu.sobol_on_device(key, stream, &queries).unwrap();
    let mut worst = 0.0f64;
    for (q, got) in queries.iter().zip(&out) {
        let x = point(&directions()[q[0] as usize], q[1]);
        let s = scramble(x, dimension_seed(seed, stream, q[2], q[0]));
        assert_eq!(
            [got[0], got[1]],
            [x, s],
            "dimension {} point {} replicate {}",
            q[0],
            q[1],
            q[2]
        );
        let want = <f32 as Real>::inverse_normal(<f32 as Real>::uniform(s));
        let z = f32::from_bits(got[2]);
        let err = ((z - want) as f64).abs() / (want.abs() as f64).max(1e-3);
        worst = worst.max(err);
        assert!(
            err < 4.0 * f32::EPSILON as f64,
            "{q:?}: device {z}, cpu {want}"
        );
    }
    eprintln!("sobol normals on wgpu: worst relative difference from the cpu {worst:.2e}");
}
