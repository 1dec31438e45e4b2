"""W6 beside QuantLib: a one-asset American put (S=36, K=40, r=6%, vol 20%,
T=1, 50 exercise steps, 100,000 paths) by QuantLib's MCAmericanEngine
(Longstaff-Schwartz, monomial basis of order 2) with its default 2,048
calibration paths and with riskpool's 65,536 regression paths, and by
riskpool on one core, alternated in the same run. Prints one line per run: who, seconds,
price, standard error.

    python bench/quantlib_w6.py RISKPOOL_BINARY [ROUNDS]

QuantLib comes from PyPI (`pip install QuantLib`), into any venv.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import QuantLib as ql

PATHS, STEPS = 100_000, 50


def quantlib_w6(seed, calibration):
    today = ql.Date(27, 11, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(36.0)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.06, dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), 0.2, dc)
        ),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Put, 40.0),
        ql.AmericanExercise(today, today + 365),
    )
    option.setPricingEngine(
        ql.MCAmericanEngine(
            process,
            "pseudorandom",
            timeSteps=STEPS,
            requiredSamples=PATHS,
            seed=seed,
            polynomOrder=2,
            polynomType=ql.LsmBasisSystem.Monomial,
            nCalibrationSamples=calibration,
        )
    )
    t0 = time.perf_counter()
    npv = option.NPV()
    return time.perf_counter() - t0, npv, option.errorEstimate()


def riskpool_w6(binary, book, out):
    if os.path.exists(out):
        os.remove(out)
    t0 = time.perf_counter()
    subprocess.run(
        [binary, "price", "--input", book, "--output", out, "--engine", "cpu",
         "--threads", "1", "--precision", "f64"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - t0
    with open(out) as f:
        row = json.loads(f.readline())
    return seconds, row["pv"], row["stderr"], row["seconds"]


def main():
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"QuantLib {ql.__version__}; riskpool {binary}; {PATHS} paths, {STEPS} steps")
    with tempfile.TemporaryDirectory() as d:
        book = os.path.join(d, "w6.jsonl")
        with open(book, "w") as f:
            f.write(json.dumps({
                "id": "w6",
                "model": {"type": "gbm", "spot": 36, "rate": 0.06, "vol": 0.2},
                "payoff": {"type": "european", "option": "put", "strike": 40},
                "maturity": 1, "steps": STEPS, "paths": PATHS,
                "exercise": {"style": "american"},
            }) + "\n")
        out = os.path.join(d, "w6.out.jsonl")
        for k in range(rounds):
            for calibration in (2048, 65536):
                s, pv, se = quantlib_w6(42 + k, calibration)
                print(f"quantlib  wall {s:.3f} s  price {pv:.4f}  SE {se:.4f}  ({calibration} calibration paths)")
            s, pv, se, compute = riskpool_w6(binary, book, out)
            print(f"riskpool  wall {s:.3f} s  price {pv:.4f}  SE {se:.4f}  (compute {compute:.3f} s, process start and file I/O included in wall)")


if __name__ == "__main__":
    main()
