//! Dated trades on their own grid, attacked: fixings and exercise dates on
//! ex-dates and on the expiry, a cash dividend larger than the spot, a
//! continuous barrier over an ex-date, scenarios and Greeks' bumps that
//! move the spot through a barrier or a vol below zero, moves of
//! parameters the trade's model does not read, errors that must name the
//! scenario file's row and column, and grids too long to hold. Every
//! reference is computed here (Black-Scholes on the discount factor of a
//! flat 5% curve, Act/365F), or is the same trade priced another way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::market::{norm_cdf, refused};
use crate::util::{file, ok, p, riskpool, stderr};

/// A flat 5% USD curve. BIG pays a cash dividend larger than its spot;
/// DIV one of 10 (and one after every expiry here); X has Heston
/// parameters with `theta` 0 beside its flat vol; WING a surface whose
/// high wing (0.004) is below 1% of its low wing (0.6), and Heston
/// parameters; S a plain skewed surface.
const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-12-04"], "zero_rates": [0.05]}},
 "underlyings": {
   "BIG": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2},
           "dividends": [{"ex_date": "2027-06-04", "amount": 1000.0}]},
   "DIV": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2},
           "dividends": [{"ex_date": "2027-06-04", "amount": 10.0}, {"ex_date": "2029-06-04", "amount": 5.0}]},
   "X": {"spot": 100, "currency": "USD", "vol": {"flat": 0.3},
         "heston": {"v0": 0.09, "kappa": 1.0, "theta": 0.0, "xi": 0.3, "rho": -0.5}},
   "Y": {"spot": 90, "currency": "USD", "vol": {"flat": 0.2}},
   "WING": {"spot": 100, "currency": "USD",
            "vol": {"expiries": ["2027-12-04"], "strikes": [50, 100, 200], "vols": [[0.6, 0.3, 0.004]]},
            "heston": {"v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.3, "rho": -0.5}},
   "S": {"spot": 100, "currency": "USD",
         "vol": {"expiries": ["2027-06-04", "2028-06-04"], "strikes": [80, 100, 120],
                 "vols": [[0.25, 0.2, 0.18], [0.24, 0.2, 0.19]]}}},
 "correlations": [{"a": "X", "b": "Y", "rho": 0.6}]}"#;

/// 2027-06-04 and 2027-12-04 in years from the valuation date.
const T_HALF: f64 = 182.0 / 365.0;
const R: f64 = 0.05;

fn bs(call: bool, s: f64, k: f64, vol: f64, t: f64) -> f64 {
    let sd = vol * t.sqrt();
    let d1 = ((s / k).ln() + (R + 0.5 * vol * vol) * t) / sd;
    let d2 = d1 - sd;
    let df = (-R * t).exp();
    if call {
        s * norm_cdf(d1) - k * df * norm_cdf(d2)
    } else {
        k * df * norm_cdf(-d2) - s * norm_cdf(-d1)
    }
}

/// A dated trade's line: `body` holds the fields after `id`.
fn trade(id: &str, body: &str) -> String {
    format!(r#"{{"id": "{id}", {body}}}"#)
}

/// `price` of `book` on the market (extra flags after), its output read
/// by column; panics on failure.
fn price(dir: &Path, book: &[String], extra: &[&str]) -> HashMap<String, HashMap<String, f64>> {
    let (o, out) = run_price(dir, book, extra);
    ok(&o);
    rows(&out)
}

fn run_price(dir: &Path, book: &[String], extra: &[&str]) -> (Output, PathBuf) {
    let market = file(dir, "market.json", MARKET);
    let input = file(dir, "book.jsonl", &(book.join("\n") + "\n"));
    let out = dir.join("out.csv");
    let _ = std::fs::remove_file(&out);
    let mut args = vec![
        "price",
        "--input",
        p(&input),
        "--market",
        p(&market),
        "--output",
        p(&out),
    ];
    args.extend_from_slice(extra);
    (riskpool(&args), out)
}

/// A CSV output's rows by `id` (or `scenario,id`), numeric cells by column.
fn rows(path: &Path) -> HashMap<String, HashMap<String, f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut out = HashMap::new();
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        let key = if head[0] == "scenario" && head[1] == "id" {
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

/// `risk` of `book` under `scenarios` on the market, with its by-trade
/// output; the run's output and where the by-trade rows are.
fn run_risk(dir: &Path, book: &[String], scenarios: &str) -> (Output, PathBuf, PathBuf) {
    let market = file(dir, "market.json", MARKET);
    let input = file(dir, "book.jsonl", &(book.join("\n") + "\n"));
    let scen = file(dir, "s.csv", scenarios);
    let out = dir.join("pnl.csv");
    let by = dir.join("by-trade.csv");
    // A run's leftovers (`pnl.csv.part`, ...) go too.
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("pnl.csv") || name.starts_with("by-trade.csv") {
            let _ = std::fs::remove_file(&path);
        }
    }
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
    ]);
    (o, out, by)
}

/// Nothing is left of a refused run: no output, no partial output.
fn nothing_written(dir: &Path, out: &Path) {
    assert!(!out.exists(), "{} was written", out.display());
    let name = out.file_name().unwrap().to_string_lossy().to_string();
    for e in std::fs::read_dir(dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!n.starts_with(&name), "{n} was written");
    }
}

/// A fixing on an ex-date sees the spot after the dividend: an Asian of one
/// fixing on DIV's ex-date (its expiry) is a call on `S - 10` struck at 90,
/// Black-Scholes' call struck at 100. A Bermudan whose one date is its
/// expiry is its European, path for path.
#[test]
fn a_fixing_on_an_ex_date_sees_the_spot_after_the_dividend() {
    let d = tempfile::tempdir().unwrap();
    let book = [
        trade(
            "asian",
            r#""underlying": "DIV", "payoff": {"type": "asian", "option": "call", "strike": 90, "average": "arithmetic"}, "expiry": "2027-06-04", "fixings": ["2027-06-04"], "steps_per_year": 12, "paths": 40000"#,
        ),
        trade(
            "euro",
            r#""underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 4000"#,
        ),
        trade(
            "euro",
            r#""underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2027-12-04"]}, "steps_per_year": 12, "paths": 4000"#,
        ),
    ];
    let got = price(d.path(), &book[..1], &["--antithetic"]);
    let a = &got["asian"];
    let want = bs(true, 100.0, 100.0, 0.2, T_HALF);
    assert!(
        (a["pv"] - want).abs() <= 4.0 * a["stderr"],
        "{} +- {} against {want}",
        a["pv"],
        a["stderr"]
    );
    // The same id: the same random numbers.
    let e = price(d.path(), &book[1..2], &[])["euro"]["pv"];
    let b = price(d.path(), &book[2..3], &[])["euro"]["pv"];
    assert!(
        (e - b).abs() <= 1e-9 * e,
        "european {e}, bermudan on its expiry {b}"
    );
}

/// A cash dividend larger than the spot floors it at zero: the put is
/// worth its strike discounted, exactly, the call nothing, an American put
/// the strike discounted from the ex-date; every Greek is a number.
#[test]
fn a_dividend_larger_than_the_spot_floors_it_at_zero() {
    let d = tempfile::tempdir().unwrap();
    let body = |o: &str, extra: &str| {
        format!(
            r#""underlying": "BIG", "payoff": {{"type": "european", "option": "{o}", "strike": 100}}, "expiry": "2027-12-04"{extra}, "steps_per_year": 12, "paths": 2000"#
        )
    };
    let book = [
        trade("put", &body("put", "")),
        trade("call", &body("call", "")),
        trade(
            "amer",
            &body("put", r#", "exercise": {"style": "american"}"#),
        ),
        trade(
            "geo",
            r#""underlying": "BIG", "payoff": {"type": "asian", "option": "put", "strike": 100, "average": "geometric"}, "expiry": "2027-12-04", "fixings": ["2027-03-04", "2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 2000"#,
        ),
    ];
    let got = price(d.path(), &book, &["--greeks", "delta,gamma,vega,rho"]);
    for (id, row) in &got {
        for (col, x) in row {
            assert!(x.is_finite(), "{id}.{col} = {x}");
        }
    }
    let df = (-R).exp();
    assert!(
        (got["put"]["pv"] - 100.0 * df).abs() < 1e-9,
        "{:?}",
        got["put"]
    );
    assert_eq!(got["call"]["pv"], 0.0);
    // The geometric average holds a zero: the put pays its strike.
    assert!(
        (got["geo"]["pv"] - 100.0 * df).abs() < 1e-9,
        "{:?}",
        got["geo"]
    );
    let amer = &got["amer"];
    let at_ex = 100.0 * (-R * T_HALF).exp();
    // Every path exercises just after the dividend.
    assert!(
        (amer["pv"] - at_ex).abs() < 1e-9,
        "{amer:?} against {at_ex}"
    );
}

/// A continuously monitored barrier's Brownian bridge is exact under
/// Black-Scholes on any grid; across an ex-date it must run to the spot
/// before the dividend (the drop is a jump, not diffusion). A down-and-out
/// on DIV priced on a grid of one step to the ex-date and one after agrees
/// with the same trade on 50 steps a year. (Bridged to the spot after the
/// dividend, the coarse grid knocked out paths that never came near the
/// barrier.)
#[test]
fn a_continuous_barrier_bridges_to_the_spot_before_a_dividend() {
    let d = tempfile::tempdir().unwrap();
    let bar = |id: &str, spy: u32| {
        trade(
            id,
            &format!(
                r#""underlying": "DIV", "payoff": {{"type": "barrier", "option": "call", "strike": 90, "barrier": 82, "direction": "down", "knock": "out", "monitoring": "continuous"}}, "expiry": "2027-12-04", "steps_per_year": {spy}, "paths": 100000"#
            ),
        )
    };
    let got = price(
        d.path(),
        &[bar("coarse", 1), bar("fine", 50)],
        &["--antithetic"],
    );
    let (c, f) = (&got["coarse"], &got["fine"]);
    let se = (c["stderr"].powi(2) + f["stderr"].powi(2)).sqrt();
    assert!(
        (c["pv"] - f["pv"]).abs() <= 4.0 * se,
        "one step to the ex-date {} against 50 a year {} (+- {se})",
        c["pv"],
        f["pv"]
    );
}

/// A scenario that moves the spot through a dated barrier knocks it at
/// once, as it does an inline barrier: a knock-out is worth its rebate
/// paid at expiry (it was worth less than nothing, its bridge weights
/// above one), a knock-in its European.
#[test]
fn a_scenario_through_a_dated_barrier_knocks_it() {
    let d = tempfile::tempdir().unwrap();
    let bar = |id: &str, knock: &str, monitoring: &str, extra: &str| {
        trade(
            id,
            &format!(
                r#""underlying": "Y", "payoff": {{"type": "barrier", "option": "call", "strike": 90, "barrier": 85, "direction": "down", "knock": "{knock}", "monitoring": "{monitoring}", "rebate": 2}}, "expiry": "2027-12-04"{extra}, "steps_per_year": 12, "paths": 20000"#
            ),
        )
    };
    let book = [
        bar("out-c", "out", "continuous", ""),
        bar(
            "out-d",
            "out",
            "discrete",
            r#", "fixings": ["2027-06-04", "2027-12-04"]"#,
        ),
        bar("in-c", "in", "continuous", ""),
    ];
    let base = price(d.path(), &book, &[]);
    let (o, _, by) = run_risk(
        d.path(),
        &book,
        "scenario,underlying,spot,vol,rate\ndown,Y,-0.1,,\n",
    );
    ok(&o);
    let pnl = rows(&by);
    let df = (-R).exp();
    for id in ["out-c", "out-d"] {
        let moved = base[id]["pv"] + pnl[&format!("down/{id}")]["pnl"];
        assert!(
            (moved - 2.0 * df).abs() < 1e-9,
            "{id}: knocked out, worth its rebate {}, got {moved}",
            2.0 * df
        );
    }
    let moved = base["in-c"]["pv"] + pnl["down/in-c"]["pnl"];
    let se = base["in-c"]["stderr"] + pnl["down/in-c"]["pnl_stderr"];
    let want = bs(true, 81.0, 90.0, 0.2, 1.0);
    assert!(
        (moved - want).abs() <= 4.0 * se,
        "knocked in: {moved} +- {se} against its European {want}"
    );
}

/// Vega where a vol moved down by 1% of the reference vol would go below
/// zero: a surface whose high wing is below 1% of the vol at the trade's
/// strike, and Heston's `theta` of 0. The bump shrinks (or goes forward)
/// and vega is a number, where the run failed; a `black` trade on an
/// underlying with Heston parameters moves its flat vol alone, its vega
/// equal to bumping the market file's vol by hand.
#[test]
fn vega_never_moves_a_vol_below_zero_or_a_parameter_the_model_does_not_read() {
    let d = tempfile::tempdir().unwrap();
    let book = [
        trade(
            "wing",
            r#""underlying": "WING", "model": "black", "payoff": {"type": "asian", "option": "put", "strike": 50, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 4000"#,
        ),
        trade(
            "heston",
            r#""underlying": "X", "model": "heston", "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 4000"#,
        ),
        trade(
            "black",
            r#""underlying": "X", "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 4000"#,
        ),
    ];
    let got = price(d.path(), &book, &["--greeks", "vega"]);
    for id in ["wing", "heston", "black"] {
        let v = got[id]["vega"];
        assert!(v.is_finite() && v > 0.0, "{id}: vega {v}");
    }
    // By hand: X's flat vol 0.3 moved by 1% of itself each way.
    let mut by_hand = [0.0; 2];
    for (i, vol) in ["0.303", "0.297"].iter().enumerate() {
        let m = MARKET.replace(r#""flat": 0.3}"#, &format!(r#""flat": {vol}}}"#));
        let market = file(d.path(), "moved.json", &m);
        let input = file(d.path(), "black.jsonl", &(book[2].clone() + "\n"));
        let out = d.path().join(format!("moved{i}.csv"));
        ok(&riskpool(&[
            "price",
            "--input",
            p(&input),
            "--market",
            p(&market),
            "--output",
            p(&out),
        ]));
        by_hand[i] = rows(&out)["black"]["pv"];
    }
    let want = (by_hand[0] - by_hand[1]) / 0.006;
    assert!(
        (got["black"]["vega"] - want).abs() <= 1e-6 * want.abs(),
        "vega {} against {want} by hand",
        got["black"]["vega"]
    );
}

/// In `risk --market`, a move is checked on what the trade's model reads
/// (a Heston trade's vol move never fails on its underlying's surface),
/// and a move a dated trade cannot take names the scenario file's row and
/// column (not the trade's field): a vol below zero, rates of a
/// several-underlying trade that disagree (the second row). Exit 2,
/// nothing written.
#[test]
fn risk_moves_of_dated_trades_are_checked_on_their_model_and_name_the_row_and_column() {
    let d = tempfile::tempdir().unwrap();
    let heston = trade(
        "h",
        r#""underlying": "WING", "model": "heston", "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 2000"#,
    );
    let (o, out, _) = run_risk(
        d.path(),
        std::slice::from_ref(&heston),
        "scenario,underlying,spot,vol,rate\ncalm,WING,,-0.01,\n",
    );
    ok(&o);
    assert!(out.exists());

    let lv = trade(
        "lv",
        r#""underlying": "S", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 1000"#,
    );
    let basket = trade(
        "xy",
        r#""underlyings": ["X", "Y"], "payoff": {"type": "basket", "option": "call", "strike": 100, "weights": [0.5, 0.5]}, "expiry": "2027-12-04", "steps_per_year": 4, "paths": 1000"#,
    );
    let book = [lv, basket];
    let cases = [
        (
            "scenario,underlying,spot,vol,rate\nup,X,0.01,,\nbad,S,,-0.5,\n",
            ["s.csv:3", "field `vol`", "trade `lv`", "cannot be negative"],
        ),
        (
            "scenario,underlying,spot,vol,rate\nr,X,,,0.01\nr,Y,,,0.02\n",
            ["s.csv:3", "field `rate`", "trade `xy`", "must agree"],
        ),
        (
            "scenario,underlying,spot,vol,rate\nr,X,0.1,,\nr,Y,,-0.3,\n",
            ["s.csv:3", "field `vol`", "trade `xy`", "Y's vol"],
        ),
    ];
    for (scenarios, words) in cases {
        let (o, out, by) = run_risk(d.path(), &book, scenarios);
        refused(&o, &words);
        nothing_written(d.path(), &out);
        assert!(!by.exists());
    }
}

/// A grid longer than the limit is refused before anything is priced,
/// naming `steps_per_year` (a million steps held gigabytes per Greek's
/// bump or scenario under local volatility). Just under it, local
/// volatility past the per-trade budget of step tables looks its rows up
/// as it goes: the same vega whether its families hold tables or not.
#[test]
fn a_grid_past_its_limit_is_refused_and_one_under_it_prices_in_bounded_memory() {
    let d = tempfile::tempdir().unwrap();
    for spy in ["70000", "4000000000"] {
        let book = [trade(
            "long",
            &format!(
                r#""underlying": "S", "payoff": {{"type": "european", "option": "call", "strike": 100}}, "expiry": "2027-12-04", "steps_per_year": {spy}, "paths": 2"#
            ),
        )];
        let (o, out) = run_price(d.path(), &book, &[]);
        refused(&o, &["book.jsonl:1", "steps_per_year", "65536"]);
        nothing_written(d.path(), &out);
    }
    let book = [trade(
        "long",
        r#""underlying": "S", "payoff": {"type": "european", "option": "call", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 60000, "paths": 2"#,
    )];
    // Vega's families are the 2nd and 3rd (tables) or the 4th and 5th
    // (past the budget of three such tables).
    let alone = price(d.path(), &book, &["--greeks", "vega"]);
    let after = price(d.path(), &book, &["--greeks", "delta,vega"]);
    assert_eq!(alone["long"]["pv"], after["long"]["pv"]);
    assert_eq!(alone["long"]["vega"], after["long"]["vega"]);
    assert!(alone["long"]["vega"].is_finite());
}

/// What a dated path trade may not ask for is refused at its line and
/// field with exit 2 and nothing written; `--precision f32` prices it in
/// f64 all the same.
#[test]
fn hostile_dated_trades_are_refused_and_f32_prices_them_in_f64() {
    let d = tempfile::tempdir().unwrap();
    let put =
        r#""payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04""#;
    let cases: [(String, &[&str], [&str; 2]); 5] = [
        (
            trade(
                "a",
                &format!(
                    r#""underlying": "DIV", {put}, "exercise": {{"style": "american"}}, "steps_per_year": 20000, "paths": 100"#
                ),
            ),
            &[],
            ["exercise", "at most 4096"],
        ),
        (
            trade(
                "a",
                &format!(r#""underlying": "DIV", {put}, "steps_per_year": 12, "paths": 101"#),
            ),
            &["--antithetic"],
            ["paths", "even"],
        ),
        (
            trade(
                "a",
                r#""underlyings": ["X", "X"], "payoff": {"type": "basket", "option": "call", "strike": 100, "weights": [0.5, 0.5]}, "expiry": "2027-12-04", "steps_per_year": 4, "paths": 100"#,
            ),
            &[],
            ["underlyings[1]", "twice"],
        ),
        (
            trade(
                "a",
                &format!(
                    r#""underlying": "DIV", "model": "heston", {put}, "steps_per_year": 12, "paths": 100"#
                ),
            ),
            &[],
            ["model", "no `heston` parameters"],
        ),
        (
            trade(
                "a",
                &format!(
                    r#""underlying": "DIV", {put}, "exercise": {{"style": "bermudan", "dates": ["2027-06-04", "2027-06-04"]}}, "steps_per_year": 12, "paths": 100"#
                ),
            ),
            &[],
            ["exercise.dates[1]", "increasing"],
        ),
    ];
    for (line, flags, words) in cases {
        let (o, out) = run_price(d.path(), &[line], flags);
        refused(&o, &["book.jsonl:1", words[0], words[1]]);
        nothing_written(d.path(), &out);
    }
    let book = [trade(
        "lv",
        r#""underlying": "S", "payoff": {"type": "asian", "option": "put", "strike": 100, "average": "arithmetic"}, "expiry": "2027-12-04", "fixings": ["2027-06-04", "2027-12-04"], "steps_per_year": 12, "paths": 2000"#,
    )];
    let f32 = price(
        d.path(),
        &book,
        &["--precision", "f32", "--greeks", "delta"],
    );
    let f64 = price(
        d.path(),
        &book,
        &["--precision", "f64", "--greeks", "delta"],
    );
    assert_eq!(f32["lv"]["pv"], f64["lv"]["pv"]);
    assert_eq!(f32["lv"]["delta"], f64["lv"]["delta"]);
    assert!(
        f32["lv"]["pv"] > 0.0,
        "{}",
        stderr(&riskpool(&["--version"]))
    );
}

/// Greeks of every kind of dated path trade are numbers with the signs
/// they must have: a put's delta and rho below zero, a call's above, every
/// long option's vega above zero.
#[test]
fn greeks_of_every_kind_of_dated_path_trade_have_their_signs() {
    let d = tempfile::tempdir().unwrap();
    let fix = r#""fixings": ["2027-06-04", "2027-12-04"]"#;
    let book = [
        trade(
            "lv-put",
            r#""underlying": "S", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 4000"#,
        ),
        trade(
            "div-put",
            r#""underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "steps_per_year": 12, "paths": 4000"#,
        ),
        trade(
            "berm-put",
            r#""underlying": "DIV", "payoff": {"type": "european", "option": "put", "strike": 100}, "expiry": "2027-12-04", "exercise": {"style": "bermudan", "dates": ["2027-06-04", "2027-09-06"]}, "steps_per_year": 12, "paths": 4000"#,
        ),
        trade(
            "basket-call",
            r#""underlyings": ["X", "Y"], "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [0.5, 0.5]}, "expiry": "2027-12-04", "steps_per_year": 4, "paths": 4000"#,
        ),
        trade(
            "heston-call",
            &format!(
                r#""underlying": "WING", "model": "heston", "payoff": {{"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}}, "expiry": "2027-12-04", {fix}, "steps_per_year": 12, "paths": 4000"#
            ),
        ),
    ];
    let got = price(d.path(), &book, &["--greeks", "delta,gamma,vega,rho"]);
    for (id, row) in &got {
        let put = id.ends_with("put");
        let sign = if put { -1.0 } else { 1.0 };
        for g in ["delta", "rho"] {
            assert!(sign * row[g] > 0.0, "{id}: {g} {}", row[g]);
        }
        assert!(row["vega"] > 0.0, "{id}: vega {}", row["vega"]);
        assert!(row["gamma"].is_finite(), "{id}: gamma {}", row["gamma"]);
    }
}
