"""What a notebook needs of a long run: the GIL released while it prices,
Ctrl-C honoured within about a second, progress reported."""

import _thread
import threading
import time

import pytest

import riskpool
from conftest import BOOK

# About a second or more of pricing on one thread here: an Asian of many
# steps, repeated under distinct ids.
LONG = [dict(BOOK[2], id=f"long-{i}", paths=20000, steps=100) for i in range(200)]


def test_the_gil_is_released_while_pricing():
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    before = ticks
    riskpool.price(LONG[:120], engine="cpu", threads=1, progress=False)
    took = time.monotonic() - start
    stop.set()
    t.join()
    # A thread that holds the GIL for the whole run lets the counter tick a
    # few times at most; released, it ticks about once a millisecond.
    assert took > 0.3, f"the run was too short to tell ({took:.2f} s)"
    assert ticks - before > 0.2 * took * 1000, (ticks - before, took)


def test_keyboard_interrupt_stops_a_long_run_within_a_second():
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        riskpool.price(LONG, engine="cpu", threads=1, progress=False)
    stopped = time.monotonic() - start
    timer.cancel()
    assert stopped < 0.5 + 1.2, f"stopped {stopped - 0.5:.2f} s after the interrupt"
    # The package works again after it.
    assert len(riskpool.price(BOOK[:1], engine="cpu", paths=100, progress=False)) == 1


@pytest.mark.parametrize("call", ["price", "risk"])
def test_keyboard_interrupt_stops_one_long_trade_within_a_second(call):
    # One trade of many seconds (the CPU engine stops within a work item,
    # not only between batches); an American put through its own pricer.
    asian = dict(BOOK[2], id="one-long", paths=20_000_000, steps=100)
    american = dict(next(t for t in BOOK if t["id"] == "american-put"), id="one-american", paths=20_000_000)
    for trade in (asian, american):
        timer = threading.Timer(0.5, _thread.interrupt_main)
        start = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            if call == "price":
                riskpool.price([trade], engine="cpu", threads=1, progress=False)
            else:
                import pandas as pd

                trade = dict(trade, model=dict(trade["model"], underlying="X"))
                scen = pd.DataFrame({"scenario": ["a", "b"], "underlying": ["X", "X"], "spot": [0.01, -0.01],
                                     "vol": [0.0, 0.01], "rate": [0.0, 0.0]})
                riskpool.risk([trade], scen, engine="cpu", threads=1, progress=False)
        stopped = time.monotonic() - start
        timer.cancel()
        assert stopped < 0.5 + 1.2, f"{trade['id']}: stopped {stopped - 0.5:.2f} s after the interrupt"


def test_a_progress_callback_that_raises_stops_the_run():
    class Stop(Exception):
        pass

    def progress(done, total):
        if done > 0:
            raise Stop()

    import json

    book = ("\n".join(json.dumps(t) for t in LONG) + "\n").encode()
    start = time.monotonic()
    with pytest.raises(Stop):
        riskpool._native.price("memory", book, "trades", {"engine": "cpu", "threads": 1}, progress)
    assert time.monotonic() - start < 10


def test_progress_uses_tqdm_where_installed(monkeypatch):
    import sys
    import types

    bars = []

    class FakeBar:
        def __init__(self, total, **kw):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    riskpool.price(BOOK, engine="cpu", paths=200, progress=True)
    assert len(bars) == 1 and bars[0].n == len(BOOK) == bars[0].total and bars[0].closed
    bars.clear()
    riskpool.price(BOOK, engine="cpu", paths=200, progress=False)
    assert bars == []


def test_keyboard_interrupt_stops_a_long_risk_run_within_a_second():
    import pandas as pd

    book = [dict(BOOK[2], id=f"r-{i}", paths=4000, model=dict(BOOK[2]["model"], underlying="SPX"))
            for i in range(2000)]
    scen = pd.DataFrame({"scenario": [f"s{k}" for k in range(60)], "underlying": "SPX",
                         "spot": [0.001 * k for k in range(60)], "vol": 0.0, "rate": 0.0})
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        riskpool.risk(book, scen, engine="cpu", threads=1, progress=False)
    stopped = time.monotonic() - start
    timer.cancel()
    assert stopped < 0.5 + 1.5, f"stopped {stopped - 0.5:.2f} s after the interrupt"
