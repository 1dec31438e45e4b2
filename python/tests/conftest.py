"""Shared fixtures: the CLI binary the package is held to, a small mixed
book, and whether the wgpu engine (lavapipe) is here."""

import json
import os
import pathlib
import subprocess

import pandas as pd
import pytest

import riskpool

REPO = pathlib.Path(__file__).resolve().parents[2]

# One of each kind of trade: payoffs that observe the path, a jump, Heston,
# SV FX, several assets (per-asset columns) and early exercise.
BOOK = [
    {"id": "eu-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25},
     "payoff": {"type": "european", "option": "call", "strike": 110}, "maturity": 0.75, "steps": 1, "paths": 4000},
    {"id": "digital-put", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2},
     "payoff": {"type": "digital", "option": "put", "strike": 95, "cash": 10}, "maturity": 0.5, "steps": 1, "paths": 4000},
    {"id": "asian, \"quoted\"", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2},
     "payoff": {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}, "maturity": 1, "steps": 24, "paths": 4000},
    {"id": "down-out-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.25},
     "payoff": {"type": "barrier", "option": "call", "strike": 100, "barrier": 85, "direction": "down", "knock": "out",
                "monitoring": "continuous"}, "maturity": 1, "steps": 24, "paths": 4000},
    {"id": "heston-call", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04,
                                    "xi": 0.5, "rho": -0.7},
     "payoff": {"type": "european", "option": "call", "strike": 100}, "maturity": 1, "steps": 24, "paths": 4000},
    {"id": "fx-warrant", "model": {"type": "sv_fx", "spot": 0.85, "drift": 0.02, "sigma": 0.08, "volvol": 0.0015,
                                   "rho": 0.00004},
     "payoff": {"type": "fx_warrant", "strike": 0.78, "warrants": 1, "notional_per_warrant": 100}, "maturity": 0.2,
     "steps": 20, "paths": 4000},
    {"id": "basket-call", "model": {"type": "gbm_multi", "rate": 0.03,
                                    "assets": [{"spot": 100, "vol": 0.2}, {"spot": 100, "vol": 0.25, "dividend": 0.01}],
                                    "correlation": [[1, 0.6], [0.6, 1]]},
     "payoff": {"type": "basket", "option": "call", "strike": 100, "weights": [0.5, 0.5]}, "maturity": 1, "steps": 12,
     "paths": 4000},
    {"id": "american-put", "model": {"type": "gbm", "spot": 36, "rate": 0.06, "vol": 0.2},
     "payoff": {"type": "european", "option": "put", "strike": 40}, "maturity": 1, "steps": 25, "paths": 4000,
     "exercise": {"style": "american"}},
]


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    """The `riskpool` binary (RISKPOOL_BIN, else the release build)."""
    path = pathlib.Path(os.environ.get("RISKPOOL_BIN", REPO / "target" / "release" / "riskpool"))
    if not path.is_file():
        pytest.fail(f"no riskpool binary at {path}: build it (cargo build --release) or set RISKPOOL_BIN")
    return path


def run_cli(cli, *args, check=True):
    p = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"riskpool {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


def read_cli_csv(path) -> pd.DataFrame:
    """A CSV the CLI wrote, each number parsed by Python's float (correctly
    rounded: the CLI's shortest round trip comes back to the bit), whatever
    pandas' own parser does."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = {}
    for c in raw.columns:
        if c in ("id", "tradenum", "engine", "device") or c.endswith("_method"):
            out[c] = raw[c]
            continue
        if c in ("paths", "steps"):
            out[c] = raw[c].astype("int64")
            continue
        try:
            out[c] = pd.Series([float(x) if x != "" else float("nan") for x in raw[c]], dtype="float64")
        except ValueError:
            out[c] = raw[c]
    return pd.DataFrame(out, columns=list(raw.columns))


def read_cli_jsonl(path) -> list:
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def wgpu_here() -> bool:
    """Whether a Vulkan adapter (lavapipe) runs the WGSL engine here; with
    RISKPOOL_REQUIRE_WGPU=1 its absence fails instead of skipping."""
    here = bool(riskpool.probe().get("wgpu_adapters"))
    if not here and os.environ.get("RISKPOOL_REQUIRE_WGPU") == "1":
        pytest.fail("RISKPOOL_REQUIRE_WGPU=1 but no Vulkan adapter was found")
    return here


@pytest.fixture
def book_file(tmp_path) -> pathlib.Path:
    path = tmp_path / "book.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in BOOK))
    return path


@pytest.fixture
def azfinsim_file(tmp_path, cli) -> pathlib.Path:
    path = tmp_path / "az.csv"
    run_cli(cli, "generate", "--trades", "40", "--output", path)
    return path
