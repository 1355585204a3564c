"""The one check of a prediction request, for the Forecaster, the served model and the
risk report alike.

A request names symbols, as-of times and the grid (thresholds or levels, horizons).
Conventions, the same everywhere:

- ``None`` means the default: the latest as-of time of each symbol, the trained grid,
  auto-detected support levels.
- An empty list is an error (it would ask for nothing); a single value is a one-element
  list.
- Symbols are case-insensitive (``btc`` is ``BTC``); times without a zone are UTC.
- Thresholds are fractions (0.1 = 10%), horizons days, levels prices; thresholds and
  horizons must lie within the range the model was trained on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from downside.datasets._builder import FrameSpec, spine_keys
from downside.errors import PredictionInputError, UnknownSymbolError
from downside.features import FeatureStore
from downside.vocabulary import utc


@dataclass(frozen=True)
class Request:
    """A checked request.

    Attributes:
        spine: distinct ``symbol, asof`` rows, sorted by ``asof`` then ``symbol``.
        thresholds: drawdown fractions (None for support models).
        horizons: horizons in days.
        levels: user support levels as ``symbol, asof, level`` rows (None: detected).
        cells: for row requests that name every grid value on every row: the exact
            ``symbol, asof, threshold, horizon_days`` (drawdown) or ``symbol, asof,
            horizon_days`` (support) combinations asked for (None: the whole grid of
            every spine row).
    """

    spine: pd.DataFrame
    thresholds: tuple[float, ...] | None
    horizons: tuple[float, ...]
    levels: pd.DataFrame | None = None
    cells: pd.DataFrame | None = None


def _is_batch(value: Any) -> bool:
    return isinstance(value, list | tuple | pd.Index | pd.Series | np.ndarray)


def _symbols(value: Any, name: str = "symbols") -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not _is_batch(items) or not all(isinstance(s, str) for s in items):
        raise PredictionInputError(
            f"{name} must be a symbol such as 'BTC' or a list of them, received {value!r}"
        )
    names = [s.strip().upper() for s in items if s.strip()]
    if not names:
        raise PredictionInputError(
            f"no symbol given in {name} (received {value!r}): pass a symbol such as 'BTC' or a list"
        )
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------- arguments
# Checks of single arguments of the Python API (``downside.api``), made before any work
# starts: each names the argument and the form it expects.


def check_symbols(value: Any, name: str = "symbols") -> list[str]:
    """One symbol or a non-empty list of them, upper-cased and de-duplicated.

    Raises:
        PredictionInputError: not a string or a list of strings, or no symbol in it.
    """
    return _symbols(value, name)


def check_symbol(value: Any, name: str = "symbol") -> str:
    """Exactly one symbol such as ``"BTC"``.

    Raises:
        PredictionInputError: not a non-empty string (a list is refused: the call
            answers for one symbol).
    """
    if not isinstance(value, str) or not value.strip():
        raise PredictionInputError(
            f"{name} must be one symbol such as 'BTC' (a string), received {value!r}"
        )
    return value


def check_number(
    name: str,
    value: Any,
    expected: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    whole: bool = False,
    optional: bool = False,
) -> Any:
    """One finite number within ``[low, high]`` (``(low, high]`` with ``low_open``);
    ``whole``: an integer; ``optional``: None passes through. ``expected`` describes
    the form for the message (``"a whole number >= 1 (bootstrap replicates)"``).

    Raises:
        PredictionInputError: anything else, naming ``name`` and ``expected``.
    """
    if value is None and optional:
        return None
    ok = isinstance(value, Real) and not isinstance(value, bool | np.bool_)
    if ok:
        number = float(value)
        ok = math.isfinite(number) and (number > low if low_open else number >= low)
        ok = ok and number <= high and (not whole or number.is_integer())
    if not ok:
        raise PredictionInputError(f"{name} must be {expected}, received {value!r}")
    return value


def check_flag(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not a truthy string or number).

    Raises:
        PredictionInputError: anything else.
    """
    if not isinstance(value, bool | np.bool_):
        raise PredictionInputError(f"{name} must be True or False, received {value!r}")
    return bool(value)


def check_path(name: str, value: Any) -> Path:
    """A file system path (a string or ``os.PathLike``) as a :class:`~pathlib.Path`.

    Raises:
        PredictionInputError: anything else, or an empty string.
    """
    if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
        return Path(value)
    raise PredictionInputError(
        f"{name} must be a path (a string or pathlib.Path), received {value!r}"
    )


def check_spec_name(value: Any, name: str = "spec") -> str | Path:
    """A spec name such as ``"drawdown"`` or the path of a spec file.

    Raises:
        PredictionInputError: anything else.
    """
    if isinstance(value, os.PathLike):
        return Path(value)
    if isinstance(value, str) and value.strip():
        return value
    raise PredictionInputError(
        f"{name} must be a spec name such as 'drawdown' or the path of a .toml spec file, "
        f"received {value!r}"
    )


def _numbers(
    name: str, value: Any, unit: str, low: float, high: float, *, low_open: bool = True
) -> tuple[float, ...]:
    items = [value] if isinstance(value, Real) else value
    if isinstance(items, str) or not _is_batch(items):
        raise PredictionInputError(
            f"{name} must be a number or a list of numbers ({unit}), received {value!r}"
        )
    out = []
    bad = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, Real) or not math.isfinite(item):
            bad.append(item)
            continue
        number = float(item)
        if (number <= low if low_open else number < low) or number > high:
            bad.append(item)
            continue
        out.append(number)
    if bad:
        bound = "(" if low_open else "["
        raise PredictionInputError(
            f"{name} must be finite numbers in {bound}{low:g}, {high:g}] ({unit}), received {bad}"
        )
    if not out:
        raise PredictionInputError(
            f"no {name} given (an empty list asks for nothing): pass None for the trained "
            "grid, or one or more values"
        )
    return tuple(sorted(set(out)))


def _within(name: str, values: Sequence[float], trained: Sequence[float], hint: str) -> None:
    lo, hi = min(trained), max(trained)
    bad = [v for v in values if not lo <= v <= hi]
    if bad:
        raise PredictionInputError(
            f"{name} {bad} outside the trained range [{lo:g}, {hi:g}]{hint}; ask within the "
            "range or retrain with a wider grid"
        )


def _times(value: Any) -> list[pd.Timestamp]:
    if _is_batch(value):
        times = [utc(v, "as-of time") for v in value]
        if not times:
            raise PredictionInputError(
                "no as-of times given (an empty list asks for nothing): pass None for the "
                "latest time, a time, or a list of times"
            )
        return times
    return [utc(value, "as-of time")]


def _spine(pairs: list[tuple[str, pd.Timestamp]]) -> pd.DataFrame:
    return spine_keys([p[0] for p in pairs], pd.DatetimeIndex([p[1] for p in pairs]))


def check_request(
    spec: FrameSpec,
    feature_store: FeatureStore,
    *,
    symbols: Any = None,
    asof: Any = None,
    thresholds: Any = None,
    horizons: Any = None,
    levels: Any = None,
    rows: pd.DataFrame | None = None,
) -> Request:
    """Validate and normalise a request against a model's frame spec and the store.

    Either ``symbols`` (with ``asof``, ``thresholds``, ``horizons``, ``levels``) or
    ``rows`` (one request per row: ``symbol``, optional ``asof``, ``threshold`` or
    ``level``, ``horizon_days``; empty values mean the defaults) is given.

    Raises:
        UnknownSymbolError: a symbol without data in the store.
        InvalidTimeError: an as-of time that cannot be read.
        PredictionInputError: anything else malformed: wrong types, empty lists,
            thresholds or horizons outside the trained range, levels for a drawdown
            model or thresholds for a support model, non-positive levels.
    """
    if rows is not None:
        if symbols is not None:
            raise PredictionInputError("pass either symbols or request rows, not both")
        return _check_rows(spec, feature_store, rows)
    if symbols is None:
        raise PredictionInputError("no symbols given: pass a symbol such as 'BTC' or a list")
    names = _symbols(symbols)
    known = feature_store.symbols()
    unknown = [s for s in names if s not in known]
    if unknown:
        raise UnknownSymbolError(unknown, known)
    if asof is None:
        pairs = [(s, feature_store.latest_asof(s)) for s in names]
    else:
        times = _times(asof)
        pairs = [(s, t) for s in names for t in times]
    spine = _spine(pairs)
    grid = _grid(spec, thresholds, horizons, levels)
    user_levels = None
    if grid[2] is not None:
        user_levels = pd.DataFrame(
            [(s, a, lv) for s, a in spine.itertuples(index=False) for lv in grid[2]],
            columns=["symbol", "asof", "level"],
        )
        user_levels["asof"] = user_levels["asof"].astype("datetime64[us, UTC]")
    return Request(spine, grid[0], grid[1], user_levels)


def _grid(
    spec: FrameSpec, thresholds: Any, horizons: Any, levels: Any
) -> tuple[tuple[float, ...] | None, tuple[float, ...], tuple[float, ...] | None]:
    if spec.target == "drawdown":
        if levels is not None:
            raise PredictionInputError(
                "levels apply to support models; a drawdown model takes thresholds"
            )
        grid: tuple[float, ...] | None = spec.thresholds
        if thresholds is not None:
            grid = _numbers("thresholds", thresholds, "fractions: 0.1 means 10%", 0.0, 1.0)
            _within("thresholds", grid, spec.thresholds, " (fractions: 0.1 means 10%)")
    elif thresholds is not None:
        raise PredictionInputError(
            "thresholds apply to drawdown models; a support model takes levels"
        )
    else:
        grid = None
    hor = spec.horizons_days
    if horizons is not None:
        hor = _numbers("horizons", horizons, "days", 0.0, 365.0)
        _within("horizons", hor, spec.horizons_days, " (days)")
    lv = None
    if levels is not None:
        lv = _numbers("levels", levels, "prices", 0.0, math.inf)
    return grid, hor, lv


def _column(rows: pd.DataFrame, name: str) -> pd.Series | None:
    if name not in rows.columns:
        return None
    column = rows[name].replace("", None)
    return None if column.isna().all() else column


def _check_rows(spec: FrameSpec, feature_store: FeatureStore, rows: pd.DataFrame) -> Request:
    """Requests as rows (the served model's input)."""
    if not isinstance(rows, pd.DataFrame) or "symbol" not in rows.columns or rows.empty:
        raise PredictionInputError(
            "request rows need a 'symbol' column and at least one row; received "
            f"{list(rows.columns) if isinstance(rows, pd.DataFrame) else type(rows).__name__}"
        )
    cell = spec.cell_column
    other = "level" if cell == "threshold" else "threshold"
    if other in rows.columns and rows[other].replace("", None).notna().any():
        raise PredictionInputError(
            f"request rows of a {spec.target} model name a {cell}, not a {other}; "
            f"received values in column {other!r}"
        )
    symbols = rows["symbol"]
    bad = [s for s in symbols if not isinstance(s, str) or not s.strip()]
    if bad:
        raise PredictionInputError(
            f"every request row needs a symbol such as 'BTC'; received {bad[:3]}"
        )
    names = [s.strip().upper() for s in symbols]
    known = feature_store.symbols()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UnknownSymbolError(unknown, known)
    latest = {s: feature_store.latest_asof(s) for s in set(names)}
    given = _column(rows, "asof")
    times = []
    for i, symbol in enumerate(names):
        value = None if given is None else given.iloc[i]
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            times.append(latest[symbol])
        else:
            times.append(utc(value, "as-of time"))
    req = pd.DataFrame(
        {
            "symbol": pd.array(names, dtype="str"),
            "asof": pd.DatetimeIndex(times).as_unit("us"),
        }
    )
    spine = _spine(list(zip(names, times, strict=True)))
    grid_col = _column(rows, cell)
    hor_col = _column(rows, "horizon_days")
    values = None if grid_col is None else grid_col.dropna().tolist()
    horizons = None if hor_col is None else hor_col.dropna().tolist()
    if spec.target == "drawdown":
        thresholds, hor, _ = _grid(spec, values, horizons, None)
        user_levels = None
    else:
        thresholds, hor, _ = _grid(spec, None, horizons, None)
        user_levels = None
        if grid_col is not None:
            _numbers("levels", values, "prices", 0.0, math.inf)
            named = grid_col.notna().to_numpy()
            user_levels = req.loc[named].assign(level=grid_col[named].astype(float).to_numpy())
            user_levels = user_levels.drop_duplicates().reset_index(drop=True)
    cells = None
    restrict = ("threshold", "horizon_days") if cell == "threshold" else ("horizon_days",)
    if all(c in rows.columns and rows[c].replace("", None).notna().all() for c in restrict):
        cells = req.assign(**{c: rows[c].astype(float).to_numpy() for c in restrict})
        cells = cells.drop_duplicates().reset_index(drop=True)
    return Request(spine, thresholds, hor, user_levels, cells)
