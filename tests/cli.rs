//! End-to-end tests of the `riskpool` binary: formats in and out, exit
//! codes, bad input named by file, line and field, and reproducibility.

use std::process::Command;

use crate::util::{bin, file, p, riskpool, riskpool_in, stderr};

const GOOD: &str = r#"{"id": "eu-1", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25}, "payoff": {"type": "european", "option": "call", "strike": 110}, "maturity": 0.75, "steps": 1, "paths": 100000}"#;
const GOOD2: &str = r#"{"id": "bar-1", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7}, "payoff": {"type": "barrier", "option": "put", "strike": 100, "barrier": 80, "direction": "down", "knock": "in"}, "maturity": 1, "steps": 50, "paths": 20000}"#;

/// Drops the timing columns so runs can be compared byte for byte.
fn without_columns(text: &str, drop: &[&str]) -> String {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|i| !drop.contains(&header[*i]))
        .collect();
    std::iter::once(lines.collect::<Vec<_>>())
        .flatten()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| c[i]).collect::<Vec<_>>().join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn prices_json_lines_and_a_json_array_alike() {
    let d = tempfile::tempdir().unwrap();
    let jsonl = file(d.path(), "book.jsonl", &format!("{GOOD}\n\n{GOOD2}\n"));
    let array = file(
        d.path(),
        "book.json",
        &format!("[\n  {GOOD},\n  {GOOD2}\n]\n"),
    );
    let out1 = d.path().join("a.csv");
    let out2 = d.path().join("b.csv");
    for (input, out) in [(&jsonl, &out1), (&array, &out2)] {
        let o = riskpool(&[
            "price",
            "--input",
            p(input),
            "--output",
            p(out),
            "--greeks",
            "delta,vega",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let a = std::fs::read_to_string(&out1).unwrap();
    assert!(
        a.starts_with(
            "id,pv,stderr,delta,vega,delta_stderr,vega_stderr,delta_method,vega_method,paths,steps,engine,device,seconds\n"
        ),
        "{a}"
    );
    assert_eq!(a.lines().count(), 3);
    assert!(a.lines().nth(1).unwrap().starts_with("eu-1,5.3"), "{a}");
    let b = std::fs::read_to_string(&out2).unwrap();
    assert_eq!(
        without_columns(&a, &["seconds"]),
        without_columns(&b, &["seconds"])
    );

    // JSON Lines out.
    let out3 = d.path().join("c.jsonl");
    let o = riskpool(&["price", "--input", p(&jsonl), "--output", p(&out3)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out3)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["id"], "bar-1");
    assert_eq!(rows[1]["engine"], "cpu");
    assert!(rows[1]["pv"].as_f64().unwrap() > 0.0);
}

#[test]
fn azfinsim_files_get_azfinsim_columns() {
    let d = tempfile::tempdir().unwrap();
    let trades = d.path().join("trades.csv");
    let o = riskpool(&[
        "generate",
        "--trades",
        "20",
        "--output",
        p(&trades),
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&trades).unwrap();
    assert!(text.starts_with("tradenum,fx1,start_date,end_date,drift,maturity,t_steps,trials,ro,v,sigma1,warrantsNo,notionalPerWarr,strike\n0,"));
    assert_eq!(text.lines().count(), 21);

    let pv = d.path().join("pv.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&trades),
        "--output",
        p(&pv),
        "--paths",
        "2000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pv = std::fs::read_to_string(&pv).unwrap();
    assert!(pv.starts_with("tradenum,pv,pv_time,pv_stderr\n0,"), "{pv}");
    assert_eq!(pv.lines().count(), 21);

    let dv = d.path().join("dv.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&trades),
        "--output",
        p(&dv),
        "--algorithm",
        "deltavega",
        "--paths",
        "2000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dv = std::fs::read_to_string(&dv).unwrap();
    assert!(
        dv.starts_with("tradenum,delta,vega,delta_stderr,vega_stderr\n0,"),
        "{dv}"
    );

    // The generator is seeded and its trades depend only on their number.
    let part = d.path().join("part.csv");
    let o = riskpool(&[
        "generate",
        "--trades",
        "5",
        "--start-trade",
        "15",
        "--output",
        p(&part),
        "--seed",
        "3",
    ]);
    assert!(o.status.success());
    let part = std::fs::read_to_string(&part).unwrap();
    assert_eq!(
        part.lines().skip(1).collect::<Vec<_>>(),
        text.lines().skip(16).collect::<Vec<_>>()
    );
}

#[test]
fn one_and_two_threads_and_shards_give_identical_rows() {
    let d = tempfile::tempdir().unwrap();
    let trades = d.path().join("trades.csv");
    assert!(
        riskpool(&["generate", "--trades", "40", "--output", p(&trades)])
            .status
            .success()
    );
    let run = |name: &str, extra: &[&str]| -> String {
        let out = d.path().join(name);
        let mut args = vec![
            "price",
            "--input",
            p(&trades),
            "--output",
            p(&out),
            "--paths",
            "3000",
        ];
        args.extend_from_slice(extra);
        let o = riskpool(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        without_columns(&std::fs::read_to_string(out).unwrap(), &["pv_time"])
    };
    let one = run("t1.csv", &["--threads", "1"]);
    let two = run("t2.csv", &["--threads", "2"]);
    assert_eq!(one, two);
    let portable = run("portable.csv", &["--simd", "portable"]);
    assert_eq!(one, portable);

    let s0 = run("s0.csv", &["--shard", "0/2"]);
    let s1 = run("s1.csv", &["--shard", "1/2"]);
    let mut merged: Vec<&str> = s0.lines().chain(s1.lines()).collect();
    merged.sort_by_key(|l| l.split(',').next().unwrap().parse::<u64>().unwrap());
    assert_eq!(merged.join("\n"), one);
    assert!(!s0.is_empty() && !s1.is_empty());
}

/// Every bad input: exit code 2, a message with file, line and field, and
/// no output file (not even a partial one).
#[test]
fn bad_input_is_rejected_with_file_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    let header = "tradenum,fx1,start_date,end_date,drift,maturity,t_steps,trials,ro,v,sigma1,warrantsNo,notionalPerWarr,strike";
    let row = "0,0.8376569947248749,2017-12-29,2018-08-28,0.044693035566188255,0.2,172,10000,3.8413221829e-05,0.00154807378604,0.08091806210759814,49623,1036.8801458207809,0.7809196507526746";
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        (
            "missing.jsonl",
            GOOD.replace(r#""vol": 0.25"#, r#""volatility": 0.25"#),
            ":1",
            vec!["model.volatility", "unknown field"],
        ),
        (
            "missing2.jsonl",
            GOOD.replace(r#", "vol": 0.25"#, ""),
            ":1",
            vec!["model.vol", "missing"],
        ),
        (
            "unknown.jsonl",
            GOOD.replace(r#""steps": 1"#, r#""steps": 1, "colour": "red""#),
            ":1",
            vec!["colour", "unknown field"],
        ),
        (
            "type.jsonl",
            format!(
                "{GOOD2}\n{}",
                GOOD.replace(r#""strike": 110"#, r#""strike": "110""#)
            ),
            ":2",
            vec!["payoff.strike", "expected a number, got a string"],
        ),
        (
            "nan.jsonl",
            GOOD.replace(r#""vol": 0.25"#, r#""vol": NaN"#),
            ":1",
            vec!["`model.vol`", "invalid JSON"],
        ),
        (
            "inf.csv",
            format!("{header}\n{}", row.replace("0.08091806210759814", "inf")),
            ":2",
            vec!["sigma1", "finite"],
        ),
        (
            "negvol.jsonl",
            GOOD.replace(r#""vol": 0.25"#, r#""vol": -0.25"#),
            ":1",
            vec!["model.vol", "negative"],
        ),
        (
            "negsteps.jsonl",
            GOOD.replace(r#""steps": 1"#, r#""steps": -5"#),
            ":1",
            vec!["steps", "positive integer, got -5"],
        ),
        (
            "zeropaths.jsonl",
            GOOD.replace(r#""paths": 100000"#, r#""paths": 0"#),
            ":1",
            vec!["paths", "positive integer, got 0"],
        ),
        (
            "zerotrials.csv",
            format!("{header}\n{row}\n{}", row.replace(",10000,", ",0,")),
            ":3",
            vec!["trials", "between 1"],
        ),
        (
            "wrongside.jsonl",
            GOOD2.replace(r#""barrier": 80"#, r#""barrier": 120"#),
            ":1",
            vec!["payoff.barrier", "below the spot"],
        ),
        (
            "dkowrongside.jsonl",
            r#"{"id": "dko-1", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.25}, "payoff": {"type": "double_barrier", "option": "call", "strike": 100, "lower": 80, "upper": 95}, "maturity": 1, "steps": 50, "paths": 20000}"#.to_string(),
            ":1",
            vec!["payoff.upper", "above the spot"],
        ),
        (
            "truncated.jsonl",
            format!("{GOOD}\n{}", &GOOD[..60]),
            ":2",
            vec!["invalid JSON", "EOF"],
        ),
        (
            "truncated.csv",
            format!("{header}\n{row}\n{}", &row[..40]),
            ":3",
            vec!["truncated line"],
        ),
        ("empty.jsonl", String::new(), "empty.jsonl", vec!["empty"]),
        (
            "header.csv",
            format!("{}\n{row}", header.replace("sigma1", "sigma")),
            ":1",
            vec!["header", "`sigma`", "sigma1"],
        ),
        (
            "dup.jsonl",
            format!("{GOOD}\n{GOOD}"),
            ":2",
            vec!["duplicate trade `eu-1`", "line 1"],
        ),
        (
            "combo.jsonl",
            GOOD.replace(
                r#""option": "call", "strike": 110"#,
                r#""option": "call", "strike_type": "floating""#,
            ),
            ":1",
            vec!["payoff.strike_type", "unknown field"],
        ),
    ];
    for (name, text, loc, words) in cases {
        let input = file(d.path(), name, &text);
        let out = d.path().join(format!("{name}.out.csv"));
        let o = riskpool(&["price", "--input", p(&input), "--output", p(&out)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{}{loc}", input.display())) || err.contains(loc),
            "{name}: {err}"
        );
        assert!(err.contains(name), "{name} names the file: {err}");
        for w in words {
            assert!(err.contains(w), "{name}: expected `{w}` in: {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(!out.exists(), "{name}: output left behind");
        assert!(
            !d.path().join(format!("{name}.out.csv.partial")).exists(),
            "{name}: partial output left behind"
        );
    }
}

#[test]
fn bad_usage_exits_2_and_missing_engines_exit_1_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", GOOD);
    let out = d.path().join("out.csv");
    for (args, code, words) in [
        (vec!["--output", "x.txt"], 2, "extension"),
        (vec!["--shard", "2/2"], 2, "--shard"),
        (vec!["--greeks", "theta"], 2, "unknown Greek `theta`"),
        (vec!["--algorithm", "deltavega"], 2, "azfinsim"),
        (
            vec!["--engine", "cuda"],
            1,
            "cuda engine unavailable: no CUDA driver found",
        ),
        (
            vec!["--engine", "cuda", "--fast-math"],
            1,
            "cuda engine unavailable: no CUDA driver found",
        ),
    ] {
        let mut a = vec!["price", "--input", p(&input)];
        if !args.contains(&"--output") {
            a.extend(["--output", p(&out)]);
        }
        a.extend(args.iter().copied());
        let o = riskpool(&a);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists());
    }
    // No Vulkan driver at all: a clear error, exit 1, no panic, no output.
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args([
            "price",
            "--input",
            p(&input),
            "--output",
            p(&out),
            "--engine",
            "wgpu",
        ])
        .env("VK_ICD_FILENAMES", d.path().join("no-such-icd.json"))
        .env("VK_DRIVER_FILES", d.path().join("no-such-icd.json"))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("wgpu engine unavailable") && err.contains("no Vulkan adapter"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists());
    // --engine auto never takes a software Vulkan adapter: here it prices on the CPU.
    let o = riskpool(&[
        "price",
        "--input",
        p(&input),
        "--output",
        p(&out),
        "--engine",
        "auto",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out).unwrap().contains(",cpu,"));
    // --fast-math is the CUDA engine's: the CPU engine says so and prices as
    // it always does (only the seconds column differs).
    let fast = d.path().join("fast.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&input),
        "--output",
        p(&fast),
        "--engine",
        "auto",
        "--fast-math",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--fast-math applies to the CUDA engine only"),
        "{}",
        stderr(&o)
    );
    let without_seconds = |f: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(without_seconds(&fast), without_seconds(&out));
}

/// `--engine wgpu` prices the same rows as the CPU engine, far inside the
/// Monte Carlo error (lavapipe here; skipped where no Vulkan driver exists).
#[test]
fn the_wgpu_engine_prices_from_the_command_line() {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", &format!("{GOOD}\n{GOOD2}\n"));
    let rows = |engine: &str| -> Vec<serde_json::Value> {
        let out = d.path().join(format!("{engine}.jsonl"));
        let o = riskpool(&[
            "price",
            "--input",
            p(&input),
            "--output",
            p(&out),
            "--engine",
            engine,
            "--greeks",
            "delta",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (cpu, gpu) = (rows("cpu"), rows("wgpu"));
    for (a, b) in cpu.iter().zip(&gpu) {
        assert_eq!(b["engine"], "wgpu");
        for k in ["pv", "delta"] {
            let (x, y) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
            let se = a[format!(
                "{}",
                if k == "pv" {
                    "stderr".to_string()
                } else {
                    format!("{k}_stderr")
                }
            )]
            .as_f64()
            .unwrap();
            assert!(
                (x - y).abs() <= (1e-4 * x.abs()).max(0.1 * se),
                "{k}: cpu {x} wgpu {y}"
            );
        }
    }
}

#[test]
fn demo_and_bench_run() {
    let d = tempfile::tempdir().unwrap();
    let o = riskpool(&["demo", "--dir", p(d.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for id in [
        "eu-call",
        "heston-call",
        "fx-warrant",
        "basket-call",
        "american-put",
        "azfinsim: 200 trades",
        "risk: 10 trades x 250 scenarios",
        "99.0%: VaR",
    ] {
        assert!(text.contains(id), "{text}");
    }
    let html = std::fs::read_to_string(d.path().join("portfolio.risk.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("id=\"var-99\""));
    let pnl = std::fs::read_to_string(d.path().join("portfolio.pnl.csv")).unwrap();
    assert_eq!(pnl.lines().count(), 251, "a header and 250 scenarios");
    // The user's edited book and scenarios are theirs: a second demo in
    // the folder runs on them and rewrites neither.
    let book = d.path().join("portfolio.jsonl");
    let scen = d.path().join("scenarios.csv");
    let mine_book: String = std::fs::read_to_string(&book)
        .unwrap()
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    let mine_scen: String = std::fs::read_to_string(&scen)
        .unwrap()
        .lines()
        .take(9)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&book, &mine_book).unwrap();
    std::fs::write(&scen, &mine_scen).unwrap();
    let o = riskpool(&["demo", "--dir", p(d.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("risk: 3 trades x 2 scenarios"), "{text}");
    assert_eq!(std::fs::read_to_string(&book).unwrap(), mine_book);
    assert_eq!(std::fs::read_to_string(&scen).unwrap(), mine_scen);
    let o = riskpool(&["bench", "--scale", "0.01", "--repeat", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .all(|r| r["path_steps_per_s"].as_f64().unwrap() > 0.0));
    // The size run, not the standard size (W1: 1,000 trades, W3: 1e6 paths).
    assert_eq!(rows[0]["trades"], 10);
    assert_eq!(rows[2]["paths"], 10_000);
    let o = riskpool(&[
        "bench",
        "--scale",
        "0.01",
        "--repeat",
        "1",
        "--workloads",
        "W1",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("at --scale 0.01: 10 trades x 10000 paths"),
        "{text}"
    );
}

/// `--log-format json`: every line on stderr is one JSON object, errors too.
#[test]
fn json_log_lines_for_log_collectors() {
    let d = tempfile::tempdir().unwrap();
    let input = file(d.path(), "book.jsonl", GOOD);
    let out = d.path().join("o.csv");
    let o = riskpool(&[
        "--log-format",
        "json",
        "price",
        "--input",
        p(&input),
        "--output",
        p(&out),
    ]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["msg"] == "pricing" && l["trades"] == 1));
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["ts"].is_number()));
    let bad = file(d.path(), "bad.jsonl", "{");
    let o = riskpool(&[
        "--log-format",
        "json",
        "price",
        "--input",
        p(&bad),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e: serde_json::Value = serde_json::from_str(stderr(&o).trim()).unwrap();
    assert_eq!(e["level"], "error");
    assert!(e["msg"].as_str().unwrap().contains("bad.jsonl:1"));
}

/// Flag values are checked as they are parsed: exit 2 naming the flag,
/// before any file is read or written (a shard count beyond any run is
/// refused where it is read, so `risk-merge` never has to list it).
#[test]
fn flag_values_are_refused_as_they_are_parsed() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.csv");
    for (args, flag) in [
        (vec!["risk", "--shard", "5/18446744073709551615"], "--shard"),
        (vec!["price", "--shard", "3/3"], "--shard"),
        (
            vec!["price", "--paths", "0"],
            "'--paths <PATHS>': must be a whole number",
        ),
        (vec!["price", "--threads", "0"], "--threads"),
        (vec!["price", "--batch-trades", "0"], "--batch-trades"),
        (
            vec!["price", "--greeks", "delta,theta"],
            "unknown Greek `theta`",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--input", "missing.jsonl", "--output", p(&out)]);
        if args[0] == "risk" {
            all.extend(["--scenarios", "missing.csv"]);
        }
        if args[0] == "probe" {
            all.truncate(args.len());
        }
        let o = riskpool(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} wrote its output");
    }
}

/// Commands whose values are checked up front, and the ones a bad engine
/// variable does not concern.
#[test]
fn bench_azfinsim_and_environment_values_are_refused_up_front() {
    let d = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["bench", "--scale", "inf"], "--scale"),
        (
            vec!["bench", "--workloads", "W1,W9"],
            "unknown workload `W9`",
        ),
        (vec!["bench", "--repeat", "0"], "--repeat"),
        (
            vec![
                "price",
                "--gpus-per-task",
                "0",
                "--input",
                "x",
                "--output",
                "o.csv",
            ],
            "--gpus-per-task",
        ),
        (
            vec![
                "risk-merge",
                "--output",
                "m.csv",
                "--levels",
                "0.99,0.99",
                "p",
            ],
            "given twice",
        ),
        (
            vec!["risk-merge", "--output", "m.csv", "--levels", "1e-400", "p"],
            "'--levels <LEVELS>': a confidence level must be between 0 and 1 (0.99 for 99%)",
        ),
        (
            vec![
                "azfinsim",
                "--cache-path",
                "t.csv",
                "--algorithm",
                "synthetic",
                "--delay-start",
                "inf",
            ],
            "--delay-start",
        ),
    ] {
        let o = riskpool_in(d.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("W1 "), "{args:?} ran a workload first");
    }
    // A bad engine variable stops a run that opens an engine, naming it;
    // probe reports it and goes on; generate never reads it.
    let book = file(d.path(), "b.jsonl", GOOD);
    let run = |args: &[&str]| {
        bin()
            .args(args)
            .current_dir(d.path())
            .env("RISKPOOL_BATCHES_IN_FLIGHT", "0")
            .output()
            .unwrap()
    };
    let o = run(&[
        "price",
        "--input",
        p(&book),
        "--output",
        "o.csv",
        "--engine",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("RISKPOOL_BATCHES_IN_FLIGHT"),
        "{}",
        stderr(&o)
    );
    assert!(!d.path().join("o.csv").exists());
    let o = run(&["probe", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("RISKPOOL_BATCHES_IN_FLIGHT"));
    let o = run(&["generate", "--trades", "3", "--output", "g.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Books as editors and json.dumps write them: a byte order mark, blank
/// lines before the first trade; and a syntax error names the dotted field.
#[test]
fn books_with_a_mark_or_blank_lines_read_and_syntax_errors_name_the_field() {
    let d = tempfile::tempdir().unwrap();
    let array = file(d.path(), "bom.json", &format!("\u{feff}[{GOOD}]"));
    let blank = file(
        d.path(),
        "blank.jsonl",
        &format!("{}{GOOD}\n", "\n".repeat(5000)),
    );
    let spaced = file(
        d.path(),
        "spaced.json",
        &format!("{}[{GOOD}]", " ".repeat(5000)),
    );
    for book in [&array, &blank, &spaced] {
        let out = d.path().join("o.csv");
        let _ = std::fs::remove_file(&out);
        let o = riskpool(&[
            "price",
            "--input",
            p(book),
            "--output",
            p(&out),
            "--paths",
            "2000",
        ]);
        assert!(o.status.success(), "{}: {}", book.display(), stderr(&o));
    }
    let nan = GOOD.replace("\"spot\": 100", "\"spot\": NaN");
    let huge = GOOD.replace("\"vol\": 0.25", "\"vol\": 1e400");
    for (name, text, line, field) in [
        ("nan.jsonl", format!("{GOOD2}\n{nan}\n"), 2, "model.spot"),
        (
            "nan.json",
            format!("[\n{GOOD2},\n{nan}\n]"),
            3,
            "model.spot",
        ),
        (
            "huge.json",
            format!("[\n{GOOD2},\n{huge}\n]"),
            3,
            "model.vol",
        ),
    ] {
        let book = file(d.path(), name, &text);
        let o = riskpool(&[
            "price",
            "--input",
            p(&book),
            "--output",
            p(&d.path().join("e.csv")),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{name}:{line}: field `{field}`")),
            "{name}: {}",
            stderr(&o)
        );
    }
    // A line past 1 MiB, and a byte that is not UTF-8 in an array file:
    // each refused naming its own line, once.
    let long = file(
        d.path(),
        "long.jsonl",
        &format!("{GOOD}\n{}\n", "x".repeat(2 << 20)),
    );
    let mut bad = format!("[\n{GOOD},\n").into_bytes();
    bad.extend_from_slice(b"{\"id\": \"\xff\"}\n]");
    let utf = d.path().join("utf.json");
    std::fs::write(&utf, bad).unwrap();
    for (book, line, says) in [(&long, 2, "a line longer than"), (&utf, 3, "not UTF-8")] {
        let o = riskpool(&[
            "price",
            "--input",
            p(book),
            "--output",
            p(&d.path().join("u.csv")),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        let name = book.file_name().unwrap().to_string_lossy();
        assert!(err.contains(&format!("{name}:{line}: {says}")), "{err}");
        assert_eq!(err.matches(name.as_ref()).count(), 1, "{err}");
    }
}

/// An engine named with a precision it has not (WGSL has no f64) is bad
/// usage: exit 2 before any file of the run is made, for `price` and
/// `risk` alike.
#[test]
fn an_engine_without_the_precision_asked_is_refused_before_any_file() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", &format!("{GOOD}\n"));
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\ndown,SPX,-0.1,,\n",
    );
    let o = riskpool_in(
        d.path(),
        &[
            "price",
            "--input",
            "book.jsonl",
            "--output",
            "o.csv",
            "--engine",
            "wgpu",
            "--precision",
            "f64",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("WGSL has no f64"), "{}", stderr(&o));
    let o = riskpool_in(
        d.path(),
        &[
            "risk",
            "--input",
            p(&book),
            "--scenarios",
            p(&scen),
            "--output",
            "r.csv",
            "--engine",
            "wgpu",
            "--precision",
            "f64",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("WGSL has no f64"), "{}", stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["book.jsonl", "s.csv"]);
}

/// A stderr that cannot be written (a full disk under Batch's stderr.txt)
/// loses log lines, never the run: `price` and `risk` finish (exit 0),
/// and a failing run keeps its own exit code rather than panicking (101).
#[test]
fn an_unwritable_stderr_loses_log_lines_not_the_run() {
    let d = tempfile::tempdir().unwrap();
    file(d.path(), "book.jsonl", &format!("{GOOD}\n{GOOD2}\n"));
    file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\ndown,SPX,-0.1,,\n",
    );
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let run = |args: &[&str]| {
        bin()
            .args(args)
            .current_dir(d.path())
            .stderr(full())
            .status()
            .unwrap()
    };
    let price = [
        "price",
        "--input",
        "book.jsonl",
        "--output",
        "o.csv",
        "--paths",
        "2000",
    ];
    assert_eq!(run(&price).code(), Some(0));
    assert!(d.path().join("o.csv").is_file());
    let risk = [
        "risk",
        "--input",
        "book.jsonl",
        "--scenarios",
        "s.csv",
        "--output",
        "r.csv",
        "--paths",
        "2000",
    ];
    assert_eq!(run(&risk).code(), Some(0));
    assert!(d.path().join("r.csv").is_file());
    let missing = ["price", "--input", "none.jsonl", "--output", "x.csv"];
    assert_eq!(run(&missing).code(), Some(2));
}

/// Parts numbered alike (`trades.K.results.csv`) are joined by their
/// number whatever order they are given in, as a shell glob gives them
/// (`.10` before `.2`): 13 parts of one trade each come out in book order
/// (issue 22, item 24).
#[test]
fn concat_joins_numbered_parts_by_number() {
    let d = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = riskpool_in(d.path(), args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    run(&["generate", "--trades", "13", "--output", "trades.csv"]);
    run(&[
        "split",
        "--input",
        "trades.csv",
        "--trades-per-file",
        "1",
        "--output-dir",
        "parts",
    ]);
    let mut results = Vec::new();
    for k in 0..13 {
        let (input, output) = (
            format!("parts/trades.{k}.csv"),
            format!("trades.{k}.results.csv"),
        );
        run(&[
            "price", "--input", &input, "--output", &output, "--paths", "100", "--engine", "cpu",
        ]);
        results.push(output);
    }
    results.sort(); // the glob's order: trades.0, trades.1, trades.10, ...
    assert_eq!(results[2], "trades.10.results.csv");
    let mut args = vec!["concat", "--output", "all.csv"];
    args.extend(results.iter().map(String::as_str));
    run(&args);
    let text = std::fs::read_to_string(d.path().join("all.csv")).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let want: Vec<String> = (0..13).map(|k| k.to_string()).collect();
    assert_eq!(ids, want);
}
