"""Declarative feature definitions: one TOML file per family, validated when loaded.

A definition file looks like::

    family = "leverage"

    [sources.open_interest_daily]          # venue preference for a table with venues
    venues = ["cryptoquant_all_exchanges", "sim_all_exchanges"]

    [[feature]]
    transform = "pct_change"
    inputs = ["open_interest_daily.open_interest_usd"]
    window = ["1d", "7d", "30d"]           # one feature per window
    ttl = "3d"
    description = "open-interest change over {window}"

Inputs are ``table.column`` (``ohlcv_daily``/``ohlcv_hourly`` columns come from the
store's venue-stitched prices), optionally with a selector fixing the table's other key
(``macro_rates_daily.value[series=DGS2]``), or several terms joined by ``|``: a daily
series taking, for each UTC day, the day's mean from the first term that has rows that
day (``funding_rates_8h.funding_rate | funding_rates_daily.funding_rate_8h_equiv``).

Names are never written by hand: ``<family>.<derived>`` where ``<derived>`` comes from the
transform's template, the inputs' tokens, the window and the parameters.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from downside.errors import FeatureDefinitionError, Problem
from downside.features._transforms import TRANSFORMS, ParamSpec, ParamValue, TransformSpec
from downside.features._windows import Window, parse_window
from downside.sources import TABLES

FAMILIES: tuple[str, ...] = ("leverage", "funding", "etf_flows", "rates", "technical")
PRICE_TABLES: dict[str, str] = {"ohlcv_daily": "1d", "ohlcv_hourly": "1h"}
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume_base")
GLOBAL_ENTITY = "*"
ENGINE_VERSION = 1

_FEATURE_KEYS = ("transform", "inputs", "window", "ttl", "description", "params")
_REQUIRED_FEATURE_KEYS = ("transform", "inputs", "ttl", "description")
_FILE_KEYS = ("family", "sources", "feature")
_TERM = re.compile(r"^([a-z0-9_]+)\.([a-z0-9_]+)(?:\[([A-Za-z0-9_]+)=([A-Za-z0-9_]+)\])?$")
_NAME = re.compile(r"^[a-z0-9_]+$")
_TOKENS: dict[tuple[str, str], str] = {
    **{(table, column): "" for table in PRICE_TABLES for column in PRICE_COLUMNS[:4]},
    **{(table, "volume_base"): "volume" for table in PRICE_TABLES},
    ("funding_rates_8h", "funding_rate"): "funding_rate",
    ("funding_rates_daily", "funding_rate_8h_equiv"): "funding_rate",
    ("open_interest_daily", "open_interest_usd"): "oi",
    ("open_interest_daily", "open_interest_base"): "oi_base",
    ("open_interest_daily", "estimated_leverage_ratio"): "leverage_ratio",
    ("liquidations_daily", "long_liq_usd"): "long_liq",
    ("liquidations_daily", "short_liq_usd"): "short_liq",
    ("liquidations_daily", "long_liq_base"): "long_liq_base",
    ("liquidations_daily", "short_liq_base"): "short_liq_base",
    ("etf_flows_daily", "net_flow_usd_m"): "etf_flow_{sel}",
    ("macro_rates_daily", "value"): "{sel}",
    ("stablecoin_supply_daily", "circulating_usd"): "stablecoin_{sel}",
    ("coinbase_premium_daily", "coinbase_premium_index_pct"): "coinbase_premium_pct",
    ("coinbase_premium_daily", "coinbase_premium_gap_usd"): "coinbase_premium_gap",
}


def entity_column(table: str) -> str | None:
    """The key that identifies the asset (``symbol``, ``asset``), ``None`` for global tables."""
    keys = TABLES[table].keys
    if "asset" in keys:
        return "asset"
    return "symbol" if "symbol" in keys else None


def selector_keys(table: str) -> tuple[str, ...]:
    """Keys a selector must fix: every key but the entity and the venue."""
    return tuple(k for k in TABLES[table].keys if k not in {entity_column(table), "venue"})


@dataclass(frozen=True)
class InputTerm:
    """One ``table.column[key=value]`` term of an input.

    Attributes:
        table: canonical table name.
        column: value column.
        selector: ``(key, value)`` pairs fixing the table's non-entity keys.
    """

    table: str
    column: str
    selector: tuple[tuple[str, str], ...] = ()

    @property
    def source_id(self) -> str:
        """The rows the term reads: table plus selector (the column is not part of it)."""
        sel = ",".join(f"{k}={v}" for k, v in self.selector)
        return f"{self.table}[{sel}]" if sel else self.table

    @property
    def token(self) -> str:
        """Short name used in derived feature names."""
        base = _TOKENS.get((self.table, self.column), self.column)
        value = "_".join(v.lower() for _, v in self.selector)
        if "{sel}" in base:
            return base.format(sel=value)
        return f"{base}_{value}" if value else base

    @property
    def is_price(self) -> bool:
        """Whether the term reads venue-stitched prices."""
        return self.table in PRICE_TABLES


@dataclass(frozen=True)
class InputRef:
    """One input of a feature: a term, or several terms coalesced per UTC day.

    Attributes:
        text: the input as written.
        terms: the parsed terms, best first.
    """

    text: str
    terms: tuple[InputTerm, ...]

    @property
    def source_id(self) -> str:
        """Identity of the grid the input lives on (shared by inputs of the same rows)."""
        if len(self.terms) == 1:
            return self.terms[0].source_id
        return "coalesce(" + " | ".join(f"{t.source_id}.{t.column}" for t in self.terms) + ")"

    @property
    def column(self) -> str:
        """Column name of the input in its source frame."""
        return self.terms[0].column if len(self.terms) == 1 else "value"

    @property
    def token(self) -> str:
        """Short name used in derived feature names (the first term's)."""
        return self.terms[0].token

    @property
    def freq(self) -> pd.Timedelta:
        """Nominal spacing of the input's grid (coalesced inputs are daily)."""
        if len(self.terms) > 1:
            return pd.Timedelta(days=1)
        return parse_window(TABLES[self.terms[0].table].freq, allow_obs=False).delta

    @property
    def is_global(self) -> bool:
        """Whether the input is the same for every symbol (rates, stablecoins)."""
        return entity_column(self.terms[0].table) is None


def parse_input(text: object) -> tuple[InputRef | None, list[str]]:
    """Parse an input string; returns the input (or None) and the problems found."""
    if not isinstance(text, str) or not text.strip():
        return None, [f"expected a string 'table.column', received {text!r}"]
    problems: list[str] = []
    terms: list[InputTerm] = []
    for raw in text.split("|"):
        part = raw.strip()
        match = _TERM.match(part)
        if match is None:
            problems.append(
                f"input term {part!r} is not 'table.column' or 'table.column[key=VALUE]'"
            )
            continue
        table, column, key, value = match.groups()
        spec = TABLES.get(table)
        if spec is None:
            problems.append(f"unknown table {table!r} in {part!r}; known: {sorted(TABLES)}")
            continue
        numeric = [c for c, kind in spec.columns.items() if kind != "str"]
        if table in PRICE_TABLES:
            numeric = list(PRICE_COLUMNS)
        if column not in numeric:
            problems.append(
                f"unknown column {table}.{column} in {part!r}; numeric columns of {table}: "
                f"{numeric}"
            )
            continue
        selector = ((key, value),) if key is not None else ()
        needed = selector_keys(table)
        given = tuple(k for k, _ in selector)
        if given != needed:
            problems.append(
                f"input {part!r} must fix the key(s) {list(needed)} of {table} with a selector "
                f"like [{needed[0]}=VALUE]"
                if needed
                else f"input {part!r}: {table} takes no selector, received [{key}=...]"
            )
            continue
        terms.append(InputTerm(table, column, selector))
    if problems:
        return None, problems
    if len(terms) > 1:
        if any(t.is_price for t in terms):
            problems.append(f"input {text!r}: price tables cannot be coalesced with '|'")
        if len({entity_column(t.table) is None for t in terms}) > 1:
            problems.append(f"input {text!r}: cannot coalesce global and per-symbol tables")
        if problems:
            return None, problems
    return InputRef(text, tuple(terms)), []


def _param_value(name: str, spec: ParamSpec, raw: object) -> ParamValue:
    if spec.kind == "window":
        return parse_window(raw)
    if spec.kind == "bool":
        if not isinstance(raw, bool):
            raise ValueError(f"expected true or false, received {raw!r}")
        return raw
    if spec.kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"expected an integer, received {raw!r}")
        if spec.minimum is not None and raw < spec.minimum:
            raise ValueError(f"expected an integer >= {spec.minimum:g}, received {raw}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"expected a number, received {raw!r}")
    if spec.minimum is not None and float(raw) <= spec.minimum:
        raise ValueError(f"expected a number > {spec.minimum:g}, received {raw}")
    return float(raw)


def _render(value: ParamValue, name: str) -> str:
    if isinstance(value, Window):
        return value.label
    if isinstance(value, bool):
        return name if value else ""
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True, kw_only=True)
class FeatureDefinition:
    """One feature, validated when constructed; ``name`` is derived, never given.

    Attributes:
        family: one of :data:`FAMILIES`; the name's prefix.
        transform: a key of :data:`TRANSFORMS`.
        inputs: input strings, one per transform role.
        window: trailing window (``7d``, ``24h``, ``5obs``) where the transform needs one.
        ttl: time-to-live (``3d``, ``6h``): a value whose ``event_ts`` is older than this at
            the as-of time is missing and flagged stale.
        description: one line for listings.
        params: transform parameters.
        source: definition file (for error messages).
        line: line of the definition in ``source``.
        key_lines: line of each key in ``source``.
        name: derived ``<family>.<derived>`` name.

    Raises:
        FeatureDefinitionError: every problem found, with file and line.
    """

    family: str
    transform: str
    inputs: tuple[str, ...]
    ttl: str
    description: str
    window: str | None = None
    params: Mapping[str, object] = field(default_factory=dict, hash=False)
    source: str = "<memory>"
    line: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    name: str = field(init=False)
    input_refs: tuple[InputRef, ...] = field(init=False, repr=False)
    window_value: Window | None = field(init=False, repr=False)
    ttl_value: pd.Timedelta = field(init=False, repr=False)
    param_values: Mapping[str, ParamValue] = field(init=False, repr=False, hash=False)

    def _problem(self, key: str, rule: str, detail: str) -> Problem:
        line = self.key_lines.get(key, self.line)
        return Problem(self.source, rule, 1, detail, line=line)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if self.family not in FAMILIES:
            problems.append(
                self._problem(
                    "family",
                    "unknown_family",
                    f"expected one of {list(FAMILIES)}, received {self.family!r}",
                )
            )
        spec = TRANSFORMS.get(self.transform)
        if spec is None:
            problems.append(
                self._problem(
                    "transform",
                    "unknown_transform",
                    f"expected one of {sorted(TRANSFORMS)}, received {self.transform!r}",
                )
            )
        refs = self._check_inputs(spec, problems)
        window = self._check_window(spec, problems)
        ttl = self._check_ttl(problems)
        params = self._check_params(spec, problems)
        if not isinstance(self.description, str) or not self.description.strip():
            problems.append(
                self._problem("description", "missing_description", "expected a non-empty text")
            )
        if problems:
            raise FeatureDefinitionError(problems)
        assert spec is not None
        assert refs is not None
        assert ttl is not None
        object.__setattr__(self, "input_refs", refs)
        object.__setattr__(self, "window_value", window)
        object.__setattr__(self, "ttl_value", ttl)
        object.__setattr__(self, "param_values", MappingProxyType(params))
        object.__setattr__(self, "name", self._derive_name(spec, refs, window, params))

    def _check_inputs(
        self, spec: TransformSpec | None, problems: list[Problem]
    ) -> tuple[InputRef, ...] | None:
        refs: list[InputRef] = []
        bad = False
        for text in self.inputs:
            ref, errors = parse_input(text)
            problems.extend(self._problem("inputs", "unknown_input", e) for e in errors)
            bad = bad or ref is None
            if ref is not None:
                refs.append(ref)
        if spec is not None and len(self.inputs) != len(spec.roles):
            problems.append(
                self._problem(
                    "inputs",
                    "wrong_input_count",
                    f"transform {spec.name} takes {len(spec.roles)} input(s) "
                    f"{list(spec.roles)}, received {len(self.inputs)}",
                )
            )
            bad = True
        if refs and len({r.is_global for r in refs}) > 1:
            problems.append(
                self._problem(
                    "inputs",
                    "mixed_entities",
                    "inputs mix global tables (rates, stablecoins) with per-symbol tables; "
                    "use inputs of one kind",
                )
            )
            bad = True
        return None if bad else tuple(refs)

    def _check_window(self, spec: TransformSpec | None, problems: list[Problem]) -> Window | None:
        if spec is None:
            return None
        if spec.window == "forbidden":
            if self.window is not None:
                problems.append(
                    self._problem(
                        "window",
                        "unexpected_window",
                        f"transform {spec.name} takes no window, received {self.window!r}; "
                        "remove it",
                    )
                )
            return None
        if self.window is None:
            problems.append(
                self._problem(
                    "window", "missing_window", f"transform {spec.name} needs a window like '7d'"
                )
            )
            return None
        try:
            return parse_window(self.window)
        except ValueError as exc:
            problems.append(self._problem("window", "bad_window", str(exc)))
            return None

    def _check_ttl(self, problems: list[Problem]) -> pd.Timedelta | None:
        try:
            return parse_window(self.ttl, allow_obs=False).delta
        except ValueError as exc:
            problems.append(self._problem("ttl", "bad_ttl", str(exc)))
            return None

    def _check_params(
        self, spec: TransformSpec | None, problems: list[Problem]
    ) -> dict[str, ParamValue]:
        values: dict[str, ParamValue] = {}
        if spec is None:
            return values
        for key in sorted(set(self.params) - set(spec.params)):
            problems.append(
                self._problem(
                    "params",
                    "unknown_param",
                    f"transform {spec.name} has no parameter {key!r}; known: {sorted(spec.params)}",
                )
            )
        for key, pspec in spec.params.items():
            if key not in self.params:
                if pspec.required:
                    problems.append(
                        self._problem(
                            "params",
                            "missing_param",
                            f"transform {spec.name} needs parameter {key!r} ({pspec.kind})",
                        )
                    )
                elif pspec.default is not None:
                    values[key] = pspec.default
                continue
            try:
                values[key] = _param_value(key, pspec, self.params[key])
            except ValueError as exc:
                problems.append(self._problem("params", "bad_param", f"{key}: {exc}"))
        return values

    def _derive_name(
        self,
        spec: TransformSpec,
        refs: tuple[InputRef, ...],
        window: Window | None,
        params: Mapping[str, ParamValue],
    ) -> str:
        tokens = {role: ref.token for role, ref in zip(spec.roles, refs, strict=True)}
        tokens.update({key: _render(value, key) for key, value in params.items()})
        tokens["w"] = window.label if window is not None else ""
        text = spec.template.format(**tokens)
        derived = "_".join(part for part in text.split("_") if part)
        if not _NAME.match(derived):
            raise FeatureDefinitionError(
                [
                    self._problem(
                        "inputs",
                        "bad_name",
                        f"derived name {derived!r} is not lowercase letters, digits and '_'",
                    )
                ]
            )
        return f"{self.family}.{derived}"

    @property
    def spec(self) -> TransformSpec:
        """The transform's specification."""
        return TRANSFORMS[self.transform]

    def canonical(self) -> dict[str, Any]:
        """A JSON-ready description (used by the definitions hash and the manifest)."""
        return {
            "name": self.name,
            "family": self.family,
            "transform": self.transform,
            "inputs": list(self.inputs),
            "window": self.window,
            "ttl": self.ttl,
            "params": {k: _render(v, k) or "false" for k, v in sorted(self.param_values.items())},
            "description": self.description,
        }


@dataclass(frozen=True)
class FeatureSet:
    """Validated definitions plus the venue preferences of tables with venues.

    Attributes:
        definitions: the features, in file order (files sorted by name).
        sources: venue preference per table, best first.
    """

    definitions: tuple[FeatureDefinition, ...]
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def __iter__(self) -> Iterator[FeatureDefinition]:
        return iter(self.definitions)

    def __len__(self) -> int:
        return len(self.definitions)

    def __contains__(self, name: object) -> bool:
        return any(d.name == name for d in self.definitions)

    def __getitem__(self, name: str) -> FeatureDefinition:
        for definition in self.definitions:
            if definition.name == name:
                return definition
        raise FeatureDefinitionError(
            [
                Problem(
                    "features",
                    "unknown_feature",
                    1,
                    f"no feature named {name!r}; see FeatureSet.names for the "
                    f"{len(self.definitions)} defined features",
                )
            ]
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in definition order."""
        return tuple(d.name for d in self.definitions)

    def families(self) -> dict[str, str]:
        """Feature name -> family."""
        return {d.name: d.family for d in self.definitions}

    def select(self, names: Sequence[str]) -> tuple[FeatureDefinition, ...]:
        """Definitions for ``names`` in the given order.

        Raises:
            FeatureDefinitionError: unknown or repeated names (all listed).
        """
        known = {d.name: d for d in self.definitions}
        problems = [
            Problem("features", "unknown_feature", 1, f"no feature named {n!r}")
            for n in names
            if n not in known
        ]
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            problems.append(
                Problem("features", "duplicate_feature", len(repeated), "listed twice", repeated)
            )
        if problems:
            raise FeatureDefinitionError(problems)
        return tuple(known[n] for n in names)

    @property
    def hash(self) -> str:
        """A stable digest of the definitions, venue preferences and engine version."""
        payload = {
            "engine": ENGINE_VERSION,
            "features": [d.canonical() for d in self.definitions],
            "sources": {t: list(v) for t, v in sorted(self.sources.items())},
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- loader

_HEADER = re.compile(r"^\s*\[\[\s*feature\s*\]\]")
_SOURCE_HEADER = re.compile(r"^\s*\[\s*sources\.([A-Za-z0-9_]+)\s*\]")
_ANY_HEADER = re.compile(r"^\s*\[")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
_TOML_LINE = re.compile(r"line (\d+)")


def _key_lines(lines: Sequence[str], start: int, stop: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for number in range(start, stop):
        match = _KEY.match(lines[number])
        if match is not None:
            found.setdefault(match.group(1), number + 1)
    return found


@dataclass
class _Layout:
    top: dict[str, int]
    features: list[tuple[int, dict[str, int]]]
    sources: dict[str, tuple[int, dict[str, int]]]


def _layout(text: str) -> _Layout:
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if _ANY_HEADER.match(line)]
    first = headers[0] if headers else len(lines)
    top = _key_lines(lines, 0, first)
    features: list[tuple[int, dict[str, int]]] = []
    sources: dict[str, tuple[int, dict[str, int]]] = {}
    for pos, start in enumerate(headers):
        stop = headers[pos + 1] if pos + 1 < len(headers) else len(lines)
        if _HEADER.match(lines[start]):
            features.append((start + 1, _key_lines(lines, start + 1, stop)))
        source = _SOURCE_HEADER.match(lines[start])
        if source is not None:
            sources[source.group(1)] = (start + 1, _key_lines(lines, start + 1, stop))
    return _Layout(top, features, sources)


def _load_sources(
    path: Path, raw: object, layout: _Layout, problems: list[Problem]
) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        problems.append(
            Problem(str(path), "bad_sources", 1, "expected [sources.<table>] tables", line=None)
        )
        return found
    for table, body in raw.items():
        line, keys = layout.sources.get(table, (layout.top.get("sources"), {}))
        src = str(path)
        if table not in TABLES or "venue" not in TABLES[table].keys or table in PRICE_TABLES:
            with_venues = sorted(
                t for t, s in TABLES.items() if "venue" in s.keys and t not in PRICE_TABLES
            )
            detail = f"expected a table with venues ({with_venues}), received {table!r}"
            if table in PRICE_TABLES:
                detail += "; price venues come from the daily_venues/hourly_venues settings"
            problems.append(
                Problem(
                    source=src,
                    count=1,
                    rule="unknown_source_table",
                    detail=detail,
                    line=line,
                )
            )
            continue
        if not isinstance(body, dict):
            problems.append(
                Problem(
                    source=src,
                    count=1,
                    rule="bad_sources",
                    detail="expected venues = [...]",
                    line=line,
                )
            )
            continue
        for key in sorted(set(body) - {"venues"}):
            problems.append(
                Problem(
                    source=src,
                    count=1,
                    rule="unknown_key",
                    detail=f"[sources.{table}] takes only 'venues', received {key!r}",
                    line=keys.get(key, line),
                )
            )
        venues = body.get("venues")
        if (
            not isinstance(venues, list)
            or not venues
            or not all(isinstance(v, str) and v for v in venues)
            or len(set(venues)) != len(venues)
        ):
            problems.append(
                Problem(
                    source=src,
                    count=1,
                    rule="bad_venues",
                    detail=f"expected a non-empty list of distinct venue names, received "
                    f"{venues!r}",
                    line=keys.get("venues", line),
                )
            )
            continue
        found[table] = tuple(venues)
    return found


def _load_file(
    path: Path, problems: list[Problem]
) -> tuple[list[FeatureDefinition], dict[str, tuple[str, ...]], str | None]:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        problems.append(
            Problem(
                str(path),
                "toml_syntax",
                1,
                f"cannot parse TOML: {exc}",
                line=int(match.group(1)) if match else None,
            )
        )
        return [], {}, None
    layout = _layout(text)
    for key in sorted(set(data) - set(_FILE_KEYS)):
        problems.append(
            Problem(
                str(path),
                "unknown_key",
                1,
                f"top-level keys are {list(_FILE_KEYS)}, received {key!r}",
                line=layout.top.get(key),
            )
        )
    family = data.get("family")
    if not isinstance(family, str) or family not in FAMILIES:
        problems.append(
            Problem(
                str(path),
                "unknown_family",
                1,
                f"expected family = one of {list(FAMILIES)}, received {family!r}",
                line=layout.top.get("family", 1),
            )
        )
        family = None
    sources = _load_sources(path, data.get("sources", {}), layout, problems)
    raw_features = data.get("feature", [])
    if not isinstance(raw_features, list):
        problems.append(Problem(str(path), "bad_feature", 1, "expected [[feature]] tables"))
        raw_features = []
    definitions: list[FeatureDefinition] = []
    for index, body in enumerate(raw_features):
        line, keys = layout.features[index] if index < len(layout.features) else (None, {})
        definitions.extend(_load_feature(path, family, body, line, keys, problems))
    return definitions, sources, family


def _load_feature(
    path: Path,
    family: str | None,
    body: dict[str, Any],
    line: int | None,
    keys: dict[str, int],
    problems: list[Problem],
) -> list[FeatureDefinition]:
    local: list[Problem] = []
    for key in sorted(set(body) - set(_FEATURE_KEYS)):
        local.append(
            Problem(
                str(path),
                "unknown_key",
                1,
                f"feature keys are {list(_FEATURE_KEYS)}, received {key!r}",
                line=keys.get(key, line),
            )
        )
    for key in _REQUIRED_FEATURE_KEYS:
        if key not in body:
            local.append(Problem(str(path), "missing_key", 1, f"missing {key!r}", line=line))
    inputs = body.get("inputs", [])
    if not isinstance(inputs, list):
        local.append(
            Problem(
                str(path),
                "bad_inputs",
                1,
                f"expected a list of input strings, received {inputs!r}",
                line=keys.get("inputs", line),
            )
        )
    params = body.get("params", {})
    if not isinstance(params, dict):
        local.append(
            Problem(
                str(path),
                "bad_params",
                1,
                f"expected an inline table params = {{...}}, received {params!r}",
                line=keys.get("params", line),
            )
        )
    if local or family is None:
        problems.extend(local)
        return []
    raw_window = body.get("window")
    windows: list[Any] = raw_window if isinstance(raw_window, list) else [raw_window]
    out: list[FeatureDefinition] = []
    for window in windows:
        description = str(body["description"])
        if window is not None:
            description = description.replace("{window}", str(window))
        try:
            out.append(
                FeatureDefinition(
                    family=family,
                    transform=str(body["transform"]),
                    inputs=tuple(inputs),
                    window=window,
                    ttl=body["ttl"],
                    description=description,
                    params=params,
                    source=str(path),
                    line=line,
                    key_lines=keys,
                )
            )
        except FeatureDefinitionError as exc:
            problems.extend(exc.problems)
    return out


def load_definitions(directory: Path) -> FeatureSet:
    """Load and validate every ``*.toml`` file in ``directory``.

    Raises:
        FeatureDefinitionError: one error listing every problem of every file, each with
            its file and line: TOML syntax, unknown keys, unknown families, inputs or
            transforms, bad windows, TTLs or parameters, duplicate derived names, venue
            preferences missing or declared twice with different values.
    """
    problems: list[Problem] = []
    if not directory.is_dir():
        raise FeatureDefinitionError(
            [Problem(str(directory), "missing_folder", 1, "expected a folder of *.toml files")]
        )
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        problems.append(
            Problem(str(directory), "no_definitions", 0, "expected at least one *.toml file")
        )
    definitions: list[FeatureDefinition] = []
    sources: dict[str, tuple[str, ...]] = {}
    declared: dict[str, str] = {}
    for path in paths:
        found, file_sources, _ = _load_file(path, problems)
        definitions.extend(found)
        for table, venues in file_sources.items():
            if table in sources and sources[table] != venues:
                problems.append(
                    Problem(
                        str(path),
                        "conflicting_sources",
                        1,
                        f"[sources.{table}] venues {list(venues)} differ from "
                        f"{list(sources[table])} in {declared[table]}; declare them once",
                    )
                )
            else:
                sources[table] = venues
                declared[table] = str(path)
    seen: dict[str, FeatureDefinition] = {}
    for definition in definitions:
        first = seen.get(definition.name)
        if first is not None:
            problems.append(
                Problem(
                    definition.source,
                    "duplicate_name",
                    1,
                    f"{definition.name} is also derived by the feature at "
                    f"{first.source}:{first.line}; change a parameter, window or input",
                    line=definition.line,
                )
            )
        else:
            seen[definition.name] = definition
        for ref in definition.input_refs:
            for term in ref.terms:
                if (
                    "venue" in TABLES[term.table].keys
                    and not term.is_price
                    and term.table not in sources
                ):
                    problems.append(
                        Problem(
                            definition.source,
                            "missing_sources",
                            1,
                            f"{term.table} has several venues: declare "
                            f"[sources.{term.table}] venues = [...] in one file",
                            line=definition.line,
                        )
                    )
    if problems:
        raise FeatureDefinitionError(_dedupe(problems))
    return FeatureSet(tuple(definitions), MappingProxyType(dict(sources)))


def _dedupe(problems: Sequence[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
