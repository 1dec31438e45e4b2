//! Dated trades on `--engine wgpu` (lavapipe here), attacked through the
//! CLI: `risk --market` on wgpu against the CPU engine with moves that
//! knock barriers and take a vol to near zero (a basket and a Bermudan
//! through the several-underlying kernel among them); `--precision f64`
//! on a dated book refused before anything is written; a grid too long for
//! lavapipe's loop cap refused naming the trade, no output in place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::market::refused;
use crate::util::{file, ok, p, riskpool, stderr};

const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-12-04"], "zero_rates": [0.05]}},
 "underlyings": {
   "DIV": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2},
           "dividends": [{"ex_date": "2027-06-04", "amount": 10.0}]},
   "Y": {"spot": 90, "currency": "USD", "vol": {"flat": 0.2}},
   "X": {"spot": 100, "currency": "USD", "vol": {"flat": 0.3},
         "heston": {"v0": 0.09, "kappa": 1.5, "theta": 0.09, "xi": 0.3, "rho": -0.5}},
   "S": {"spot": 100, "currency": "USD",
         "vol": {"expiries": ["2027-06-04", "2028-06-04"], "strikes": [80, 100, 120],
                 "vols": [[0.25, 0.2, 0.18], [0.24, 0.2, 0.19]]}}}}"#;

fn lavapipe() -> bool {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return false;
    }
    true
}

/// Files of `dir` whose names start with `prefix`.
fn left(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// A CSV's rows by their first cells (`scenario/id` for a by-trade file),
/// numeric cells by column.
fn rows(path: &Path) -> HashMap<String, HashMap<String, f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut out = HashMap::new();
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        let key = if head[0] == "scenario" && head.get(1) == Some(&"id") {
            format!("{}/{}", cells[0], cells[1])
        } else {
            cells[0].to_string()
        };
        let row = head
            .iter()
            .zip(&cells)
            .filter_map(|(h, c)| c.parse::<f64>().ok().map(|x| (h.to_string(), x)))
            .collect();
        out.insert(key, row);
    }
    out
}

fn risk(dir: &Path, book: &str, scenarios: &str, engine: &str) -> (Output, PathBuf, PathBuf) {
    let market = file(dir, "market.json", MARKET);
    let input = file(dir, "book.jsonl", book);
    let scen = file(dir, "s.csv", scenarios);
    let out = dir.join(format!("pnl-{engine}.csv"));
    let by = dir.join(format!("by-{engine}.csv"));
    let o = riskpool(&[
        "risk",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--scenarios",
        p(&scen),
        "--output",
        p(&out),
        "--by-trade",
        p(&by),
        "--engine",
        engine,
    ]);
    (o, out, by)
}

const BOOK: &str = r#"{"id": "ko", "underlying": "Y", "payoff": {"type": "barrier", "option": "call", "strike": 90, "barrier": 85, "direction": "down", "knock": "out", "monitoring": "continuous", "rebate": 2}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 2000}
{"id": "ki", "underlying": "Y", "payoff": {"type": "barrier", "option": "call", "strike": 90, "barrier": 85, "direction": "down", "knock": "in", "monitoring": "continuous"}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 2000}
{"id": "lv", "underlying": "S", "payoff": {"type": "asian", "option": "put", "strike": 100, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 2000}
{"id": "hx", "underlying": "X", "model": "heston", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 2000}
{"id": "div", "underlying": "DIV", "payoff": {"type": "double_barrier", "option": "put", "strike": 100, "lower": 80, "upper": 125, "monitoring": "continuous", "rebate": 1}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 2000}
{"id": "basket", "underlyings": ["X", "Y"], "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.5, 0.5]}, "expiry": "2027-12-04", "steps_per_year": 4, "paths": 1000}
{"id": "berm", "underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2027-06-04", "2027-09-06"]}, "steps_per_year": 12, "paths": 2000}
"#;

/// `risk --market --engine wgpu` revalues dated trades as the CPU engine
/// does, to the f32 contract (1e-4 relative or 0.1 SE, or the f32
/// rounding of the base a few ulp wide): moves through a barrier (knocked
/// out: the rebate; in: the European), a vol taken to 0.05% of itself, a
/// surface's vol moved down near its lowest pillar, Heston's vol, a rate,
/// several moves in one scenario.
#[test]
fn risk_on_wgpu_revalues_dated_trades_as_the_cpu_engine() {
    if !lavapipe() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let scenarios = "scenario,underlying,spot,vol,rate\n\
        down,Y,-0.1,,\n\
        up,Y,0.1,,\n\
        calm,Y,,-0.1999,\n\
        flat,S,,-0.17,\n\
        crash,S,-0.5,,\n\
        hvol,X,,0.5,\n\
        rates,DIV,,,0.02\n\
        divdown,DIV,-0.21,,\n\
        mix,Y,-0.06,0.05,-0.01\n\
        mix,S,0.02,0.01,\n";
    let (o, _, by_cpu) = risk(d.path(), BOOK, scenarios, "cpu");
    ok(&o);
    let (o, out, by_gpu) = risk(d.path(), BOOK, scenarios, "wgpu");
    ok(&o);
    assert!(out.exists());
    let (a, b) = (rows(&by_cpu), rows(&by_gpu));
    assert_eq!(a.len(), 7 * 9);
    for (k, x) in &a {
        let y = &b[k];
        let (pa, pb) = (x["pnl"], y["pnl"]);
        assert!(pb.is_finite(), "{k}: {pb}");
        let se = x.get("pnl_stderr").copied().unwrap_or(0.0);
        let allowed = (1e-4 * pa.abs()).max(0.1 * se).max(1e-5);
        assert!(
            (pa - pb).abs() <= allowed,
            "{k}: cpu {pa} +- {se}, wgpu {pb} (tolerance {allowed})"
        );
    }
}

/// `--engine wgpu --precision f64` on a dated book is refused (WGSL has
/// no f64), exit 2, nothing written: the dated kernel never runs f32 for
/// a run that asked for f64.
#[test]
fn wgpu_with_f64_is_refused_for_a_dated_book() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let input = file(d.path(), "book.jsonl", BOOK);
    let out = d.path().join("out.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--output",
        p(&out),
        "--engine",
        "wgpu",
        "--precision",
        "f64",
    ]);
    refused(&o, &["--engine wgpu", "f64"]);
    assert!(
        left(d.path(), "out").is_empty(),
        "{:?}",
        left(d.path(), "out")
    );
}

/// A dated grid longer than lavapipe walks (10,001 steps with every
/// Greek's family) is refused as unavailable naming the trade and its
/// steps, exit 1: no output in place (the trades priced before it stay in
/// the `.partial` journal); the same book on the CPU engine prices.
#[test]
fn a_dated_grid_lavapipe_cuts_is_refused_naming_the_trade() {
    if !lavapipe() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let input = file(
        d.path(),
        "book.jsonl",
        r#"{"id": "short", "underlying": "DIV", "payoff": {"type": "european", "option": "call", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 64}
{"id": "long-walk", "underlying": "DIV", "payoff": {"type": "european", "option": "call", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 10000, "paths": 64}
"#,
    );
    let out = d.path().join("out.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--output",
        p(&out),
        "--engine",
        "wgpu",
        "--greeks",
        "delta,gamma,vega,rho",
        "--batch-trades",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("long-walk") && e.contains("10001 steps") && e.contains("cpu engine"),
        "{e}"
    );
    assert!(!out.exists(), "{} was written", out.display());
    let o = riskpool(&[
        "price",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--output",
        p(&out),
        "--engine",
        "cpu",
        "--greeks",
        "delta,gamma,vega,rho",
    ]);
    ok(&o);
    assert_eq!(rows(&out).len(), 2);
}
