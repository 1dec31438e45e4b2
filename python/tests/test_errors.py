"""Each kind of bad input raises InputError (a ValueError) naming where it
is; failures while pricing raise EngineError with the rows priced before."""

import json

import numpy as np
import pandas as pd
import pytest

import riskpool
from conftest import BOOK


def bad(**changes):
    t = json.loads(json.dumps(BOOK[0]))
    for path, value in changes.items():
        *head, last = path.split("__")
        d = t
        for k in head:
            d = d[k]
        d[last] = value
    return t


def test_input_error_is_a_value_error():
    assert issubclass(riskpool.InputError, ValueError)
    assert issubclass(riskpool.EngineError, RuntimeError)


def test_a_bad_field_in_a_dict_names_the_index_the_trade_and_the_field():
    trades = [BOOK[0], BOOK[1], dict(bad(model__vol=-0.2), id="neg-vol")]
    with pytest.raises(riskpool.InputError) as e:
        riskpool.price(trades, engine="cpu", progress=False)
    err = e.value
    assert err.index == 2 and err.trade == "neg-vol"
    assert err.field == "model.vol" and err.line == 3 and err.file == "trades"
    assert "trades:3" in str(err) and "model.vol" in str(err)


def test_a_missing_and_an_unknown_field_are_named():
    t = bad()
    del t["payoff"]["strike"]
    with pytest.raises(riskpool.InputError, match="strike"):
        riskpool.price([t], engine="cpu", progress=False)
    with pytest.raises(riskpool.InputError, match="colour") as e:
        riskpool.price([dict(bad(), colour="red")], engine="cpu", progress=False)
    assert e.value.index == 0


def test_a_bad_line_in_a_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "book.jsonl"
    path.write_text(json.dumps(BOOK[0]) + "\n" + json.dumps(bad(paths=0)) + "\n")
    with pytest.raises(riskpool.InputError) as e:
        riskpool.price(path, engine="cpu", progress=False)
    assert e.value.file == str(path) and e.value.line == 2 and e.value.field == "paths"
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(riskpool.InputError, match="cannot open") as e:
        riskpool.price(missing, engine="cpu", progress=False)
    assert e.value.file == str(missing) and e.value.line is None
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(riskpool.InputError, match="empty"):
        riskpool.price(empty, engine="cpu", progress=False)


def test_duplicate_ids_are_refused():
    with pytest.raises(riskpool.InputError, match="duplicate trade `eu-call`") as e:
        riskpool.price([BOOK[0], BOOK[0]], engine="cpu", progress=False)
    assert e.value.index == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"engine": "gpu"}, r"engine='gpu'|engine=\"gpu\".*expected one of auto, cpu, wgpu, cuda"),
        ({"precision": "f16"}, "precision"),
        ({"greeks": ("delta", "theta")}, "unknown Greek `theta`"),
        ({"greeks_method": "adjoint"}, "greeks_method"),
        ({"paths": 0}, "paths"),
        ({"paths": 1.5}, "paths=1.5: must be an integer"),
        ({"threads": 0}, "threads"),
        ({"threads": 2**64}, r"threads=.*must be a whole number, at least 1 and below 2\^64"),
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"algorithm": "deltavega"}, "azfinsim"),
        ({"engine": "wgpu", "precision": "f64"}, "engine=wgpu precision=f64: WGSL has no f64"),
        ({"paths": 3, "antithetic": True}, "paths=3: antithetic=True pairs paths, so the count must be even"),
        ({"rng": "sobol", "antithetic": True}, "rng=sobol with antithetic=True"),
        ({"rng": "sobol", "paths": 2000}, "paths=2000 with rng=sobol and qmc_replicates=16: .* e.g. 1024 or 2048"),
        ({"rng": "sobol", "qmc_replicates": 1}, "qmc_replicates=.*1.*: must be a whole number from 2"),
        ({"rng": "halton"}, "rng=.halton."),
        ({"market": "/nonexistent/market.json"}, "market=/nonexistent/market.json: cannot read"),
    ],
)
def test_bad_keywords_are_input_errors_naming_them(kwargs, match):
    with pytest.raises(riskpool.InputError, match=match) as e:
        riskpool.price(BOOK[:1], progress=False, **kwargs)
    # Named as keywords, never as the command line's flags.
    assert "--" not in str(e.value)


def test_what_is_not_a_book_is_refused():
    for trades, match in [([], "empty"), (BOOK[0], "one dict"), ([1, 2], r"trades\[0\]"), (42, "int")]:
        with pytest.raises(riskpool.InputError, match=match):
            riskpool.price(trades, progress=False)
    with pytest.raises(riskpool.InputError, match=r"trades\[0\].*not JSON serializable|trades\[0\]"):
        riskpool.price([dict(BOOK[0], paths=object())], progress=False)


def test_an_azfinsim_frame_missing_a_column_or_with_a_bad_number(tmp_path, azfinsim_file):
    frame = pd.read_csv(azfinsim_file)
    with pytest.raises(riskpool.InputError, match="missing: sigma1"):
        riskpool.price(frame.drop(columns=["sigma1"]), engine="cpu", progress=False)
    broken = frame.copy()
    broken["sigma1"] = broken["sigma1"].astype(object)
    broken.loc[broken.index[3], "sigma1"] = "abc"
    with pytest.raises(riskpool.InputError) as e:
        riskpool.price(broken, engine="cpu", progress=False)
    assert e.value.field == "sigma1" and e.value.file == "DataFrame"
    assert e.value.index == broken.index[3] and e.value.trade == str(broken["tradenum"].iloc[3])
    with pytest.raises(riskpool.InputError, match="azfinsim trades take algorithm=deltavega, not greeks"):
        riskpool.price(frame, engine="cpu", greeks=("delta",), progress=False)


def test_a_price_that_is_not_finite_is_an_engine_error_keeping_the_rows_before():
    huge = dict(BOOK[0], id="huge-vol", model=dict(BOOK[0]["model"], vol=1e20))
    with pytest.raises(riskpool.EngineError, match="huge-vol.*not price to a finite number.*model.vol") as e:
        riskpool.price([BOOK[0], BOOK[1], huge, BOOK[3]], engine="cpu", paths=64, progress=False)
    partial = e.value.partial
    assert isinstance(partial, pd.DataFrame)
    assert partial["id"].tolist() == ["eu-call", "digital-put"]
    ok = riskpool.price(BOOK[:2], engine="cpu", paths=64, progress=False)
    assert partial["pv"].tolist() == ok["pv"].tolist()


def test_a_number_json_cannot_hold_is_named_by_its_field():
    for value in (float("nan"), float("inf")):
        t = dict(BOOK[0], id="nan-strike", payoff=dict(BOOK[0]["payoff"], strike=value))
        with pytest.raises(riskpool.InputError, match="payoff.strike") as e:
            riskpool.price([BOOK[1], t], progress=False)
        assert (e.value.index, e.value.trade, e.value.field) == (1, "nan-strike", "payoff.strike")


def test_flags_in_messages_read_as_keywords():
    with pytest.raises(riskpool.InputError) as e:
        riskpool.price(BOOK[:1], algorithm="deltavega", progress=False)
    assert "--" not in str(e.value) and "algorithm=deltavega" in str(e.value) and "trades is JSON Lines" in str(e.value)


def test_a_fifo_or_a_folder_is_refused_at_once(tmp_path):
    import os

    fifo = tmp_path / "book.fifo"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        with pytest.raises(riskpool.InputError, match="not a regular file"):
            riskpool.price(path, engine="cpu", progress=False)


def test_two_threads_price_at_once_each_its_own_numbers():
    import threading

    results = {}

    def run(seed):
        results[seed] = riskpool.price(BOOK, engine="cpu", paths=500, seed=seed, progress=False)["pv"].tolist()

    threads = [threading.Thread(target=run, args=(s,)) for s in (1, 2, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[1] == riskpool.price(BOOK, engine="cpu", paths=500, seed=1, progress=False)["pv"].tolist()
    assert results[2] == riskpool.price(BOOK, engine="cpu", paths=500, seed=2, progress=False)["pv"].tolist()
    assert results[1] != results[2]


def test_an_empty_frame_has_no_trades(azfinsim_file):
    frame = pd.read_csv(azfinsim_file).iloc[:0]
    with pytest.raises(riskpool.InputError, match="no trades"):
        riskpool.price(frame, engine="cpu", progress=False)


def test_a_missing_number_in_a_frame_names_its_row_and_column(azfinsim_file):
    frame = pd.read_csv(azfinsim_file)
    frame.loc[frame.index[5], "strike"] = float("nan")
    with pytest.raises(riskpool.InputError, match="strike.*finite number, got NaN") as e:
        riskpool.price(frame, engine="cpu", progress=False)
    assert (e.value.field, e.value.line, e.value.index) == ("strike", 7, frame.index[5])
    frame = pd.read_csv(azfinsim_file)
    frame["trials"] = frame["trials"] * -1
    with pytest.raises(riskpool.InputError, match="trials") as e:
        riskpool.price(frame, engine="cpu", progress=False)
    assert e.value.index == frame.index[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"greeks": None}, "greeks=None"),
        ({"greeks": 5}, "greeks=5"),
        ({"antithetic": "no"}, "antithetic='no': must be True or False"),
        ({"progress": "yes"}, "progress"),
        ({"engine": None}, "engine=None: must be a string"),
        ({"precision": None}, "precision"),
        ({"paths": "200"}, "paths='200': must be an integer"),
        ({"market": 5}, "market=5"),
    ],
)
def test_keywords_of_the_wrong_type_are_input_errors(kwargs, match):
    with pytest.raises(riskpool.InputError, match=match):
        riskpool.price(BOOK[:1], **kwargs)


def test_numbers_json_has_no_type_for_are_taken_or_named():
    import decimal

    base = riskpool.price(BOOK[6:7], engine="cpu", paths=300, progress=False)["pv"].tolist()
    t = json.loads(json.dumps(BOOK[6]))
    t["model"]["correlation"] = np.array(t["model"]["correlation"])
    t["payoff"]["strike"] = decimal.Decimal("100")
    t["maturity"] = np.longdouble(1.0)
    assert riskpool.price([t], engine="cpu", paths=300, progress=False)["pv"].tolist() == base
    t = dict(BOOK[0], model=dict(BOOK[0]["model"], spot=np.float32("nan")))
    with pytest.raises(riskpool.InputError, match="model.spot") as e:
        riskpool.price([t], progress=False)
    assert e.value.index == 0
    loop = dict(BOOK[0])
    loop["payoff"] = dict(BOOK[0]["payoff"])
    loop["payoff"]["self"] = loop
    with pytest.raises(riskpool.InputError, match="itself"):
        riskpool.price([loop], progress=False)
    with pytest.raises(riskpool.InputError, match=r"trades\[0\].*not a JSON value"):
        riskpool.price([dict(BOOK[0], paths=object())], progress=False)


def test_a_series_book_s_errors_name_its_labels():
    nan = dict(BOOK[1], model=dict(BOOK[1]["model"], spot=float("nan")))
    for bad in (nan, dict(BOOK[1], paths=0)):
        s = pd.Series([BOOK[0], bad], index=["a", "b"])
        with pytest.raises(riskpool.InputError) as e:
            riskpool.price(s, engine="cpu", progress=False)
        assert (e.value.index, e.value.trade_index, e.value.trade) == ("b", "b", "digital-put")
    # Every InputError has every attribute, None where it does not apply.
    with pytest.raises(riskpool.InputError) as e:
        riskpool.price(BOOK[:1], paths=1.5, progress=False)
    assert (e.value.index, e.value.trade, e.value.trade_index) == (None, None, None)


def test_a_series_of_dicts_and_a_bytes_path(tmp_path, book_file):
    s = pd.Series([BOOK[0], dict(BOOK[1], paths=0)], index=["a", "b"])
    with pytest.raises(riskpool.InputError) as e:
        riskpool.price(s, engine="cpu", progress=False)
    assert e.value.index == "b" and e.value.trade == "digital-put"
    a = riskpool.price(bytes(book_file), engine="cpu", paths=200, progress=False)
    assert a["pv"].tolist() == riskpool.price(book_file, engine="cpu", paths=200, progress=False)["pv"].tolist()


def test_a_frame_with_duplicated_columns_or_an_inf_is_named(azfinsim_file):
    frame = pd.read_csv(azfinsim_file)
    with pytest.raises(riskpool.InputError, match="unique"):
        riskpool.price(pd.concat([frame, frame[["sigma1"]]], axis=1), progress=False)
    frame.loc[frame.index[2], "sigma1"] = float("inf")
    with pytest.raises(riskpool.InputError, match="sigma1.*inf") as e:
        riskpool.price(frame, engine="cpu", progress=False)
    assert e.value.index == frame.index[2]
    frame = pd.read_csv(azfinsim_file)
    frame["trials"] = pd.array([200] * (len(frame) - 1) + [None], dtype="Int64")
    with pytest.raises(riskpool.InputError, match="trials") as e:
        riskpool.price(frame, engine="cpu", progress=False)
    assert e.value.index == frame.index[-1]
