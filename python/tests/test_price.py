"""riskpool.price against `riskpool price`: the same numbers to the bit,
every input kind, the frame's columns and dtypes."""

import json

import numpy as np
import pandas as pd
import pytest

import riskpool
from conftest import BOOK, read_cli_csv, read_cli_jsonl, run_cli

# Compute seconds differ from run to run; everything else must agree.
VOLATILE = {"seconds"}


def assert_same(frame: pd.DataFrame, cli_frame: pd.DataFrame):
    assert list(frame.columns) == list(cli_frame.columns)
    assert len(frame) == len(cli_frame)
    for c in frame.columns:
        if c in VOLATILE:
            continue
        a, b = frame[c], cli_frame[c]
        if a.dtype == np.float64:
            # To the bit: the same float64 values (NaN where the CLI wrote an
            # empty cell).
            av, bv = a.to_numpy(), b.to_numpy(dtype=np.float64)
            same = (av == bv) | (np.isnan(av) & np.isnan(bv))
            assert same.all(), f"column {c}: {av[~same]} != {bv[~same]}"
        else:
            assert [str(x) for x in a] == [str(x) for x in b], f"column {c}"


@pytest.mark.parametrize("engine", ["cpu", "wgpu"])
@pytest.mark.parametrize("greeks_method", [None, "bump"])
def test_a_list_of_dicts_prices_as_the_cli_prices_its_file(cli, tmp_path, book_file, wgpu_here, engine, greeks_method):
    if engine == "wgpu" and not wgpu_here:
        pytest.skip("no Vulkan adapter")
    out = tmp_path / "out.csv"
    flags = ["--greeks", "delta,gamma,vega,rho", "--engine", engine, "--seed", "77"]
    if greeks_method:
        flags += ["--greeks-method", greeks_method]
    run_cli(cli, "price", "--input", book_file, "--output", out, *flags)
    want = read_cli_csv(out)
    got = riskpool.price(BOOK, engine=engine, seed=77, greeks=("delta", "gamma", "vega", "rho"),
                         greeks_method=greeks_method, progress=False)
    assert_same(got, want)
    # A path to the same book, and a JSON array of it, give the same frame.
    assert_same(riskpool.price(book_file, engine=engine, seed=77, greeks=["delta", "gamma", "vega", "rho"],
                               greeks_method=greeks_method, progress=False), want)
    array = tmp_path / "book.json"
    array.write_text(json.dumps(BOOK))
    assert_same(riskpool.price(str(array), engine=engine, seed=77, greeks=["delta", "gamma", "vega", "rho"],
                               greeks_method=greeks_method, progress=False), want)
    # The comparison can fail: another seed's numbers are not these.
    other = riskpool.price(BOOK, engine=engine, seed=78, greeks=("delta", "gamma", "vega", "rho"),
                           greeks_method=greeks_method, progress=False)
    with pytest.raises(AssertionError, match="column pv"):
        assert_same(other, want)


def test_keywords_map_to_the_flags(cli, tmp_path, book_file):
    out = tmp_path / "out.csv"
    run_cli(cli, "price", "--input", book_file, "--output", out, "--engine", "cpu", "--precision", "f64",
            "--paths", "2000", "--antithetic", "--greeks", "delta", "--threads", "1")
    got = riskpool.price(BOOK, engine="cpu", precision="f64", paths=2000, antithetic=True, greeks="delta",
                         threads=1, progress=False)
    assert_same(got, read_cli_csv(out))
    assert (got["paths"] == 2000).all()


def test_sobol_points_price_as_the_cli_prices_them(cli, tmp_path):
    # Every trade of the book (several assets and early exercise too).
    book = BOOK
    assert any("exercise" in t for t in book) and any(t["model"]["type"].endswith("_multi") for t in book)
    book_file = tmp_path / "book.jsonl"
    book_file.write_text("".join(json.dumps(t) + "\n" for t in book))
    out = tmp_path / "out.csv"
    run_cli(cli, "price", "--input", book_file, "--output", out, "--engine", "cpu", "--rng", "sobol",
            "--qmc-replicates", "8", "--paths", "1024", "--greeks", "delta")
    got = riskpool.price(book, engine="cpu", rng="sobol", qmc_replicates=8, paths=1024, greeks="delta",
                         progress=False)
    assert_same(got, read_cli_csv(out))
    philox = riskpool.price(book, engine="cpu", paths=1024, greeks="delta", progress=False)
    with pytest.raises(AssertionError, match="column pv"):
        assert_same(philox, got)


@pytest.mark.parametrize("algorithm", [None, "deltavega"])
def test_azfinsim_trades_from_a_file_and_a_dataframe(cli, tmp_path, azfinsim_file, algorithm):
    out = tmp_path / "out.jsonl"
    flags = ["--engine", "cpu", "--paths", "1000"]
    if algorithm:
        flags += ["--algorithm", algorithm]
    run_cli(cli, "price", "--input", azfinsim_file, "--output", out, *flags)
    rows = read_cli_jsonl(out)
    frame = pd.read_csv(azfinsim_file)
    for trades in (azfinsim_file, frame):
        got = riskpool.price(trades, engine="cpu", paths=1000, algorithm=algorithm, progress=False)
        # JSON Lines rows hold the same columns (keys sorted): put them in
        # the frame's order.
        want = pd.DataFrame(rows)
        assert sorted(want.columns) == sorted(got.columns)
        assert_same(got, want[list(got.columns)])
    # The frame's columns in another order, with a column of its own, read
    # the same.
    shuffled = frame[list(reversed(frame.columns))].assign(note="x")
    again = riskpool.price(shuffled, engine="cpu", paths=1000, algorithm=algorithm, progress=False)
    assert again["pv"].tolist() == got["pv"].tolist()


def test_the_frame_has_the_documented_columns_and_dtypes():
    df = riskpool.price(BOOK, engine="cpu", paths=500, greeks=("delta", "rho"), progress=False)
    assert list(df.columns) == [
        "id", "pv", "stderr", "delta", "rho", "delta_stderr", "rho_stderr", "delta_method", "rho_method",
        "delta_1", "delta_2", "delta_1_stderr", "delta_2_stderr", "paths", "steps", "engine", "device", "seconds",
    ]
    dtypes = df.dtypes.astype(str).to_dict()
    for c in ("pv", "stderr", "delta", "rho", "delta_stderr", "rho_stderr", "delta_1", "delta_2", "seconds"):
        assert dtypes[c] == "float64", c
    for c in ("paths", "steps"):
        assert dtypes[c] == "int64", c
    for c in ("id", "delta_method", "rho_method", "engine", "device"):
        assert dtypes[c] == "object", c
    assert df["id"].tolist() == [t["id"] for t in BOOK]
    # A one-asset trade has no per-asset Greeks: NaN, as the CLI's empty cell.
    assert df.loc[df["id"] == "eu-call", "delta_1"].isna().all()
    assert df.loc[df["id"] == "basket-call", ["delta_1", "delta_2"]].notna().all(axis=None)
    assert df.attrs["engine"] == "cpu" and df.attrs["seconds"] > 0
    assert np.isfinite(df["pv"]).all()


def test_numpy_scalars_in_the_dicts_are_their_numbers():
    t = dict(BOOK[0], paths=np.int64(1000), maturity=np.float64(0.75))
    a = riskpool.price([t], engine="cpu", progress=False)
    b = riskpool.price([dict(BOOK[0], paths=1000)], engine="cpu", progress=False)
    assert a["pv"].tolist() == b["pv"].tolist()


def test_probe_says_what_auto_picks():
    p = riskpool.probe()
    assert p["auto_engine"] in ("cpu", "wgpu", "cuda")
    assert p["cpu"]["threads"] >= 1
    assert "auto_reason" in p


def test_progress_reaches_the_total():
    seen = []
    d = riskpool._native.price(
        "memory", ("\n".join(json.dumps(t) for t in BOOK) + "\n").encode(), "trades",
        {"engine": "cpu", "paths": 200}, lambda done, total: seen.append((done, total)),
    )
    assert seen and seen[-1] == (len(BOOK), len(BOOK))
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    assert d["names"][0] == "id"


def test_a_frame_s_numbers_reach_the_engine_to_the_bit(tmp_path, azfinsim_file):
    """Floats of every size, and trade numbers as text, read as the file
    that holds the same numbers (Python writes them in full)."""
    frame = pd.read_csv(azfinsim_file).iloc[:6].copy()
    frame["fx1"] = [1e-7 * 3.3, 0.1 + 0.2, 123456789.123456789, 5e-324 + 0.9, 0.93, 2.0 / 3.0]
    frame["tradenum"] = frame["tradenum"].astype(str).str.zfill(4)
    path = tmp_path / "tiny.csv"
    with open(path, "w") as f:
        f.write(",".join(riskpool.AZFINSIM_COLUMNS) + "\n")
        for row in frame[list(riskpool.AZFINSIM_COLUMNS)].itertuples(index=False):
            f.write(",".join(repr(x) if isinstance(x, float) else str(x) for x in row) + "\n")
    a = riskpool.price(frame, engine="cpu", paths=300, progress=False)
    b = riskpool.price(path, engine="cpu", paths=300, progress=False)
    assert a["pv"].tolist() == b["pv"].tolist()
    assert a["id"].tolist() == b["id"].tolist() == [str(int(x)) for x in frame["tradenum"]]
