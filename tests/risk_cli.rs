//! `riskpool risk` and `riskpool risk-merge` through the binary: scenario
//! P&L against Black-Scholes, the summary and VaR/ES convention, a sharded
//! run merged equal to the unsharded one bit for bit, bad scenario input
//! named by file, line and field, and a resume after SIGKILL that revalues
//! only what is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use riskpool_kernels::analytic::black_scholes;
use serde_json::Value;

use crate::util::{bin, file, ok, p, riskpool, riskpool_in};

/// `scenario,pnl,pnl_stderr` rows as (name, pnl, stderr).
fn pnl_rows(path: &Path) -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("scenario,pnl,pnl_stderr"));
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[0].to_string(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
            )
        })
        .collect()
}

fn summary(output: &Path) -> Value {
    let mut s = output.as_os_str().to_owned();
    s.push(".summary.json");
    serde_json::from_str(&std::fs::read_to_string(PathBuf::from(s)).unwrap()).unwrap()
}

/// A European option under GBM, for the book and for Black-Scholes.
struct Euro {
    id: &'static str,
    underlying: Option<&'static str>,
    call: bool,
    spot: f64,
    strike: f64,
    rate: f64,
    dividend: f64,
    vol: f64,
    maturity: f64,
}

impl Euro {
    fn json(&self, paths: u64) -> String {
        let u = self
            .underlying
            .map(|u| format!(r#", "underlying": "{u}""#))
            .unwrap_or_default();
        format!(
            r#"{{"id": "{}", "model": {{"type": "gbm", "spot": {}, "rate": {}, "dividend": {}, "vol": {}{u}}}, "payoff": {{"type": "european", "option": "{}", "strike": {}}}, "maturity": {}, "steps": 1, "paths": {paths}}}"#,
            self.id,
            self.spot,
            self.rate,
            self.dividend,
            self.vol,
            if self.call { "call" } else { "put" },
            self.strike,
            self.maturity
        )
    }

    /// Black-Scholes after a move (relative spot, absolute vol and rate).
    fn bs(&self, spot: f64, vol: f64, rate: f64) -> f64 {
        black_scholes(
            self.call,
            self.spot * (1.0 + spot),
            self.strike,
            self.rate + rate,
            self.dividend,
            self.vol + vol,
            self.maturity,
        )
    }
}

const BOOK: [Euro; 4] = [
    Euro {
        id: "spx-c",
        underlying: Some("SPX"),
        call: true,
        spot: 100.0,
        strike: 105.0,
        rate: 0.03,
        dividend: 0.01,
        vol: 0.2,
        maturity: 1.0,
    },
    Euro {
        id: "spx-p",
        underlying: Some("SPX"),
        call: false,
        spot: 100.0,
        strike: 95.0,
        rate: 0.03,
        dividend: 0.01,
        vol: 0.25,
        maturity: 0.5,
    },
    Euro {
        id: "eur-c",
        underlying: Some("EURUSD"),
        call: true,
        spot: 1.1,
        strike: 1.1,
        rate: 0.02,
        dividend: 0.0,
        vol: 0.1,
        maturity: 0.75,
    },
    Euro {
        id: "plain",
        underlying: None,
        call: false,
        spot: 50.0,
        strike: 50.0,
        rate: 0.02,
        dividend: 0.0,
        vol: 0.3,
        maturity: 1.0,
    },
];

/// Moves as (scenario, underlying, spot, vol, rate): spot only, vol only,
/// rate only, all three, and one that names no underlying of SPX's (its
/// trades stay where they are).
const MOVES: [(&str, &str, f64, f64, f64); 6] = [
    ("spot-only", "SPX", -0.1, 0.0, 0.0),
    ("vol-only", "SPX", 0.0, 0.05, 0.0),
    ("rate-only", "EURUSD", 0.0, 0.0, 0.01),
    ("all", "SPX", 0.05, -0.03, 0.005),
    ("all", "EURUSD", -0.02, 0.02, -0.01),
    ("eur-only", "EURUSD", 0.03, 0.0, 0.0),
];

fn scenario_file(dir: &Path) -> PathBuf {
    let mut text = String::from("scenario,underlying,spot,vol,rate\n");
    for (s, u, spot, vol, rate) in MOVES {
        text += &format!("{s},{u},{spot},{vol},{rate}\n");
    }
    file(dir, "scenarios.csv", &text)
}

fn book_file(dir: &Path, paths: u64) -> PathBuf {
    let text: Vec<String> = BOOK.iter().map(|t| t.json(paths)).collect();
    file(dir, "book.jsonl", &(text.join("\n") + "\n"))
}

#[test]
fn scenario_pnl_matches_black_scholes_and_the_summary_follows_the_convention() {
    let d = tempfile::tempdir().unwrap();
    let book = book_file(d.path(), 40_000);
    let scen = scenario_file(d.path());
    let out = d.path().join("pnl.csv");
    let by_trade = d.path().join("by-trade.csv");
    let report = d.path().join("risk.html");
    let o = riskpool(&[
        "risk",
        "--input",
        p(&book),
        "--scenarios",
        p(&scen),
        "--output",
        p(&out),
        "--by-trade",
        p(&by_trade),
        "--report",
        p(&report),
        "--levels",
        "0.9,0.5",
        "--precision",
        "f64",
        "--engine",
        "cpu",
        "--threads",
        "2",
    ]);
    ok(&o);
    let rows = pnl_rows(&out);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        ["spot-only", "vol-only", "rate-only", "all", "eur-only"]
    );
    for (name, pnl, se) in &rows {
        let want: f64 = BOOK
            .iter()
            .map(|t| {
                let mv = MOVES
                    .iter()
                    .find(|m| m.0 == name && Some(m.1) == t.underlying)
                    .map_or((0.0, 0.0, 0.0), |m| (m.2, m.3, m.4));
                t.bs(mv.0, mv.1, mv.2) - t.bs(0.0, 0.0, 0.0)
            })
            .sum();
        assert!(*se > 0.0, "{name}: {se}");
        assert!(
            (pnl - want).abs() <= 4.0 * se,
            "{name}: P&L {pnl} +- {se}, Black-Scholes {want}"
        );
    }

    // The by-trade rows: the unnamed trade and the SPX trades in the
    // EURUSD-only scenario are exactly 0; the portfolio is their sum.
    let text = std::fs::read_to_string(&by_trade).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("scenario,id,pnl,pnl_stderr"));
    let bt: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(bt.len(), rows.len() * BOOK.len());
    for r in &bt {
        if r[1] == "plain" || (r[0] == "eur-only" && r[1].starts_with("spx")) {
            assert_eq!((r[2], r[3]), ("0", "0"), "{r:?}");
        }
    }
    for (name, pnl, se) in &rows {
        let mine: Vec<(f64, f64)> = bt
            .iter()
            .filter(|r| r[0] == name)
            .map(|r| (r[2].parse().unwrap(), r[3].parse().unwrap()))
            .collect();
        let sum: f64 = mine.iter().map(|m| m.0).sum();
        let var: f64 = mine.iter().map(|m| m.1 * m.1).sum();
        assert!((sum - pnl).abs() <= 1e-12 * pnl.abs().max(1.0), "{name}");
        assert!((var.sqrt() - se).abs() <= 1e-12 * se, "{name}");
    }

    // The summary: counts, base PV, and VaR/ES by the stated convention
    // computed here from the P&L file.
    let s = summary(&out);
    assert_eq!(s["trades"], 4);
    assert_eq!(s["scenarios"], 5);
    assert_eq!(s["unnamed_trades"], 1);
    assert_eq!(s["unmoved_trades"], 1);
    assert_eq!(s["engine"], "cpu");
    assert!(s["device"].as_str().is_some_and(|d| !d.is_empty()));
    let base: f64 = BOOK.iter().map(|t| t.bs(0.0, 0.0, 0.0)).sum();
    let (bpv, bse) = (
        s["base_pv"].as_f64().unwrap(),
        s["base_stderr"].as_f64().unwrap(),
    );
    assert!(
        (bpv - base).abs() <= 4.0 * bse,
        "base {bpv} +- {bse}, {base}"
    );
    let mut sorted: Vec<f64> = rows.iter().map(|r| r.1).collect();
    sorted.sort_by(f64::total_cmp);
    let levels = s["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    for (l, level) in levels.iter().zip([0.9, 0.5]) {
        // N = 5: 0.9 -> ceil(0.5) = 1, 0.5 -> ceil(2.5) = 3.
        let k = if level == 0.9 { 1 } else { 3 };
        assert_eq!(l["level"].as_f64(), Some(level));
        assert_eq!(l["tail"].as_u64(), Some(k as u64));
        assert_eq!(l["var"].as_f64(), Some(-sorted[k - 1]));
        let es = -sorted[..k].iter().sum::<f64>() / k as f64;
        assert!((l["es"].as_f64().unwrap() - es).abs() <= 1e-12 * es.abs().max(1.0));
    }
    // The report carries the same figures (the page itself is tested in
    // tests/report.rs, in a browser).
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(
        html.contains(&format!(r#"id="base-pv" data-value="{}""#, s["base_pv"])),
        "base PV not in the report"
    );
    assert!(html.contains("<svg") && !html.contains("src=\"http"));
    // No side files are left but the part, kept for a re-merge.
    let mut left: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "book.jsonl",
            "by-trade.csv",
            "pnl.csv",
            "pnl.csv.part",
            "pnl.csv.summary.json",
            "risk.html",
            "scenarios.csv"
        ]
    );
}

/// A part file as `riskpool risk --shard` writes it, made by hand: the
/// test chooses every trade's P&L.
fn hand_part(dir: &Path, k: u64, n: u64, seed: u64, trades: &[(u64, &str, Vec<f64>)]) -> PathBuf {
    let rows = trades
        .iter()
        .map(|(line, id, pnl)| {
            serde_json::json!({
                "line": line, "id": id, "underlyings": ["X"], "model": "gbm", "payoff": "european",
                "paths": 100, "moved": true, "base": 1.0,
                "base_stderr": 0.5, "pnl": pnl, "pnl_stderr": vec![0.25; pnl.len()],
                "engine": "cpu", "device": "test",
            })
        })
        .collect();
    part_of_rows(dir, &format!("part{k}-{seed}.jsonl"), [k, n], seed, rows)
}

/// A part file of the given rows: its header, the rows, and the end line
/// with the content's xxh3, as riskpool writes them.
fn part_of_rows(dir: &Path, name: &str, shard: [u64; 2], seed: u64, rows: Vec<Value>) -> PathBuf {
    let scenarios: Vec<String> = (0..rows[0]["pnl"].as_array().unwrap().len())
        .map(|s| format!("s{s}"))
        .collect();
    let header = serde_json::json!({
        "riskpool_risk_part": 2,
        "run": {"book_hash": "b", "scenarios_hash": "s", "seed": seed, "paths": null, "precision": "F64"},
        "signature": {}, "shard": shard, "scenarios": scenarios, "trades": rows.len(),
        "engine": "cpu", "device": "test", "book": "book.jsonl", "scenario_file": "s.csv",
    });
    let mut text = header.to_string() + "\n";
    for row in &rows {
        text += &(row.to_string() + "\n");
    }
    let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    text += &format!(
        "{{\"end_of_part\":{},\"content_xxh3\":\"{hash:016x}\"}}\n",
        rows.len()
    );
    file(dir, name, &text)
}

#[test]
fn merge_computes_var_and_es_by_the_convention_and_refuses_bad_parts() {
    let d = tempfile::tempdir().unwrap();
    // 40 scenarios; trade a's P&L is -s, trade b's is 3 in every even
    // scenario and -1 in odd ones: portfolio P&L -s + (3 or -1).
    let n = 40;
    let a: Vec<f64> = (0..n).map(|s| -(s as f64)).collect();
    let b: Vec<f64> = (0..n)
        .map(|s| if s % 2 == 0 { 3.0 } else { -1.0 })
        .collect();
    let p0 = hand_part(d.path(), 0, 2, 7, &[(1, "a", a.clone())]);
    let p1 = hand_part(d.path(), 1, 2, 7, &[(2, "b", b.clone())]);
    let out = d.path().join("pnl.csv");
    ok(&riskpool(&[
        "risk-merge",
        "--output",
        p(&out),
        "--levels",
        "0.95,0.9,0.975",
        p(&p1),
        p(&p0),
    ]));
    let mut pnl: Vec<f64> = (0..n).map(|s| a[s] + b[s]).collect();
    let rows = pnl_rows(&out);
    for (s, r) in rows.iter().enumerate() {
        assert_eq!((r.1, r.2), (pnl[s], (2.0f64 * 0.0625).sqrt()));
    }
    pnl.sort_by(f64::total_cmp);
    let s = summary(&out);
    assert_eq!(
        (s["base_pv"].as_f64(), s["base_stderr"].as_f64()),
        (Some(2.0), Some(0.5f64.sqrt()))
    );
    for (l, (level, k)) in
        s["levels"]
            .as_array()
            .unwrap()
            .iter()
            .zip([(0.95, 2), (0.9, 4), (0.975, 1)])
    {
        assert_eq!(l["level"].as_f64(), Some(level));
        assert_eq!(l["tail"].as_u64(), Some(k as u64), "{l}");
        assert_eq!(l["var"].as_f64(), Some(-pnl[k - 1]), "{l}");
        assert_eq!(
            l["es"].as_f64(),
            Some(-pnl[..k].iter().sum::<f64>() / k as f64),
            "{l}"
        );
    }

    // Missing, duplicate, or another run's shards: exit 2, named.
    let other = hand_part(d.path(), 1, 2, 8, &[(2, "b", b)]);
    let bad = d.path().join("bad.csv");
    for (parts, want) in [
        (vec![&p0], "missing shards of 2: 1"),
        (vec![&p0, &p1, &p1], "given twice"),
        (vec![&p0, &other], "different runs (they differ in: seed)"),
    ] {
        let mut args = vec!["risk-merge", "--output", p(&bad)];
        args.extend(parts.iter().map(|x| p(x)));
        let o = riskpool(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{want}: {err}");
        assert!(!bad.exists());
    }
}

#[test]
fn merge_refuses_edited_or_unsound_parts_and_sums_beyond_range() {
    let d = tempfile::tempdir().unwrap();
    let row = |line: u64, id: &str, base: f64, stderr: f64| {
        serde_json::json!({
            "line": line, "id": id, "underlyings": ["X"], "model": "gbm", "payoff": "european",
            "paths": 100, "moved": true, "base": base, "base_stderr": stderr,
            "pnl": [1.0, -2.0], "pnl_stderr": [0.1, null], "engine": "cpu", "device": "test",
        })
    };
    let part = |name: &str, k: u64, rows: Vec<Value>| part_of_rows(d.path(), name, [k, 2], 7, rows);
    let good0 = part(
        "g0.jsonl",
        0,
        vec![row(1, "a", 1.0, 0.5), row(3, "c", 2.0, 0.5)],
    );
    let good1 = part("g1.jsonl", 1, vec![row(2, "b", 1.0, 0.5)]);
    let out = d.path().join("pnl.csv");
    let merge = |parts: &[&PathBuf]| {
        let mut args = vec!["risk-merge", "--output", p(&out)];
        args.extend(parts.iter().map(|x| p(x)));
        riskpool(&args)
    };
    ok(&merge(&[&good0, &good1]));
    assert_eq!(summary(&out)["base_pv"].as_f64(), Some(4.0));
    // One undefined error (null) leaves the scenario's error empty.
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().nth(2), Some("s1,-6,"), "{text}");
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(summary_path(&out)).unwrap();

    // A row edited after it was written: the content hash no longer holds.
    let edited = d.path().join("edited.jsonl");
    let text = std::fs::read_to_string(&good1).unwrap();
    std::fs::write(&edited, text.replacen("[1.0,-2.0]", "[1.0,-3.0]", 1)).unwrap();
    assert_ne!(
        std::fs::read(&edited).unwrap(),
        std::fs::read(&good1).unwrap()
    );
    let cases = [
        (
            edited,
            "edited.jsonl: the part was edited or damaged".to_string(),
        ),
        (
            part("neg.jsonl", 1, vec![row(2, "b", 1.0, -0.5)]),
            "neg.jsonl:2: trade `b`: field `base_stderr`: -0.5 is not a standard error".into(),
        ),
        (
            part("dup.jsonl", 1, vec![row(2, "a", 1.0, 0.5)]),
            "trade `a` is in".into(),
        ),
    ];
    for (bad, want) in &cases {
        let o = merge(&[&good0, bad]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want.as_str()), "{want}: {err}");
        assert!(!out.exists() && !summary_path(&out).exists(), "{want}");
    }
    // Out of book order within a part.
    let unordered = part(
        "order.jsonl",
        0,
        vec![row(3, "c", 1.0, 0.5), row(1, "a", 1.0, 0.5)],
    );
    let o = merge(&[&unordered, &good1]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("order.jsonl:3: trade `a` (book line 1) is not in book order"),
        "{err}"
    );

    // Each base is finite; their sum is not: an error, nothing written.
    let big0 = part("big0.jsonl", 0, vec![row(1, "a", 1.7e308, 0.5)]);
    let big1 = part("big1.jsonl", 1, vec![row(2, "b", 1.7e308, 0.5)]);
    let o = merge(&[&big0, &big1]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("base value is beyond f64's range"), "{err}");
    assert!(!out.exists() && !summary_path(&out).exists());
}

/// A mixed book: several models and payoffs, named and unnamed, and a
/// two-asset basket whose underlyings no scenario moves.
const MIXED: &str = r#"{"id": "h1", "model": {"type": "heston", "spot": 100, "rate": 0.02, "v0": 0.04, "kappa": 1.5, "theta": 0.05, "xi": 0.4, "rho": -0.6, "underlying": "SPX"}, "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 1, "steps": 8, "paths": 2000}
{"id": "g1", "model": {"type": "gbm", "spot": 100, "rate": 0.02, "vol": 0.2, "underlying": "SPX"}, "payoff": {"type": "barrier", "option": "call", "strike": 100, "barrier": 130, "direction": "up", "knock": "out"}, "maturity": 1, "steps": 8, "paths": 2000}
{"id": "fx1", "model": {"type": "sv_fx", "spot": 1.1, "drift": 0.01, "sigma": 0.1, "volvol": 0.3, "rho": 0.1, "underlying": "EURUSD"}, "payoff": {"type": "european", "option": "call", "strike": 1.1}, "maturity": 0.5, "steps": 4, "paths": 2000}
{"id": "g2", "model": {"type": "gbm", "spot": 50, "rate": 0.02, "vol": 0.3, "underlying": "EURUSD"}, "payoff": {"type": "digital", "option": "put", "strike": 48, "cash": 10}, "maturity": 0.5, "steps": 2, "paths": 2000}
{"id": "g3", "model": {"type": "gbm", "spot": 80, "rate": 0.02, "vol": 0.25}, "payoff": {"type": "european", "option": "call", "strike": 80}, "maturity": 1, "steps": 1, "paths": 2000}
{"id": "bk", "model": {"type": "gbm_multi", "rate": 0.03, "assets": [{"spot": 100, "vol": 0.2, "underlying": "AAA"}, {"spot": 90, "vol": 0.3}], "correlation": [[1, 0.5], [0.5, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.6, 0.4]}, "maturity": 1, "steps": 2, "paths": 2000}
{"id": "g4", "model": {"type": "gbm", "spot": 120, "rate": 0.01, "vol": 0.15, "underlying": "SPX"}, "payoff": {"type": "european", "option": "put", "strike": 110}, "maturity": 2, "steps": 1, "paths": 2000}
"#;

const MIXED_SCENARIOS: &str = "scenario,underlying,spot,vol,rate
d1,SPX,-0.03,0.02,
d1,EURUSD,0.01,,0.001
d2,SPX,0.02,-0.01,-0.002
d3,EURUSD,-0.05,0.05,
d4,SPX,-0.08,0.06,0.01
d4,EURUSD,-0.02,0.01,
";

fn risk_args<'a>(book: &'a Path, scen: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "risk",
        "--input",
        p(book),
        "--scenarios",
        p(scen),
        "--output",
        p(out),
        "--engine",
        "cpu",
        "--threads",
        "2",
        "--seed",
        "99",
    ]
}

#[test]
fn sharded_then_merged_equals_unsharded_bit_for_bit() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", MIXED);
    let scen = file(d.path(), "s.csv", MIXED_SCENARIOS);
    let whole = d.path().join("whole.csv");
    let whole_bt = d.path().join("whole-bt.csv");
    let report = d.path().join("whole.html");
    let mut a = risk_args(&book, &scen, &whole);
    a.extend(["--by-trade", p(&whole_bt), "--batch-trades", "5"]);
    a.extend(["--report", p(&report)]);
    ok(&riskpool(&a));
    let parts: Vec<PathBuf> = (0..3)
        .map(|k| d.path().join(format!("part{k}.jsonl")))
        .collect();
    for (k, part) in parts.iter().enumerate() {
        let shard = format!("{k}/3");
        let mut a = risk_args(&book, &scen, part);
        a.extend(["--shard", &shard, "--batch-trades", "1"]);
        ok(&riskpool(&a));
    }
    let merged = d.path().join("merged.csv");
    let merged_bt = d.path().join("merged-bt.csv");
    ok(&riskpool(&[
        "risk-merge",
        "--output",
        p(&merged),
        "--by-trade",
        p(&merged_bt),
        p(&parts[2]),
        p(&parts[0]),
        p(&parts[1]),
    ]));
    let read = |f: &Path| std::fs::read(f).unwrap();
    assert_eq!(read(&whole), read(&merged));
    assert_eq!(read(&whole_bt), read(&merged_bt));
    let (sw, sm) = (summary(&whole), summary(&merged));
    for key in [
        "base_pv",
        "base_stderr",
        "levels",
        "trades",
        "scenarios",
        "unnamed_trades",
        "unmoved_trades",
    ] {
        assert_eq!(sw[key], sm[key], "{key}");
    }
    // g3 names nothing, bk's named asset is in no scenario.
    assert_eq!(sw["unnamed_trades"], 1);
    assert_eq!(sw["unmoved_trades"], 2);
    // The report's card counts the same trades as the summary.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains(r#"id="unmoved-trades" data-value="2""#),
        "{}",
        &html[html.find("unmoved-trades").unwrap_or(0)..][..120]
    );
    assert_eq!(sm["shards"], 3);
    // Real P&L: a scenario moving SPX down 8% loses on the calls.
    let rows = pnl_rows(&whole);
    assert!(
        rows.iter().all(|r| r.1.is_finite() && r.2 > 0.0),
        "{rows:?}"
    );
}

#[test]
fn bad_scenario_input_is_named_by_file_line_and_field_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", MIXED);
    let out = d.path().join("pnl.csv");
    let h = "scenario,underlying,spot,vol,rate\n";
    let cases = [
        ("", "s.csv: the file is empty".to_string()),
        (h, "s.csv:1: no scenarios".into()),
        (
            "scenario,underlying,spot,vol\nd1,SPX,1,2\n",
            "s.csv:1: wrong header".into(),
        ),
        (
            &*format!("{h}d1,SPX,x,,\n"),
            "s.csv:2: field `spot`: not a number".into(),
        ),
        (
            &*format!("{h}d1,SPX,,NaN,\n"),
            "s.csv:2: field `vol`: not a finite number".into(),
        ),
        (
            &*format!("{h}d1,SPX,0.1,,\nd2,SPX,,,\nd1,SPX,,,0.1\n"),
            "s.csv:4: field `underlying`: scenario `d1` moves `SPX` twice (first on line 2)".into(),
        ),
        // gbm vol 0.2 and 0.15 (g4) cannot fall by 0.18.
        (
            &*format!("{h}d1,EURUSD,,,\nd1,SPX,,-0.18,\n"),
            "s.csv:3: field `vol`".into(),
        ),
        (
            &*format!("{h}d1,SPX,-1.5,,\n"),
            "s.csv:2: field `spot`".into(),
        ),
        // h1 (heston, v0 0.04): the move shifts its volatility sqrt(v0) =
        // 0.2 to -0.3, and says so (not `v0`).
        (
            &*format!("{h}d1,SPX,,-0.5,\n"),
            "moves `sqrt(v0)` to -0.3".into(),
        ),
    ];
    for (text, want) in &cases {
        let scen = file(d.path(), "s.csv", text);
        let o = riskpool(&risk_args(&book, &scen, &out));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.contains(want.as_str()), "{text:?}: want {want}: {err}");
        assert!(!out.exists() && !summary_path(&out).exists(), "{text:?}");
    }
    // The vol error names the trade it would break.
    let scen = file(d.path(), "s.csv", &format!("{h}d1,SPX,,-0.18,\n"));
    let err =
        String::from_utf8_lossy(&riskpool(&risk_args(&book, &scen, &out)).stderr).into_owned();
    assert!(
        err.contains("trade `g4`") || err.contains("trade `g1`") || err.contains("trade `h1`"),
        "{err}"
    );

    // A bad underlying name in the book is named too.
    let bad_book = file(
        d.path(),
        "bad.jsonl",
        &MIXED.replace(r#""underlying": "EURUSD"}"#, r#""underlying": 5}"#),
    );
    let scen = file(d.path(), "s.csv", MIXED_SCENARIOS);
    let o = riskpool(&risk_args(&bad_book, &scen, &out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.jsonl:3: field `model.underlying`: expected a string"),
        "{err}"
    );

    // An underlying no trade has is a warning; the run goes on.
    let scen = file(
        d.path(),
        "s.csv",
        &format!("{MIXED_SCENARIOS}d5,JPY,0.1,,\n"),
    );
    let o = riskpool(&risk_args(&book, &scen, &out));
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning") && err.contains("`JPY` is in no trade"),
        "{err}"
    );
    assert_eq!(pnl_rows(&out).last().map(|r| (r.1, r.2)), Some((0.0, 0.0)));
}

/// Multi-asset trades for the moved-trade check: a gbm_multi and a
/// heston_multi on SPX and NDX, and an sv_fx on EURUSD.
const MULTI: &str = r#"{"id": "gm", "model": {"type": "gbm_multi", "rate": 0.03, "assets": [{"spot": 100, "vol": 0.2, "underlying": "SPX"}, {"spot": 90, "vol": 0.3, "underlying": "NDX"}], "correlation": [[1, 0.5], [0.5, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.5, 0.5]}, "maturity": 1, "steps": 2, "paths": 200}
{"id": "hm", "model": {"type": "heston_multi", "rate": 0.03, "assets": [{"spot": 100, "v0": 0.04, "kappa": 1, "theta": 0.04, "xi": 0.3, "rho": -0.5, "underlying": "NDX"}, {"spot": 90, "v0": 0.09, "kappa": 1, "theta": 0.09, "xi": 0.3, "rho": -0.5, "underlying": "SPX"}], "correlation": [[1, 0.5], [0.5, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.5, 0.5]}, "maturity": 1, "steps": 2, "paths": 200}
{"id": "fx", "model": {"type": "sv_fx", "spot": 1.1, "drift": 0.01, "sigma": 0.1, "volvol": 0.3, "rho": 0.1, "underlying": "EURUSD"}, "payoff": {"type": "european", "option": "call", "strike": 1.1}, "maturity": 0.5, "steps": 2, "paths": 200}
"#;

#[test]
fn a_move_that_makes_a_trade_the_book_would_refuse_is_refused_up_front() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", MULTI);
    let out = d.path().join("pnl.csv");
    let h = "scenario,underlying,spot,vol,rate\n";
    let cases = [
        // gm's NDX vol 0.3 moved to exactly 0: the book refuses vol 0.
        (
            format!("{h}ok,SPX,0.1,,\nz,NDX,,-0.3,\n"),
            "s.csv:3: field `vol`: scenario `z` makes a trade the book would refuse (field `model.assets[1].vol`: must be greater than 0",
            "trade `gm`",
        ),
        // hm's NDX sqrt(v0) 0.2 moved to 0 (gm's NDX vol 0.3 survives).
        (
            format!("{h}z,NDX,,-0.2,\n"),
            "s.csv:2: field `vol`: scenario `z` makes a trade the book would refuse (field `model.assets[0].v0`",
            "trade `hm`",
        ),
        // One model, one rate: the second row's rate is the bad one.
        (
            format!("{h}s,SPX,,,0.01\ns,NDX,,,0.02\n"),
            "s.csv:3: field `rate`: scenario `s` moves the rate by 0.01 (line 2) and by 0.02",
            "trade `gm`",
        ),
        // A finite but absurd rate shift.
        (
            format!("{h}crash,SPX,0,0,1e300\n"),
            "s.csv:2: field `rate`: scenario `crash` moves `rate`",
            "within [-1, 1]",
        ),
        (
            format!("{h}ok,SPX,0.1,,\nfx,EURUSD,,,1e10\n"),
            "s.csv:3: field `rate`: scenario `fx` moves `drift`",
            "trade `fx`",
        ),
    ];
    for (text, want, also) in &cases {
        let scen = file(d.path(), "s.csv", text);
        let o = riskpool(&risk_args(&book, &scen, &out));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {err}");
        assert!(
            err.contains(want) && err.contains(also),
            "{text:?}: want {want}: {err}"
        );
        let partial = d.path().join("pnl.csv.part.partial");
        assert!(
            !out.exists() && !summary_path(&out).exists() && !partial.exists(),
            "{text:?}"
        );
    }
    // Agreeing rate moves, a rate moved to the bound, and vols kept above
    // 0 pass.
    let scen = file(
        d.path(),
        "s.csv",
        &format!("{h}s,SPX,,-0.1,0.01\ns,NDX,,-0.1,0.01\nt,EURUSD,,,0.99\n"),
    );
    ok(&riskpool(&risk_args(&book, &scen, &out)));
}

#[test]
fn a_one_path_trade_is_revalued_with_its_standard_error_left_empty() {
    // As in `price`: one path has a price but no standard error.
    let d = tempfile::tempdir().unwrap();
    let one = Euro {
        id: "one",
        ..BOOK[0]
    };
    let book = file(
        d.path(),
        "book.jsonl",
        &format!("{}\n{}\n", one.json(1), BOOK[1].json(200)),
    );
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\nup,SPX,0.1,,\ndown,SPX,-0.1,,\n",
    );
    let out = d.path().join("pnl.csv");
    let bt = d.path().join("bt.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--by-trade", p(&bt)]);
    ok(&riskpool(&a));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        assert!(
            r[1].parse::<f64>().unwrap().is_finite() && r[2].is_empty(),
            "{text}"
        );
    }
    let text = std::fs::read_to_string(&bt).unwrap();
    for l in text.lines().skip(1) {
        let c: Vec<&str> = l.split(',').collect();
        assert!(c[2].parse::<f64>().unwrap().is_finite(), "{text}");
        // The one-path trade's error is empty, the other's a number.
        assert_eq!(c[3].is_empty(), c[1] == "one", "{text}");
    }
    let s = summary(&out);
    assert!(s["base_pv"].as_f64().unwrap().is_finite(), "{s}");
    assert!(s["base_stderr"].is_null(), "{s}");
}

/// The mixed book and its scenarios written in `dir`, and an
/// uninterrupted run of them in batches of `batch` trades: the paths of
/// the book, the scenarios and that reference output.
fn mixed_reference(dir: &Path, batch: &str) -> (PathBuf, PathBuf, PathBuf) {
    let book = file(dir, "book.jsonl", MIXED);
    let scen = file(dir, "s.csv", MIXED_SCENARIOS);
    let reference = dir.join("reference.csv");
    let mut a = risk_args(&book, &scen, &reference);
    a.extend(["--batch-trades", batch]);
    ok(&riskpool(&a));
    (book, scen, reference)
}

/// Starts `cmd` with the test hook stalling it at `point`, and returns
/// once it says so, with the rest of its stderr.
fn stalled_at(
    cmd: &mut Command,
    point: &str,
) -> (std::process::Child, impl Iterator<Item = String>) {
    let mut child = cmd
        .env("RISKPOOL_TEST_STALL", point)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok);
    let said = format!("stalled at {point}");
    assert!(
        lines.any(|l| l.contains(&said)),
        "the run never reached {point}"
    );
    (child, lines)
}

fn summary_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".summary.json");
    PathBuf::from(s)
}

#[test]
fn a_rerun_after_sigkill_revalues_only_what_is_missing() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (book, scen, reference) = mixed_reference(d.path(), "2");

    // Killed in the first batch after one row is written, not synced.
    let out = d.path().join("pnl.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--batch-trades", "2"]);
    let mut child = bin()
        .args(&a)
        .env("RISKPOOL_TEST_STALL", "risk-batch")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = d.path().join("pnl.csv.part.partial");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("stalled at risk-batch"))),
        "the run never reached its first batch"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists());
    let kept = std::fs::read_to_string(&partial).unwrap().lines().count() - 1;
    assert!((1..7).contains(&kept), "{kept} rows kept");

    let o = riskpool(&a);
    ok(&o);
    let s = summary(&out);
    assert_eq!(s["resumed_from"].as_u64(), Some(kept as u64), "{s}");
    assert_eq!(s["revalued_now"].as_u64(), Some(7 - kept as u64), "{s}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
    assert!(!partial.exists());
    // Killed with every trade durable and no output written: the rerun
    // revalues nothing and writes the same files.
    let out = d.path().join("again.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--batch-trades", "2"]);
    let (mut child, _lines) = stalled_at(bin().args(&a), "risk-part-done");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists() && d.path().join("again.csv.part").exists());
    ok(&riskpool(&a));
    let s = summary(&out);
    assert_eq!(
        (s["resumed_from"].as_u64(), s["revalued_now"].as_u64()),
        (Some(7), Some(0))
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
    // The part stays beside the outputs, for a re-merge without revaluing.
    assert!(d.path().join("again.csv.part").exists());

    // A finished output is not revalued again.
    let o = riskpool(&a);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("already complete"));
}

#[test]
fn a_non_finite_pnl_stops_the_run_naming_trade_and_scenario() {
    // 1e38 is finite in f32 but five times it is not: the base prices,
    // the scenario overflows the f32 path state.
    let d = tempfile::tempdir().unwrap();
    let book = file(
        d.path(),
        "book.jsonl",
        r#"{"id": "ok", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "A"}, "payoff": {"type": "european", "option": "call", "strike": 100}, "maturity": 1, "steps": 1, "paths": 1000}
{"id": "big", "model": {"type": "gbm", "spot": 1e38, "rate": 0.03, "vol": 0.2, "underlying": "A"}, "payoff": {"type": "european", "option": "call", "strike": 1e38}, "maturity": 1, "steps": 1, "paths": 1000}
"#,
    );
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\nup,A,5,,\n",
    );
    let out = d.path().join("pnl.csv");
    let o = riskpool(&risk_args(&book, &scen, &out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trade `big` (line 2): its P&L in scenario `up` is not a finite number"),
        "{err}"
    );
    assert!(!out.exists() && !summary_path(&out).exists());
}

/// Issue 22 item 6: a scenario moving a vol by +1e308 makes the moved
/// paths not finite: an error naming the trade and the scenario, on a
/// plain and an early-exercise trade, never a P&L from paths paid 0.
#[test]
fn a_scenario_whose_paths_are_not_finite_stops_the_run_naming_it() {
    let d = tempfile::tempdir().unwrap();
    for (ex, precision) in [
        ("", "f32"),
        ("", "f64"),
        (r#", "exercise": {"style": "american"}"#, "f64"),
    ] {
        let book = file(
            d.path(),
            "book.jsonl",
            &format!(
                r#"{{"id": "put", "model": {{"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "A"}}, "payoff": {{"type": "european", "option": "put", "strike": 100}}, "maturity": 1, "steps": 4, "paths": 500{ex}}}
"#
            ),
        );
        let scen = file(
            d.path(),
            "s.csv",
            "scenario,underlying,spot,vol,rate\nwild,A,,1e308,\n",
        );
        let out = d.path().join("pnl.csv");
        let mut a = risk_args(&book, &scen, &out);
        a.extend(["--precision", precision]);
        let o = riskpool(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{precision}{ex}: {err}");
        assert!(
            err.contains("trade `put` (line 1): its P&L in scenario `wild` is not a finite number (it moves vol by 1e308); the 0 rows before it are kept in"),
            "{err}"
        );
        assert!(!out.exists() && !summary_path(&out).exists());
    }
}

#[test]
fn an_engine_failure_falls_back_under_auto_and_keeps_what_was_finished_otherwise() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (book, scen, reference) = mixed_reference(d.path(), "3");

    // A named engine: the second batch fails, the run stops, exit 1, the
    // first batch kept.
    let out = d.path().join("pnl.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--batch-trades", "3"]);
    let o = bin()
        .args(&a)
        .env("RISKPOOL_INJECT_ENGINE_FAILURE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("injected failure") && err.contains("kept in"),
        "{err}"
    );
    assert!(!out.exists());
    // The rerun finishes it, equal to the uninterrupted run.
    ok(&riskpool(&a));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );

    // auto: the second batch goes again on the next engine (here a fresh
    // CPU one).
    let out = d.path().join("auto.csv");
    let mut a = risk_args(&book, &scen, &out);
    let at = a.iter().position(|x| *x == "cpu").unwrap();
    a[at] = "auto";
    a.extend(["--batch-trades", "3"]);
    let o = bin()
        .args(&a)
        .env("RISKPOOL_INJECT_ENGINE_FAILURE", "1")
        .output()
        .unwrap();
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    if summary(&out)["engine"] == "cpu" {
        assert!(
            err.contains("the remaining trades go to the cpu engine"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&reference).unwrap()
        );
    }
}

fn refused(o: &Output, words: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for w in words {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    n.sort();
    n
}

#[test]
fn outputs_that_alias_each_other_side_files_or_devices_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    book_file(dir, 200);
    scenario_file(dir);
    let fifo = dir.join("ff");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let part0 = hand_part(dir, 0, 1, 1, &[(1, "a", vec![1.0, -2.0])]);
    let before = names(dir);
    let abs = dir.join("o.csv");
    let base = [
        "risk",
        "--input",
        "book.jsonl",
        "--scenarios",
        "scenarios.csv",
        "--output",
        "o.csv",
        "--engine",
        "cpu",
        "--threads",
        "1",
    ];
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["--by-trade", "./o.csv"],
            &["--output", "--by-trade", "same file"],
        ),
        (
            &["--report", p(&abs)],
            &["--output", "--report", "same file"],
        ),
        (
            &["--by-trade", "bt.csv", "--report", "./bt.csv"],
            &["--by-trade", "--report"],
        ),
        (&["--by-trade", "o.csv.part"], &["--by-trade", "o.csv.part"]),
        (
            &["--by-trade", "o.csv.summary.json"],
            &["--by-trade", "o.csv.summary.json"],
        ),
        (
            &["--report", "o.csv.part.partial"],
            &["--report", "o.csv.part.partial"],
        ),
        (
            &["--by-trade", "r.html.tmp", "--report", "r.html"],
            &["--by-trade", "r.html.tmp"],
        ),
        (&["--report", "ff"], &["--report", "not a regular file"]),
    ];
    for (extra, words) in cases {
        let mut a = base.to_vec();
        a.extend(extra);
        refused(&riskpool_in(dir, &a), words);
    }
    let mut a = base.to_vec();
    a.extend(["--by-trade", "/dev/null"]);
    refused(&riskpool_in(dir, &a), &["not a regular file"]);
    let mut a = base.to_vec();
    a[6] = "ff";
    refused(&riskpool_in(dir, &a), &["not a regular file"]);

    let part = part0.file_name().unwrap().to_str().unwrap();
    refused(
        &riskpool_in(
            dir,
            &[
                "risk-merge",
                "--output",
                "m.csv",
                "--by-trade",
                "./m.csv",
                part,
            ],
        ),
        &["--output", "--by-trade"],
    );
    refused(
        &riskpool_in(
            dir,
            &["risk-merge", "--output", "m.csv", "--report", "ff", part],
        ),
        &["not a regular file"],
    );
    refused(
        &riskpool_in(dir, &["risk-merge", "--output", &format!("./{part}"), part]),
        &["--output", "input"],
    );
    // Nothing was written, and the FIFO is still one.
    assert_eq!(names(dir), before);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn an_unsharded_run_leaves_a_shard_part_named_like_its_own_alone() {
    let d = tempfile::tempdir().unwrap();
    let book = book_file(d.path(), 200);
    let scen = scenario_file(d.path());
    let out = d.path().join("o.csv");
    let shard = d.path().join("o.csv.part");
    let mut a = risk_args(&book, &scen, &shard);
    a.extend(["--shard", "0/2"]);
    ok(&riskpool(&a));
    let bytes = std::fs::read(&shard).unwrap();
    refused(
        &riskpool(&risk_args(&book, &scen, &out)),
        &["o.csv.part", "shard 0/2"],
    );
    assert_eq!(std::fs::read(&shard).unwrap(), bytes);
    assert!(!out.exists());
}

#[test]
fn a_second_run_on_any_file_the_first_writes_is_refused() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let book = book_file(d.path(), 200);
    let scen = scenario_file(d.path());
    let (a_out, b_out) = (d.path().join("a.csv"), d.path().join("b.csv"));
    let bt = d.path().join("bt.csv");
    let mut a = risk_args(&book, &scen, &a_out);
    a.extend(["--by-trade", p(&bt)]);
    let (mut first, _lines) = stalled_at(bin().args(&a), "checked");

    // Another output, the same by-trade file.
    let mut b = risk_args(&book, &scen, &b_out);
    b.extend(["--by-trade", p(&bt)]);
    let o = riskpool(&b);
    // A shard whose part is the first run's part.
    let a_part = d.path().join("a.csv.part");
    let mut c = risk_args(&book, &scen, &a_part);
    c.extend(["--shard", "0/2"]);
    let o2 = riskpool(&c);
    first.kill().unwrap();
    first.wait().unwrap();
    for o in [o, o2] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("another riskpool run"),
            "{err}"
        );
    }
    assert!(!b_out.exists() && !a_part.exists());
}

#[test]
fn deleted_figures_and_new_levels_are_rewritten_from_the_kept_part() {
    let d = tempfile::tempdir().unwrap();
    let book = book_file(d.path(), 200);
    let scen = scenario_file(d.path());
    let out = d.path().join("o.csv");
    let (bt, report) = (d.path().join("bt.csv"), d.path().join("r.html"));
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--by-trade", p(&bt), "--report", p(&report)]);
    ok(&riskpool(&a));
    let by_trade = std::fs::read(&bt).unwrap();
    for f in [&bt, &report] {
        std::fs::remove_file(f).unwrap();
        let o = riskpool(&a);
        ok(&o);
        assert!(!String::from_utf8_lossy(&o.stderr).contains("already complete"));
        assert_eq!(summary(&out)["revalued_now"].as_u64(), Some(0));
        assert!(report.is_file());
        assert_eq!(std::fs::read(&bt).unwrap(), by_trade);
    }
    let mut b = a.clone();
    b.extend(["--levels", "0.5"]);
    ok(&riskpool(&b));
    let s = summary(&out);
    assert_eq!(s["revalued_now"].as_u64(), Some(0), "{s}");
    assert_eq!(s["levels"][0]["level"].as_f64(), Some(0.5), "{s}");
    // Another thread count is another device: revalued, and the log says why.
    let mut c = a.clone();
    let i = c.len() - 7;
    c[i] = "1";
    assert_eq!(a[a.len() - 8], "--threads");
    let o = riskpool(&c);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("starting afresh") && err.contains("threads"),
        "{err}"
    );
    assert_eq!(summary(&out)["revalued_now"].as_u64(), Some(4));
}

#[test]
fn a_rerun_removes_the_old_summary_before_it_replaces_any_output() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let book = book_file(d.path(), 200);
    let scen = scenario_file(d.path());
    let out = d.path().join("o.csv");
    let bt = d.path().join("bt.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--by-trade", p(&bt)]);
    ok(&riskpool(&a));
    // Other scenarios, killed with the new outputs written and the new
    // summary not yet in place.
    file(
        d.path(),
        "scenarios.csv",
        "scenario,underlying,spot,vol,rate\nz,A,0.1,,\n",
    );
    let (mut child, _lines) = stalled_at(bin().args(&a), "summary-tmp");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!summary_path(&out).exists());
    let o = riskpool(&a);
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("already complete"));
    assert_eq!(pnl_rows(&out)[0].0, "z");
    assert!(std::fs::read_to_string(&bt)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("z,"));
}

/// A risk run's side files (the part's journal, the output's temporary
/// file, the part) as symbolic links to a victim: refused at once (exit
/// 2), the victim untouched.
#[test]
fn risk_side_files_that_are_links_are_refused_and_nothing_follows_them() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", MIXED);
    let scen = file(d.path(), "s.csv", MIXED_SCENARIOS);
    let victim = file(d.path(), "victim.txt", "precious\n");
    let out = d.path().join("o.csv");
    for side in [
        "o.csv.part.partial",
        "o.csv.tmp",
        "o.csv.part",
        "o.csv.part.lock",
    ] {
        let link = d.path().join(side);
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        refused(
            &riskpool(&risk_args(&book, &scen, &out)),
            &[side, "symbolic link"],
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!out.exists(), "{side}");
        std::fs::remove_file(&link).unwrap();
    }
    ok(&riskpool(&risk_args(&book, &scen, &out)));
}

/// A book edited between the check pass and the revaluation (same size,
/// other numbers): the run stops with exit 1 and writes nothing, so no
/// part or summary ever pairs one book's hash with another's P&L; a rerun
/// on the book as it was then gives the uninterrupted run's file.
#[test]
fn a_book_changed_between_the_check_and_the_revaluation_is_refused() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (book, scen, reference) = mixed_reference(d.path(), "2");
    let original = std::fs::read_to_string(&book).unwrap();
    let out = d.path().join("pnl.csv");
    let hold = file(d.path(), "hold", "");
    let (mut child, lines) = stalled_at(
        bin()
            .args(risk_args(&book, &scen, &out))
            .env("RISKPOOL_TEST_STALL_WHILE", &hold),
        "checked",
    );
    let first = original
        .find("\"spot\": 100")
        .expect("a spot of 100 in the book");
    let mut edited = original.clone();
    edited.replace_range(first..first + 11, "\"spot\": 101");
    std::fs::write(&book, &edited).unwrap();
    std::fs::remove_file(&hold).unwrap();
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("the input changed")),
        "{rest:?}"
    );
    assert!(!out.exists() && !summary_path(&out).exists());
    std::fs::write(&book, &original).unwrap();
    ok(&riskpool(&risk_args(&book, &scen, &out)));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
}

/// A part row grows with the scenarios (two numbers each): with 30,000
/// scenarios a row is over 1 MiB, and a rerun after a kill still keeps the
/// rows that were durable.
#[test]
fn rows_of_many_scenarios_are_resumed_too() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let trade = |id: &str, strike: u32| {
        format!(
            r#"{{"id": "{id}", "model": {{"type": "gbm", "spot": 100, "rate": 0.02, "vol": 0.2, "underlying": "SPX"}}, "payoff": {{"type": "european", "option": "call", "strike": {strike}}}, "maturity": 1, "steps": 1, "paths": 16}}"#
        )
    };
    let book_text: String = (0..4)
        .map(|i| trade(&format!("t{i}"), 90 + 5 * i) + "\n")
        .collect();
    let book = file(d.path(), "book.jsonl", &book_text);
    let mut scen_text = String::from("scenario,underlying,spot,vol,rate\n");
    for i in 0..30_000 {
        // Long names: the part's header, which lists them, is over 1 MiB.
        scen_text += &format!(
            "a-scenario-with-a-rather-long-name-{i:06},SPX,{:.6},,\n",
            (i as f64 - 15_000.0) * 1e-5
        );
    }
    let scen = file(d.path(), "s.csv", &scen_text);
    let reference = d.path().join("reference.csv");
    let mut a = risk_args(&book, &scen, &reference);
    a.extend(["--batch-trades", "2"]);
    ok(&riskpool(&a));
    let out = d.path().join("pnl.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--batch-trades", "2"]);
    let (mut child, _lines) = stalled_at(bin().args(&a), "risk-batch");
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = std::fs::read_to_string(d.path().join("pnl.csv.part.partial")).unwrap();
    let kept = partial.lines().count() - 1;
    assert!(kept >= 1 && partial.lines().nth(1).unwrap().len() > 1 << 20);
    let o = riskpool(&a);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("resuming")) && err.contains(&format!("{kept} of 4")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
    // A shard's part, its header over 1 MiB, where an unsharded run would
    // keep its own: refused, not replaced.
    let shard = d.path().join("sh.csv.part");
    let mut a = risk_args(&book, &scen, &shard);
    a.extend(["--shard", "0/2"]);
    ok(&riskpool(&a));
    let before = std::fs::read(&shard).unwrap();
    assert!(before.iter().position(|&b| b == b'\n').unwrap() > 1 << 20);
    let whole = d.path().join("sh.csv");
    refused(&riskpool(&risk_args(&book, &scen, &whole)), &["shard 0/2"]);
    assert_eq!(std::fs::read(&shard).unwrap(), before);
}

/// A stress scenario that moves the spot to or through a barrier knocks
/// the trade at once (issue 22, item 1): a knock-out is worth its rebate
/// paid at maturity, discounted at the scenario's rate; a knock-in is the
/// European option, here against Black-Scholes; a double barrier left
/// either way is knocked out. The run is not refused, and the CPU and
/// wgpu engines agree.
#[test]
fn scenarios_that_cross_a_barrier_knock_the_trade() {
    let d = tempfile::tempdir().unwrap();
    let gbm =
        r#""model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2, "underlying": "SPX"}"#;
    let book = file(
        d.path(),
        "book.jsonl",
        &[
            format!(r#"{{"id": "do", {gbm}, "payoff": {{"type": "barrier", "option": "call", "strike": 100, "barrier": 90, "direction": "down", "knock": "out", "rebate": 2}}, "maturity": 1, "steps": 50, "paths": 20000}}"#),
            format!(r#"{{"id": "di", {gbm}, "payoff": {{"type": "barrier", "option": "put", "strike": 100, "barrier": 90, "direction": "down", "knock": "in", "monitoring": "continuous"}}, "maturity": 1, "steps": 50, "paths": 20000}}"#),
            format!(r#"{{"id": "uo", {gbm}, "payoff": {{"type": "barrier", "option": "call", "strike": 100, "barrier": 120, "direction": "up", "knock": "out"}}, "maturity": 1, "steps": 50, "paths": 20000}}"#),
            format!(r#"{{"id": "dbl", {gbm}, "payoff": {{"type": "double_barrier", "option": "call", "strike": 100, "lower": 90, "upper": 120, "rebate": 1}}, "maturity": 1, "steps": 50, "paths": 20000}}"#),
        ]
        .join("\n"),
    );
    // Through the down barriers (and touching 90 exactly), through the up
    // ones with a rate move, and a move that crosses nothing.
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\ncrash,SPX,-0.15,,\ntouch,SPX,-0.1,,\nrally,SPX,0.25,,0.01\nsmall,SPX,-0.05,,\n",
    );
    let mut by_engine = Vec::new();
    for engine in ["cpu", "wgpu"] {
        let out = d.path().join(format!("{engine}.csv"));
        let by_trade = d.path().join(format!("{engine}-by-trade.csv"));
        let mut a = risk_args(&book, &scen, &out);
        let at = a.iter().position(|x| *x == "--engine").unwrap() + 1;
        a[at] = engine;
        a.extend(["--by-trade", p(&by_trade)]);
        ok(&riskpool(&a));
        let part = std::fs::read_to_string(d.path().join(format!("{engine}.csv.part"))).unwrap();
        let base: std::collections::HashMap<String, f64> = part
            .lines()
            .skip(1)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["id"].is_string())
            .map(|v| {
                (
                    v["id"].as_str().unwrap().to_string(),
                    v["base"].as_f64().unwrap(),
                )
            })
            .collect();
        let text = std::fs::read_to_string(&by_trade).unwrap();
        let mut rows = std::collections::HashMap::new();
        for l in text.lines().skip(1) {
            let c: Vec<&str> = l.split(',').collect();
            let v: f64 = c[2].parse().unwrap();
            let se: f64 = c[3].parse().unwrap();
            rows.insert((c[0].to_string(), c[1].to_string()), (v, se));
        }
        let value = |s: &str, id: &str| rows[&(s.to_string(), id.to_string())].0 + base[id];
        // Knocked out: the rebate at maturity, exactly (f32 rounding aside).
        for s in ["crash", "touch"] {
            assert!(
                (value(s, "do") - 2.0 * (-0.03f64).exp()).abs() < 1e-5,
                "{engine} {s}"
            );
            assert!(
                (value(s, "dbl") - (-0.03f64).exp()).abs() < 1e-5,
                "{engine} {s}"
            );
        }
        assert!((value("rally", "uo") - 0.0).abs() < 1e-9, "{engine}");
        assert!(
            (value("rally", "dbl") - (-0.04f64).exp()).abs() < 1e-5,
            "{engine}"
        );
        // Knocked in: the European put at the moved spot.
        for (s, spot) in [("crash", 85.0), ("touch", 90.0)] {
            let (pnl, se) = rows[&(s.to_string(), "di".to_string())];
            let want = black_scholes(false, spot, 100.0, 0.03, 0.0, 0.2, 1.0);
            assert!(
                (pnl + base["di"] - want).abs() < 4.0 * se,
                "{engine} {s}: {} vs {want} +- {se}",
                pnl + base["di"]
            );
        }
        // A move that crosses nothing is revalued on the paths as before.
        assert!(rows[&("small".to_string(), "do".to_string())].0 < 0.0);
        by_engine.push(rows);
    }
    for (k, (v, _)) in &by_engine[0] {
        let w = by_engine[1][k].0;
        assert!(
            (v - w).abs() < 1e-4 * (1.0 + v.abs()),
            "{k:?}: cpu {v}, wgpu {w}"
        );
    }
}

/// `risk` writes CSV and an HTML page whatever the names: an output named
/// otherwise (`o.json`, `o.txt`, a report `r.csv`) is refused before
/// anything is written, as `price` refuses one (issue 22, item 14).
#[test]
fn outputs_named_for_another_format_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let book = file(d.path(), "book.jsonl", MIXED);
    let scen = file(d.path(), "s.csv", MIXED_SCENARIOS);
    let before = names(d.path());
    for (flag, name, words) in [
        ("--output", "o.json", &["--output", "o.json", ".csv"][..]),
        ("--output", "o.txt", &["--output", "o.txt", ".csv"]),
        (
            "--by-trade",
            "bt.jsonl",
            &["--by-trade", "bt.jsonl", ".csv"],
        ),
        ("--report", "r.csv", &["--report", "r.csv", ".html"]),
    ] {
        let out = d
            .path()
            .join(if flag == "--output" { name } else { "o.csv" });
        let mut a = risk_args(&book, &scen, &out);
        let named = d.path().join(name);
        if flag != "--output" {
            a.extend([flag, p(&named)]);
        }
        refused(&riskpool(&a), words);
        assert_eq!(names(d.path()), before, "{flag} {name}");
    }
}

/// A book written as a one-line JSON array (what `json.dumps` writes):
/// its trades share line 1, and are told apart by their item number, so
/// `risk` revalues it as the same book in JSON Lines, its shards merge to
/// the unsharded file, and a rerun finds it complete (issue 22, item 7).
#[test]
fn a_one_line_json_array_book_is_revalued_sharded_and_merged() {
    let d = tempfile::tempdir().unwrap();
    let lines = file(d.path(), "book.jsonl", MIXED);
    let items: Vec<Value> = MIXED
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let array = file(
        d.path(),
        "book.json",
        &serde_json::to_string(&items).unwrap(),
    );
    let scen = file(d.path(), "s.csv", MIXED_SCENARIOS);
    let from_lines = d.path().join("lines.csv");
    ok(&riskpool(&risk_args(&lines, &scen, &from_lines)));
    let from_array = d.path().join("array.csv");
    ok(&riskpool(&risk_args(&array, &scen, &from_array)));
    let read = |f: &Path| std::fs::read(f).unwrap();
    assert_eq!(read(&from_lines), read(&from_array));
    let again = riskpool(&risk_args(&array, &scen, &from_array));
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already complete"));
    let mut parts = Vec::new();
    for k in 0..3 {
        let part = d.path().join(format!("a{k}.jsonl"));
        let shard = format!("{k}/3");
        let mut a = risk_args(&array, &scen, &part);
        a.extend(["--shard", &shard]);
        ok(&riskpool(&a));
        parts.push(part);
    }
    let merged = d.path().join("merged.csv");
    ok(&riskpool(&[
        "risk-merge",
        "--output",
        p(&merged),
        p(&parts[2]),
        p(&parts[0]),
        p(&parts[1]),
    ]));
    assert_eq!(read(&merged), read(&from_array));
}

/// A trade whose payoffs' squares overflow f64 (spot = strike = 1e154)
/// has no finite standard error: `price` and `risk` stop at it, exit 1,
/// naming it, rather than writing an error of 0 (issue 22, item 5).
#[test]
fn a_standard_error_past_f64_stops_the_run_naming_the_trade() {
    let d = tempfile::tempdir().unwrap();
    let book = file(
        d.path(),
        "book.jsonl",
        r#"{"id": "big", "model": {"type": "gbm", "spot": 1e154, "rate": 0.03, "vol": 0.2, "underlying": "SPX"}, "payoff": {"type": "european", "option": "call", "strike": 1e154}, "maturity": 1, "steps": 1, "paths": 2000}"#,
    );
    let scen = file(d.path(), "s.csv", MIXED_SCENARIOS);
    let out = d.path().join("pnl.csv");
    let mut a = risk_args(&book, &scen, &out);
    a.extend(["--precision", "f64"]);
    let o = riskpool(&a);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trade `big`") && err.contains("stderr"),
        "{err}"
    );
    assert!(!out.exists());
    let priced = d.path().join("priced.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&book),
        "--output",
        p(&priced),
        "--precision",
        "f64",
        "--engine",
        "cpu",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trade `big`") && err.contains("pv stderr"),
        "{err}"
    );
    assert!(!priced.exists());
}
