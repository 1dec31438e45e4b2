"""riskpool.risk against `riskpool risk`: the same P&L, VaR and ES to the
bit, scenarios from a file or a DataFrame, errors naming where."""

import json

import numpy as np
import pandas as pd
import pytest

import riskpool
from conftest import BOOK, read_cli_csv, run_cli

UNDERLYING = {"eu-call": "SPX", "digital-put": "SPX", "asian, \"quoted\"": "NDX", "down-out-call": "SX5E",
              "heston-call": "SPX", "fx-warrant": "EURUSD", "american-put": "NDX"}


def named_book():
    """BOOK with each model naming its underlying, so scenarios move it."""
    out = []
    for t in json.loads(json.dumps(BOOK)):
        if t["id"] == "basket-call":
            t["model"]["assets"][0]["underlying"] = "SPX"
            t["model"]["assets"][1]["underlying"] = "SX5E"
        else:
            t["model"]["underlying"] = UNDERLYING[t["id"]]
        out.append(t)
    return out


def scenario_frame(n=40):
    rng = np.random.default_rng(7)
    rows = []
    for k in range(n):
        market, rate = rng.normal(), 0.0003 * rng.normal()
        for u in ("SPX", "NDX", "SX5E", "EURUSD"):
            spot = 0.015 * (0.8 * market + 0.6 * rng.normal())
            # One rate move a scenario: a basket has one rate.
            rows.append({"scenario": f"day-{k + 1:03}", "underlying": u, "spot": spot, "vol": -0.4 * spot,
                         "rate": rate})
    return pd.DataFrame(rows, columns=["scenario", "underlying", "spot", "vol", "rate"])


@pytest.mark.parametrize("engine", ["cpu", "wgpu"])
def test_risk_is_the_cli_s_to_the_bit(cli, tmp_path, wgpu_here, engine):
    if engine == "wgpu" and not wgpu_here:
        pytest.skip("no Vulkan adapter")
    book = named_book()
    book_path = tmp_path / "book.jsonl"
    book_path.write_text("".join(json.dumps(t) + "\n" for t in book))
    frame = scenario_frame()
    scen_path = tmp_path / "scenarios.csv"
    frame.to_csv(scen_path, index=False)
    out = tmp_path / "pnl.csv"
    run_cli(cli, "risk", "--input", book_path, "--scenarios", scen_path, "--output", out, "--by-trade",
            tmp_path / "bt.csv", "--levels", "0.95,0.9", "--engine", engine, "--paths", "1000", "--seed", "5")
    want = read_cli_csv(out)
    summary = json.loads((tmp_path / "pnl.csv.summary.json").read_text())
    for trades, scen in [(book, frame), (book_path, scen_path)]:
        r = riskpool.risk(trades, scen, levels=(0.95, 0.9), by_trade=True, engine=engine, paths=1000, seed=5,
                          progress=False)
        assert r.pnl["scenario"].tolist() == want["scenario"].tolist()
        assert r.pnl["pnl"].tolist() == want["pnl"].tolist()
        assert r.pnl["pnl_stderr"].tolist() == want["pnl_stderr"].tolist()
        assert r.base_pv == summary["base_pv"]
        assert r.levels.to_dict("records") == summary["levels"]
        bt = read_cli_csv(tmp_path / "bt.csv")
        assert r.by_trade["id"].tolist() == bt["id"].tolist()
        assert r.by_trade["pnl"].tolist() == bt["pnl"].tolist()
    assert r.pnl.dtypes.astype(str).tolist() == ["object", "float64", "float64"]
    assert (r.pnl["pnl"] != 0).any(), "the scenarios move the book"
    html = tmp_path / "report.html"
    r.to_html(html)
    text = html.read_text()
    assert text.lstrip().lower().startswith("<!doctype html") and "VaR" in text
    assert "VaR0.95" in repr(r)
    # Without by_trade, none.
    assert riskpool.risk(book[:2], frame, engine="cpu", paths=200, progress=False).by_trade is None


def test_a_bad_scenario_row_names_the_frame_row_and_field():
    frame = scenario_frame(5)
    frame["vol"] = frame["vol"].astype(object)
    frame.loc[frame.index[6], "vol"] = "abc"
    with pytest.raises(riskpool.InputError) as e:
        riskpool.risk(named_book(), frame, engine="cpu", paths=200, progress=False)
    assert e.value.file == "scenarios" and e.value.line == 8 and e.value.index == frame.index[6]
    assert "vol" in str(e.value) and "riskpool-risk-" not in str(e.value)


def test_a_scenario_that_breaks_a_trade_names_the_scenario_row_and_the_trade():
    frame = scenario_frame(3)
    frame.index = [f"r{i}" for i in range(len(frame))]
    # Row r6 (day-002, SX5E): the vol falls below zero for the trade on it.
    frame.loc["r6", "vol"] = -5.0
    for book in (named_book(), pd.Series(named_book(), index=[f"t{i}" for i in range(len(BOOK))])):
        with pytest.raises(riskpool.InputError, match="day-002") as e:
            riskpool.risk(book, frame, engine="cpu", paths=200, progress=False)
        v = e.value
        assert (v.file, v.line, v.field, v.index) == ("scenarios", 8, "vol", "r6")
        assert v.trade == "down-out-call" and v.trade in str(v)
        assert v.trade_index == (3 if isinstance(book, list) else "t3")


def test_a_bad_trade_names_its_index_and_field():
    book = named_book()
    book[3]["model"]["vol"] = -1
    with pytest.raises(riskpool.InputError) as e:
        riskpool.risk(book, scenario_frame(3), engine="cpu", paths=200, progress=False)
    assert (e.value.file, e.value.index, e.value.trade, e.value.field) == ("trades", 3, "down-out-call", "model.vol")
    assert "riskpool-risk-" not in str(e.value)


@pytest.mark.parametrize("levels", [(), (1.0,), (0.99, 0.99), ("x",), (True,)])
def test_bad_levels_are_refused(levels):
    with pytest.raises(riskpool.InputError, match="level"):
        riskpool.risk(named_book(), scenario_frame(3), levels=levels, engine="cpu", paths=200, progress=False)


def test_a_missing_move_or_a_name_with_a_line_end_is_refused():
    frame = scenario_frame(3)
    frame.index = [f"r{i}" for i in range(len(frame))]
    bad = frame.copy()
    bad.loc["r5", "spot"] = np.nan
    with pytest.raises(riskpool.InputError, match="write 0 for no move") as e:
        riskpool.risk(named_book(), bad, engine="cpu", paths=200, progress=False)
    assert (e.value.file, e.value.line, e.value.field, e.value.index) == ("scenarios", 7, "spot", "r5")
    bad = frame.copy()
    bad.loc["r1", "scenario"] = "day\n2"
    with pytest.raises(riskpool.InputError, match="line end") as e:
        riskpool.risk(named_book(), bad, engine="cpu", paths=200, progress=False)
    assert e.value.index == "r1"


@pytest.mark.parametrize("kwargs, match", [
    ({"levels": None}, "levels=None"), ({"levels": np.float32(0.95)}, None), ({"paths": "200"}, "paths='200'"),
    ({"by_trade": "no"}, "by_trade"), ({"scenarios": "/"}, "not a regular file"),
])
def test_risk_keywords_are_checked_as_price_s(kwargs, match):
    args = {"scenarios": scenario_frame(3)}
    args.update(kwargs)
    scen = args.pop("scenarios")
    if match is None:
        r = riskpool.risk(named_book()[:2], scen, engine="cpu", paths=200, progress=False, **args)
        assert len(r.levels) == 1
    else:
        with pytest.raises(riskpool.InputError, match=match):
            riskpool.risk(named_book()[:2], scen, engine="cpu", progress=False, **args)


def test_a_scenario_on_an_underlying_no_trade_names_warns():
    frame = scenario_frame(3)
    frame.loc[len(frame)] = ["day-001", "FOO", 0.01, 0.0, frame["rate"].iloc[0]]
    with pytest.warns(UserWarning, match="scenarios: underlying `FOO` is in no trade of trades") as w:
        riskpool.risk(named_book()[:2], frame, engine="cpu", paths=200, progress=False)
    assert not any("riskpool-risk-" in str(x.message) for x in w)
