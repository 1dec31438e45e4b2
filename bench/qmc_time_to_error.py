"""Time to a standard error of 1e-4 of the price, Sobol points against
Philox, on W3's arithmetic Asian and W4's Heston European (CPU engine).

usage: python3 bench/qmc_time_to_error.py RISKPOOL_BIN [THREADS]

Each generator is run at doubling path counts (16 replicates for Sobol)
until its standard error is at most 1e-4 or one run takes longer than
BUDGET seconds; the time to 1e-4 is then the run's that reached it, or
extrapolated from the last run: Philox's error falls as paths^-1/2
(T x (se / 1e-4)^2), Sobol's at the rate its last two runs show (never
slower than paths^-1/2). Times are the result's compute seconds (the
`seconds` column: summed over threads, so per core) and the wall clock.
"""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
THREADS = sys.argv[2] if len(sys.argv) > 2 else "2"
TARGET = 1e-4
BUDGET = 20.0

W3 = {"id": "w3", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0, "vol": 0.2},
      "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"},
      "maturity": 1, "steps": 252}
W4 = {"id": "w4", "model": {"type": "heston", "spot": 100, "rate": 0.03, "dividend": 0, "v0": 0.04, "kappa": 1.5,
                           "theta": 0.04, "xi": 0.5, "rho": -0.7},
      "payoff": {"type": "european", "option": "call", "strike": 100}, "maturity": 1, "steps": 252}


def run(trade, paths, rng, tmp):
    t = dict(trade, paths=paths, rng=rng)
    book = os.path.join(tmp, "book.jsonl")
    out = os.path.join(tmp, f"out-{rng}-{paths}.csv")
    with open(book, "w") as f:
        f.write(json.dumps(t) + "\n")
    start = time.perf_counter()
    subprocess.run([BIN, "price", "--input", book, "--output", out, "--engine", "cpu", "--threads", THREADS],
                   check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with open(out) as f:
        row = next(csv.DictReader(f))
    return float(row["pv"]), float(row["stderr"]), float(row["seconds"]), wall


def series(trade, rng, tmp):
    paths = 16 * 1024
    points = []
    while True:
        pv, se, cpu, wall = run(trade, paths, rng, tmp)
        points.append((paths, pv, se, cpu, wall))
        print(f"  {trade['id']} {rng:6} paths {paths:>10} pv {pv:.6f} se {se:.2e} cpu {cpu:8.3f} s wall {wall:7.3f} s",
              flush=True)
        if se <= TARGET or wall > BUDGET:
            break
        paths *= 2
    n, pv, se, cpu, wall = points[-1]
    if se <= TARGET:
        return n, cpu, wall, "measured"
    rate = 0.5
    if rng == "sobol" and len(points) >= 2:
        (n0, _, se0, _, _), (n1, _, se1, _, _) = points[-2], points[-1]
        rate = max(0.5, math.log(se0 / se1) / math.log(n1 / n0))
    scale = (se / TARGET) ** (1 / rate)
    return n * scale, cpu * scale, wall * scale, f"extrapolated (se ~ paths^-{rate:.2f})"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for trade in (W3, W4):
            for rng in ("philox", "sobol"):
                n, cpu, wall, how = series(trade, rng, tmp)
                print(f"{trade['id']} {rng}: se 1e-4 at {n:.3g} paths, {cpu:.3g} s per core, {wall:.3g} s wall "
                      f"on {THREADS} threads, {how}", flush=True)


main()
