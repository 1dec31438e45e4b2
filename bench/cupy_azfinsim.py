#!/usr/bin/env python3
"""The azfinsim model (docs/azfinsim.md) in CuPy, batched over trades and
written to be fast: float32, all trades x paths in one array, the per-step
update fused into one elementwise kernel (cupy.fuse), normals from cuRAND.
It is the GPU baseline riskpool's CUDA engine is measured against
(issue 4: at least 3x), timed in the same run by scripts/gpu-check.

    python3 bench/cupy_azfinsim.py --trades trades.csv [--repeat 3]

Prints path-steps per second and the first trades' PVs for a sanity check.
"""
import argparse
import sys
import time

import numpy as np

try:
    import cupy as cp
except ImportError:  # pragma: no cover - only where CuPy is missing
    print("cupy_azfinsim: CuPy is not installed here", file=sys.stderr)
    sys.exit(3)

SETTLEMENT = 1.000799081


def load(path):
    cols = {name: i for i, name in enumerate(open(path).readline().strip().split(","))}
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64,
                        usecols=[cols[c] for c in ("fx1", "drift", "maturity", "t_steps", "trials", "ro", "v",
                                                   "sigma1", "warrantsNo", "notionalPerWarr", "strike")])
    raw = np.atleast_2d(raw)
    names = ("fx1", "drift", "maturity", "t_steps", "trials", "ro", "v", "sigma1", "warrants", "notional", "strike")
    return {n: raw[:, i] for i, n in enumerate(names)}


@cp.fuse()
def step(s, sigma, alive, z1, z2, drift, strike, vol_drift, volvol_sqdt, ro, ro_bar, dt, sqdt):
    sigma = sigma * cp.exp(vol_drift + volvol_sqdt * (ro * z1 + ro_bar * z2))
    s = s * cp.exp((drift - 0.5 * sigma * sigma) * dt + sigma * z1 * sqdt)
    alive = alive * (s >= strike)
    return s, sigma, alive


def price(t, seed):
    n = len(t["fx1"])
    paths = int(t["trials"][0])
    steps = int(t["t_steps"][0])
    assert (t["trials"] == paths).all() and (t["t_steps"] == steps).all(), "one shape of trade per batch"
    f32 = cp.float32
    col = lambda a: cp.asarray(a, dtype=f32).reshape(n, 1)
    dt = col(t["maturity"] / steps)
    sqdt = cp.sqrt(dt)
    v = col(t["v"])
    ro = col(t["ro"])
    strike = col(t["strike"])
    s = cp.broadcast_to(col(t["fx1"]), (n, paths)).copy()
    sigma = cp.broadcast_to(col(t["sigma1"]), (n, paths)).copy()
    alive = (s >= strike).astype(f32)
    drift, vol_drift, volvol_sqdt, ro_bar = col(t["drift"]), -0.5 * v * v * dt, v * sqdt, cp.sqrt(1 - ro * ro)
    rng = cp.random.default_rng(seed)
    z1 = cp.empty((n, paths), dtype=f32)
    z2 = cp.empty((n, paths), dtype=f32)
    for _ in range(steps):
        rng.standard_normal(dtype=f32, out=z1)
        rng.standard_normal(dtype=f32, out=z2)
        s, sigma, alive = step(s, sigma, alive, z1, z2, drift, strike, vol_drift, volvol_sqdt, ro, ro_bar, dt, sqdt)
    amount = col(t["warrants"] * t["notional"] * SETTLEMENT)
    payoff = alive * amount * cp.maximum(s / strike - 1, 0) / s
    pv = payoff.mean(axis=1, dtype=cp.float64)
    se = payoff.std(axis=1, dtype=cp.float64) / np.sqrt(paths)
    return cp.asnumpy(pv), cp.asnumpy(se), n * paths * steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", required=True, help="azfinsim trade CSV (riskpool generate)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t = load(a.trades)
    price({k: v[:2] for k, v in t.items()}, a.seed)  # compile the fused kernel
    cp.cuda.Device().synchronize()
    best = float("inf")
    for r in range(a.repeat):
        t0 = time.perf_counter()
        pv, se, work = price(t, a.seed + r)
        cp.cuda.Device().synchronize()
        best = min(best, time.perf_counter() - t0)
    dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"cupy azfinsim: {len(pv)} trades, {work:.3e} path-steps, best {best:.4f} s = {work / best:.3e} path-steps/s on {dev}")
    for i in range(min(5, len(pv))):
        print(f"  trade {i}: pv {pv[i]:.2f} +- {se[i]:.2f}")


if __name__ == "__main__":
    main()
