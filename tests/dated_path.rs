//! Dated trades on their own time grid (issue 23): local volatility
//! repricing its surface's pillars, a geometric Asian on dated fixings,
//! Europeans and Bermudans with cash dividends against a lattice written
//! here, several underlyings correlated by the market, risk through the
//! market, and what is refused. Every reference is computed here, from the
//! contract in docs/formats.md, not from the kernels.

use std::path::Path;

use crate::market::{black, days, norm_cdf, prices, refused, usd};
use crate::util::{file, ok, p, riskpool};

/// The market of these tests: SPX on the USD curve with a dividend yield
/// and a skewed surface; ABC with a steeper skew over three expiries; FLAT
/// a flat surface; DIV with a cash dividend on a flat 5% curve (EUR); X and
/// Y for several underlyings; Z in EUR.
const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04", "2031-12-04"], "zero_rates": [0.041, 0.038, 0.035]},
            "EUR": {"dates": ["2028-12-04"], "zero_rates": [0.05]}},
 "underlyings": {
   "SPX": {"spot": 6000, "currency": "USD",
           "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.013]},
           "vol": {"expiries": ["2027-03-04", "2027-12-04"], "strikes": [4800, 6000, 7200],
                   "vols": [[0.24, 0.19, 0.16], [0.23, 0.20, 0.175]]}},
   "ABC": {"spot": 100, "currency": "USD",
           "vol": {"expiries": ["2027-06-04", "2028-06-04", "2029-12-04"], "strikes": [70, 85, 100, 115, 130],
                   "vols": [[0.32, 0.27, 0.23, 0.21, 0.205], [0.30, 0.265, 0.235, 0.215, 0.21], [0.29, 0.26, 0.24, 0.225, 0.22]]}},
   "FLAT": {"spot": 100, "currency": "USD",
            "vol": {"expiries": ["2027-06-04", "2028-06-04"], "strikes": [80, 100, 120], "vols": [[0.2, 0.2, 0.2], [0.2, 0.2, 0.2]]}},
   "DIV": {"spot": 100, "currency": "EUR", "vol": {"flat": 0.25},
           "dividends": [{"ex_date": "2027-06-15", "amount": 4.0}]},
   "X": {"spot": 100, "currency": "USD", "vol": {"flat": 0.3}},
   "Y": {"spot": 90, "currency": "USD", "vol": {"flat": 0.2},
         "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.02]}},
   "Z": {"spot": 50, "currency": "EUR", "vol": {"flat": 0.2}}},
 "correlations": [{"a": "X", "b": "Y", "rho": 0.6}, {"a": "SPX", "b": "X", "rho": 0.9},
                  {"a": "SPX", "b": "Y", "rho": 0.9}]}"#;

fn price(dir: &Path, book: &[String], extra: &[&str]) -> Vec<(String, f64, f64)> {
    let market = file(dir, "market.json", MARKET);
    let input = file(dir, "book.jsonl", &(book.join("\n") + "\n"));
    let out = dir.join("out.csv");
    let _ = std::fs::remove_file(&out);
    ok(&price_on(&market, &input, &out, extra));
    prices(&out)
}

/// `riskpool price --input INPUT --market MARKET --output OUT` and `extra`.
fn price_on(market: &Path, input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "price",
        "--input",
        p(input),
        "--market",
        p(market),
        "--output",
        p(out),
    ];
    args.extend_from_slice(extra);
    riskpool(&args)
}

fn year(date: &str) -> f64 {
    days(date) / 365.0
}

/// Local volatility reprices its surface's pillars: each pillar option
/// (puts below the spot, calls above) within 4 SE of its Black price plus
/// an allowance for the Euler step of `5 bp x 52 / steps_per_year` of the
/// spot; on a flat surface, Black-Scholes. The allowance is earned: the
/// short-dated wing options (standard errors under a basis point) miss by
/// more at 13 steps a year than at 104.
#[test]
fn local_volatility_reprices_the_surfaces_pillars() {
    let d = tempfile::tempdir().unwrap();
    let surfaces: [(&str, f64, f64, &[&str], &[f64], &[&[f64]]); 3] = [
        (
            "SPX",
            6000.0,
            0.013,
            &["2027-03-04", "2027-12-04"],
            &[4800.0, 6000.0, 7200.0],
            &[&[0.24, 0.19, 0.16], &[0.23, 0.20, 0.175]],
        ),
        (
            "ABC",
            100.0,
            0.0,
            &["2027-06-04", "2028-06-04", "2029-12-04"],
            &[70.0, 85.0, 100.0, 115.0, 130.0],
            &[
                &[0.32, 0.27, 0.23, 0.21, 0.205],
                &[0.30, 0.265, 0.235, 0.215, 0.21],
                &[0.29, 0.26, 0.24, 0.225, 0.22],
            ],
        ),
        (
            "FLAT",
            100.0,
            0.0,
            &["2027-06-04", "2028-06-04"],
            &[80.0, 100.0, 120.0],
            &[&[0.2, 0.2, 0.2], &[0.2, 0.2, 0.2]],
        ),
    ];
    let mut cases = Vec::new();
    for (u, spot, q, expiries, strikes, vols) in surfaces {
        for (i, e) in expiries.iter().enumerate() {
            for (j, k) in strikes.iter().enumerate() {
                let o = if *k < spot { "put" } else { "call" };
                let t = year(e);
                let want = black(o, spot, *k, vols[i][j], t, usd(t), q * t);
                cases.push((format!("{u}-{e}-{k}"), u, o, *k, *e, spot, want));
            }
        }
    }
    let book = |spy: u32, only_short_wings: bool| -> Vec<String> {
        cases
            .iter()
            .filter(|c| !only_short_wings || short_wing(c.0.as_str()))
            .map(|(id, u, o, k, e, _, _)| {
                format!(
                    r#"{{"id": "{id}", "underlying": "{u}", "payoff": {{"type": "european", "option": "{o}", "strike": {k}}}, "expiry": "{e}", "steps_per_year": {spy}, "paths": 100000}}"#
                )
            })
            .collect()
    };
    fn short_wing(id: &str) -> bool {
        [
            "SPX-2027-03-04-4800",
            "SPX-2027-03-04-7200",
            "ABC-2027-06-04-70",
            "ABC-2027-06-04-130",
        ]
        .contains(&id)
    }
    let flags = ["--precision", "f64", "--antithetic"];
    let mut miss = [0.0f64; 2];
    for (run, spy) in [(0, 104u32), (1, 13)] {
        let got = price(d.path(), &book(spy, run == 1), &flags);
        for (id, pv, se) in got {
            let c = cases.iter().find(|c| c.0 == id).unwrap();
            let (spot, want) = (c.5, c.6);
            let allowance = 5e-4 * spot * 52.0 / spy as f64;
            assert!(
                (pv - want).abs() <= 4.0 * se + allowance,
                "{id} at {spy} steps a year: {pv} +- {se} against the surface's Black price {want}"
            );
            if short_wing(&id) {
                miss[run] += (pv - want).abs() / spot;
            }
        }
    }
    assert!(
        miss[1] > 2.0 * miss[0],
        "the Euler step's error should shrink with steps_per_year: {miss:?}"
    );
}

/// A geometric Asian on irregular dated fixings, on the USD curve and a
/// dividend yield: `ln G` is normal with the mean and variance of the
/// fixings' log-spots, so its price is Black's on that law.
#[test]
fn a_geometric_asian_on_dated_fixings_prices_to_its_closed_form() {
    let d = tempfile::tempdir().unwrap();
    let fixings = [
        "2027-01-15",
        "2027-04-01",
        "2027-09-30",
        "2028-02-29",
        "2028-06-05",
    ];
    let (s0, vol, q): (f64, f64, f64) = (90.0, 0.2, 0.02);
    // Y's dividend yield is flat 2% (one pillar).
    let t: Vec<f64> = fixings.iter().map(|f| year(f)).collect();
    let n = t.len() as f64;
    let mean = s0.ln()
        + t.iter()
            .map(|&x| usd(x) - q * x - 0.5 * vol * vol * x)
            .sum::<f64>()
            / n;
    let var = vol * vol / (n * n)
        * t.iter()
            .flat_map(|&a| t.iter().map(move |&b| a.min(b)))
            .sum::<f64>();
    let tn = t[t.len() - 1];
    let df = (-usd(tn)).exp();
    let closed = |k: f64, call: bool| {
        let sd = var.sqrt();
        let d1 = (mean - k.ln() + var) / sd;
        let d2 = d1 - sd;
        let fwd = (mean + 0.5 * var).exp();
        if call {
            df * (fwd * norm_cdf(d1) - k * norm_cdf(d2))
        } else {
            df * (k * norm_cdf(-d2) - fwd * norm_cdf(-d1))
        }
    };
    let list = fixings.map(|f| format!("\"{f}\"")).join(", ");
    let book: Vec<String> = [("c", "call", 88.0), ("p", "put", 95.0)]
        .iter()
        .map(|(id, o, k)| {
            format!(
                r#"{{"id": "{id}", "underlying": "Y", "payoff": {{"type": "asian", "option": "{o}", "strike": {k}, "average": "geometric"}}, "expiry": "2028-06-05", "fixings": [{list}], "steps_per_year": 12, "paths": 200000}}"#
            )
        })
        .collect();
    for (id, pv, se) in price(d.path(), &book, &["--precision", "f64"]) {
        let want = if id == "c" {
            closed(88.0, true)
        } else {
            closed(95.0, false)
        };
        assert!(
            (pv - want).abs() <= 4.0 * se,
            "{id}: {pv} +- {se} against the closed form {want}"
        );
    }
}

/// The spot on a log grid stepped back through time by quadrature of the
/// step's normal law (Simpson on [-8, 8]), linear interpolation between
/// grid points, one step between consecutive events: under Black-Scholes at rate `r` and vol `vol`, a cash
/// dividend `div` taken off at `t_div` (floored at zero), exercise at
/// `dates` (the expiry last; empty: European).
fn lattice(s0: f64, k: f64, r: f64, vol: f64, t: f64, div: (f64, f64), dates: &[f64]) -> f64 {
    let m = 4001;
    let half = 7.0 * vol * t.sqrt() + 0.5;
    let x0 = s0.ln() - half;
    let dx = 2.0 * half / (m - 1) as f64;
    let xs: Vec<f64> = (0..m).map(|i| x0 + i as f64 * dx).collect();
    let put = |s: f64| (k - s).max(0.0);
    let mut v: Vec<f64> = xs.iter().map(|x| put(x.exp())).collect();
    let at = |v: &[f64], x: f64| {
        let u = ((x - x0) / dx).clamp(0.0, (m - 1) as f64);
        let i = (u as usize).min(m - 2);
        let f = u - i as f64;
        v[i] * (1.0 - f) + v[i + 1] * f
    };
    // Times at which something happens: one step from each to the next
    // (the step's law is exact; each step interpolates once).
    let mut events: Vec<f64> = dates.to_vec();
    events.push(div.0);
    events.retain(|&e| e < t);
    events.sort_by(f64::total_cmp);
    let mut nodes = vec![0.0];
    for e in events.iter().chain(std::iter::once(&t)) {
        let prev = *nodes.last().unwrap();
        if *e > prev {
            nodes.push(*e);
        }
    }
    let q = 401;
    let hz = 16.0 / (q - 1) as f64;
    let zw: Vec<(f64, f64)> = (0..q)
        .map(|i| {
            let z = -8.0 + i as f64 * hz;
            let w = if i == 0 || i == q - 1 {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            (
                z,
                w * hz / 3.0 * (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt(),
            )
        })
        .collect();
    for w in nodes.windows(2).rev() {
        let (a, b) = (w[0], w[1]);
        // At b: the dividend first (the spot just before it is S + D).
        if (b - div.0).abs() < 1e-12 {
            let after = v.clone();
            for (i, x) in xs.iter().enumerate() {
                let s = (x.exp() - div.1).max(1e-300);
                v[i] = at(&after, s.ln());
            }
        }
        let dt = b - a;
        let mu = (r - 0.5 * vol * vol) * dt;
        let sd = vol * dt.sqrt();
        let next = v.clone();
        for (i, x) in xs.iter().enumerate() {
            let c: f64 = zw.iter().map(|(z, w)| w * at(&next, x + mu + sd * z)).sum();
            v[i] = (-r * dt).exp() * c;
            if dates.iter().any(|d| (d - a).abs() < 1e-12) && a > 0.0 {
                v[i] = v[i].max(put(x.exp()));
            }
        }
    }
    at(&v, s0.ln())
}

/// A European, a Bermudan and an American put on DIV, which pays a cash
/// dividend of 4 on 2027-06-15 (EUR, a flat 5% curve): against the lattice
/// above on the same dates (the American's: every date of its grid).
#[test]
fn cash_dividends_europeans_and_bermudans_match_a_lattice_on_the_same_dates() {
    let d = tempfile::tempdir().unwrap();
    let dates = [
        "2027-03-04",
        "2027-06-04",
        "2027-09-06",
        "2027-12-06",
        "2028-03-06",
    ];
    let list = dates.map(|f| format!("\"{f}\"")).join(", ");
    let book = vec![
        r#"{"id": "a", "underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2028-06-05", "exercise": {"style": "american"}, "steps_per_year": 12, "paths": 200000}"#.to_string(),
        r#"{"id": "e", "underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2028-06-05", "steps_per_year": 24, "paths": 200000}"#.to_string(),
        format!(
            r#"{{"id": "b", "underlying": "DIV", "payoff": {{"type": "european", "option": "put", "strike": 100}}, "expiry": "2028-06-05", "exercise": {{"style": "bermudan", "dates": [{list}]}}, "steps_per_year": 24, "paths": 200000}}"#
        ),
    ];
    let t = year("2028-06-05");
    let div = (year("2027-06-15"), 4.0);
    let mut ex: Vec<f64> = dates.iter().map(|x| year(x)).collect();
    ex.push(t);
    let want_e = lattice(100.0, 100.0, 0.05, 0.25, t, div, &[]);
    let want_b = lattice(100.0, 100.0, 0.05, 0.25, t, div, &ex);
    // The American exercises at every date of its grid: the ex-date and
    // the expiry, each interval cut in ceil(dt x 12) equal steps.
    let mut grid = Vec::new();
    let mut prev = 0.0;
    for e in [div.0, t] {
        let n = ((e - prev) * 12.0f64).ceil() as usize;
        grid.extend((1..=n).map(|j| prev + (e - prev) * j as f64 / n as f64));
        prev = e;
    }
    let want_a = lattice(100.0, 100.0, 0.05, 0.25, t, div, &grid);
    // Without the dividend the European is Black-Scholes: the lattice is.
    let bs = black("put", 100.0, 100.0, 0.25, t, 0.05 * t, 0.0);
    let plain = lattice(100.0, 100.0, 0.05, 0.25, t, (10.0, 0.0), &[]);
    assert!(
        (plain - bs).abs() < 2e-3,
        "lattice {plain} against Black-Scholes {bs}"
    );
    assert!(want_b > want_e + 0.1);
    assert!(want_a > want_b);
    for (id, pv, se) in price(d.path(), &book, &["--antithetic"]) {
        let want = match id.as_str() {
            "e" => want_e,
            "b" => want_b,
            _ => want_a,
        };
        // Longstaff-Schwartz exercises by a fitted policy: a little low.
        let policy = if id == "e" { 0.0 } else { 0.01 * want };
        assert!(
            (pv - want).abs() <= 4.0 * se + policy,
            "{id}: {pv} +- {se} against the lattice {want}"
        );
    }
}

/// Several underlyings take the market's correlations: `max(X, Y)` (a
/// rainbow call struck at 0) is `Y`'s forward plus Margrabe's option to
/// exchange `Y` for `X`.
#[test]
fn several_underlyings_take_the_markets_correlations() {
    let d = tempfile::tempdir().unwrap();
    let book = vec![
        r#"{"id": "max", "underlyings": ["X", "Y"], "payoff": {"type": "rainbow", "option": "call", "strike": 0, "kind": "max"}, "expiry": "2027-12-04", "steps_per_year": 4, "paths": 200000}"#.to_string(),
    ];
    let t = 1.0;
    let (sx, sy, vx, vy, rho, qy): (f64, f64, f64, f64, f64, f64) =
        (100.0, 90.0, 0.3, 0.2, 0.6, 0.02);
    let df = (-usd(t)).exp();
    let (fx, fy) = (sx / df, sy * (-qy * t).exp() / df);
    let v = (vx * vx + vy * vy - 2.0 * rho * vx * vy).sqrt() * t.sqrt();
    let d1 = ((fx / fy).ln() + 0.5 * v * v) / v;
    let want = df * (fy + fx * norm_cdf(d1) - fy * norm_cdf(d1 - v));
    let got = price(d.path(), &book, &["--precision", "f64"]);
    let (_, pv, se) = &got[0];
    assert!(
        (pv - want).abs() <= 4.0 * se,
        "max(X, Y): {pv} +- {se} against Margrabe {want}"
    );
    // Its Greeks per underlying have their CSV columns, as a multi-asset
    // trade's.
    let _ = price(d.path(), &book, &["--greeks", "delta"]);
    let text = std::fs::read_to_string(d.path().join("out.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("delta_1") && header.contains("delta_2"),
        "{header}"
    );
}

/// Risk through the market on dated path trades: a geometric Asian's P&L
/// under spot, vol and rate moves against its closed form (a rate move
/// shifts the whole curve), and sharded = unsharded.
#[test]
fn risk_moves_the_market_of_dated_path_trades() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let fixings = ["2027-03-04", "2027-06-04", "2027-09-06", "2027-12-06"];
    let list = fixings.map(|f| format!("\"{f}\"")).join(", ");
    let input = file(
        d.path(),
        "book.jsonl",
        &format!(
            "{}\n{}\n",
            format!(
                r#"{{"id": "g", "underlying": "X", "payoff": {{"type": "asian", "option": "call", "strike": 100, "average": "geometric"}}, "expiry": "2027-12-06", "fixings": [{list}], "steps_per_year": 12, "paths": 100000}}"#
            ),
            r#"{"id": "z", "underlying": "Z", "payoff": {"type": "asian", "option": "put", "strike": 50, "average": "arithmetic"}, "expiry": "2027-06-04", "fixings": ["2027-06-04"], "steps_per_year": 12, "paths": 10000}"#
        ),
    );
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\ndown,X,-0.1,,\nvol,X,,0.05,\nrates,X,,,0.01\n",
    );
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
    let out = d.path().join("pnl.csv");
    let a = args(&out);
    ok(&riskpool(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let t: Vec<f64> = fixings.iter().map(|f| year(f)).collect();
    let n = t.len() as f64;
    let geo = |s0: f64, vol: f64, dr: f64| {
        let mean = s0.ln()
            + t.iter()
                .map(|&x| usd(x) + dr * x - 0.5 * vol * vol * x)
                .sum::<f64>()
                / n;
        let var = vol * vol / (n * n)
            * t.iter()
                .flat_map(|&a| t.iter().map(move |&b| a.min(b)))
                .sum::<f64>();
        let tn = t[t.len() - 1];
        let sd = var.sqrt();
        let d1 = (mean - 100f64.ln() + var) / sd;
        (-usd(tn) - dr * tn).exp()
            * ((mean + 0.5 * var).exp() * norm_cdf(d1) - 100.0 * norm_cdf(d1 - sd))
    };
    let base = geo(100.0, 0.3, 0.0);
    let moved = [
        geo(90.0, 0.3, 0.0),
        geo(100.0, 0.35, 0.0),
        geo(100.0, 0.3, 0.01),
    ];
    for ((name, pnl, se), want) in prices(&out).iter().zip(moved) {
        let want = want - base;
        assert!(
            (pnl - want).abs() <= 4.0 * se,
            "{name}: P&L {pnl} +- {se} against the closed form {want}"
        );
    }
    let mut parts = Vec::new();
    for k in 0..2 {
        let part = d.path().join(format!("part{k}.csv"));
        let mut a = args(&part);
        a.extend(["--shard".into(), format!("{k}/2")]);
        ok(&riskpool(&a.iter().map(String::as_str).collect::<Vec<_>>()));
        parts.push(part);
    }
    let merged = d.path().join("merged.csv");
    ok(&riskpool(&[
        "risk-merge",
        "--output",
        p(&merged),
        p(&parts[0]),
        p(&parts[1]),
    ]));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&merged).unwrap()
    );
}

/// What a dated path trade may not be, each refused at its line and
/// field with nothing written.
#[test]
fn bad_dated_path_trades_are_refused_naming_the_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    let market = file(d.path(), "market.json", MARKET);
    let asian = |fixings: &str, extra: &str| {
        format!(
            r#"{{"id": "a", "underlying": "X", "payoff": {{"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}}, "expiry": "2027-12-04"{fixings}{extra}, "steps_per_year": 12, "paths": 100}}"#
        )
    };
    let good = asian(r#", "fixings": ["2027-06-04"]"#, "");
    let cases = [
        (asian("", ""), "fixings", "give them"),
        (asian(r#", "fixings": ["2028-06-04"]"#, ""), "fixings[0]", "after the expiry"),
        (asian(r#", "fixings": ["2027-06-04", "2027-03-04"]"#, ""), "fixings[1]", "increasing"),
        (asian(r#", "fixings": ["2026-12-01"]"#, ""), "fixings[0]", "2026-12-01"),
        (asian(r#", "fixings": ["2027-02-30"]"#, ""), "fixings[0]", "not a date"),
        (
            asian(r#", "fixings": ["2027-06-04"]"#, r#", "exercise": {"style": "american"}"#),
            "exercise",
            "intrinsic",
        ),
        (
            r#"{"id": "b", "underlying": "X", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2028-01-04"]}, "steps_per_year": 12, "paths": 100}"#.into(),
            "exercise.dates[0]",
            "after the expiry",
        ),
        (
            r#"{"id": "m", "underlyings": ["X", "Z"], "payoff": {"type": "basket", "option": "call", "strike": 100, "weights": [1, 1]}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 100}"#.into(),
            "underlyings[1]",
            "one currency",
        ),
        (
            r#"{"id": "m", "underlyings": ["X", "Y", "SPX"], "model": "black", "payoff": {"type": "rainbow", "option": "call", "strike": 100, "kind": "max"}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 100}"#.into(),
            "underlyings",
            "X/Y 0.6",
        ),
        (
            r#"{"id": "m", "underlyings": ["X", "NOPE"], "payoff": {"type": "basket", "option": "call", "strike": 100, "weights": [1, 1]}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 100}"#.into(),
            "underlyings[1]",
            "NOPE",
        ),
        (
            r#"{"id": "m", "underlyings": ["X", "Y"], "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 100}"#.into(),
            "payoff.type",
            "basket or rainbow",
        ),
    ];
    let out = d.path().join("out.csv");
    for (bad, field, words) in cases {
        let input = file(d.path(), "book.jsonl", &format!("{good}\n{bad}\n"));
        let o = price_on(&market, &input, &out, &[]);
        refused(&o, &["book.jsonl:2", field, words]);
        assert!(!out.exists());
    }
}

/// A surface whose local variance turns negative (total variance bending
/// down hard between strikes) is refused with the market file, naming the
/// underlying, the expiry and the strike, whether a trade names it or not;
/// nothing is written.
#[test]
fn a_surface_without_a_positive_local_variance_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let market = file(
        d.path(),
        "market.json",
        r#"{"valuation_date": "2026-12-04", "curves": {"USD": {"dates": ["2027-12-04"], "zero_rates": [0.0]}},
 "underlyings": {"W": {"spot": 100, "currency": "USD",
   "vol": {"expiries": ["2027-06-04", "2027-12-04"], "strikes": [90, 95, 100, 105, 110],
           "vols": [[0.2, 0.2, 0.6, 0.2, 0.2], [0.2, 0.2, 0.6, 0.2, 0.2]]}}}}"#,
    );
    let input = file(
        d.path(),
        "book.jsonl",
        r#"{"id": "w", "underlying": "W", "payoff": {"type": "european", "option": "call", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 100}
"#,
    );
    let out = d.path().join("out.csv");
    let o = price_on(&market, &input, &out, &[]);
    refused(
        &o,
        &[
            "market.json",
            "underlyings.W.vol.vols[",
            "local variance",
            "strike",
        ],
    );
    assert!(!out.exists());
}

/// The GPU engines price dated trades on one underlying exercised at
/// expiry: on wgpu (lavapipe, f32) each prices as on the CPU engine within
/// the f32 contract (1e-4 relative or 0.1 SE: docs/streams.md), local
/// volatility, cash dividends and dated fixings included.
#[test]
fn wgpu_prices_dated_trades_on_one_underlying_as_the_cpu_engine() {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let book = vec![
        r#"{"id": "asian-7", "underlying": "SPX", "model": "local_vol", "payoff": {"type": "asian", "option": "call", "strike": 6000, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 4000}"#.to_string(),
        r#"{"id": "div-put", "underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 4000}"#.to_string(),
    ];
    let cpu = price(d.path(), &book, &["--engine", "cpu"]);
    let gpu = price(d.path(), &book, &["--engine", "wgpu"]);
    assert_eq!(cpu.len(), 2);
    for ((id, a, se), (id2, b, _)) in cpu.iter().zip(&gpu) {
        assert_eq!(id, id2);
        assert!(
            (a - b).abs() <= (1e-4 * a.abs()).max(0.1 * se),
            "{id}: cpu {a} +- {se}, wgpu {b}"
        );
    }
}

/// Dated early exercise and several underlyings on the GPU engines (the
/// several-underlying dated kernel): a Bermudan put with a cash dividend
/// and a correlated basket put on wgpu price as on the CPU engine, with
/// their Greeks per underlying, to the f32 contract.
#[test]
fn wgpu_prices_dated_exercise_and_baskets_as_the_cpu_engine() {
    if riskpool_kernels::engine::wgpu::WgpuEngine::new(true).is_err()
        && std::env::var("RISKPOOL_REQUIRE_WGPU").is_err()
    {
        eprintln!("skipping: no Vulkan adapter");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let book = vec![
        r#"{"id": "berm-8", "underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2027-06-04", "2027-09-06"]}, "steps_per_year": 12, "paths": 4000}"#.to_string(),
        r#"{"id": "basket-9", "underlyings": ["X", "Y"], "payoff": {"type": "basket", "option": "put", "strike": 95, "weights": [0.5, 0.5]}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2027-06-04"]}, "steps_per_year": 12, "paths": 4000}"#.to_string(),
    ];
    let greeks = ["--greeks", "delta,vega"];
    let cpu = price(
        d.path(),
        &book,
        &[&["--engine", "cpu"][..], &greeks[..]].concat(),
    );
    let gpu = price(
        d.path(),
        &book,
        &[&["--engine", "wgpu"][..], &greeks[..]].concat(),
    );
    assert_eq!(cpu.len(), 2);
    for ((id, a, se), (id2, b, _)) in cpu.iter().zip(&gpu) {
        assert_eq!(id, id2);
        assert!(
            (a - b).abs() <= (1e-4 * a.abs()).max(0.1 * se),
            "{id}: cpu {a} +- {se}, wgpu {b}"
        );
    }
    let header = std::fs::read_to_string(d.path().join("out.csv")).unwrap();
    assert!(
        header.starts_with("id,pv") && header.contains("delta_2"),
        "{header}"
    );
}

/// A scenario's rate move that takes any pillar of a dated trade's curve
/// beyond [-1, 1] is refused at its row (not only the one-year rate); a
/// market term out of range that makes a price not finite is named as
/// the market file names it.
#[test]
fn moves_and_market_terms_out_of_range_are_named() {
    let d = tempfile::tempdir().unwrap();
    let market = file(
        d.path(),
        "market.json",
        r#"{"valuation_date": "2026-12-04", "curves": {"USD": {"dates": ["2027-12-04", "2031-12-04"], "zero_rates": [0.03, 0.95]}},
 "underlyings": {"H": {"spot": 100, "currency": "USD", "vol": {"flat": 1e200}}, "A": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2}}}}"#,
    );
    let asian = |id: &str, u: &str| {
        format!(
            r#"{{"id": "{id}", "underlying": "{u}", "payoff": {{"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}}, "expiry": "2027-12-04", "fixings": ["2027-12-04"], "steps_per_year": 12, "paths": 100}}"#
        )
    };
    let input = file(d.path(), "a.jsonl", &(asian("a", "A") + "\n"));
    let scen = file(
        d.path(),
        "s.csv",
        "scenario,underlying,spot,vol,rate\nup,A,,,0.1\n",
    );
    let out = d.path().join("pnl.csv");
    let o = riskpool(&[
        "risk",
        "--input",
        p(&input),
        "--scenarios",
        p(&scen),
        "--market",
        p(&market),
        "--output",
        p(&out),
    ]);
    refused(&o, &["s.csv:2", "rate", "[-1, 1]"]);
    assert!(!out.exists());
    let input = file(d.path(), "h.jsonl", &(asian("h", "H") + "\n"));
    let o = price_on(&market, &input, &out, &["--precision", "f64"]);
    assert!(!o.status.success());
    let err = crate::util::stderr(&o);
    assert!(err.contains("underlyings.H.vol.flat"), "{err}");
    assert!(!out.exists());
}

/// The issue's own market file, verbatim: SPX has cash dividends beside
/// its surface. The market is read; an SPX trade on the surface is refused
/// naming the underlying; SPX under `heston` takes the dividends on the
/// path; EURUSD (flat vol) prices.
#[test]
fn the_contracts_example_market_reads_and_prices_what_it_can() {
    let d = tempfile::tempdir().unwrap();
    let market = file(
        d.path(),
        "market.json",
        r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04", "2031-12-04"], "zero_rates": [0.041, 0.038, 0.035]}},
 "underlyings": {
   "SPX": {"spot": 6000, "currency": "USD",
           "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.013]},
           "dividends": [{"ex_date": "2027-03-19", "amount": 18.5}],
           "vol": {"expiries": ["2027-03-04", "2027-12-04"], "strikes": [4800, 6000, 7200],
                   "vols": [[0.24, 0.19, 0.16], [0.23, 0.20, 0.175]]},
           "heston": {"v0": 0.04, "kappa": 1.5, "theta": 0.045, "xi": 0.5, "rho": -0.7}},
   "EURUSD": {"spot": 1.08, "currency": "USD", "vol": {"flat": 0.08}}},
 "correlations": [{"a": "SPX", "b": "EURUSD", "rho": -0.2}]}"#,
    );
    let asian = |id: &str, u: &str, model: &str, k: f64| {
        format!(
            r#"{{"id": "{id}", "underlying": "{u}", "model": "{model}", "payoff": {{"type": "asian", "option": "call", "strike": {k}, "average": "arithmetic"}}, "expiry": "2027-12-04", "fixings": ["2027-03-04", "2027-06-04", "2027-09-06", "2027-12-04"], "steps_per_year": 52, "paths": 2000}}"#
        )
    };
    let good = [
        asian("spx-heston", "SPX", "heston", 6000.0),
        asian("fx", "EURUSD", "black", 1.08),
    ];
    let input = file(d.path(), "good.jsonl", &(good.join("\n") + "\n"));
    let out = d.path().join("good.csv");
    ok(&price_on(&market, &input, &out, &[]));
    let got = prices(&out);
    assert_eq!(got.len(), 2);
    for (id, pv, se) in &got {
        assert!(
            pv.is_finite() && *pv > 0.0 && se.is_finite(),
            "{id}: {pv} +- {se}"
        );
    }
    let input = file(
        d.path(),
        "lv.jsonl",
        &(asian("spx-asian-1", "SPX", "local_vol", 6000.0) + "\n"),
    );
    let out = d.path().join("lv.csv");
    let o = price_on(&market, &input, &out, &[]);
    refused(
        &o,
        &["lv.jsonl:1", "underlying", "cash dividends", "heston"],
    );
    assert!(!out.exists());
}
