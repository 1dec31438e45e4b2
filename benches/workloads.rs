//! Criterion benches of the standard workloads W1-W6 on the CPU engine,
//! at a reduced size so a run takes minutes on a 2-core machine, and of
//! W7's scenario revaluation, fused against one run per scenario.
//! Path-steps per second at full size come from `riskpool bench`
//! (BENCHMARKS.md).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use riskpool_kernels::engine::naive_revalue;
use riskpool_kernels::workloads::{risk_workload, workload, NAMES};
use riskpool_kernels::{CpuEngine, Engine, Simd};

/// Fraction of each standard workload run per iteration.
const SCALE: f64 = 0.05;

fn workloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu-1-thread");
    group.sample_size(10);
    for simd in [Simd::Portable, Simd::Avx2, Simd::Avx512] {
        if !simd.supported() {
            continue;
        }
        let engine = CpuEngine::with_simd(Some(1), simd).expect("cpu engine");
        for name in NAMES {
            let w = workload(name, SCALE).expect("standard workload");
            // Elements = path-steps, so criterion reports path-steps/s.
            group.throughput(Throughput::Elements(w.path_steps() as u64));
            group.bench_function(format!("{name}/{}", simd.name()), |b| {
                b.iter(|| engine.price(&w.trades, &w.request).expect("pricing"))
            });
        }
    }
    group.finish();
}

/// Fraction of W7's trades revalued per iteration (all 250 scenarios).
const RISK_SCALE: f64 = 0.01;

fn scenarios(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu-w7");
    group.sample_size(10);
    let engine = CpuEngine::new(None).expect("cpu engine");
    let w = risk_workload("W7", RISK_SCALE).expect("W7");
    let sc = w.trade_scenarios();
    // Elements = trade x scenario revaluations.
    group.throughput(Throughput::Elements(w.revaluations()));
    group.bench_function("fused", |b| {
        b.iter(|| engine.revalue(&w.trades, &sc, &w.request).expect("revalue"))
    });
    group.bench_function("naive", |b| {
        b.iter(|| naive_revalue(&engine, &w.trades, &sc, &w.request).expect("revalue"))
    });
    group.finish();
}

criterion_group!(benches, workloads, scenarios);
criterion_main!(benches);
