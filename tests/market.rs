//! Dated trades priced through a market file (`--market`, issue 23's first
//! slice): Europeans and digitals on discount and dividend-yield curves
//! against Black-Scholes with the curves' own discount factors (computed
//! here, Act/365F and log-linear, independently of the kernels), a risk
//! run's P&L through the market, bad market files and dated trades
//! refused naming the file, line and field, and a rerun on another market
//! computed afresh.

use std::path::Path;

use crate::util::{file, ok, p, riskpool, stderr};

pub(crate) const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04", "2031-12-04"], "zero_rates": [0.041, 0.038, 0.035]}},
 "underlyings": {
   "SPX": {"spot": 6000, "currency": "USD",
           "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.013]},
           "vol": {"flat": 0.2},
           "heston": {"v0": 0.04, "kappa": 1.5, "theta": 0.045, "xi": 0.5, "rho": -0.7}},
   "SX5E": {"spot": 5000, "currency": "USD", "vol": {"flat": 0.25}}}}"#;

/// Days from 2026-12-04 to a date of 2027-2031, by the calendar.
pub(crate) fn days(date: &str) -> f64 {
    let ymd: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let day_number = |y: i64, m: i64, d: i64| {
        // Days since 0000-03-01 (a proleptic Gregorian count).
        let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
        365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d
    };
    (day_number(ymd[0], ymd[1], ymd[2]) - day_number(2026, 12, 4)) as f64
}

/// `-ln DF(t)` of pillars `(t_i, r_i)`: linear between, flat zero rate
/// outside.
fn log_df(pillars: &[(f64, f64)], t: f64) -> f64 {
    let (t0, r0) = pillars[0];
    let (tn, rn) = pillars[pillars.len() - 1];
    if t <= t0 {
        return r0 * t;
    }
    if t >= tn {
        return rn * t;
    }
    let w = pillars.windows(2).find(|w| t <= w[1].0).unwrap();
    let ((a, ra), (b, rb)) = (w[0], w[1]);
    ra * a + (rb * b - ra * a) * (t - a) / (b - a)
}

pub(crate) fn usd(t: f64) -> f64 {
    let pillars: Vec<(f64, f64)> = [
        ("2027-03-04", 0.041),
        ("2027-12-04", 0.038),
        ("2031-12-04", 0.035),
    ]
    .iter()
    .map(|(d, r)| (days(d) / 365.0, *r))
    .collect();
    log_df(&pillars, t)
}

fn spx_yield(t: f64) -> f64 {
    0.013 * t
}

/// The standard normal CDF: `1/2 + (1/sqrt(2 pi)) int_0^x e^(-t^2/2) dt`
/// by composite Simpson on 4,000 intervals (error far below 1e-10).
pub(crate) fn norm_cdf(x: f64) -> f64 {
    let n = 4000;
    let h = x / n as f64;
    let f = |t: f64| (-0.5 * t * t).exp();
    let mut sum = f(0.0) + f(x);
    for i in 1..n {
        sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    0.5 + sum * h / 3.0 / (2.0 * std::f64::consts::PI).sqrt()
}

/// Black-Scholes on the forward: a call or put, or a cash-or-nothing
/// digital paying 1.
pub(crate) fn black(
    kind: &str,
    spot: f64,
    strike: f64,
    vol: f64,
    t: f64,
    log_df: f64,
    log_dfq: f64,
) -> f64 {
    let df = (-log_df).exp();
    let f = spot * (log_df - log_dfq).exp();
    let sd = vol * t.sqrt();
    let d1 = ((f / strike).ln() + 0.5 * sd * sd) / sd;
    let d2 = d1 - sd;
    match kind {
        "call" => df * (f * norm_cdf(d1) - strike * norm_cdf(d2)),
        "put" => df * (strike * norm_cdf(-d2) - f * norm_cdf(-d1)),
        "digital-call" => df * norm_cdf(d2),
        _ => unreachable!(),
    }
}

fn dated(id: &str, underlying: &str, payoff: &str, expiry: &str, paths: u64) -> String {
    format!(
        r#"{{"id": "{id}", "underlying": "{underlying}", "payoff": {payoff}, "expiry": "{expiry}", "steps_per_year": 4, "paths": {paths}}}"#
    )
}

/// A book of one dated call on SPX (strike 6000, expiring 2027-12-04).
fn one_call(dir: &Path, name: &str, id: &str, paths: u64) -> std::path::PathBuf {
    let call = r#"{"type": "european", "option": "call", "strike": 6000}"#;
    file(
        dir,
        name,
        &(dated(id, "SPX", call, "2027-12-04", paths) + "\n"),
    )
}

/// Reads `id,pv,stderr` rows of a price output.
pub(crate) fn prices(path: &Path) -> Vec<(String, f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
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

#[test]
fn dated_europeans_and_digitals_price_to_black_scholes_on_the_curves() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let cases = [
        ("call-18m", "SPX", "call", 6000.0, "2028-06-04", 0.2, true),
        ("put-3m", "SPX", "put", 6300.0, "2027-02-15", 0.2, true),
        ("put-7y", "SPX", "put", 5000.0, "2033-12-04", 0.2, true),
        (
            "digital-2y",
            "SPX",
            "digital-call",
            6500.0,
            "2028-12-04",
            0.2,
            true,
        ),
        (
            "call-sx5e",
            "SX5E",
            "call",
            5200.0,
            "2029-03-01",
            0.25,
            false,
        ),
    ];
    let book: Vec<String> = cases
        .iter()
        .map(|(id, u, kind, k, expiry, _, _)| {
            let payoff = match *kind {
                "digital-call" => {
                    format!(r#"{{"type": "digital", "option": "call", "strike": {k}, "cash": 1}}"#)
                }
                o => format!(r#"{{"type": "european", "option": "{o}", "strike": {k}}}"#),
            };
            dated(id, u, &payoff, expiry, 200_000)
        })
        .collect();
    let input = file(d.path(), "book.jsonl", &(book.join("\n") + "\n"));
    let out = d.path().join("out.csv");
    let o = riskpool(&[
        "price",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--output",
        p(&out),
        "--precision",
        "f64",
    ]);
    ok(&o);
    let got = prices(&out);
    for ((id, u, kind, k, expiry, vol, yields), (gid, pv, se)) in cases.iter().zip(&got) {
        assert_eq!(id, gid);
        let t = days(expiry) / 365.0;
        let spot = if *u == "SPX" { 6000.0 } else { 5000.0 };
        let q = if *yields { spx_yield(t) } else { 0.0 };
        let want = black(kind, spot, *k, *vol, t, usd(t), q);
        assert!(
            (pv - want).abs() <= 4.0 * se,
            "{id}: {pv} +- {se} against Black-Scholes {want}"
        );
    }
}

pub(crate) fn refused(o: &std::process::Output, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{words:?}: {err}");
    for w in words {
        assert!(err.contains(w), "expected `{w}` in: {err}");
    }
}

#[test]
fn a_bad_market_file_is_refused_naming_the_file_and_the_field() {
    let d = tempfile::tempdir().unwrap();
    let input = one_call(d.path(), "book.jsonl", "c", 100);
    let out = d.path().join("out.csv");
    let cases = [
        (r#""spot": 6000"#, r#""spot": 0"#, "underlyings.SPX.spot"),
        (
            r#""valuation_date": "2026-12-04""#,
            r#""valuation_date": "04/12/2026""#,
            "valuation_date",
        ),
        (
            r#""zero_rates": [0.041, 0.038, 0.035]"#,
            r#""zero_rates": [0.041, 0.038]"#,
            "curves.USD",
        ),
        (
            r#""2027-03-04", "2027-12-04", "2031-12-04""#,
            r#""2027-03-04", "2027-03-04", "2031-12-04""#,
            "curves.USD.dates[1]",
        ),
        (
            r#""vol": {"flat": 0.25}"#,
            r#""vol": {"flat": -0.25}"#,
            "underlyings.SX5E.vol",
        ),
        (
            r#""currency": "USD", "vol""#,
            r#""currency": "EUR", "vol""#,
            "underlyings.SX5E.currency",
        ),
        (r#""rho": -0.7"#, r#""rho": -1.7"#, "underlyings.SPX.heston"),
        (
            r#""vol": {"flat": 0.25}"#,
            r#""vol": {"expiries": ["2027-12-04", "2028-12-04"], "strikes": [4000, 5000], "vols": [[0.3, 0.25], [0.2, 0.15]]}"#,
            "underlyings.SX5E.vol.vols[1]",
        ),
    ];
    for (from, to, field) in cases {
        assert!(MARKET.contains(from), "{from}");
        let market = file(d.path(), "market.json", &MARKET.replacen(from, to, 1));
        let o = riskpool(&[
            "price",
            "--input",
            p(&input),
            "--market",
            p(&market),
            "--output",
            p(&out),
        ]);
        refused(&o, &["--market", "market.json", field]);
        assert!(std::fs::read_dir(d.path()).unwrap().all(|e| {
            let n = e.unwrap().file_name();
            n == "book.jsonl" || n == "market.json"
        }));
    }
    // Not JSON, a folder, missing.
    let market = file(d.path(), "market.json", "{not json");
    refused(
        &riskpool(&[
            "price",
            "--input",
            p(&input),
            "--market",
            p(&market),
            "--output",
            p(&out),
        ]),
        &["--market", "line 1"],
    );
    refused(
        &riskpool(&[
            "price",
            "--input",
            p(&input),
            "--market",
            p(d.path()),
            "--output",
            p(&out),
        ]),
        &["--market", "not a regular file"],
    );
    assert!(!out.exists());
}

#[test]
fn a_bad_dated_trade_is_refused_naming_its_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let call = r#"{"type": "european", "option": "call", "strike": 6000}"#;
    let good = dated("ok", "SPX", call, "2027-12-04", 100);
    let cases = [
        (dated("x", "NDX", call, "2027-12-04", 100), "underlying"),
        (dated("x", "SPX", call, "2026-12-04", 100), "expiry"),
        (dated("x", "SPX", call, "2027-12-32", 100), "expiry"),
        (
            dated(
                "x",
                "SPX",
                r#"{"type": "asian", "option": "call", "strike": 6000, "average": "arithmetic"}"#,
                "2027-12-04",
                100,
            ),
            "fixings",
        ),
        (
            good.replace(
                r#""paths": 100"#,
                r#""paths": 100, "fixings": ["2027-06-04"]"#,
            ),
            "fixings",
        ),
        (
            dated(
                "x",
                "SPX",
                r#"{"type": "digital", "option": "call", "strike": 6000, "cash": 1}"#,
                "2027-12-04",
                100,
            )
            .replace(
                r#""paths": 100"#,
                r#""paths": 100, "exercise": {"style": "american"}"#,
            ),
            "exercise",
        ),
        (
            good.replace(
                r#""underlying": "SPX""#,
                r#""underlying": "SPX", "model": "sabr""#,
            ),
            "model",
        ),
        (
            good.replace(r#""steps_per_year": 4"#, r#""steps_per_year": 0"#),
            "steps_per_year",
        ),
        (good.replace(r#""expiry""#, r#""expiry_date""#), "expiry"),
    ];
    let out = d.path().join("out.csv");
    for (bad, field) in cases {
        let input = file(d.path(), "book.jsonl", &format!("{good}\n{bad}\n"));
        let o = riskpool(&[
            "price",
            "--input",
            p(&input),
            "--market",
            p(&market),
            "--output",
            p(&out),
        ]);
        refused(&o, &["book.jsonl:2", field]);
        assert!(!out.exists());
    }
    // Without --market.
    let input = file(d.path(), "book.jsonl", &format!("{good}\n"));
    let o = riskpool(&["price", "--input", p(&input), "--output", p(&out)]);
    refused(&o, &["book.jsonl:1", "--market FILE"]);
}

#[test]
fn a_rerun_on_another_market_is_computed_afresh() {
    let d = tempfile::tempdir().unwrap();
    let input = one_call(d.path(), "book.jsonl", "c", 2000);
    let out = d.path().join("out.csv");
    let run = |market: &str| {
        let m = file(d.path(), "market.json", market);
        let o = riskpool(&[
            "price",
            "--input",
            p(&input),
            "--market",
            p(&m),
            "--output",
            p(&out),
        ]);
        ok(&o);
        (prices(&out)[0].1, stderr(&o))
    };
    let (a, _) = run(MARKET);
    let (again, log) = run(MARKET);
    assert_eq!(a, again);
    assert!(log.contains("already complete"), "{log}");
    let (b, log) = run(&MARKET.replacen(r#""spot": 6000"#, r#""spot": 6100"#, 1));
    assert!(b > a, "{a} then {b}");
    assert!(!log.contains("already complete"), "{log}");
}

/// `risk --market`: a scenario moves the underlying's spot, its flat vol
/// and its currency's whole curve; each P&L against Black-Scholes on the
/// moved market within 4 SE, and sharded = unsharded.
#[test]
fn risk_moves_the_market_of_dated_trades() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let trades = [
        ("c1", "call", 6000.0, "2028-06-04"),
        ("p1", "put", 5800.0, "2027-09-04"),
        ("c2", "call", 6500.0, "2029-12-04"),
    ];
    let book: Vec<String> = trades
        .iter()
        .map(|(id, o, k, e)| {
            dated(
                id,
                "SPX",
                &format!(r#"{{"type": "european", "option": "{o}", "strike": {k}}}"#),
                e,
                100_000,
            )
        })
        .collect();
    let input = file(d.path(), "book.jsonl", &(book.join("\n") + "\n"));
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\ndown,SPX,-0.05,,\nvol,SPX,,0.03,\nrates,SPX,,,0.01\nall,SPX,0.02,-0.02,-0.005\n",
    );
    let out = d.path().join("pnl.csv");
    let args = |out: &Path| {
        vec![
            "risk".to_string(),
            "--input".into(),
            p(&input).into(),
            "--scenarios".into(),
            p(&scen).into(),
            "--market".into(),
            p(&market).into(),
            "--output".into(),
            p(out).into(),
            "--precision".into(),
            "f64".into(),
        ]
    };
    let a = args(&out);
    let o = riskpool(&a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&o);
    let rows: Vec<(String, f64, f64)> = prices(&out);
    let moves = [
        (-0.05, 0.0, 0.0),
        (0.0, 0.03, 0.0),
        (0.0, 0.0, 0.01),
        (0.02, -0.02, -0.005),
    ];
    for ((name, pnl, se), (ds, dv, dr)) in rows.iter().zip(moves) {
        let mut want = 0.0;
        for (_, o, k, e) in trades {
            let t = days(e) / 365.0;
            let price = |s: f64, v: f64, r: f64| black(o, s, k, v, t, usd(t) + r * t, spx_yield(t));
            want += price(6000.0 * (1.0 + ds), 0.2 + dv, dr) - price(6000.0, 0.2, 0.0);
        }
        assert!(
            (pnl - want).abs() <= 4.0 * se,
            "{name}: P&L {pnl} +- {se} against Black-Scholes {want}"
        );
    }
    // Sharded, then merged: the same file.
    let mut parts = Vec::new();
    for k in 0..2 {
        let part = d.path().join(format!("part{k}.csv"));
        let mut a = args(&part);
        a.extend(["--shard".into(), format!("{k}/2")]);
        ok(&riskpool(&a.iter().map(String::as_str).collect::<Vec<_>>()));
        parts.push(part);
    }
    let merged = d.path().join("merged.csv");
    let o = riskpool(&[
        "risk-merge",
        "--output",
        p(&merged),
        p(&parts[0]),
        p(&parts[1]),
    ]);
    ok(&o);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&merged).unwrap()
    );
}

/// Black on a surface: the implied vol at the trade's strike, read as
/// documented (total variance linear in log-forward-moneyness along an
/// expiry, linear in time between expiries, the end expiries' vols
/// beyond), computed here on a market whose forward is the spot (equal
/// rate and yield), against Black-Scholes within 4 SE. (Local volatility,
/// the default on a surface, is tested in `dated_path`.)
#[test]
fn black_on_a_surface_prices_at_the_implied_vol_of_the_strike() {
    let d = tempfile::tempdir().unwrap();
    let market = file(
        d.path(),
        "market.json",
        r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-12-04"], "zero_rates": [0.03]}},
 "underlyings": {"SPX": {"spot": 6000, "currency": "USD",
   "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.03]},
   "vol": {"expiries": ["2027-06-04", "2028-06-04"], "strikes": [5000, 6000, 7000],
           "vols": [[0.25, 0.2, 0.18], [0.24, 0.21, 0.19]]}}}}"#,
    );
    let (t1, t2) = (days("2027-06-04") / 365.0, days("2028-06-04") / 365.0);
    let rows = [[0.25, 0.2, 0.18], [0.24, 0.21, 0.19]];
    let strikes = [5000.0f64, 6000.0, 7000.0];
    // Total variance of row i at strike k (forward = spot = 6000).
    let row = |i: usize, k: f64| {
        let t = [t1, t2][i];
        let y = (k / 6000.0).ln();
        let ys: Vec<f64> = strikes.iter().map(|s| (s / 6000.0).ln()).collect();
        let tv = |j: usize| rows[i][j] * rows[i][j] * t;
        if y <= ys[0] {
            return tv(0);
        }
        if y >= ys[2] {
            return tv(2);
        }
        let j = if y <= ys[1] { 1 } else { 2 };
        let a = (y - ys[j - 1]) / (ys[j] - ys[j - 1]);
        tv(j - 1) * (1.0 - a) + tv(j) * a
    };
    let vol = |k: f64, t: f64| {
        let w = if t <= t1 {
            row(0, k) * t / t1
        } else if t >= t2 {
            row(1, k) * t / t2
        } else {
            let a = (t - t1) / (t2 - t1);
            row(0, k) * (1.0 - a) + row(1, k) * a
        };
        (w / t).sqrt()
    };
    let cases = [
        ("pillar", 6000.0, "2027-06-04"),
        ("pillar-2", 5000.0, "2028-06-04"),
        ("between-expiries", 7000.0, "2027-12-04"),
        ("between-strikes", 5500.0, "2027-06-04"),
        ("before", 6000.0, "2027-03-04"),
        ("after", 5000.0, "2029-06-04"),
    ];
    let book: Vec<String> = cases
        .iter()
        .map(|(id, k, e)| {
            dated(
                id,
                "SPX",
                &format!(r#"{{"type": "european", "option": "call", "strike": {k}}}"#),
                e,
                200_000,
            )
            .replace(
                r#""underlying": "SPX""#,
                r#""underlying": "SPX", "model": "black""#,
            )
        })
        .collect();
    let input = file(d.path(), "book.jsonl", &(book.join("\n") + "\n"));
    let out = d.path().join("out.csv");
    ok(&riskpool(&[
        "price",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--output",
        p(&out),
        "--precision",
        "f64",
    ]));
    for ((id, k, e), (gid, pv, se)) in cases.iter().zip(prices(&out)) {
        assert_eq!(*id, gid);
        let t = days(e) / 365.0;
        let v = vol(*k, t);
        let want = black("call", 6000.0, *k, v, t, 0.03 * t, 0.03 * t);
        assert!(
            (pv - want).abs() <= 4.0 * se,
            "{id}: {pv} +- {se} against Black-Scholes {want} at vol {v}"
        );
    }
}
