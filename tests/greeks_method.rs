//! `--greeks-method` through the `riskpool` binary: one-pass Greeks with
//! each row's `<greek>_method` (an American put's too), the PV unchanged
//! to the bit, the Greeks within the two estimators' error of bumping,
//! the wgpu engine's one-pass Greeks as the CPU's (bumps where it has no
//! one-pass estimator: early exercise), a rerun
//! with the other method priced again, and a bad method named by its flag.

use serde_json::Value;

use crate::util::{file, jsonl_rows as rows, riskpool};

const BOOK: &str = r#"{"id": "call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.25}, "payoff": {"type": "european", "option": "call", "strike": 105}, "maturity": 1, "steps": 8, "paths": 40000}
{"id": "digital", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25}, "payoff": {"type": "digital", "option": "put", "strike": 95, "cash": 10}, "maturity": 0.5, "steps": 4, "paths": 40000}
{"id": "heston-asian", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.05, "xi": 0.6, "rho": -0.7}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 0.5, "steps": 24, "paths": 40000}
{"id": "fx-knock", "model": {"type": "sv_fx", "spot": 1.1, "drift": 0.01, "sigma": 0.1, "volvol": 0.3, "rho": 0.2}, "payoff": {"type": "fx_warrant", "strike": 1.05, "warrants": 10, "notional_per_warrant": 100}, "maturity": 0.5, "steps": 24, "paths": 40000}
{"id": "american", "model": {"type": "gbm", "spot": 36, "rate": 0.06, "vol": 0.2}, "payoff": {"type": "european", "option": "put", "strike": 40}, "maturity": 1, "steps": 10, "paths": 4096, "exercise": {"style": "american"}}
"#;

const GREEKS: [&str; 4] = ["delta", "gamma", "vega", "rho"];

/// `riskpool price --input input --output output` and `extra`.
fn run(input: &std::path::Path, output: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "price",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    riskpool(&args)
}

/// Every Greek in f64, and `extra`: it must succeed.
fn price(input: &std::path::Path, output: &std::path::Path, extra: &[&str]) {
    let mut args = vec!["--greeks", "delta,gamma,vega,rho", "--precision", "f64"];
    args.extend_from_slice(extra);
    let o = run(input, output, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn pathwise_greeks_say_their_estimator_and_agree_with_bumps() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", BOOK);
    let (pw, bump) = (d.path().join("pw.jsonl"), d.path().join("bump.jsonl"));
    price(
        &input,
        &pw,
        &["--engine", "cpu", "--greeks-method", "pathwise"],
    );
    price(
        &input,
        &bump,
        &["--engine", "cpu", "--greeks-method", "bump"],
    );
    let (pw, bump) = (rows(&pw), rows(&bump));
    let method = |r: &Value, g: &str| r[format!("{g}_method")].as_str().unwrap().to_string();
    // The estimators each trade's Greeks take (docs/formats.md).
    let expect = [
        ["pathwise", "pathwise_difference", "pathwise", "pathwise"],
        ["likelihood_ratio"; 4],
        ["pathwise", "pathwise_difference", "bump", "pathwise"],
        ["bump", "bump", "bump", "likelihood_ratio"],
        ["pathwise", "pathwise_difference", "pathwise", "pathwise"],
    ];
    for ((a, b), want) in pw.iter().zip(&bump).zip(expect) {
        let id = a["id"].as_str().unwrap();
        assert_eq!(a["pv"], b["pv"], "{id}: the PV is the same bits");
        assert!(
            b.get("delta_method").is_none(),
            "bump rows have no method columns: {b}"
        );
        for (g, w) in GREEKS.iter().zip(want) {
            assert_eq!(method(a, g), w, "{id} {g}");
            let (x, y) = (a[*g].as_f64().unwrap(), b[*g].as_f64().unwrap());
            let (sx, sy) = (
                a[format!("{g}_stderr")].as_f64().unwrap(),
                b[format!("{g}_stderr")].as_f64().unwrap(),
            );
            let combined = (sx * sx + sy * sy).sqrt();
            assert!(
                (x - y).abs() <= 4.0 * combined,
                "{id} {g}: {x} +- {sx} ({w}) vs bump {y} +- {sy}"
            );
            if w == "bump" {
                assert_eq!(a[*g], b[*g], "{id} {g}: a bump is the bump's bits");
            }
        }
    }
    // The digital's gamma: the likelihood ratio's error is a fraction of
    // the bump's (a bumped digital's gamma divides a jump by h^2).
    let se = |r: &Value| r["gamma_stderr"].as_f64().unwrap();
    assert!(
        se(&pw[1]) * 10.0 < se(&bump[1]),
        "{} vs {}",
        se(&pw[1]),
        se(&bump[1])
    );
}

#[test]
fn a_csv_carries_method_columns_and_a_rerun_with_the_other_method_prices_again() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", BOOK);
    let out = d.path().join("r.csv");
    price(
        &input,
        &out,
        &["--engine", "cpu", "--greeks-method", "bump"],
    );
    let header = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert!(!header(&out).contains("_method"), "{}", header(&out));
    // One pass is the default.
    price(&input, &out, &["--engine", "cpu"]);
    let h = header(&out);
    assert!(
        h.contains("delta_stderr,gamma_stderr,vega_stderr,rho_stderr,delta_method,gamma_method,vega_method,rho_method,paths"),
        "{h}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains(",pathwise,pathwise_difference,pathwise,pathwise,"),
        "{text}"
    );
    // The summary counts each Greek's estimators over the rows.
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("r.csv.summary.json")).unwrap(),
    )
    .unwrap();
    let e = &summary["greek_estimators"];
    assert_eq!(e["delta"]["pathwise"], 3, "{e}");
    assert_eq!(e["delta"]["likelihood_ratio"], 1, "{e}");
    assert_eq!(e["delta"]["bump"], 1, "{e}");
    assert_eq!(e["gamma"]["pathwise_difference"], 3, "{e}");
    assert_eq!(e["vega"]["bump"], 2, "{e}");
    // The same run again, the default named: complete, nothing priced,
    // the file unchanged.
    price(
        &input,
        &out,
        &["--engine", "cpu", "--greeks-method", "pathwise"],
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

/// The wgpu engine takes Greeks in one pass as the CPU engine does, one
/// asset and early exercise alike (the same method columns, the values to
/// the f32 contract: 1e-4 relative or 0.1 SE).
#[test]
fn the_wgpu_engine_takes_one_pass_greeks_as_the_cpu_engine() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", BOOK);
    let (gpu, cpu) = (d.path().join("gpu.jsonl"), d.path().join("cpu.jsonl"));
    let args = |engine| {
        [
            "--greeks",
            "delta,gamma,vega,rho",
            "--engine",
            engine,
            "--greeks-method",
            "pathwise",
        ]
    };
    let o = run(&input, &gpu, &args("wgpu"));
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("wgpu"), "{err}");
        eprintln!("no wgpu adapter here: {err}");
        return;
    }
    let o = run(&input, &cpu, &args("cpu"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (g, c) in rows(&gpu).iter().zip(rows(&cpu)) {
        assert_eq!(g["id"], c["id"]);
        for greek in GREEKS {
            let method = &g[format!("{greek}_method")];
            assert_eq!(method, &c[format!("{greek}_method")], "{g}\n{c}");
            let (a, b) = (c[greek].as_f64().unwrap(), g[greek].as_f64().unwrap());
            let se = c[format!("{greek}_stderr")].as_f64().unwrap();
            assert!(
                (a - b).abs() <= (1e-4 * a.abs()).max(0.1 * se),
                "{} {greek}: cpu {a} +- {se}, wgpu {b}",
                g["id"]
            );
        }
    }
}

#[test]
fn an_unknown_method_is_refused_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", BOOK);
    let out = d.path().join("r.jsonl");
    let o = run(
        &input,
        &out,
        &["--greeks", "delta", "--greeks-method", "adjoint"],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--greeks-method") && err.contains("adjoint"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn azfinsim_deltavega_to_csv_refuses_one_pass_greeks_and_to_json_lines_says_them() {
    let d = tempfile::tempdir().unwrap();
    let input = file(
        d.path(),
        "trades.csv",
        "tradenum,fx1,start_date,end_date,drift,maturity,t_steps,trials,ro,v,sigma1,warrantsNo,notionalPerWarr,strike\n\
         0,0.8376569947248749,2017-12-29,2018-08-28,0.044693035566188255,0.2,172,2000,3.8413221829e-05,0.00154807378604,0.08091806210759814,49623,1036.8801458207809,0.7809196507526746\n",
    );
    let csv = d.path().join("r.csv");
    let deltavega = |out: &std::path::Path| {
        run(
            &input,
            out,
            &["--algorithm", "deltavega", "--greeks-method", "pathwise"],
        )
    };
    let o = deltavega(&csv);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--greeks-method pathwise") && err.contains("deltavega"),
        "{err}"
    );
    assert!(!csv.exists());
    let jsonl = d.path().join("r.jsonl");
    let o = deltavega(&jsonl);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = &rows(&jsonl)[0];
    // A knock-out watched at 172 steps jumps; its delta and vega bump.
    assert_eq!(r["delta_method"], "bump", "{r}");
    assert_eq!(r["vega_method"], "bump", "{r}");
    // Named by neither flag, deltavega bumps (azfinsim's Greeks are its
    // bumps): its CSV is written in azfinsim's columns, its JSON Lines
    // rows carry no method columns.
    let o = run(&input, &csv, &["--algorithm", "deltavega"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("tradenum,delta,vega,delta_stderr,vega_stderr\n"),
        "{text}"
    );
    let plain = d.path().join("plain.jsonl");
    let o = run(&input, &plain, &["--algorithm", "deltavega"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = &rows(&plain)[0];
    assert!(r.get("delta_method").is_none(), "{r}");
}
