"""Dated trades priced through a market given as a file or as a dict: the
CLI's numbers, and errors naming the market's field."""

import json

import pytest

import riskpool
from conftest import read_cli_csv, run_cli

MARKET = {"valuation_date": "2026-12-04",
          "curves": {"USD": {"dates": ["2027-12-04", "2031-12-04"], "zero_rates": [0.038, 0.035]}},
          "underlyings": {"SPX": {"spot": 6000, "currency": "USD",
                                  "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.013]},
                                  "vol": {"flat": 0.2}}}}
DATED = [{"id": "spx-call", "underlying": "SPX", "payoff": {"type": "european", "option": "call", "strike": 6000},
          "expiry": "2028-06-04", "steps_per_year": 12, "paths": 4000},
         {"id": "spx-put", "underlying": "SPX", "payoff": {"type": "european", "option": "put", "strike": 5800},
          "expiry": "2027-06-04", "steps_per_year": 12, "paths": 4000}]


def test_a_market_dict_prices_as_the_cli_prices_the_file(cli, tmp_path):
    market = tmp_path / "market.json"
    market.write_text(json.dumps(MARKET))
    book = tmp_path / "dated.jsonl"
    book.write_text("".join(json.dumps(t) + "\n" for t in DATED))
    out = tmp_path / "out.csv"
    run_cli(cli, "price", "--input", book, "--market", market, "--output", out, "--engine", "cpu", "--greeks", "delta")
    want = read_cli_csv(out)
    for m in (MARKET, market, str(market)):
        got = riskpool.price(DATED, market=m, engine="cpu", greeks="delta", progress=False)
        assert got["pv"].tolist() == want["pv"].tolist()
        assert got["delta"].tolist() == want["delta"].tolist()
    moved = json.loads(json.dumps(MARKET))
    moved["underlyings"]["SPX"]["spot"] = 6100
    assert riskpool.price(DATED, market=moved, engine="cpu", progress=False)["pv"].tolist() != want["pv"].tolist()


def test_risk_takes_a_market_dict():
    import pandas as pd

    scen = pd.DataFrame({"scenario": ["down", "up"], "underlying": ["SPX", "SPX"], "spot": [-0.05, 0.05],
                         "vol": [0.0, 0.0], "rate": [0.0, 0.0]})
    r = riskpool.risk(DATED, scen, market=MARKET, engine="cpu", paths=500, progress=False)
    assert r.pnl["pnl"].iloc[0] != 0 and r.pnl["pnl"].iloc[1] != 0


def test_a_bad_market_names_its_field():
    bad = json.loads(json.dumps(MARKET))
    bad["underlyings"]["SPX"]["vol"]["flat"] = -0.2
    with pytest.raises(riskpool.InputError, match="market") as e:
        riskpool.price(DATED, market=bad, engine="cpu", progress=False)
    assert "vol" in str(e.value)
    nan = json.loads(json.dumps(MARKET))
    nan["underlyings"]["SPX"]["spot"] = float("nan")
    with pytest.raises(riskpool.InputError, match="underlyings.SPX.spot"):
        riskpool.price(DATED, market=nan, engine="cpu", progress=False)
    with pytest.raises(riskpool.InputError, match="market") as e:
        riskpool.price(DATED, engine="cpu", progress=False)
    # Named as this package's keyword, not as the command line's flag.
    assert "market=" in str(e.value) and "--market" not in str(e.value)
    assert e.value.field == "expiry" and e.value.line == 1


def test_risk_names_the_market_as_a_keyword(tmp_path):
    import pandas as pd

    scen = pd.DataFrame({"scenario": ["down"], "underlying": ["SPX"], "spot": [-0.05], "vol": [0.0], "rate": [0.0]})
    bad = json.loads(json.dumps(MARKET))
    bad["underlyings"]["SPX"]["vol"]["flat"] = -0.2
    for market in (str(tmp_path / "missing.json"), bad):
        with pytest.raises(riskpool.InputError, match="market") as e:
            riskpool.risk(DATED, scen, market=market, engine="cpu", paths=200, progress=False)
        assert "--market" not in str(e.value), str(e.value)

