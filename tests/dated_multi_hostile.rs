//! Several-underlying and early-exercise dated trades on `--engine wgpu`
//! (lavapipe here) through the CLI, against `--engine cpu`: a mixed book
//! (inline, one-asset dated, eight-underlying American) with per-underlying
//! Greek columns; scenario moves that are refused; SIGKILL mid-run then a
//! rerun; an American basket on perfectly correlated underlyings (FAILS at
//! the commit these were written against: wgpu misprices it by ~21 SE).

use std::collections::HashMap;
use std::path::Path;

use crate::util::{file, ok, p, riskpool, stderr};

const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04"], "zero_rates": [0.041, 0.038]}},
 "underlyings": {
   "A": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2}, "dividends": [{"ex_date": "2027-06-04", "amount": 3.0}]},
   "B": {"spot": 50, "currency": "USD", "vol": {"expiries": ["2027-06-04", "2028-06-04"], "strikes": [40, 50, 60], "vols": [[0.3, 0.25, 0.22], [0.28, 0.25, 0.23]]}},
   "C": {"spot": 200, "currency": "USD", "vol": {"flat": 0.35}},
   "D": {"spot": 80, "currency": "USD", "vol": {"expiries": ["2027-03-04", "2027-12-04"], "strikes": [60, 80, 100], "vols": [[0.35, 0.3, 0.28], [0.33, 0.3, 0.29]]}},
   "E": {"spot": 120, "currency": "USD", "vol": {"flat": 0.25}, "dividends": [{"ex_date": "2027-03-04", "amount": 2.0}]},
   "F": {"spot": 30, "currency": "USD", "vol": {"flat": 0.15}},
   "G": {"spot": 100, "currency": "USD", "vol": {"flat": 0.18}},
   "H": {"spot": 60, "currency": "USD", "vol": {"flat": 0.4}, "dividends": [{"ex_date": "2027-06-04", "amount": 1.5}]}},
 "correlations": CORR}"#;

const PSD: &str = r#"[{"a": "A", "b": "B", "rho": 0.5}, {"a": "A", "b": "C", "rho": 0.3}, {"a": "D", "b": "E", "rho": -0.3}, {"a": "F", "b": "G", "rho": 0.6}]"#;

fn lavapipe() -> bool {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return false;
    }
    true
}

/// A CSV's header and its rows by id.
fn rows(path: &Path) -> (Vec<String>, HashMap<String, HashMap<String, String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let mut out = HashMap::new();
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        let row = head
            .iter()
            .zip(&cells)
            .map(|(h, c)| (h.clone(), c.to_string()))
            .collect();
        out.insert(cells[0].to_string(), row);
    }
    (head, out)
}

fn price(
    dir: &Path,
    market: &str,
    book: &str,
    engine: &str,
    extra: &[&str],
) -> std::process::Output {
    let m = file(dir, "market.json", market);
    let b = file(dir, "book.jsonl", book);
    let out = dir.join(format!("out-{engine}.csv"));
    let mut args = vec![
        "price",
        "--input",
        p(&b),
        "--market",
        p(&m),
        "--output",
        p(&out),
        "--engine",
        engine,
    ];
    args.extend_from_slice(extra);
    riskpool(&args)
}

const MIXED: &str = r#"{"id": "inline-eu", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25}, "payoff": {"type": "european", "option": "call", "strike": 110}, "maturity": 0.75, "steps": 1, "paths": 1000}
{"id": "dated-asian", "underlying": "B", "payoff": {"type": "asian", "option": "put", "strike": 50, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 1000}
{"id": "b8-american", "underlyings": ["A","B","C","D","E","F","G","H"], "payoff": {"type": "basket", "option": "put", "strike": 95, "weights": [0.2, 0.3, 0.1, -0.1, 0.2, 0.0, 0.2, 0.1]}, "expiry": "2027-12-04", "exercise": {"style": "american"}, "steps_per_year": 12, "paths": 500}
{"id": "min-put-on-exdate", "underlyings": ["A","E","H"], "payoff": {"type": "rainbow", "option": "put", "strike": 110, "kind": "min"}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2027-03-04", "2027-06-04", "2027-12-04"]}, "steps_per_year": 12, "paths": 500}
{"id": "one-american", "underlying": "E", "payoff": {"type": "european", "option": "put", "strike": 130}, "expiry": "2027-12-04", "exercise": {"style": "american"}, "steps_per_year": 24, "paths": 500}
"#;

/// A mixed book on wgpu: every row as the CPU engine's (PV to the f32
/// contract, the Greeks with the f32 rounding of the PV amplified by their
/// difference coefficients), the eight per-underlying delta/gamma/vega
/// columns present and filled for the eight-underlying trade, empty for
/// one-asset trades; the `engine` column says wgpu.
#[test]
fn a_mixed_book_with_eight_underlyings_on_wgpu_prices_as_the_cpu_engine() {
    if !lavapipe() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let market = MARKET.replace("CORR", PSD);
    let g = ["--greeks", "delta,gamma,vega,rho"];
    ok(&price(dir.path(), &market, MIXED, "cpu", &g));
    ok(&price(dir.path(), &market, MIXED, "wgpu", &g));
    let (ha, a) = rows(&dir.path().join("out-cpu.csv"));
    let (hb, b) = rows(&dir.path().join("out-wgpu.csv"));
    assert_eq!(ha, hb);
    for c in ["delta_8", "gamma_8", "vega_8", "vega_8_stderr"] {
        assert!(ha.iter().any(|h| h == c), "no column {c}: {ha:?}");
    }
    assert_eq!(b["b8-american"]["engine"], "wgpu");
    assert!(!b["b8-american"]["vega_8"].is_empty());
    assert!(b["one-american"]["delta_1"].is_empty());
    let num = |r: &HashMap<String, String>, c: &str| r[c].parse::<f64>().ok();
    for (id, x) in &a {
        let y = &b[id];
        let pv = num(x, "pv").unwrap();
        for c in &ha {
            if c.ends_with("stderr")
                || ["id", "paths", "steps", "engine", "device", "seconds"].contains(&c.as_str())
            {
                continue;
            }
            let (Some(u), Some(v)) = (num(x, c), num(y, c)) else {
                assert_eq!(x[c].is_empty(), y[c].is_empty(), "{id} {c}");
                continue;
            };
            let se_col = if c == "pv" {
                "stderr".to_string()
            } else {
                format!("{c}_stderr")
            };
            let se = num(x, &se_col).unwrap_or(0.0);
            // Rounding floor: 1e-6 of the PV over the smallest bump
            // (1% of a spot of 30 squared for gamma, 1% of 0.14 for vega,
            // 1 bp for rho), summed over eight underlyings.
            let amp = match c.split('_').next().unwrap() {
                "delta" => 8.0 / 0.3,
                "gamma" => 8.0 * 4.0 / 0.09,
                "vega" => 8.0 / 0.0014,
                "rho" => 1e4,
                _ => 1.0,
            };
            let allowed = (1e-4 * u.abs())
                .max(0.1 * se)
                .max(1e-6 * pv.abs().max(1.0) * amp);
            assert!(
                (u - v).abs() <= allowed,
                "{id} {c}: cpu {u} wgpu {v} (se {se}, allowed {allowed})"
            );
        }
    }
}

/// Scenario moves a several-underlying dated trade cannot take are refused
/// before anything is written, naming the row, the column and the trade:
/// its underlyings' rates moved apart; a flat vol moved below zero.
#[test]
fn refused_moves_of_a_multi_trade_name_the_row_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let market = file(dir.path(), "market.json", &MARKET.replace("CORR", PSD));
    let book = file(dir.path(), "book.jsonl", MIXED);
    for (csv, want) in [
        (
            "scenario,underlying,spot,vol,rate\nx,A,,,0.001\nx,C,,,0.002\n",
            "rate moves must agree",
        ),
        (
            "scenario,underlying,spot,vol,rate\nx,A,,-0.25,\n",
            "cannot be negative",
        ),
    ] {
        let s = file(dir.path(), "s.csv", csv);
        let out = dir.path().join("pnl.csv");
        let o = riskpool(&[
            "risk",
            "--input",
            p(&book),
            "--market",
            p(&market),
            "--scenarios",
            p(&s),
            "--output",
            p(&out),
            "--engine",
            "cpu",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(want) && e.contains("b8-american") && e.contains("s.csv:"),
            "{e}"
        );
        assert!(!out.exists());
    }
}

/// SIGKILL of a wgpu run of several-underlying Americans after some
/// batches are durable; the rerun completes, and its rows are the bits of
/// an uninterrupted run's.
#[test]
fn sigkill_mid_run_on_wgpu_then_rerun_gives_an_uninterrupted_runs_rows() {
    if !lavapipe() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = file(dir.path(), "market.json", &MARKET.replace("CORR", PSD));
    let mut book = String::new();
    for i in 0..8 {
        book.push_str(&format!(
            r#"{{"id": "k{i}", "underlyings": ["A","B","C","D","E"], "payoff": {{"type": "rainbow", "option": "{}", "strike": {}, "kind": "{}"}}, "expiry": "2027-12-04", "exercise": {{"style": "american"}}, "steps_per_year": 12, "paths": 1000}}"#,
            if i % 2 == 1 { "put" } else { "call" },
            90 + i,
            if i % 3 == 0 { "max" } else { "min" }
        ));
        book.push('\n');
    }
    let b = file(dir.path(), "book.jsonl", &book);
    let reference = dir.path().join("ref.csv");
    let out = dir.path().join("run.csv");
    let args = |o: &Path| {
        vec![
            "price".to_string(),
            "--input".into(),
            p(&b).into(),
            "--market".into(),
            p(&m).into(),
            "--output".into(),
            p(o).into(),
            "--engine".into(),
            "wgpu".into(),
            "--greeks".into(),
            "delta,gamma".into(),
            "--batch-trades".into(),
            "1".into(),
        ]
    };
    let r: Vec<String> = args(&reference);
    ok(&riskpool(&r.iter().map(String::as_str).collect::<Vec<_>>()));
    let mut child = crate::util::bin()
        .args(args(&out))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = dir.path().join("run.csv.partial");
    let start = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(&partial)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= 3 || start.elapsed().as_secs() > 60 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no output after a kill");
    let a: Vec<String> = args(&out);
    ok(&riskpool(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let (_, x) = rows(&reference);
    let (_, y) = rows(&out);
    assert_eq!(x.len(), 8);
    for (id, rx) in &x {
        for c in ["pv", "stderr", "delta", "gamma", "delta_5", "gamma_5"] {
            assert_eq!(rx[c], y[id][c], "{id} {c}");
        }
    }
}

/// An American basket put on three perfectly correlated underlyings (the
/// market takes rho = 1: PSD, rank one). Its Longstaff-Schwartz
/// coefficients (host, f64) are huge and cancel on the nearly collinear
/// basis: f32 evaluated them as rounding noise (wgpu 5.516 against the
/// cpu's 9.078 +- 0.168, below the basket's European). A named wgpu now
/// refuses it (unavailable, naming the trade and the way out, nothing
/// written as its price); `--engine cpu` prices it.
#[test]
fn an_american_basket_on_perfectly_correlated_underlyings_is_refused_by_wgpu() {
    if !lavapipe() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let market = MARKET.replace(
        "CORR",
        r#"[{"a": "A", "b": "C", "rho": 1.0}, {"a": "A", "b": "F", "rho": 1.0}, {"a": "C", "b": "F", "rho": 1.0}]"#,
    );
    let book = r#"{"id": "b3-am", "underlyings": ["A","C","F"], "payoff": {"type": "basket", "option": "put", "strike": 110, "weights": [0.4, 0.2, 1.0]}, "expiry": "2027-12-04", "exercise": {"style": "american"}, "steps_per_year": 12, "paths": 4000}
"#;
    ok(&price(dir.path(), &market, book, "cpu", &[]));
    let (_, a) = rows(&dir.path().join("out-cpu.csv"));
    let x: f64 = a["b3-am"]["pv"].parse().unwrap();
    assert!(x > 8.0, "cpu {x}");
    let o = price(dir.path(), &market, book, "wgpu", &[]);
    assert!(!o.status.success(), "wgpu priced it");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("b3-am") && err.contains("--engine cpu"),
        "{err}"
    );
    let priced = std::fs::read_to_string(dir.path().join("out-wgpu.csv")).unwrap_or_default();
    assert!(!priced.contains("b3-am,"), "{priced}");
}
