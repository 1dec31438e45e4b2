"""The Python package's cost over the CLI (issue 25): the same book priced
by `riskpool price` (file in, CSV out) and by `riskpool.price` (file in,
frame out), alternated, on the cpu engine; then a million azfinsim trades
from a DataFrame (no temporary file).

    python bench/python_overhead.py RISKPOOL_BIN WORKDIR [ROUNDS]

Prints one line a measurement. The book files are made with
`riskpool generate` in WORKDIR.
"""

import os
import resource
import subprocess
import sys
import time

import pandas as pd

import riskpool


def main() -> None:
    cli, work = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    os.makedirs(work, exist_ok=True)
    book = os.path.join(work, "book10k.csv")
    if not os.path.exists(book):
        subprocess.run([cli, "generate", "--trades", "10000", "--output", book], check=True)
    paths = "1000"
    print(f"book: {book} (10,000 azfinsim trades, --paths {paths}), engine cpu, {os.cpu_count()} cores")
    for r in range(1, rounds + 1):
        out = os.path.join(work, "out.csv")
        if os.path.exists(out):
            os.remove(out)
        t0 = time.perf_counter()
        subprocess.run([cli, "price", "--input", book, "--output", out, "--engine", "cpu", "--paths", paths],
                       check=True, stderr=subprocess.DEVNULL)
        cli_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        df = riskpool.price(book, engine="cpu", paths=int(paths), progress=False)
        py_s = time.perf_counter() - t0
        assert len(df) == 10000
        print(f"round {r}: cli {cli_s:.3f} s (process, file in, csv out); python {py_s:.3f} s "
              f"(file in, frame out; pricing {df.attrs['seconds']:.3f} s); python/cli {py_s / cli_s:.3f}")

    big = os.path.join(work, "book1m.csv")
    if not os.path.exists(big):
        subprocess.run([cli, "generate", "--trades", "1000000", "--output", big], check=True)
    frame = pd.read_csv(big)
    t0 = time.perf_counter()
    df = riskpool.price(frame, engine="cpu", paths=10, progress=False)
    took = time.perf_counter() - t0
    assert len(df) == 1_000_000 and df["pv"].notna().all()
    t0 = time.perf_counter()
    frame.loc[:, list(riskpool.AZFINSIM_COLUMNS)].to_csv(index=False, lineterminator="\n")
    text_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"1,000,000 azfinsim trades from a DataFrame, --paths 10: {took:.2f} s in all "
          f"(pricing {df.attrs['seconds']:.2f} s; the frame's CSV text alone {text_s:.2f} s); "
          f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
