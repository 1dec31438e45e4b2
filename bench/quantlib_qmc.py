"""W3's arithmetic Asian on Sobol points: riskpool (scrambled, 16
replicates, a Brownian bridge) beside QuantLib's Sobol + Brownian bridge
engine (`MCDiscreteArithmeticAPEngine`, "lowdiscrepancy",
`brownianBridge=True`), in the same run, on one core each.

    python bench/quantlib_qmc.py RISKPOOL_BINARY

W3: GBM arithmetic Asian call, S=100, K=100, r=3%, no dividend, vol 20%,
T=1, the average of the 252 fixings S(i/252), i = 1..252. QuantLib
fixes on 252 consecutive days (Actual/365): the same process in a time
scaled by 252/365, so with the rate scaled by 365/252 and the vol by
sqrt(365/252) (r t and vol^2 t unchanged) its price is W3's. (Business/252
would give the times directly, but QuantLib then counts business days at
every time it computes: 230x slower.)

QuantLib's low-discrepancy engines use unscrambled points: they give no
standard error. So each is measured by its actual error against a
reference: riskpool's mean of 256 replicates at 2^25 points in all (its
standard error printed). For each path count: the price, the actual
error, riskpool's standard error, and the seconds (riskpool's compute
seconds on one thread; QuantLib's wall clock of `NPV()`).

QuantLib comes from PyPI (`pip install QuantLib`), into any venv.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import QuantLib as ql

BIN = sys.argv[1]
W3 = {"id": "w3", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0, "vol": 0.2},
      "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"},
      "maturity": 1, "steps": 252}
BUDGET = 25.0


def riskpool(paths, replicates, tmp, threads="1"):
    t = dict(W3, paths=paths, rng="sobol", qmc={"replicates": replicates})
    book = os.path.join(tmp, "book.jsonl")
    out = os.path.join(tmp, f"out-{paths}-{replicates}.csv")
    with open(book, "w") as f:
        f.write(json.dumps(t) + "\n")
    subprocess.run([BIN, "price", "--input", book, "--output", out, "--engine", "cpu", "--threads", threads],
                   check=True, stderr=subprocess.DEVNULL)
    with open(out) as f:
        row = next(csv.DictReader(f))
    return float(row["pv"]), float(row["stderr"]), float(row["seconds"])


def quantlib(paths):
    today = ql.Date(7, 12, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    fixings = [today + i for i in range(1, 253)]
    scale = 365.0 / 252.0
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(100.0)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.03 * scale, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), 0.2 * scale ** 0.5, dc)),
    )
    option = ql.DiscreteAveragingAsianOption(
        ql.Average.Arithmetic, 0.0, 0, fixings,
        ql.PlainVanillaPayoff(ql.Option.Call, 100.0), ql.EuropeanExercise(fixings[-1]))
    option.setPricingEngine(ql.MCDiscreteArithmeticAPEngine(
        process, "lowdiscrepancy", brownianBridge=True, requiredSamples=paths, seed=42))
    start = time.perf_counter()
    npv = option.NPV()
    return npv, time.perf_counter() - start


def main():
    print(f"QuantLib {ql.__version__}; riskpool {BIN}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ref, ref_se, ref_s = riskpool(1 << 25, 256, tmp, threads=str(os.cpu_count()))
        print(f"reference: riskpool sobol 256 x 2^17 points {ref:.7f} +- {ref_se:.1e} ({ref_s:.1f} s)", flush=True)
        n = 1 << 12
        ql_done = rp_done = False
        while not (ql_done and rp_done):
            if not rp_done:
                pv, se, s = riskpool(16 * n, 16, tmp)
                print(f"riskpool sobol 16 x {n:>8}: pv {pv:.7f} error {pv - ref:+.2e} se {se:.2e} {s:8.3f} s",
                      flush=True)
                rp_done = s > BUDGET or se <= 2.5e-5
            if not ql_done:
                npv, s = quantlib(16 * n)
                print(f"quantlib lowdiscrepancy+bb {16 * n:>10}: pv {npv:.7f} error {npv - ref:+.2e} {s:8.3f} s",
                      flush=True)
                ql_done = s > BUDGET
            n *= 2


main()
