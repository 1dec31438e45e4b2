//! Every engine's results, bit for bit, against a golden file written before
//! a change that must not move them (issue 15: the typed registry, the
//! generated GPU layouts and the shared GPU host plan). The test portfolio
//! is one trade of every model x payoff flavour (`every_model_and_payoff`),
//! priced with no Greeks and with all four, antithetic off and on, in f32
//! and f64, on the CPU engine, the wgpu engine (lavapipe in CI, f32 only)
//! and the CUDA C built for the CPU. Few paths, so it takes seconds.
//!
//! Each number is written in Rust's shortest round-trip form, so equal text
//! is equal bits. `RISKPOOL_BLESS=1` rewrites the file: only for a change
//! that is meant to move prices, said so in its commit.
//!
//! The wgpu lines are lavapipe's on the CI image (Mesa 22.3): another
//! Vulkan driver may contract multiply-adds differently, so where the
//! adapter is not lavapipe the wgpu lines are skipped, with the reason.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::common::*;
use riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu;
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::{CpuEngine, Engine, Greek, Precision};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/prices.txt");

fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

/// One section per engine x precision x Greeks x antithetic: a line a trade,
/// its id first.
fn results(engine: &dyn Engine, precisions: &[Precision], out: &mut BTreeMap<String, String>) {
    for (req, trades) in request_matrix(&every_model_and_payoff(100), precisions) {
        let got = engine.price(&trades, &req).unwrap();
        let mut text = String::new();
        for (t, r) in trades.iter().zip(&got) {
            write!(
                text,
                "{} {} pv {:?} {:?}",
                t.id, r.paths, r.pv.value, r.pv.stderr
            )
            .unwrap();
            for g in Greek::ALL {
                if let Some(e) = r.greek(g) {
                    write!(text, " {} {:?} {:?}", g.name(), e.value, e.stderr).unwrap();
                }
            }
            text.push('\n');
        }
        let key = format!(
            "{} {} greeks={} antithetic={}",
            engine.name(),
            req.precision.name(),
            req.greeks.0.len(),
            req.antithetic
        );
        out.insert(key, text);
    }
}

fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut key: Option<String> = None;
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("## ") {
            key = Some(k.to_string());
            out.insert(k.to_string(), String::new());
        } else if let Some(k) = &key {
            let s = out.get_mut(k).expect("section");
            s.push_str(line);
            s.push('\n');
        }
    }
    out
}

#[test]
fn every_engine_prices_as_the_golden_file() {
    let mut got = BTreeMap::new();
    results(
        &CpuEngine::new(None).unwrap(),
        &[Precision::F32, Precision::F64],
        &mut got,
    );
    match WgpuEngine::new(true) {
        Ok(gpu) if gpu.device().contains("llvmpipe") => results(&gpu, &[Precision::F32], &mut got),
        Ok(gpu) => eprintln!("skipping wgpu: {} is not lavapipe", gpu.device()),
        Err(e) if required("RISKPOOL_REQUIRE_WGPU") => panic!("RISKPOOL_REQUIRE_WGPU=1 but: {e}"),
        Err(e) => eprintln!("skipping wgpu: {e}"),
    }
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => results(&k, &[Precision::F32, Precision::F64], &mut got),
        Err(e) if required("RISKPOOL_REQUIRE_CXX") => panic!("RISKPOOL_REQUIRE_CXX=1 but: {e}"),
        Err(e) => eprintln!("skipping the CUDA C on the CPU: {e}"),
    }

    if required("RISKPOOL_BLESS") {
        let mut text = String::from(
            "# kernels/tests/golden.rs: every engine's results before issue 15's refactor; \
             id paths pv value stderr [greek value stderr]...\n",
        );
        for (k, v) in &got {
            writeln!(text, "## {k}").unwrap();
            text.push_str(v);
        }
        std::fs::create_dir_all(std::path::Path::new(GOLDEN).parent().unwrap()).unwrap();
        std::fs::write(GOLDEN, text).unwrap();
        eprintln!("wrote {GOLDEN}");
        return;
    }

    let want = parse(&std::fs::read_to_string(GOLDEN).expect("the golden file"));
    // Trades are compared by id: the test portfolio may have grown since
    // (a payoff added later has no golden lines), but every trade the file
    // has must be there, bit for bit.
    let by_id = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .map(|l| (l.split(' ').next().unwrap_or("").to_string(), l.to_string()))
            .collect()
    };
    let mut differ = Vec::new();
    for (k, w) in &want {
        let Some(v) = got.get(k) else {
            if k.starts_with("cpu ") {
                panic!("no section `{k}` priced");
            }
            eprintln!("section `{k}` not priced here (its engine skipped)");
            continue;
        };
        let now = by_id(v);
        for (id, b) in by_id(w) {
            match now.get(&id) {
                Some(a) if *a == b => {}
                Some(a) => differ.push(format!("{k}:\n  now  {a}\n  was  {b}")),
                None => differ.push(format!("{k}: {id} not priced")),
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} lines differ from {GOLDEN}, first ones:\n{}",
        differ.len(),
        differ[..differ.len().min(10)].join("\n")
    );
    eprintln!(
        "{} sections equal to the golden file, bit for bit",
        got.len()
    );
}
