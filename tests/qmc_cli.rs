//! Sobol points through the `riskpool` binary: a trade's own `rng` and
//! `qmc`, `--rng sobol` for the rest, the same bits sharded or not and on
//! a rerun, risk on Sobol points, and every refusal named by its file,
//! line and field or by its flags.

use serde_json::Value;

use crate::util::{file, jsonl_rows as rows, ok, p, riskpool, stderr};

const BOOK: &str = r#"{"id": "asian", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "SPX"}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 1, "steps": 64, "paths": 16384, "rng": "sobol"}
{"id": "call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25, "underlying": "SPX"}, "payoff": {"type": "european", "option": "call", "strike": 105}, "maturity": 1, "steps": 4, "paths": 16384, "rng": "sobol", "qmc": {"replicates": 32}}
{"id": "heston", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7, "underlying": "SPX"}, "payoff": {"type": "barrier", "option": "call", "strike": 100, "barrier": 130, "direction": "up", "knock": "out", "monitoring": "continuous"}, "maturity": 1, "steps": 16, "paths": 16384}
{"id": "philox", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "SPX"}, "payoff": {"type": "european", "option": "put", "strike": 95}, "maturity": 1, "steps": 4, "paths": 16384, "rng": "philox"}
"#;

fn price(input: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "price",
        "--input",
        p(input),
        "--output",
        p(out),
        "--engine",
        "cpu",
    ];
    args.extend_from_slice(extra);
    riskpool(&args)
}

/// The numbers of a row that must not move (not its timing).
fn figures(r: &Value) -> Vec<String> {
    [
        "id",
        "pv",
        "stderr",
        "delta",
        "delta_stderr",
        "vega",
        "vega_stderr",
        "paths",
    ]
    .iter()
    .map(|k| r.get(*k).map(|v| v.to_string()).unwrap_or_default())
    .collect()
}

#[test]
fn sobol_trades_price_with_small_honest_errors_the_same_anywhere() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", BOOK);
    let all = d.path().join("all.jsonl");
    ok(&price(
        &book,
        &all,
        &["--greeks", "delta,vega", "--threads", "2"],
    ));
    let a = rows(&all);
    assert_eq!(a.len(), 4);
    // Every replicate's points counted; the Sobol trades' errors far
    // below a Philox run's at the same paths.
    for r in &a {
        assert_eq!(r["paths"], 16384, "{r}");
    }
    let philox = d.path().join("philox.jsonl");
    ok(&price(
        &book,
        &philox,
        &[
            "--greeks",
            "delta,vega",
            "--threads",
            "2",
            "--rng",
            "philox",
        ],
    ));
    let b = rows(&philox);
    // --rng philox changes nothing: the trades' own rng wins.
    assert_eq!(
        a.iter().map(figures).collect::<Vec<_>>(),
        b.iter().map(figures).collect::<Vec<_>>()
    );
    let forced = d.path().join("forced.jsonl");
    let plain = BOOK
        .replace(r#", "rng": "sobol""#, "")
        .replace(r#", "qmc": {"replicates": 32}"#, "");
    let plain_book = file(d.path(), "plain.jsonl", &plain);
    ok(&price(&plain_book, &forced, &["--greeks", "delta,vega"]));
    let c = rows(&forced);
    for (name, sobol, ph) in [("asian", &a[0], &c[0]), ("call", &a[1], &c[1])] {
        let (s, q) = (
            sobol["stderr"].as_f64().unwrap(),
            ph["stderr"].as_f64().unwrap(),
        );
        assert!(q > 8.0 * s, "{name}: sobol {s} against philox {q}");
        let dev = (sobol["pv"].as_f64().unwrap() - ph["pv"].as_f64().unwrap()).abs();
        assert!(dev < 4.0 * q, "{name}: {sobol} against {ph}");
    }
    // --rng sobol with 16 replicates on the plain book: the asian's bits
    // are its own `rng: sobol`'s (16 replicates by default).
    let run = d.path().join("run.jsonl");
    ok(&price(
        &plain_book,
        &run,
        &[
            "--greeks",
            "delta,vega",
            "--rng",
            "sobol",
            "--threads",
            "1",
            "--simd",
            "portable",
        ],
    ));
    let r = rows(&run);
    assert_eq!(figures(&r[0]), figures(&a[0]));
    assert_ne!(figures(&r[1]), figures(&a[1]), "32 replicates against 16");
    // Sharded = unsharded, to the bit.
    let mut sharded = Vec::new();
    for s in ["0/2", "1/2"] {
        let out = d.path().join(format!("shard{}.jsonl", &s[..1]));
        ok(&price(
            &book,
            &out,
            &["--greeks", "delta,vega", "--shard", s],
        ));
        sharded.extend(rows(&out));
    }
    let mut want: Vec<_> = a.iter().map(figures).collect();
    let mut got: Vec<_> = sharded.iter().map(figures).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // A rerun with other replicates is another run: priced afresh.
    let o = price(
        &plain_book,
        &run,
        &[
            "--greeks",
            "delta,vega",
            "--rng",
            "sobol",
            "--qmc-replicates",
            "8",
        ],
    );
    ok(&o);
    let r8 = rows(&run);
    assert_ne!(figures(&r8[0]), figures(&r[0]));
}

#[test]
fn risk_revalues_on_sobol_points() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", BOOK);
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\ndown,SPX,-0.05,0.02,\nup,SPX,0.03,,0.001\n",
    );
    let run_on = |engine: &str, out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "risk",
            "--input",
            p(&book),
            "--scenarios",
            p(&scen),
            "--output",
            p(out),
            "--engine",
            engine,
        ];
        args.extend_from_slice(extra);
        riskpool(&args)
    };
    let run = |out: &std::path::Path, extra: &[&str]| run_on("cpu", out, extra);
    let (a, b) = (d.path().join("a.csv"), d.path().join("b.csv"));
    ok(&run(&a, &["--by-trade", p(&d.path().join("a-trades.csv"))]));
    ok(&run(
        &b,
        &[
            "--by-trade",
            p(&d.path().join("b-trades.csv")),
            "--threads",
            "1",
        ],
    ));
    let (ta, tb) = (
        std::fs::read_to_string(d.path().join("a-trades.csv")).unwrap(),
        std::fs::read_to_string(d.path().join("b-trades.csv")).unwrap(),
    );
    assert_eq!(ta, tb);
    // The sobol asian's P&L error is far below the philox put's scale.
    for line in ta.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (pnl, se): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        assert!(pnl.is_finite() && se.is_finite() && se >= 0.0, "{line}");
        if f[1] == "call" {
            assert!(se < 0.01, "{line}");
        }
    }
    // The wgpu engine revalues on the same points: each P&L within the
    // f32 contract of the CPU engine's (lavapipe; where there is one).
    if std::env::var("RISKPOOL_REQUIRE_WGPU").as_deref() == Ok("1") {
        let g = d.path().join("g.csv");
        ok(&run_on(
            "wgpu",
            &g,
            &["--by-trade", p(&d.path().join("g-trades.csv"))],
        ));
        let tg = std::fs::read_to_string(d.path().join("g-trades.csv")).unwrap();
        assert_eq!(ta.lines().count(), tg.lines().count());
        for (x, y) in ta.lines().zip(tg.lines()).skip(1) {
            let (f, h): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
            assert_eq!(f[..2], h[..2]);
            let (a, b, se): (f64, f64, f64) = (
                f[2].parse().unwrap(),
                h[2].parse().unwrap(),
                f[3].parse().unwrap(),
            );
            assert!(
                (a - b).abs() <= (1e-4 * a.abs()).max(0.1 * se).max(1e-9),
                "cpu {x}, wgpu {y}"
            );
        }
    }
}

#[test]
fn what_sobol_cannot_take_is_named() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.csv");
    let line = |extra: &str, paths: u64| {
        format!(
            r#"{{"id": "t", "model": {{"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}}, "payoff": {{"type": "european", "option": "call", "strike": 100}}, "maturity": 1, "steps": 4, "paths": {paths}{extra}}}"#
        )
    };
    let ok_line = line("", 1024);
    for (extra, paths, field, words) in [
        (
            r#", "rng": "halton""#,
            1024,
            "rng",
            "\"philox\" or \"sobol\"",
        ),
        (r#", "rng": 3"#, 1024, "rng", "\"philox\" or \"sobol\""),
        (
            r#", "qmc": {"replicates": 4}"#,
            1024,
            "qmc",
            "\"rng\": \"sobol\"",
        ),
        (
            r#", "rng": "philox", "qmc": {"replicates": 4}"#,
            1024,
            "qmc",
            "\"rng\": \"sobol\"",
        ),
        (
            r#", "rng": "sobol", "qmc": {"replicates": 1}"#,
            1024,
            "qmc.replicates",
            "from 2 to 4096",
        ),
        (
            r#", "rng": "sobol", "qmc": {"replicates": 4, "scramble": false}"#,
            1024,
            "qmc.scramble",
            "expected one of: replicates",
        ),
        (
            r#", "rng": "sobol", "qmc": {"replicates": -4}"#,
            1024,
            "qmc.replicates",
            "",
        ),
        (
            r#", "rng": "sobol""#,
            1000,
            "paths",
            "1000 paths in 16 replicates",
        ),
    ] {
        let book = file(
            d.path(),
            "bad.jsonl",
            &format!(
                "{ok_line}\n{}\n",
                line(extra, paths).replace(r#""id": "t""#, r#""id": "u""#)
            ),
        );
        let o = price(&book, &out, &[]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra}: {e}");
        assert!(
            e.contains("bad.jsonl:2:") && e.contains(&format!("field `{field}`")),
            "{extra}: {e}"
        );
        assert!(e.contains(words), "{extra}: {e}");
        assert!(!out.exists(), "{extra}: half-written output");
    }
    // Too many dimensions for the direction numbers: with the count.
    let long = line(r#", "rng": "sobol""#, 1024).replace(r#""steps": 4"#, r#""steps": 30000"#);
    let book = file(d.path(), "long.jsonl", &format!("{long}\n"));
    let o = price(&book, &out, &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("`steps`") && e.contains("30000 sobol dimensions") && e.contains("21201"),
        "{e}"
    );
    // The run's flags: named as flags.
    let book = file(d.path(), "ok.jsonl", &format!("{ok_line}\n"));
    for (args, words) in [
        (
            vec!["--rng", "sobol", "--antithetic"],
            vec!["--rng sobol", "--antithetic"],
        ),
        (
            vec!["--rng", "sobol", "--paths", "2000"],
            vec!["--paths 2000", "--qmc-replicates 16", "e.g. 1024 or 2048"],
        ),
        (
            vec!["--rng", "sobol", "--qmc-replicates", "1"],
            vec!["--qmc-replicates", "from 2"],
        ),
        (vec!["--rng", "quasi"], vec!["--rng", "philox", "sobol"]),
        (
            vec!["--rng", "sobol", "--qmc-replicates", "4097"],
            vec!["--qmc-replicates", "from 2 to 4096"],
        ),
    ] {
        let o = price(&book, &out, &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        for w in words {
            assert!(e.contains(w), "{args:?}: {w} not in {e}");
        }
    }
    // A trade's own Sobol count made bad by --paths: the flag is named.
    let own = file(
        d.path(),
        "own.jsonl",
        &format!("{}\n", line(r#", "rng": "sobol""#, 1024)),
    );
    let o = price(&own, &out, &["--paths", "1000"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("field `paths`") && e.contains("(the count is --paths 1000)"),
        "{e}"
    );
    // A trade on a market's dates with its own Sobol count: named by its
    // line and field.
    let market = file(d.path(), "market.json", crate::market::MARKET);
    // An Asian on its fixing dates (priced on the market's dates).
    let dated = |id: &str, paths: u64| {
        format!(
            r#"{{"id": "{id}", "underlying": "SPX", "payoff": {{"type": "asian", "option": "call", "strike": 6000, "average": "arithmetic"}}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 4, "paths": {paths}}}"#
        )
    };
    let dated_own = dated("dc", 1000);
    let dated_own = format!(
        "{}, \"rng\": \"sobol\"}}",
        &dated_own[..dated_own.len() - 1]
    );
    let m = p(&market);
    let o = price(
        &file(d.path(), "d.jsonl", &format!("{dated_own}\n")),
        &out,
        &["--market", m],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("d.jsonl:1:") && e.contains("field `paths`") && e.contains("1000 paths in 16"),
        "{e}"
    );
    assert!(!out.exists(), "{e}");
}

/// A trade on a market's dates under `--rng sobol` prices on its grid's
/// points (the CPU engine's), with a smaller error than Philox's at the
/// same paths and the same price within their errors.
#[test]
fn dated_trades_price_on_sobol_points() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", crate::market::MARKET);
    let line = r#"{"id": "dp", "underlying": "SPX", "payoff": {"type": "asian", "option": "call", "strike": 6000, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 4, "paths": 16384}"#;
    let book = file(d.path(), "dated.jsonl", &format!("{line}\n"));
    let run = |name: &str, rng: &str| -> Value {
        let out = d.path().join(format!("{name}.jsonl"));
        ok(&price(
            &book,
            &out,
            &["--market", p(&market), "--rng", rng, "--greeks", "delta"],
        ));
        rows(&out).remove(0)
    };
    let (q, ph) = (run("sobol", "sobol"), run("philox", "philox"));
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap();
    println!("dated asian: sobol {q}, philox {ph}");
    assert_eq!(q["paths"], 16384);
    let se = (f(&q, "stderr").powi(2) + f(&ph, "stderr").powi(2)).sqrt();
    assert!((f(&q, "pv") - f(&ph, "pv")).abs() < 4.5 * se, "{q} {ph}");
    assert!(f(&q, "stderr") < 0.5 * f(&ph, "stderr"), "{q} {ph}");
    assert!(f(&q, "delta").is_finite(), "{q}");
    // A grid with more dimensions than the direction numbers hold: named
    // by the field that makes the grid.
    let long = line.replace(r#""steps_per_year": 4"#, r#""steps_per_year": 30000"#);
    let long = file(d.path(), "long.jsonl", &format!("{long}\n"));
    let out = d.path().join("long-out.jsonl");
    let o = price(&long, &out, &["--market", p(&market), "--rng", "sobol"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("long.jsonl:1:") && e.contains("field `steps_per_year`") && e.contains("21201"),
        "{e}"
    );
    assert!(!out.exists(), "{e}");
}

/// Several assets and early exercise on Sobol points (the CPU engine's):
/// a basket, a Bermudan rainbow on heston_multi and an American put price
/// with Greeks, with errors below a Philox run's at the same paths, the
/// same bits sharded and on a rerun; `--engine wgpu` says the CPU engine
/// takes them, and `--engine auto` prices them there.
#[test]
fn several_assets_and_early_exercise_price_on_sobol_points() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", MULTI_BOOK);
    let run = |name: &str, extra: &[&str]| -> Vec<Value> {
        let out = d.path().join(format!("{name}.jsonl"));
        let mut args = vec!["--greeks", "delta,gamma", "--paths", "8192"];
        args.extend_from_slice(extra);
        ok(&price(&book, &out, &args));
        rows(&out)
    };
    let q = run("sobol", &["--rng", "sobol"]);
    let ph = run("philox", &[]);
    assert_eq!(q.len(), 3);
    for (a, b) in q.iter().zip(&ph) {
        let f = |r: &Value, k: &str| r[k].as_f64().unwrap();
        let se = (f(a, "stderr").powi(2) + f(b, "stderr").powi(2)).sqrt();
        println!(
            "{}: sobol {} +- {}, philox {} +- {}",
            a["id"],
            f(a, "pv"),
            f(a, "stderr"),
            f(b, "pv"),
            f(b, "stderr")
        );
        assert_eq!(a["paths"], 8192, "{a}");
        assert!((f(a, "pv") - f(b, "pv")).abs() < 4.5 * se, "{a} {b}");
        assert!(f(a, "stderr") < f(b, "stderr"), "{a} {b}");
        // A number, or one an asset (several assets).
        let finite = |v: &Value| match v {
            Value::Array(xs) => {
                !xs.is_empty() && xs.iter().all(|x| x.as_f64().is_some_and(f64::is_finite))
            }
            x => x.as_f64().is_some_and(f64::is_finite),
        };
        assert!(finite(&a["delta"]) && finite(&a["gamma"]), "{a}");
    }
    // Sharded (each shard its own trades) and rerun: the same bits.
    let mut sharded = Vec::new();
    for k in 0..2 {
        sharded.extend(run(
            &format!("shard{k}"),
            &["--rng", "sobol", "--shard", &format!("{k}/2")],
        ));
    }
    sharded.sort_by_key(|r| r["id"].to_string());
    let mut all = q.clone();
    all.sort_by_key(|r| r["id"].to_string());
    assert_eq!(
        all.iter().map(figures).collect::<Vec<_>>(),
        sharded.iter().map(figures).collect::<Vec<_>>()
    );
    let again = run("again", &["--rng", "sobol"]);
    assert_eq!(
        q.iter().map(figures).collect::<Vec<_>>(),
        again.iter().map(figures).collect::<Vec<_>>()
    );
    // A GPU engine named by the user says which engine takes them.
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_ok()
        || std::env::var("RISKPOOL_REQUIRE_WGPU").is_ok()
    {
        let out = d.path().join("wgpu.jsonl");
        let o = riskpool(&[
            "price",
            "--input",
            p(&book),
            "--output",
            p(&out),
            "--engine",
            "wgpu",
            "--rng",
            "sobol",
            "--paths",
            "8192",
        ]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{e}");
        assert!(e.contains("cpu engine") && e.contains("sobol"), "{e}");
        assert!(!out.exists(), "{e}");
    }
}

const MULTI_BOOK: &str = r#"{"id": "basket", "model": {"type": "gbm_multi", "rate": 0.03, "assets": [{"spot": 100, "vol": 0.2}, {"spot": 90, "vol": 0.3}], "correlation": [[1, 0.5], [0.5, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.6, 0.4]}, "maturity": 1, "steps": 4, "paths": 1000}
{"id": "rainbow", "model": {"type": "heston_multi", "rate": 0.03, "assets": [{"spot": 100, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.4, "rho": -0.6}, {"spot": 95, "v0": 0.05, "kappa": 1.5, "theta": 0.05, "xi": 0.4, "rho": -0.6}], "correlation": [[1, 0.3], [0.3, 1]]}, "payoff": {"type": "rainbow", "option": "put", "strike": 100, "kind": "min"}, "exercise": {"style": "bermudan", "steps": [4, 8, 12]}, "maturity": 1, "steps": 12, "paths": 1000}
{"id": "american", "model": {"type": "gbm", "spot": 36, "rate": 0.06, "vol": 0.2}, "payoff": {"type": "european", "option": "put", "strike": 40}, "exercise": {"style": "american"}, "maturity": 1, "steps": 50, "paths": 1000}
"#;

/// `--engine wgpu` draws the same Sobol points: the book (own Sobol
/// trades, a Philox one, `--rng sobol` for the rest) prices as on the CPU
/// engine within the f32 contract, Greeks and standard errors included
/// (lavapipe here; skipped where no Vulkan driver exists).
#[test]
fn the_wgpu_engine_prices_sobol_points_as_the_cpu_engine() {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", BOOK);
    let run = |engine: &str| -> Vec<Value> {
        let out = d.path().join(format!("{engine}.jsonl"));
        ok(&riskpool(&[
            "price",
            "--input",
            p(&book),
            "--output",
            p(&out),
            "--engine",
            engine,
            "--rng",
            "sobol",
            "--greeks",
            "delta,vega",
        ]));
        rows(&out)
    };
    let (cpu, gpu) = (run("cpu"), run("wgpu"));
    assert_eq!(cpu.len(), 4);
    for (a, b) in cpu.iter().zip(&gpu) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["paths"], b["paths"]);
        assert_eq!(b["engine"], "wgpu", "{b}");
        for (k, se) in [
            ("pv", "stderr"),
            ("delta", "delta_stderr"),
            ("vega", "vega_stderr"),
        ] {
            let (x, y) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
            let s = a[se].as_f64().unwrap();
            assert!(
                (x - y).abs() <= (1e-4 * x.abs()).max(0.1 * s),
                "{} {k}: cpu {x} +- {s}, wgpu {y}",
                a["id"]
            );
            let t = b[se].as_f64().unwrap();
            assert!(
                (s - t).abs() <= 0.05 * s + 1e-12,
                "{} {se}: cpu {s}, wgpu {t}",
                a["id"]
            );
        }
    }
}

/// A device that caps an invocation's loop iterations (lavapipe) cuts a
/// long path short: the wgpu engine refuses the trade with the reason
/// (Sobol paths, which loop more a step, sooner than Philox's), never
/// writing its sums as a price.
#[test]
fn a_path_the_device_cuts_short_is_refused_not_priced() {
    if std::env::var("RISKPOOL_REQUIRE_WGPU").as_deref() != Ok("1") {
        eprintln!("skipping: lavapipe is not required here");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    for (name, line) in [
        (
            "sobol",
            r#"{"id": "h", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7}, "payoff": {"type": "european", "option": "call", "strike": 100}, "maturity": 1, "steps": 4000, "paths": 512, "rng": "sobol", "qmc": {"replicates": 4}}"#,
        ),
        (
            "philox",
            r#"{"id": "g", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 1, "steps": 20000, "paths": 512}"#,
        ),
    ] {
        let book = file(d.path(), &format!("{name}.jsonl"), &format!("{line}\n"));
        let out = d.path().join(format!("{name}-out.jsonl"));
        let o = riskpool(&[
            "price",
            "--input",
            p(&book),
            "--output",
            p(&out),
            "--engine",
            "wgpu",
        ]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{name}: {e}");
        assert!(
            e.contains("cut its paths short") && e.contains("cpu engine"),
            "{name}: {e}"
        );
        assert!(!out.exists(), "{name}: {e}");
    }
}
