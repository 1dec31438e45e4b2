"""riskpool from Python: Monte Carlo prices and Greeks on riskpool's engines,
in process, with pandas frames in and out.

    >>> import riskpool
    >>> trades = [{"id": "c1", "model": {"type": "gbm", "spot": 100.0, "rate": 0.03,
    ...            "dividend": 0.0, "vol": 0.2},
    ...            "payoff": {"type": "european", "option": "call", "strike": 100.0},
    ...            "maturity": 1.0, "steps": 1, "paths": 20000}]
    >>> df = riskpool.price(trades, engine="cpu", greeks=("delta",))

The numbers are ``riskpool price``'s to the bit for the same book, seed and
engine: the same reader, checks, engines and rows, called as a library (no
subprocess). See docs/python.md for the frame's columns and their dtypes.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _native
from ._native import EngineError, InputError

__all__ = ["price", "risk", "RiskResult", "probe", "InputError", "EngineError", "DEFAULT_SEED", "AZFINSIM_COLUMNS"]

#: The seed of the random streams when none is given (the CLI's default).
DEFAULT_SEED: int = _native.DEFAULT_SEED
#: The columns of an azfinsim trade frame, in azfinsim's order.
AZFINSIM_COLUMNS: Sequence[str] = tuple(_native.AZFINSIM_COLUMNS)

Trades = Union[Sequence[Mapping[str, Any]], str, "os.PathLike[str]", pd.DataFrame]


def _json_default(x: Any) -> Any:
    """Numbers JSON has no type for: numpy scalars and arrays (values read
    off a frame), Decimal and Fraction."""
    import decimal
    import fractions

    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, (decimal.Decimal, fractions.Fraction)):
        return float(x)
    raise TypeError(f"{type(x).__name__} is not a JSON value")


def _path(x: Any) -> Optional[str]:
    """A path as a str, or None when `x` is not one (bytes paths decoded
    as the file system does)."""
    if isinstance(x, (str, bytes, os.PathLike)):
        p = os.fsdecode(os.fspath(x))
        try:
            p.encode()
        except UnicodeEncodeError:
            raise InputError(f"{p!r}: a path the file system cannot spell in UTF-8") from None
        return p
    return None


def _flag(name: str, value: Any) -> bool:
    """A keyword that is True or False (a truthy string is not)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InputError(f"{name}={value!r}: must be True or False")


def _integer(name: str, value: Any) -> Optional[int]:
    """A keyword that is an integer or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name}={value!r}: must be an integer")
    return int(value)


def _choice(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name}={value!r}: must be a string")
    return value


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < 2**64:
        raise InputError(f"seed={value!r}: must be an integer from 0 to 2^64 - 1")
    return int(value)


def _greeks(value: Any) -> list:
    if isinstance(value, str):
        return [value]
    try:
        names = list(value)
    except TypeError:
        raise InputError(f"greeks={value!r}: a Greek's name or a sequence of them (delta, gamma, vega, rho)") from None
    for g in names:
        if not isinstance(g, str):
            raise InputError(f"greeks={value!r}: a Greek's name or a sequence of them (delta, gamma, vega, rho)")
    return names


def _market(market: Any) -> tuple:
    """(path, JSON text) of a market keyword: a path, a dict or None."""
    if market is None:
        return None, None
    if isinstance(market, Mapping):
        return None, _market_json(market)
    p = _path(market)
    if p is None:
        raise InputError(f"market={market!r}: a market file's path or a dict")
    return p, None


def _book(trades: Trades) -> tuple:
    """The book as the native module takes it: (kind, book, name)."""
    p = _path(trades)
    if p is not None:
        return "file", p, p
    if isinstance(trades, pd.DataFrame):
        if not trades.columns.is_unique or trades.columns.nlevels != 1:
            raise InputError("DataFrame: its column names must be unique, one level (azfinsim's columns)")
        missing = [c for c in AZFINSIM_COLUMNS if c not in trades.columns]
        if missing:
            raise InputError(
                "DataFrame: a trade frame has azfinsim's columns "
                f"({', '.join(AZFINSIM_COLUMNS)}); missing: {', '.join(missing)}"
            )
        # In memory, as azfinsim's CSV (made by the native module): floats
        # as their shortest round trip, so the engine reads the frame's own
        # numbers.
        cols = []
        for c in AZFINSIM_COLUMNS:
            s = trades[c]
            # Floats of any width widened exactly (a float32 is read as the
            # f64 it equals); a missing value is NaN, which the reader
            # refuses naming the field.
            na = bool(s.isna().any())
            if s.dtype.kind == "f" and not na:
                cols.append(("f64", s.to_numpy(dtype="<f8").tobytes()))
            elif s.dtype.kind in "iu" and not na and (s.dtype.kind == "i" or len(s) == 0 or s.max() < 2**63):
                cols.append(("i64", s.to_numpy(dtype="<i8").tobytes()))
            elif s.dtype.kind == "f":
                cols.append(("f64", s.to_numpy(dtype="<f8", na_value=np.nan).tobytes()))
            else:
                cols.append(("str", ["NaN" if _missing(x) else str(x) for x in s]))
        return "memory", _native.azfinsim_book(cols), "DataFrame"
    if isinstance(trades, Mapping):
        raise InputError("trades: a list of trade dicts, a path or a DataFrame; got one dict (wrap it in a list)")
    if isinstance(trades, Iterable):
        lines = []
        items = trades.tolist() if isinstance(trades, pd.Series) else trades
        # A trade's index as the caller knows it: a Series' label, else
        # the list's position (as `_locate` names it).
        labels = list(trades.index) if isinstance(trades, pd.Series) else None
        for i, t in enumerate(items):
            at = labels[i] if labels is not None else i
            if not isinstance(t, Mapping):
                raise InputError(f"trades[{at!r}]: a trade is a dict, got {type(t).__name__}")
            field = _non_finite(t)
            if field is not None:
                e = InputError(f"trades[{at!r}] (id {t.get('id')!r}): field `{field}`: not a finite number")
                e.index, e.trade, e.field, e.file, e.line = at, t.get("id"), field, "trades", i + 1
                e.trade_index = at
                raise e
            try:
                lines.append(json.dumps(t, default=_json_default, allow_nan=False))
            except (TypeError, ValueError, RecursionError) as e:
                err = InputError(f"trades[{at!r}] (id {t.get('id')!r}): {e}")
                err.index, err.trade, err.file, err.line = at, t.get("id"), "trades", i + 1
                err.trade_index = at
                raise err from None
        if not lines:
            raise InputError("trades: the list is empty: no trades")
        return "memory", ("\n".join(lines) + "\n").encode(), "trades"
    raise InputError(f"trades: a list of trade dicts, a path or a DataFrame; got {type(trades).__name__}")


def _missing(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _non_finite(x: Any, at: str = "", depth: int = 0) -> Optional[str]:
    """The dotted field of the first number in a trade that is not finite
    (JSON has no NaN or infinity), or None."""
    if depth > 64:
        raise InputError(f"field `{at}`: nested more than 64 deep (does it contain itself?)")
    if isinstance(x, (float, np.floating)) and not np.isfinite(x):
        return at
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, Mapping):
        for k, v in x.items():
            found = _non_finite(v, f"{at}.{k}" if at else str(k), depth + 1)
            if found is not None:
                return found
    if isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            found = _non_finite(v, f"{at}[{i}]", depth + 1)
            if found is not None:
                return found
    return None


def _market_json(market: Mapping[str, Any]) -> bytes:
    """A market given as a dict, as the JSON text a market file holds."""
    field = _non_finite(market)
    if field is not None:
        e = InputError(f"market: field `{field}`: not a finite number")
        e.file, e.field = "market", field
        raise e
    try:
        return json.dumps(market, default=_json_default, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise InputError(f"market: {err}") from None


def _frame(d: Mapping[str, Any]) -> pd.DataFrame:
    """The native module's columns as a DataFrame."""
    cols: Dict[str, Any] = {}
    for name, kind, data in zip(d["names"], d["kinds"], d["columns"]):
        if kind == "f64":
            cols[name] = np.frombuffer(data, dtype="<f8").astype(np.float64)
        elif kind == "u64":
            cols[name] = np.frombuffer(data, dtype="<u8").astype(np.int64)
        else:
            cols[name] = pd.Series(data, dtype=object)
    df = pd.DataFrame(cols, columns=list(d["names"]))
    df.attrs["engine"] = d["engine"]
    df.attrs["device"] = d["device"]
    df.attrs["seconds"] = d["seconds"]
    return df


def _trade_at(trades: Trades, line: Optional[int]) -> Tuple[Any, Optional[str]]:
    """The trade on book line `line` in the caller's terms: its index in
    the list (or the Series' or frame's label) and its id; (None, None)
    for a book given as a path or a line outside it."""
    if line is None:
        return None, None
    if isinstance(trades, pd.DataFrame):
        i = line - 2  # line 1 is the header
        if 0 <= i < len(trades):
            return trades.index[i], str(trades["tradenum"].iloc[i])
    elif isinstance(trades, pd.Series):
        i = line - 1
        if 0 <= i < len(trades):
            t = trades.iloc[i]
            return trades.index[i], t.get("id") if isinstance(t, Mapping) else None
    elif not isinstance(trades, (str, bytes, os.PathLike)) and isinstance(trades, Sequence):
        i = line - 1
        if 0 <= i < len(trades):
            t = trades[i]
            return i, t.get("id") if isinstance(t, Mapping) else None
    return None, None


def _locate(e: InputError, trades: Trades) -> None:
    """Names the trade of an error in the trades in the caller's terms: its
    index (also `trade_index`) and its id."""
    e.index, e.trade = _trade_at(trades, getattr(e, "line", None))
    e.trade_index = e.index


class _Progress:
    """A tqdm bar where tqdm is installed, else nothing."""

    def __init__(self, on: bool):
        self.bar = None
        if on:
            try:
                from tqdm.auto import tqdm  # type: ignore

                self.tqdm = tqdm
            except ImportError:
                self.tqdm = None
        else:
            self.tqdm = None

    def __call__(self, done: int, total: int) -> None:
        if self.tqdm is None or total == 0:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=total, unit="trade", desc="riskpool")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def price(
    trades: Trades,
    *,
    market: Optional[Union[str, "os.PathLike[str]", Mapping[str, Any]]] = None,
    engine: str = "auto",
    precision: str = "f32",
    seed: int = DEFAULT_SEED,
    paths: Optional[int] = None,
    greeks: Sequence[str] = (),
    greeks_method: Optional[str] = None,
    algorithm: Optional[str] = None,
    antithetic: bool = False,
    rng: str = "philox",
    qmc_replicates: int = 16,
    threads: Optional[int] = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Prices a book: one row per trade, ``riskpool price``'s columns.

    trades: a list of trade dicts (the portfolio format, docs/formats.md), a
        path to a portfolio (JSON Lines or JSON array) or azfinsim CSV file,
        or a DataFrame in azfinsim's columns (``AZFINSIM_COLUMNS``).
    market: what dated trades are priced through: a market file's path, or
        the same as a dict (the market format, docs/formats.md).
    engine: "auto", "cpu", "wgpu" or "cuda" (``--engine``).
    precision: "f32" or "f64" path state (``--precision``).
    seed: the random streams' 64-bit seed (``--seed``).
    paths: overrides every trade's path count (``--paths``).
    greeks: any of "delta", "gamma", "vega", "rho" (``--greeks``).
    greeks_method: "pathwise" (one pass, the default) or "bump".
    algorithm: azfinsim trades: "pvonly" (the default) or "deltavega".
    antithetic: antithetic pairs of paths (``--antithetic``).
    rng: "philox" (pseudo-random, the default) or "sobol" (scrambled Sobol
        points through a Brownian bridge: far smaller errors at the same
        paths for smooth payoffs; docs/streams.md) (``--rng``). A trade's
        own ``rng`` wins.
    qmc_replicates: replicates of rng="sobol", 2 to 4096 (their spread is
        the standard error); every trade's paths must be replicates x 2^m.
    threads: CPU engine threads (default: every core).
    progress: a tqdm progress bar where tqdm is installed.

    Returns a DataFrame: ``id``, ``pv``, ``stderr``, each Greek and its
    ``_stderr`` (and ``_method`` under one pass), per-asset Greeks as
    ``delta_1..n`` for several-asset trades, then ``paths``, ``steps``,
    ``engine``, ``device``, ``seconds``. Numbers are float64 (NaN where a
    cell is empty), counts int64, text object (str). ``df.attrs`` holds
    the engine, device and pricing seconds.

    Raises InputError (a ValueError) for bad trades or keywords, naming the
    file or list, the line or index, the trade and the field; EngineError
    for a failure while pricing (``e.partial``: the rows priced before it,
    as a DataFrame); KeyboardInterrupt on Ctrl-C, within about a second.
    The GIL is released while the engines run.
    """
    market_path, market_json = _market(market)
    opts = {
        "market": market_path,
        "market_json": market_json,
        "engine": _choice("engine", engine),
        "precision": _choice("precision", precision),
        "seed": _seed(seed),
        "paths": _integer("paths", paths),
        "greeks": _greeks(greeks),
        "greeks_method": None if greeks_method is None else _choice("greeks_method", greeks_method),
        "algorithm": None if algorithm is None else _choice("algorithm", algorithm),
        "antithetic": _flag("antithetic", antithetic),
        "rng": _choice("rng", rng),
        "qmc_replicates": _integer("qmc_replicates", qmc_replicates),
        "threads": _integer("threads", threads),
    }
    kind, book, name = _book(trades)
    bar = _Progress(_flag("progress", progress))
    try:
        d = _native.price(kind, book, name, opts, bar)
    except InputError as e:
        _locate(e, trades)
        raise
    except EngineError as e:
        partial = getattr(e, "partial", None)
        if isinstance(partial, Mapping):
            e.partial = _frame(partial)
        raise
    finally:
        bar.close()
    return _frame(d)


class RiskResult:
    """What ``riskpool.risk`` found: the figures of ``riskpool risk``'s
    output, summary, by-trade file and report.

    pnl: DataFrame, one row a scenario in the scenario file's order:
        ``scenario`` (str), ``pnl`` and ``pnl_stderr`` (float64).
    levels: DataFrame, one row a level: ``level``, ``tail`` (the k worst
        scenarios averaged), ``var``, ``es``.
    by_trade: DataFrame (``scenario``, ``id``, ``pnl``, ``pnl_stderr``) when
        asked for (``by_trade=True``), else None.
    base_pv, base_stderr: the book's base value and its standard error
        (NaN where undefined).
    summary: the whole ``<output>.summary.json`` as a dict.
    """

    def __init__(self, pnl, levels, by_trade, summary, html):
        self.pnl: pd.DataFrame = pnl
        self.levels: pd.DataFrame = levels
        self.by_trade: Optional[pd.DataFrame] = by_trade
        self.summary: Dict[str, Any] = summary
        self.base_pv: float = float(summary["base_pv"])
        b = summary.get("base_stderr")
        self.base_stderr: float = float("nan") if b is None else float(b)
        self._html = html

    def to_html(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the HTML risk report ``riskpool risk --report`` writes
        (self-contained: docs/report.md)."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self._html)

    def __repr__(self) -> str:
        lv = ", ".join(f"VaR{r.level:g}={r.var:.6g} ES={r.es:.6g}" for r in self.levels.itertuples())
        return f"<RiskResult base_pv={self.base_pv:.6g}, {len(self.pnl)} scenarios, {lv}>"


def _exact_csv(path: str, text_columns: Sequence[str]) -> pd.DataFrame:
    """A CSV riskpool wrote, its numbers parsed by Python's float (the
    shortest round trip it wrote comes back to the bit)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols: Dict[str, Any] = {}
    for c in raw.columns:
        if c in text_columns:
            cols[c] = raw[c].astype(object)
        else:
            cols[c] = np.array([float(x) if x != "" else np.nan for x in raw[c]], dtype=np.float64)
    return pd.DataFrame(cols, columns=list(raw.columns))


def risk(
    trades: Trades,
    scenarios: Union[str, "os.PathLike[str]", pd.DataFrame],
    *,
    market: Optional[Union[str, "os.PathLike[str]", Mapping[str, Any]]] = None,
    levels: Sequence[float] = (0.99, 0.975),
    by_trade: bool = False,
    engine: str = "auto",
    precision: str = "f32",
    seed: int = DEFAULT_SEED,
    paths: Optional[int] = None,
    rng: str = "philox",
    qmc_replicates: int = 16,
    threads: Optional[int] = None,
    progress: bool = True,
) -> RiskResult:
    """Revalues a book under scenarios: ``riskpool risk``'s P&L, VaR and ES.

    trades: as ``price`` takes them (a list of trade dicts, a portfolio
        file's path; azfinsim trades name no underlying, so nothing moves).
    scenarios: a scenario file's path, or a DataFrame in its columns
        (``scenario``, ``underlying``, ``spot``, ``vol``, ``rate``:
        docs/formats.md).
    levels: confidence levels of VaR and ES, each in (0, 1).
    by_trade: also return each trade's P&L per scenario.
    The other keywords are ``price``'s.

    The numbers are the CLI's for the same book, scenarios, seed and
    engine, to the bit: the run is ``riskpool risk`` itself, in process,
    its files in a temporary folder removed afterwards. Raises as
    ``price`` does (InputError naming ``trades`` or ``scenarios``, the line
    and the field; EngineError; KeyboardInterrupt on Ctrl-C).
    """
    import shutil
    import tempfile

    shown = levels
    if isinstance(levels, (int, float, np.number)):
        levels = [levels]
    try:
        levels = list(levels)
    except TypeError:
        raise InputError(f"levels={shown!r}: confidence levels, each between 0 and 1 (0.99 for 99%)") from None
    if not levels:
        raise InputError(f"levels={shown!r}: give at least one level")
    for x in levels:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number)) or not 0 < float(x) < 1:
            raise InputError(f"levels={shown!r}: each confidence level must be a number between 0 and 1 (0.99 for 99%)")
    if len(set(float(x) for x in levels)) != len(levels):
        raise InputError(f"levels={shown!r}: a level is given twice; give each level once")
    by_trade = _flag("by_trade", by_trade)
    progress = _flag("progress", progress)
    for key, value in (("engine", engine), ("precision", precision), ("rng", rng)):
        _choice(key, value)
    qmc_replicates = _integer("qmc_replicates", qmc_replicates)
    seed = _seed(seed)
    paths = _integer("paths", paths)
    threads = _integer("threads", threads)
    market_path, market_json = _market(market)
    scen_file = None if isinstance(scenarios, pd.DataFrame) else _path(scenarios)
    if not isinstance(scenarios, pd.DataFrame) and scen_file is None:
        raise InputError(f"scenarios: a scenario file's path or a DataFrame; got {type(scenarios).__name__}")
    for what, p in (("trades", _path(trades)), ("scenarios", scen_file), ("market", market_path)):
        if p is not None and os.path.exists(p) and not os.path.isfile(p):
            raise InputError(f"{what}={p}: not a regular file (a folder, FIFO or device): it is read whole")
    if isinstance(scenarios, pd.DataFrame):
        scenarios = _scenario_frame(scenarios)
    tmp = tempfile.mkdtemp(prefix="riskpool-risk-")
    keep = False
    names: Dict[str, str] = {}
    try:
        kind, book, name = _book(trades)
        if kind == "file":
            book_path = book
        else:
            book_path = os.path.join(tmp, "trades")
            with open(book_path, "wb") as f:
                f.write(book)
            names[book_path] = name
        if isinstance(scenarios, pd.DataFrame):
            scen_path = os.path.join(tmp, "scenarios")
            scenarios.to_csv(scen_path, index=False, lineterminator="\n")
            names[scen_path] = "scenarios"
        else:
            scen_path = scen_file
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        if market_json is not None:
            market_path = os.path.join(tmp, "market")
            with open(market_path, "wb") as f:
                f.write(market_json)
            names[market_path] = "market"
        opts = {
            "market": market_path,
            "engine": engine,
            "precision": precision,
            "seed": seed,
            "paths": paths,
            "rng": rng,
            "qmc_replicates": qmc_replicates,
            "threads": threads,
            "levels": [float(x) for x in levels],
            "names": sorted(names.items(), key=lambda kv: -len(kv[0])),
        }
        bar = _Progress(progress)
        try:
            _native.risk(book_path, scen_path, out, opts, bar)
        except InputError as e:
            # The temporary files by the names the caller gave them.
            for path, shown in names.items():
                if e.file == path:
                    e.file = shown
                e.args = tuple(a.replace(path, shown) if isinstance(a, str) else a for a in e.args)
            if e.file in ("trades", "DataFrame"):
                _locate(e, trades)
            else:
                # The scenario is the file and line (and `index`, a
                # scenario frame's row); a scenario that breaks a trade
                # names the trade: `trade` (its id) and `trade_index` (its
                # place in the book, where the book is a list or a frame).
                e.index = None
                if e.file == "scenarios" and e.line is not None and isinstance(scenarios, pd.DataFrame):
                    i = e.line - 2
                    e.index = scenarios.index[i] if 0 <= i < len(scenarios) else None
                e.trade = getattr(e, "trade", None)
                e.trade_index, _ = _trade_at(trades, getattr(e, "trade_line", None))
            raise
        except EngineError as e:
            for path, shown in names.items():
                e.args = tuple(a.replace(path, shown) if isinstance(a, str) else a for a in e.args)
            # The trades revalued before the failure stay in the run's
            # folder, which the message names: it is kept.
            e.partial = None
            keep = True
            raise
        finally:
            bar.close()
        pnl_path = os.path.join(out, "pnl.csv")
        pnl = _exact_csv(pnl_path, ["scenario"])
        with open(pnl_path + ".summary.json", encoding="utf-8") as f:
            summary = json.load(f)
        lv = pd.DataFrame(summary["levels"], columns=["level", "tail", "var", "es"])
        lv = lv.astype({"level": "float64", "tail": "int64", "var": "float64", "es": "float64"})
        bt = _exact_csv(os.path.join(out, "by_trade.csv"), ["scenario", "id"]) if by_trade else None
        with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
            html = f.read()
        return RiskResult(pnl, lv, bt, summary, html)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _scenario_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A scenario frame checked for what its CSV text would hide: a
    missing move (NaN, which the file format would read as 0, no move) and
    a name with a line end (which would shift the lines the errors name);
    floats widened exactly to f64, as a trade frame's are."""
    if not frame.columns.is_unique or frame.columns.nlevels != 1:
        raise InputError("scenarios: its column names must be unique, one level (scenario, underlying, spot, vol, rate)")
    out = frame.copy()
    for i, label in enumerate(frame.index):
        for c in ("scenario", "underlying"):
            if c in frame.columns and isinstance(frame[c].iloc[i], str) and ("\n" in frame[c].iloc[i] or "\r" in frame[c].iloc[i]):
                e = InputError(f"scenarios: row {label!r}: field `{c}`: a name with a line end")
                e.file, e.line, e.field, e.index = "scenarios", i + 2, c, label
                raise e
    for c in ("spot", "vol", "rate"):
        if c not in frame.columns:
            continue
        na = frame[c].isna().to_numpy()
        if na.any():
            i = int(np.argmax(na))
            label = frame.index[i]
            e = InputError(f"scenarios: row {label!r}: field `{c}`: missing (NaN); write 0 for no move")
            e.file, e.line, e.field, e.index = "scenarios", i + 2, c, label
            raise e
        if frame[c].dtype.kind == "f":
            out[c] = frame[c].astype(np.float64)
    return out


def probe() -> Dict[str, Any]:
    """What ``riskpool probe --json`` reports: the CPU, the CUDA devices and
    NVRTC, the Vulkan adapters, the node's size, and which engine
    ``engine="auto"`` picks and why."""
    return json.loads(_native.probe())


# Where an error is, on every InputError (None where unknown): the file (or
# "trades" / "DataFrame" for a book in memory), its line, the field, and the
# trade's index in the list or frame and its id.
for _attr in ("file", "line", "field", "index", "trade", "trade_index"):
    setattr(InputError, _attr, None)
EngineError.partial = None
del _attr
