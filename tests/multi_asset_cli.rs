//! Several assets and early exercise through the `riskpool` binary: the
//! portfolio fields read, per-asset Greeks written, and every new field's
//! bad input named by file, line and field.

use crate::util::{file, riskpool};

const BASKET: &str = r#"{"id": "bk-1", "model": {"type": "gbm_multi", "rate": 0.03, "assets": [{"spot": 100, "vol": 0.2}, {"spot": 90, "vol": 0.3, "dividend": 0.01}], "correlation": [[1, 0.5], [0.5, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.6, 0.4]}, "maturity": 1, "steps": 4, "paths": 8192}"#;
const RAINBOW: &str = r#"{"id": "rb-1", "model": {"type": "heston_multi", "rate": 0.02, "assets": [{"spot": 100, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7}, {"spot": 105, "dividend": 0.01, "v0": 0.05, "kappa": 2, "theta": 0.05, "xi": 0.4, "rho": -0.5}]	, "correlation": [[1, 0.3], [0.3, 1]]}, "payoff": {"type": "rainbow", "option": "put", "strike": 100, "kind": "min"}, "maturity": 0.5, "steps": 10, "paths": 4096, "exercise": {"style": "bermudan", "steps": [5, 10]}}"#;
const AMERICAN: &str = r#"{"id": "am-1", "model": {"type": "gbm", "spot": 36, "rate": 0.06, "vol": 0.2}, "payoff": {"type": "european", "option": "put", "strike": 40}, "maturity": 1, "steps": 10, "paths": 4096, "exercise": {"style": "american"}}"#;

#[test]
fn multi_asset_and_early_exercise_trades_price_with_per_asset_greeks() {
    let d = tempfile::tempdir().unwrap();
    let input = file(
        d.path(),
        "book.jsonl",
        &format!("{BASKET}\n{RAINBOW}\n{AMERICAN}\n"),
    );
    let out = d.path().join("r.jsonl");
    let o = riskpool(&[
        "price",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--engine",
        "cpu",
        "--greeks",
        "delta,gamma,vega,rho",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    for row in &rows[..2] {
        for g in ["delta", "gamma", "vega", "delta_stderr"] {
            assert_eq!(row[g].as_array().map(Vec::len), Some(2), "{g} in {row}");
        }
        assert!(row["rho"].is_number(), "{row}");
    }
    assert!(rows[2]["delta"].as_f64().unwrap() < 0.0, "{}", rows[2]);
    let pv = rows[2]["pv"].as_f64().unwrap();
    assert!(pv > 4.0 && pv < 4.6, "American put {pv}");
    // CSV: the per-asset sums in the Greek columns, then a column per
    // asset (`delta_1 ... delta_n`, n the most assets of any trade), empty
    // where a trade has no such asset; rho stays one number.
    let three = BASKET
        .replace("bk-1", "bk-3")
        .replace(
            r#"{"spot": 90, "vol": 0.3, "dividend": 0.01}]"#,
            r#"{"spot": 90, "vol": 0.3, "dividend": 0.01}, {"spot": 80, "vol": 0.25}]"#,
        )
        .replace(
            "[[1, 0.5], [0.5, 1]]",
            "[[1, 0.5, 0.2], [0.5, 1, 0.1], [0.2, 0.1, 1]]",
        )
        .replace("[0.6, 0.4]", "[0.5, 0.3, 0.2]");
    let input = file(
        d.path(),
        "book3.jsonl",
        &format!("{BASKET}\n{three}\n{AMERICAN}\n"),
    );
    let csv = d.path().join("r.csv");
    let price_csv = || {
        riskpool(&[
            "price",
            "--input",
            input.to_str().unwrap(),
            "--output",
            csv.to_str().unwrap(),
            "--engine",
            "cpu",
            "--greeks",
            "delta,rho,vega",
        ])
    };
    let o = price_csv();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "id",
            "pv",
            "stderr",
            "delta",
            "rho",
            "vega",
            "delta_stderr",
            "rho_stderr",
            "vega_stderr",
            "delta_method",
            "rho_method",
            "vega_method",
            "delta_1",
            "delta_2",
            "delta_3",
            "vega_1",
            "vega_2",
            "vega_3",
            "delta_1_stderr",
            "delta_2_stderr",
            "delta_3_stderr",
            "vega_1_stderr",
            "vega_2_stderr",
            "vega_3_stderr",
            "paths",
            "steps",
            "engine",
            "device",
            "seconds"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let num = |row: &[&str], name: &str| row[col(name)].parse::<f64>().unwrap();
    // The two-asset basket: two deltas summing to the delta column, no third.
    let two = &rows[0];
    let sum = num(two, "delta_1") + num(two, "delta_2");
    assert!(
        (sum - num(two, "delta")).abs() < 1e-9 * sum.abs().max(1.0),
        "{two:?}"
    );
    assert!(
        num(two, "delta_1") > 0.0 && num(two, "vega_2") > 0.0,
        "{two:?}"
    );
    for c in ["delta_3", "vega_3", "delta_3_stderr", "vega_3_stderr"] {
        assert_eq!(two[col(c)], "", "{c} of a two-asset trade");
    }
    let sum3: f64 = (1..=3).map(|i| num(&rows[1], &format!("delta_{i}"))).sum();
    assert!((sum3 - num(&rows[1], "delta")).abs() < 1e-9 * sum3.abs().max(1.0));
    // The one-asset American put has no per-asset cells.
    assert!(header[col("delta_1")..col("paths")]
        .iter()
        .all(|c| rows[2][col(c)].is_empty()));
    // A rerun keeps the complete file; concat reads the layout back.
    let o = price_csv();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), text);
    let all = d.path().join("all.csv");
    let o = riskpool(&[
        "concat",
        "--output",
        all.to_str().unwrap(),
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&all).unwrap(), text);
}

#[test]
fn bad_multi_asset_and_exercise_fields_are_named() {
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            BASKET.replace("[0.6, 0.4]", "[0.6, 0.3, 0.1]"),
            "payoff.weights",
            "3 weights for 2 assets",
        ),
        (
            BASKET.replace(r#""spot": 90"#, r#""spot": 0"#),
            "model.assets[1].spot",
            "greater than 0",
        ),
        (
            BASKET.replace(r#""vol": 0.3"#, r#""vol": -0.3"#),
            "model.assets[1].vol",
            "greater than 0",
        ),
        (
            BASKET.replace("[[1, 0.5], [0.5, 1]]", "[[1, 0.5], [0.4, 1]]"),
            "model.correlation",
            "not symmetric",
        ),
        (
            BASKET.replace("[[1, 0.5], [0.5, 1]]", "[[1, 0.5], [0.5, 2]]"),
            "model.correlation",
            "outside",
        ),
        (
            BASKET
                .replace(r#""type": "basket""#, r#""type": "european""#)
                .replace(r#", "weights": [0.6, 0.4]"#, ""),
            "payoff.type",
            "several assets",
        ),
        (
            AMERICAN.replace(r#""type": "european""#, r#""type": "basket""#),
            "payoff.type",
            "needs a model on several assets",
        ),
        (
            RAINBOW.replace("[5, 10]", "[5, 4, 10]"),
            "exercise.steps",
            "must increase",
        ),
        (
            RAINBOW.replace("[5, 10]", "[5, 12]"),
            "exercise.steps",
            "past",
        ),
        (
            AMERICAN.replace(
                r#""type": "european", "option": "put", "strike": 40"#,
                r#""type": "digital", "option": "put", "strike": 40, "cash": 1"#,
            ),
            "exercise",
            "intrinsic value",
        ),
        (
            AMERICAN.replace(r#""american""#, r#""asian""#),
            "exercise.style",
            "not one of",
        ),
    ];
    for (i, (line, field, why)) in cases.iter().enumerate() {
        let input = file(
            d.path(),
            &format!("bad{i}.jsonl"),
            &format!("{AMERICAN}\n{line}\n"),
        );
        let out = d.path().join(format!("bad{i}.csv"));
        let o = riskpool(&[
            "price",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--engine",
            "cpu",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(
            err.contains(&format!("bad{i}.jsonl:2")) && err.contains(field) && err.contains(why),
            "case {i}: expected line 2, `{field}` and `{why}` in: {err}"
        );
    }
}

/// An inline basket on `n` assets (spots 80 on, identity correlation,
/// equal weights) as a portfolio line.
fn basket_of(n: usize) -> String {
    let assets: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"spot": {}, "vol": 0.2}}"#, 80 + i))
        .collect();
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let row: Vec<&str> = (0..n).map(|j| if i == j { "1" } else { "0" }).collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let weights = vec![format!("{}", 1.0 / n as f64); n];
    format!(
        r#"{{"id": "bk-{n}", "model": {{"type": "gbm_multi", "rate": 0.03, "assets": [{}], "correlation": [{}]}}, "payoff": {{"type": "basket", "option": "call", "strike": 95, "weights": [{}]}}, "maturity": 1, "steps": 2, "paths": 512}}"#,
        assets.join(", "),
        rows.join(", "),
        weights.join(", ")
    )
}

/// 32 assets (the limit) price with a column per asset; 33 are refused,
/// naming the file, the line, the field and the limit: an inline basket
/// (`model.assets`), and a dated basket on 33 of a market's underlyings
/// (`underlyings`).
#[test]
fn thirty_two_assets_price_and_thirty_three_are_refused_naming_the_limit() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "b32.jsonl", &format!("{}\n", basket_of(32)));
    let out = d.path().join("b32.csv");
    let o = riskpool(&[
        "price",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--engine",
        "cpu",
        "--greeks",
        "delta",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert!(
        header.contains(&"delta_32") && !header.contains(&"delta_33"),
        "{header:?}"
    );

    let unds: Vec<String> = (0..33)
        .map(|i| {
            format!(
                r#""U{i}": {{"spot": {}, "currency": "USD", "vol": {{"flat": 0.2}}}}"#,
                50 + i
            )
        })
        .collect();
    let market = file(
        d.path(),
        "market.json",
        &format!(
            r#"{{"valuation_date": "2026-12-04", "curves": {{"USD": {{"dates": ["2027-12-04"], "zero_rates": [0.03]}}}}, "underlyings": {{{}}}, "correlations": []}}"#,
            unds.join(", ")
        ),
    );
    let names: Vec<String> = (0..33).map(|i| format!(r#""U{i}""#)).collect();
    let dated = format!(
        r#"{{"id": "d33", "underlyings": [{}], "payoff": {{"type": "basket", "option": "call", "strike": 60, "weights": [{}]}}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 500}}"#,
        names.join(", "),
        vec!["0.03"; 33].join(", ")
    );
    for (name, line, field, why) in [
        (
            "inline33.jsonl",
            basket_of(33),
            "model.assets",
            "33 assets: at most 32",
        ),
        (
            "dated33.jsonl",
            dated,
            "underlyings",
            "33 underlyings: at most 32",
        ),
    ] {
        let input = file(d.path(), name, &format!("{AMERICAN}\n{line}\n"));
        let out = d.path().join(format!("{name}.csv"));
        let o = riskpool(&[
            "price",
            "--input",
            input.to_str().unwrap(),
            "--market",
            market.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--engine",
            "cpu",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}:2")) && err.contains(field) && err.contains(why),
            "{name}: expected line 2, `{field}` and `{why}` in: {err}"
        );
    }
}

/// `--engine wgpu` prices several assets and early exercise as the CPU
/// engine, per-asset deltas included, to the GPU engines' f32 contract
/// (lavapipe here; skipped where no Vulkan driver exists unless
/// RISKPOOL_REQUIRE_WGPU is set).
#[test]
fn the_wgpu_engine_prices_several_assets_and_early_exercise_from_the_command_line() {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let input = file(
        d.path(),
        "book.jsonl",
        &format!("{BASKET}\n{RAINBOW}\n{AMERICAN}\n"),
    );
    let rows = |engine: &str| -> Vec<serde_json::Value> {
        let out = d.path().join(format!("{engine}.jsonl"));
        let o = riskpool(&[
            "price",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--engine",
            engine,
            "--greeks",
            "delta",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (cpu, gpu) = (rows("cpu"), rows("wgpu"));
    assert_eq!(cpu.len(), 3);
    let close = |x: f64, y: f64, se: f64| (x - y).abs() <= (1e-4 * x.abs()).max(0.1 * se);
    for (a, b) in cpu.iter().zip(&gpu) {
        assert_eq!(b["engine"], "wgpu");
        let (x, y, se) = (
            a["pv"].as_f64().unwrap(),
            b["pv"].as_f64().unwrap(),
            a["stderr"].as_f64().unwrap(),
        );
        assert!(close(x, y, se), "{}: pv cpu {x} wgpu {y}", a["id"]);
        let deltas = |r: &serde_json::Value, k: &str| -> Vec<f64> {
            match &r[k] {
                serde_json::Value::Array(v) => v.iter().map(|d| d.as_f64().unwrap()).collect(),
                v => vec![v.as_f64().unwrap()],
            }
        };
        let (x, y, se) = (
            deltas(a, "delta"),
            deltas(b, "delta"),
            deltas(a, "delta_stderr"),
        );
        assert_eq!(x.len(), y.len());
        for (j, ((x, y), se)) in x.iter().zip(&y).zip(&se).enumerate() {
            assert!(
                close(*x, *y, *se),
                "{}: delta[{j}] cpu {x} wgpu {y}",
                a["id"]
            );
        }
    }
}
