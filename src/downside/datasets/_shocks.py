"""What-if shocks: named inputs, whole families, volatility or the price set to other
values, applied in one place to the rows :func:`build_frame` built.

A :class:`Shock` names an input and one operation:

=====================  ====================================================================
input                  what it moves
=====================  ====================================================================
a feature name         that feature (``funding.funding_rate``)
a family name          every feature of the family among the model's inputs (``funding``)
``price``              the last close (``move=-0.10``: 10% lower), see below
``volatility``         every volatility input, in annualized percentage points
                       (``add=20``) or as a ratio (``scale=1.5``), see below
``implied_vol``        the implied-volatility index (DVOL), in points (``add=20``)
=====================  ====================================================================

Operations: ``value`` (set), ``add``, ``scale`` (multiply), ``quantile`` (the input's own
quantile over its history at each as-of time, point in time: every daily as-of time from
its first value up to the one asked about, or the last ``window_days``), ``move``
(``price`` only: a relative change). Shocks apply in the order given, each to the rows
the previous ones left. Text forms (command line, ``Shock.parse``): ``price-=10%``,
``price*=0.9``, ``implied_vol+=20``, ``volatility*=1.5``, ``funding=q99`` (99th
percentile), ``etf_flows.etf_flow_total_negative_streak=q95:365d`` (over the last 365
days), ``funding.funding_rate=0.0005``, ``leverage.oi_change_7d*=2``.

How a price shock propagates (``m = 1 + move``, ``r = ln m``): the reference close
becomes ``m * ref_close`` and everything computed from it follows: support levels stay
where they are, so their ``distance_pct``, ``distance_vol`` and ``z_distance`` are
recomputed (levels at or above the new price are no longer supports: their rows are
dropped and listed); drawdown thresholds are relative to the new close. Volatility
(``volatility="ewma"``, the default) responds as the model's own estimates would to a
day with that return: one more step of the RiskMetrics recursion, ``sigma'^2 = lambda
sigma^2 + (1 - lambda) r^2`` (``lambda`` = 0.94) for the EWMA volatility and the same
with the Parkinson range term ``r^2 / (4 ln 2)`` for the range volatility;
``std_ret_1d`` becomes ``r / sigma``; implied volatility is left alone (shock it with
``implied_vol``); ``z_distance`` is recomputed from the new volatility.
``volatility="hold"`` keeps every volatility input as it was. Price-derived technical
features follow in closed form (``derived="update"``): log returns ``+ r``, distances to
moving averages ``(1 + d) m - 1`` (the averages held), drawdown from the high
``min(0, (1 + d) m - 1)``, distance to the N-day low in volatility units ``max(0, d + r /
sigma)``; the others (realized volatilities, RSI, volume, crosses) are held.
``derived="hold"`` keeps them all.

A volatility shock moves ``sigma_daily``, ``sigma_parkinson`` and ``sigma_implied``
together (``add``: annualized points, ``add=20`` adds 0.20 a year), recomputes
``z_distance`` and ``distance_vol``, moves the realized-volatility features the same
way (annualized) and the log realized variances by ``2 ln(sigma' / sigma)``. An
implied-volatility shock moves the DVOL level feature, its percentage changes
(``(1 + c) dvol' / dvol - 1``) and ``sigma_implied``; DVOL z-scores are held.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets._builder import IMPLIED_VOL_FEATURE, Frame, _cache, _daily_features
from downside.errors import Problem, ScenarioError
from downside.features import FeatureStore
from downside.targets import RISKMETRICS_LAMBDA
from downside.vocabulary import US_PER_DAY, to_us

FloatArray = npt.NDArray[np.float64]

PRICE = "price"
VOLATILITY = "volatility"
IMPLIED_VOL = "implied_vol"
SPECIAL_INPUTS: tuple[str, ...] = (PRICE, VOLATILITY, IMPLIED_VOL)
"""Inputs that are not feature or family names."""

OPERATIONS: tuple[str, ...] = ("value", "quantile", "add", "scale", "move")
_ALLOWED: Mapping[str, tuple[str, ...]] = {
    PRICE: ("move", "scale"),
    VOLATILITY: ("value", "add", "scale"),
    IMPLIED_VOL: ("value", "add", "scale", "quantile"),
}
_PARKINSON = 1.0 / (4.0 * math.log(2.0))
_DAYS_A_YEAR = 365.0
_IV_INPUT = "implied_vol_daily.iv_annualized_pct"
_CLOSES = ("ohlcv_daily.close", "ohlcv_hourly.close")
_ANNUALIZED_VOL = ("realized_vol", "parkinson_vol", "garman_klass_vol")

PRESET_FILE = "presets.toml"
"""File of the scenario presets in a scenario folder."""
_PRESET_KEYS = ("description", "shocks")
_SHOCK_KEYS = ("input", *OPERATIONS, "window_days", "volatility", "derived")
_PRESET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TEXT = re.compile(
    r"^\s*(?P<input>[A-Za-z_][A-Za-z0-9_.\-]*?)\s*(?P<op>\+=|-=|\*=|=)\s*(?P<value>\S.*?)\s*$"
)
_QUANTILE = re.compile(r"^[qQ](?P<pct>\d+(?:\.\d+)?)(?::(?P<days>\d+(?:\.\d+)?)d)?$")


def _number(text: str) -> float | None:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, kw_only=True)
class Shock:
    """One what-if change (see the module docstring).

    Attributes:
        input: a feature name, a family name, ``price``, ``volatility`` or
            ``implied_vol``.
        value: set the input to this value.
        quantile: set it to this quantile (0..1) of its own history.
        add: add this (``volatility``, ``implied_vol``: annualized percentage points).
        scale: multiply by this.
        move: ``price`` only: relative change, ``-0.10`` for 10% lower.
        window_days: history of a ``quantile``: the last this many days (None: all).
        volatility: price shocks: ``ewma`` (volatility responds) or ``hold``.
        derived: price shocks: ``update`` price-derived features, or ``hold`` them.
        source: where it was written, for messages.

    Raises:
        ScenarioError: not exactly one operation, a value out of range, or an operation
            the input does not take.
    """

    input: str
    value: float | None = None
    quantile: float | None = None
    add: float | None = None
    scale: float | None = None
    move: float | None = None
    window_days: float | None = None
    volatility: Literal["ewma", "hold"] = "ewma"
    derived: Literal["update", "hold"] = "update"
    source: str = field(default="<shock>", compare=False)

    def __post_init__(self) -> None:
        problems = shock_problems(self)
        if problems:
            raise ScenarioError([Problem(self.source, "invalid_shock", 1, p) for p in problems])

    @property
    def operation(self) -> str:
        """The operation given: ``value``, ``quantile``, ``add``, ``scale`` or ``move``."""
        return next(op for op in OPERATIONS if getattr(self, op) is not None)

    @property
    def amount(self) -> float:
        """The number of the operation."""
        return float(getattr(self, self.operation))

    def describe(self) -> str:
        """Words for tables: ``price -10%``, ``funding at its 99th percentile``."""
        op, x = self.operation, self.amount
        if op == "move":
            return f"{self.input} {100 * x:+g}%"
        if op == "quantile":
            window = f" over {self.window_days:g} days" if self.window_days else ""
            return f"{self.input} at its {_ordinal(100 * x)} percentile{window}"
        if op == "add":
            unit = " points" if self.input in (VOLATILITY, IMPLIED_VOL) else ""
            return f"{self.input} {x:+g}{unit}"
        if op == "scale":
            return f"{self.input} x{x:g}"
        return f"{self.input} = {x:g}"

    @classmethod
    def parse(cls, text: str, *, source: str = "<shock>") -> Shock:
        """A shock from its text form: ``INPUT=VALUE``, ``INPUT=qNN[:DAYSd]``,
        ``INPUT+=X``, ``INPUT-=X``, ``INPUT*=X``; a price takes ``price-=10%``,
        ``price+=5%``, ``price=-10%`` or ``price*=0.9``.

        Raises:
            ScenarioError: the text is not of these forms.
        """
        match = _TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise ScenarioError(
                [
                    Problem(
                        source,
                        "invalid_shock",
                        1,
                        f"cannot read {text!r} as a shock: expected INPUT=VALUE, "
                        "INPUT=qNN[:DAYSd], INPUT+=X, INPUT-=X or INPUT*=X",
                    )
                ]
            )
        name, op, raw = match["input"], match["op"], match["value"]
        sign = -1.0 if op == "-=" else 1.0
        percent = raw.endswith("%")
        number = _number(raw[:-1] if percent else raw)
        quantile = _QUANTILE.match(raw)

        def bad(expected: str) -> ScenarioError:
            return ScenarioError(
                [Problem(source, "invalid_shock", 1, f"{text!r}: expected {expected}")]
            )

        if name == PRICE:
            if op == "*=" and number is not None and not percent:
                return cls(input=name, scale=number, source=source)
            if op != "*=" and number is not None and percent:
                return cls(input=name, move=sign * number / 100.0, source=source)
            raise bad("a relative price move such as price-=10%, price=-10% or price*=0.9")
        if op == "=" and quantile is not None:
            days = quantile["days"]
            return cls(
                input=name,
                quantile=float(quantile["pct"]) / 100.0,
                window_days=float(days) if days else None,
                source=source,
            )
        if number is None:
            raise bad("a number (or qNN, a percentile, after '=')")
        value = number / 100.0 if percent else number
        if op == "=":
            return cls(input=name, value=value, source=source)
        if op == "*=":
            return cls(input=name, scale=value, source=source)
        return cls(input=name, add=sign * value, source=source)


def _ordinal(value: float) -> str:
    text = f"{value:g}"
    if not text.isdigit():
        return text
    n = int(text)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def shock_problems(shock: Shock) -> list[str]:
    """What is wrong with a shock's fields (empty when nothing is)."""
    problems: list[str] = []
    if not isinstance(shock.input, str) or not shock.input.strip():
        problems.append(f"input must name a feature, a family or one of {list(SPECIAL_INPUTS)}")
    given = [op for op in OPERATIONS if getattr(shock, op) is not None]
    if len(given) != 1:
        problems.append(
            f"{shock.input}: give exactly one of {', '.join(OPERATIONS)}, received "
            f"{', '.join(given) or 'none'}"
        )
    for op in given:
        value = getattr(shock, op)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{shock.input}: {op} must be a number, received {value!r}")
        elif not math.isfinite(value):
            problems.append(f"{shock.input}: {op} must be finite, received {value!r}")
    if shock.quantile is not None and not 0.0 <= float(shock.quantile) <= 1.0:
        problems.append(f"{shock.input}: quantile must lie in [0, 1], received {shock.quantile}")
    if shock.move is not None and not float(shock.move) > -1.0:
        problems.append(f"{shock.input}: move must be above -1 (-100%), received {shock.move}")
    special = shock.input in (PRICE, VOLATILITY, IMPLIED_VOL)
    if shock.scale is not None and special and not float(shock.scale) > 0.0:
        problems.append(f"{shock.input}: scale must be positive, received {shock.scale}")
    if shock.window_days is not None and (
        not isinstance(shock.window_days, int | float) or not shock.window_days >= 2
    ):
        problems.append(
            f"{shock.input}: window_days must be at least 2 days, received {shock.window_days}"
        )
    if shock.window_days is not None and shock.quantile is None:
        problems.append(f"{shock.input}: window_days applies to a quantile only")
    if shock.input == PRICE or shock.input in _ALLOWED:
        allowed = _ALLOWED[shock.input]
        bad = [op for op in given if op not in allowed]
        if bad:
            problems.append(
                f"{shock.input} takes {' or '.join(allowed)}, received {', '.join(bad)}"
            )
    elif shock.move is not None:
        problems.append(f"{shock.input}: move applies to price only; use scale or add")
    if shock.volatility not in ("ewma", "hold"):
        problems.append(f"volatility must be 'ewma' or 'hold', received {shock.volatility!r}")
    if shock.derived not in ("update", "hold"):
        problems.append(f"derived must be 'update' or 'hold', received {shock.derived!r}")
    return problems


# ---------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class ScenarioPreset:
    """A named story: a description and its shocks, from a presets file."""

    name: str
    description: str
    shocks: tuple[Shock, ...]


def _lines(text: str) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Line of every preset header and key, and of every inline table of its ``shocks``."""
    keys: dict[str, int] = {}
    braces: dict[str, list[int]] = {}
    table = ""
    in_shocks = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_\-]+)\s*\]$", stripped)
        if header:
            table = header.group(1)
            keys.setdefault(table, number)
            in_shocks = False
            continue
        key = re.match(r"^([A-Za-z0-9_\-]+)\s*=", stripped)
        if key:
            keys.setdefault(f"{table}.{key.group(1)}", number)
            in_shocks = key.group(1) == "shocks"
        if in_shocks:
            braces.setdefault(table, []).extend([number] * stripped.count("{"))
    return keys, braces


def load_scenarios(directory: Path) -> dict[str, ScenarioPreset]:
    """Read and validate the scenario presets of a folder (``presets.toml``).

    Each top-level table is a preset: ``description`` (text) and ``shocks`` (a list of
    inline tables with the fields of :class:`Shock`: ``input`` and one of ``value``,
    ``quantile``, ``add``, ``scale``, ``move``; optional ``window_days``,
    ``volatility``, ``derived``). Unknown keys are refused.

    Raises:
        ScenarioError: a missing file, TOML syntax, unknown or missing keys, values of
            the wrong type (every problem, with file and line).
    """
    path = Path(directory) / PRESET_FILE
    source = str(path)
    if not path.is_file():
        raise ScenarioError(
            [Problem(source, "missing_file", 1, "expected a presets file in the scenario folder")]
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(
            [
                Problem(
                    source,
                    "toml_syntax",
                    1,
                    f"cannot parse TOML: {exc}",
                    line=int(found.group(1)) if found else None,
                )
            ]
        ) from exc
    keys, braces = _lines(text)
    problems: list[Problem] = []
    presets: dict[str, ScenarioPreset] = {}
    for name, body in data.items():
        line = keys.get(name)
        if not isinstance(body, dict):
            problems.append(
                Problem(
                    source, "not_a_table", 1, f"{name}: expected a [table] of one preset", line=line
                )
            )
            continue
        if not _PRESET_NAME.fullmatch(name):
            problems.append(
                Problem(
                    source,
                    "invalid_name",
                    1,
                    f"preset name {name!r}: expected lower-case letters, digits and _",
                    line=line,
                )
            )
        for key in body:
            if key not in _PRESET_KEYS:
                problems.append(
                    Problem(
                        source,
                        "unknown_key",
                        1,
                        f"{name}.{key}: unknown key; expected {', '.join(_PRESET_KEYS)}",
                        line=keys.get(f"{name}.{key}", line),
                    )
                )
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            problems.append(
                Problem(
                    source,
                    "missing_key",
                    1,
                    f"{name}.description: expected a sentence saying what the story is",
                    line=keys.get(f"{name}.description", line),
                )
            )
        items = body.get("shocks")
        if not isinstance(items, list) or not items:
            problems.append(
                Problem(
                    source,
                    "missing_key",
                    1,
                    f"{name}.shocks: expected a non-empty list of inline tables such as "
                    '{ input = "price", move = -0.10 }',
                    line=keys.get(f"{name}.shocks", line),
                )
            )
            continue
        lines = braces.get(name, [])
        shocks = []
        for i, item in enumerate(items):
            where = lines[i] if i < len(lines) else keys.get(f"{name}.shocks", line)
            shock = _preset_shock(name, i, item, source, where, problems)
            if shock is not None:
                shocks.append(shock)
        if isinstance(description, str) and len(shocks) == len(items):
            presets[name] = ScenarioPreset(name, description.strip(), tuple(shocks))
    if problems:
        raise ScenarioError(problems)
    return presets


def _preset_shock(
    name: str, i: int, item: Any, source: str, line: int | None, problems: list[Problem]
) -> Shock | None:
    label = f"{name}.shocks[{i}]"
    if not isinstance(item, dict):
        problems.append(
            Problem(source, "invalid_shock", 1, f"{label}: expected an inline table", line=line)
        )
        return None
    unknown = [k for k in item if k not in _SHOCK_KEYS]
    if unknown:
        problems.append(
            Problem(
                source,
                "unknown_key",
                len(unknown),
                f"{label}: unknown key(s) {unknown}; expected {', '.join(_SHOCK_KEYS)}",
                line=line,
            )
        )
        return None
    kwargs = dict(item)
    bare = Shock.__new__(Shock)
    for f in fields(Shock):
        object.__setattr__(bare, f.name, kwargs.get(f.name, f.default))
    found = shock_problems(bare)
    if found:
        problems.extend(
            Problem(source, "invalid_shock", 1, f"{label}: {p}", line=line) for p in found
        )
        return None
    return Shock(**kwargs, source=f"{source}:{line}" if line else source)


# ---------------------------------------------------------------------------- application


@dataclass(frozen=True)
class ShockEffect:
    """What a shock did.

    Attributes:
        changes: one row per (symbol, asof, column) it moved: ``symbol, asof, shock,
            column, base, value``.
        unused: inputs it names that are not model inputs (it moved nothing there).
        dropped: support rows removed because their level is not below the shocked
            price: ``symbol, asof, level``.
    """

    changes: pd.DataFrame
    unused: tuple[str, ...] = ()
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame)


def check_inputs(shocks: Sequence[Shock], feature_store: FeatureStore) -> None:
    """Refuse shocks whose input is neither a feature, a family nor a special input.

    Raises:
        ScenarioError: unknown inputs (all of them).
    """
    families = feature_store.families()
    known = {*families, *families.values(), *SPECIAL_INPUTS}
    bad = [s for s in shocks if s.input not in known]
    if bad:
        names = sorted(set(families.values()))
        raise ScenarioError(
            [
                Problem(
                    s.source,
                    "unknown_input",
                    1,
                    f"{s.input!r} is not a feature, a family ({', '.join(names)}) or one of "
                    f"{', '.join(SPECIAL_INPUTS)}; see `downside features list`",
                )
                for s in bad
            ]
        )


class ShockTransform:
    """The frame transform of a list of shocks: ``transform(frame) -> frame``, for
    :meth:`downside.models.Predictor.predict`; :attr:`effects` records what each did.

    With no shock the frame is returned unchanged (the same object), so a scenario
    without shocks is the base forecast exactly. :attr:`result` keeps the last frame
    returned.

    Args:
        shocks: applied in order.
        feature_store: the features' definitions and history (for quantiles).

    Raises:
        ScenarioError: an unknown input (checked when constructed).
    """

    def __init__(self, shocks: Iterable[Shock], feature_store: FeatureStore) -> None:
        self.shocks = tuple(shocks)
        self.feature_store = feature_store
        check_inputs(self.shocks, feature_store)
        self.effects: list[ShockEffect] = []
        self.result: Frame | None = None

    def __call__(self, frame: Frame) -> Frame:
        self.effects = []
        for shock in self.shocks:
            frame, effect = apply_shock(frame, shock, self.feature_store)
            self.effects.append(effect)
        self.result = frame
        return frame


@dataclass
class _Work:
    """Mutable copies of a frame's arrays while shocks are applied."""

    frame: Frame
    columns: dict[str, Any]
    key_features: FloatArray
    row_key: npt.NDArray[np.int64]
    changes: list[pd.DataFrame] = field(default_factory=list)

    @classmethod
    def of(cls, frame: Frame) -> _Work:
        return cls(frame, dict(frame.columns), frame.key_features.copy(), frame.row_key)

    def key_values(self, column: str) -> FloatArray:
        """A row column's value per key (NaN for keys without rows)."""
        out = np.full(len(self.frame.keys), np.nan)
        values = np.asarray(self.columns[column], dtype=np.float64)
        out[self.row_key[::-1]] = values[::-1]  # the first row of each key wins
        return out

    def set_feature(self, name: str, values: FloatArray, label: str) -> None:
        j = self.frame.feature_columns.index(name)
        self._record(label, name, self.key_features[:, j], values)
        self.key_features[:, j] = values
        self.columns[name] = values[self.row_key]

    def set_rows(self, column: str, values: FloatArray, label: str, *, record: bool) -> None:
        if record:
            before = self.key_values(column)
            self.columns[column] = values
            self._record(label, column, before, self.key_values(column))
        else:
            self.columns[column] = values

    def _record(self, label: str, column: str, before: FloatArray, after: FloatArray) -> None:
        moved = ~((before == after) | (np.isnan(before) & np.isnan(after)))
        if not moved.any():
            return
        keys = self.frame.keys.loc[moved]
        self.changes.append(
            pd.DataFrame(
                {
                    "symbol": keys["symbol"].to_numpy(dtype=object),
                    "asof": keys["asof"].array,
                    "shock": label,
                    "column": column,
                    "base": before[moved],
                    "value": after[moved],
                }
            )
        )

    def result(self) -> Frame:
        return replace(
            self.frame,
            columns=self.columns,
            key_features=self.key_features,
            row_key=self.row_key,
        )


def _history(
    feature_store: FeatureStore, names: Sequence[str]
) -> dict[str, tuple[npt.NDArray[np.int64], FloatArray]]:
    """Every daily as-of time's features per symbol (the builder's cache)."""
    return _daily_features(feature_store, _cache(feature_store), tuple(names))


def _quantiles(
    frame: Frame,
    feature_store: FeatureStore,
    names: Sequence[str],
    q: float,
    window_days: float | None,
) -> FloatArray:
    """The ``q`` quantile of each feature's own values at the daily as-of times up to each
    key's as-of time (the last ``window_days`` of them), shape (keys, names)."""
    history = _history(feature_store, names)
    out = np.full((len(frame.keys), len(names)), np.nan)
    asof = to_us(frame.keys["asof"])
    for k, symbol in enumerate(frame.keys["symbol"].to_numpy(dtype=object)):
        found = history.get(str(symbol))
        if found is None:
            continue
        times, values = found
        hi = int(np.searchsorted(times, asof[k], side="right"))
        lo = 0
        if window_days is not None:
            lo = int(np.searchsorted(times, asof[k] - int(window_days * US_PER_DAY), side="right"))
        window = values[lo:hi]
        if len(window):
            with np.errstate(all="ignore"):
                present = ~np.isnan(window)
                for j in range(len(names)):
                    column = window[present[:, j], j]
                    if column.size:
                        out[k, j] = float(np.quantile(column, q))
    return out


def _numbers(base: FloatArray, shock: Shock, points: float = 1.0) -> FloatArray:
    """``value``/``add``/``scale`` applied to ``base`` (``add`` and ``value`` in units of
    ``points``)."""
    op, x = shock.operation, shock.amount
    if op == "value":
        return np.full_like(base, x * points)
    if op == "add":
        return base + x * points
    return base * x


def _definitions(feature_store: FeatureStore, names: Sequence[str]) -> dict[str, Any]:
    wanted = set(names)
    return {d.name: d for d in feature_store.definitions if d.name in wanted}


def _recompute_distances(work: _Work) -> None:
    """``z_distance`` (and, for support rows, ``distance_pct``, ``distance_vol``) from the
    current ``ref_close`` and ``sigma_daily``."""
    c = work.columns
    sigma = np.asarray(c["sigma_daily"], dtype=np.float64)
    horizon = np.asarray(c["horizon_days"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if work.frame.spec.target == "drawdown":
            threshold = np.asarray(c["threshold"], dtype=np.float64)
            c["z_distance"] = np.log1p(-threshold) / (sigma * np.sqrt(horizon))
        else:
            level = np.asarray(c["level"], dtype=np.float64)
            ref = np.asarray(c["ref_close"], dtype=np.float64)
            c["distance_pct"] = (ref - level) / ref
            c["distance_vol"] = np.log(ref / level) / sigma
            c["z_distance"] = np.log(level / ref) / (sigma * np.sqrt(horizon))


def _drop_rows(work: _Work, keep: npt.NDArray[np.bool_]) -> pd.DataFrame:
    """Keep the rows under ``keep``; return the dropped ``symbol, asof, level``."""
    c = work.columns
    dropped = pd.DataFrame(
        {
            "symbol": np.asarray(c["symbol"], dtype=object)[~keep],
            "asof": pd.DatetimeIndex(c["asof"])[~keep],
            "level": np.asarray(c["level"], dtype=np.float64)[~keep],
        }
    )
    for name, values in list(c.items()):
        if isinstance(values, pd.api.extensions.ExtensionArray | pd.Series):
            c[name] = values[keep]
        else:
            c[name] = np.asarray(values)[keep]
    work.row_key = work.row_key[keep]
    return dropped


def _price(work: _Work, shock: Shock, feature_store: FeatureStore) -> pd.DataFrame:
    c = work.columns
    label = shock.describe()
    m = 1.0 + shock.amount if shock.operation == "move" else shock.amount
    r = math.log(m)
    sigma_key = work.key_values("sigma_daily")
    ref = np.asarray(c["ref_close"], dtype=np.float64)
    work.set_rows("ref_close", ref * m, label, record=True)
    if shock.volatility == "ewma":
        lam = RISKMETRICS_LAMBDA
        sigma = np.asarray(c["sigma_daily"], dtype=np.float64)
        park = np.asarray(c["sigma_parkinson"], dtype=np.float64)
        new_sigma = np.sqrt(lam * sigma**2 + (1.0 - lam) * r * r)
        new_park = np.sqrt(lam * park**2 + (1.0 - lam) * r * r * _PARKINSON)
        with np.errstate(divide="ignore", invalid="ignore"):
            std_ret = np.full_like(sigma, r) / sigma
        work.set_rows("sigma_daily", new_sigma, label, record=True)
        work.set_rows("sigma_parkinson", new_park, label, record=True)
        work.set_rows("std_ret_1d", std_ret, label, record=True)
    dropped = pd.DataFrame(columns=["symbol", "asof", "level"])
    if work.frame.spec.target == "support":
        keep = np.asarray(c["level"], dtype=np.float64) < np.asarray(c["ref_close"])
        if not keep.all():
            dropped = _drop_rows(work, keep)
    _recompute_distances(work)
    if shock.derived == "update":
        defs = _definitions(feature_store, work.frame.feature_columns)
        for name, definition in defs.items():
            if not set(definition.inputs) & set(_CLOSES):
                continue
            j = work.frame.feature_columns.index(name)
            v = work.key_features[:, j]
            kind = definition.transform
            if kind == "log_return":
                new = v + r
            elif kind == "ma_distance":
                new = (1.0 + v) * m - 1.0
            elif kind == "drawdown_from_high":
                new = np.minimum(0.0, (1.0 + v) * m - 1.0)
            elif kind == "distance_to_low":
                with np.errstate(divide="ignore", invalid="ignore"):
                    new = np.maximum(0.0, v + r / sigma_key)
            else:
                continue
            work.set_feature(name, new, label)
    return dropped


def _volatility(work: _Work, shock: Shock, feature_store: FeatureStore) -> None:
    c = work.columns
    label = shock.describe()
    per_day = 1.0 / 100.0 / math.sqrt(_DAYS_A_YEAR)
    ratio_rows = None
    for column in ("sigma_daily", "sigma_parkinson", "sigma_implied"):
        before = np.asarray(c[column], dtype=np.float64)
        after = _numbers(before, shock, per_day)
        if column == "sigma_daily":
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio_rows = after / before
        work.set_rows(column, after, label, record=True)
    _recompute_distances(work)
    assert ratio_rows is not None
    ratio = np.full(len(work.frame.keys), np.nan)
    ratio[work.row_key[::-1]] = ratio_rows[::-1]
    for name, definition in _definitions(feature_store, work.frame.feature_columns).items():
        j = work.frame.feature_columns.index(name)
        v = work.key_features[:, j]
        if definition.transform in _ANNUALIZED_VOL:
            work.set_feature(name, _numbers(v, shock, 0.01), label)
        elif definition.transform == "log_realized_variance":
            with np.errstate(divide="ignore", invalid="ignore"):
                work.set_feature(name, v + 2.0 * np.log(ratio), label)


def _implied(work: _Work, shock: Shock, feature_store: FeatureStore) -> None:
    label = shock.describe()
    per_day = 1.0 / 100.0 / math.sqrt(_DAYS_A_YEAR)
    defs = _definitions(feature_store, work.frame.feature_columns)
    if IMPLIED_VOL_FEATURE in work.frame.feature_columns:
        dvol = work.key_features[:, work.frame.feature_columns.index(IMPLIED_VOL_FEATURE)]
    else:
        dvol = work.key_values("sigma_implied") / per_day
    if shock.operation == "quantile":
        new = _quantiles(
            work.frame, feature_store, [IMPLIED_VOL_FEATURE], shock.amount, shock.window_days
        )[:, 0]
    else:
        new = _numbers(dvol, shock)
    new = np.clip(new, 1.0, 500.0)
    work.set_rows("sigma_implied", (new * per_day)[work.row_key], label, record=True)
    for name, definition in defs.items():
        if not any(i.startswith(_IV_INPUT) for i in definition.inputs):
            continue
        j = work.frame.feature_columns.index(name)
        v = work.key_features[:, j]
        if definition.transform == "level":
            work.set_feature(name, new.copy(), label)
        elif definition.transform == "pct_change":
            with np.errstate(divide="ignore", invalid="ignore"):
                work.set_feature(name, (1.0 + v) * new / dvol - 1.0, label)


def apply_shock(
    frame: Frame, shock: Shock, feature_store: FeatureStore
) -> tuple[Frame, ShockEffect]:
    """Apply one shock to a built frame; the frame is not modified (a new one is returned).

    Raises:
        ScenarioError: an unknown input.
    """
    check_inputs([shock], feature_store)
    work = _Work.of(frame)
    unused: tuple[str, ...] = ()
    dropped = pd.DataFrame(columns=["symbol", "asof", "level"])
    if shock.input == PRICE:
        dropped = _price(work, shock, feature_store)
    elif shock.input == VOLATILITY:
        _volatility(work, shock, feature_store)
    elif shock.input == IMPLIED_VOL:
        _implied(work, shock, feature_store)
    else:
        families = feature_store.families()
        if shock.input in families:
            names = [shock.input]
        else:
            names = [n for n, f in families.items() if f == shock.input]
        present = [n for n in names if n in frame.feature_columns]
        unused = tuple(n for n in names if n not in frame.feature_columns)
        if present:
            if shock.operation == "quantile":
                values = _quantiles(frame, feature_store, present, shock.amount, shock.window_days)
            else:
                index = [frame.feature_columns.index(n) for n in present]
                values = np.column_stack([_numbers(work.key_features[:, j], shock) for j in index])
            for k, name in enumerate(present):
                work.set_feature(name, values[:, k], shock.describe())
        elif not names:
            unused = (shock.input,)
    changes = (
        pd.concat(work.changes, ignore_index=True)
        if work.changes
        else pd.DataFrame(columns=["symbol", "asof", "shock", "column", "base", "value"])
    )
    return work.result(), ShockEffect(changes, unused, dropped)
