//! The market file of a book of dated trades, attacked as a file: a key
//! given twice (JSON keeps the last silently), numbers JSON cannot hold,
//! and an output (or a side file, or a risk run's by-trade file, report or
//! part) that is the market file itself, which a run would destroy.

use std::path::Path;
use std::process::Output;

use crate::market::refused;
use crate::util::{file, p, riskpool, stderr};

/// A flat 5% USD curve, one underlying on a flat vol.
const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-12-04"], "zero_rates": [0.05]}},
 "underlyings": {
   "SPX": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2}}}}"#;

const BOOK: &str = r#"{"id": "c", "underlying": "SPX", "payoff": {"type": "european", "option": "call", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 2000}
"#;

const SCENARIOS: &str = "scenario,underlying,spot,vol,rate\ndown,SPX,-0.1,,\n";

fn price(dir: &Path, market: &Path, out: &Path) -> Output {
    let book = file(dir, "book.jsonl", BOOK);
    riskpool(&[
        "price",
        "--input",
        p(&book),
        "--market",
        p(market),
        "--output",
        p(out),
    ])
}

fn risk(dir: &Path, market: &Path, extra: &[&str]) -> Output {
    let book = file(dir, "book.jsonl", BOOK);
    let scen = file(dir, "s.csv", SCENARIOS);
    let mut args = vec![
        "risk",
        "--input",
        p(&book),
        "--market",
        p(market),
        "--scenarios",
        p(&scen),
    ];
    args.extend_from_slice(extra);
    riskpool(&args)
}

/// Only the run's inputs are in `dir`: nothing was written.
fn only_inputs(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            ["book.jsonl", "s.csv", "market.json"].contains(&n.as_str()),
            "{n} was written"
        );
    }
}

/// An underlying or a curve given twice is refused naming it (the JSON
/// reader would keep the second silently, and price on a spot the user
/// may not have meant); so are numbers JSON cannot hold, naming the field
/// as a book's would. Exit 2, nothing written, for `price` and `risk`.
#[test]
fn a_market_file_with_a_key_twice_or_a_number_json_cannot_hold_is_refused_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let spx = r#""SPX": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2}}"#;
    let usd = r#""USD": {"dates": ["2027-12-04"], "zero_rates": [0.05]}"#;
    let cases: [(String, &[&str]); 6] = [
        (
            MARKET.replace(
                spx,
                &format!(
                    r#""SPX": {{"spot": 1, "currency": "USD", "vol": {{"flat": 0.9}}}}, {spx}"#
                ),
            ),
            &["underlyings", "`SPX`", "given once"],
        ),
        (
            MARKET.replace(
                usd,
                &format!(r#""USD": {{"dates": ["2027-12-04"], "zero_rates": [0.5]}}, {usd}"#),
            ),
            &["curves", "`USD`", "given once"],
        ),
        (
            MARKET.replace(r#""spot": 100"#, r#""spot": 100, "spot": 200"#),
            &["underlyings.SPX", "`spot`", "given once"],
        ),
        (
            MARKET.replace(r#""spot": 100"#, r#""spot": NaN"#),
            &["underlyings.SPX.spot"],
        ),
        (
            MARKET.replace(r#""flat": 0.2"#, r#""flat": 1e400"#),
            &["underlyings.SPX.vol.flat", "out of range"],
        ),
        (
            MARKET.replace(r#""spot": 100"#, r#""spot": "100""#),
            &["underlyings.SPX.spot", "invalid type"],
        ),
    ];
    for (text, words) in cases {
        let market = file(d.path(), "market.json", &text);
        let o = price(d.path(), &market, &d.path().join("out.csv"));
        refused(&o, &[&["--market", "market.json"], words].concat());
        let o = risk(
            d.path(),
            &market,
            &["--output", p(&d.path().join("pnl.csv"))],
        );
        refused(&o, &[&["--market", "market.json"], words].concat());
        only_inputs(d.path());
    }
}

/// A run never writes the market file it reads: an output, a by-trade
/// file, a report or a shard's part that is the market file (by name, by
/// another spelling, or a hard link of it, or one of whose side files is
/// it) is refused, exit 2, and the market file is as it was.
#[test]
fn an_output_that_is_the_market_file_is_refused_and_the_market_kept() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // A market file's name is free: here each is named as an output or
    // one of its side files.
    let check = |name: &str, run: &dyn Fn(&Path) -> Output| {
        let market = file(dir, name, MARKET);
        let o = run(&market);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("market"), "{name}: {err}");
        assert_eq!(std::fs::read_to_string(&market).unwrap(), MARKET, "{name}");
        std::fs::remove_file(&market).unwrap();
    };
    check("m.csv", &|m| price(dir, m, m));
    check("m.csv", &|m| price(dir, m, &dir.join(".").join("m.csv")));
    check("m.csv.partial", &|m| price(dir, m, &dir.join("m.csv")));
    check("m.csv", &|m| {
        risk(
            dir,
            m,
            &["--output", p(&dir.join("pnl.csv")), "--by-trade", p(m)],
        )
    });
    check("m.html", &|m| {
        risk(
            dir,
            m,
            &["--output", p(&dir.join("pnl.csv")), "--report", p(m)],
        )
    });
    check("m.csv", &|m| risk(dir, m, &["--output", p(m)]));
    check("m.jsonl", &|m| {
        risk(dir, m, &["--shard", "0/1", "--output", p(m)])
    });
    check("pnl.csv.part", &|m| {
        risk(dir, m, &["--output", p(&dir.join("pnl.csv"))])
    });
    // A hard link of the market as the output.
    let market = file(dir, "market.json", MARKET);
    std::fs::hard_link(&market, dir.join("hard.csv")).unwrap();
    let o = price(dir, &market, &dir.join("hard.csv"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("market file"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&market).unwrap(), MARKET);
}

/// Shards of one book revalued on two market files are two runs:
/// `risk-merge` refuses them (exit 2, nothing written), and says the
/// market file may be what differs (the book's hash takes in the
/// market's; the book itself is the same).
#[test]
fn shards_on_two_market_files_are_not_merged_and_the_market_is_named() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let a = file(dir, "a.json", MARKET);
    let b = file(
        dir,
        "b.json",
        &MARKET.replace(r#""spot": 100"#, r#""spot": 101"#),
    );
    let p0 = dir.join("p0.jsonl");
    let p1 = dir.join("p1.jsonl");
    crate::util::ok(&risk(dir, &a, &["--shard", "0/2", "--output", p(&p0)]));
    crate::util::ok(&risk(dir, &b, &["--shard", "1/2", "--output", p(&p1)]));
    let out = dir.join("pnl.csv");
    let o = riskpool(&["risk-merge", "--output", p(&out), p(&p0), p(&p1)]);
    refused(&o, &["different runs", "--market"]);
    assert!(!out.exists());
}
