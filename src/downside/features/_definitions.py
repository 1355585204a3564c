"""Declarative feature definitions: one TOML file per family, validated when loaded.

A folder of definitions holds ``repo.toml`` (the families, name tokens and price venues,
see :mod:`downside.features._repo`) and one file per family::

    family = "leverage"                    # one of the families of repo.toml

    [sources.open_interest_daily]          # venue preference for a table with venues
    venues = ["cryptoquant_all_exchanges", "sim_all_exchanges"]

    [[feature]]
    transform = "pct_change"               # a transform's key (downside.features.TRANSFORMS)
    inputs = ["open_interest_daily.open_interest_usd"]
    window = ["1d", "7d", "30d"]           # one feature per window
    ttl = "3d"
    description = "open-interest change over {window}"

Inputs are described in :mod:`downside.features._inputs`. Names are never written by
hand: ``<family>.<derived>`` where ``<derived>`` comes from the transform's template
filled with the inputs' tokens (from ``repo.toml``) and the transform's fields.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from downside.errors import FeatureDefinitionError, Problem
from downside.features._inputs import PRICE_TABLES, InputRef, parse_input
from downside.features._repo import REPO_FILE, FeatureRepo, read_repo, venue_list_problem
from downside.features._toml import read_toml
from downside.features._transforms import TRANSFORMS, Transform, parse_transform
from downside.features._windows import parse_window
from downside.sources import TABLES
from downside.vocabulary import is_feature

ENGINE_VERSION = 1

_FEATURE_KEYS = ("transform", "inputs", "window", "ttl", "description", "params")
_REQUIRED_FEATURE_KEYS = ("transform", "inputs", "ttl", "description")
_FILE_KEYS = ("family", "sources", "feature")
_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True, kw_only=True)
class FeatureDefinition:
    """One feature, validated when constructed; ``name`` is derived, never given.

    Attributes:
        family: one of the repository's families; the name's prefix.
        transform: a key of :data:`~downside.features.TRANSFORMS`.
        inputs: input strings, one per transform role.
        ttl: time-to-live (``3d``, ``6h``): a value whose ``event_ts`` is older than this at
            the as-of time is missing and flagged stale.
        description: one line for listings.
        repo: the repository (families and name tokens).
        window: trailing window (``7d``, ``24h``, ``5obs``) where the transform needs one.
        params: transform parameters, as written.
        source: definition file (for error messages).
        line: line of the definition in ``source``.
        key_lines: line of each key in ``source``.
        name: derived ``<family>.<derived>`` name.
        input_refs: the parsed inputs.
        transform_value: the transform object built from ``transform``, ``window`` and
            ``params``.
        ttl_value: the parsed ``ttl``.

    Raises:
        FeatureDefinitionError: every problem found, with file and line.
    """

    family: str
    transform: str
    inputs: tuple[str, ...]
    ttl: str
    description: str
    repo: FeatureRepo = field(compare=False, hash=False, repr=False)
    window: str | None = None
    params: Mapping[str, object] = field(default_factory=dict, hash=False)
    source: str = "<memory>"
    line: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    name: str = field(init=False)
    input_refs: tuple[InputRef, ...] = field(init=False, repr=False)
    transform_value: Transform = field(init=False, repr=False)
    ttl_value: pd.Timedelta = field(init=False, repr=False)

    def _problem(self, key: str, rule: str, detail: str) -> Problem:
        line = self.key_lines.get(key, self.line)
        return Problem(self.source, rule, 1, detail, line=line)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if self.family not in self.repo.families:
            problems.append(
                self._problem(
                    "family",
                    "unknown_family",
                    f"expected one of {list(self.repo.families)} (the [families] of "
                    f"{REPO_FILE}), received {self.family!r}",
                )
            )
        transform, issues = parse_transform(self.transform, self.window, self.params)
        problems.extend(self._problem(*issue) for issue in issues)
        refs = self._check_inputs(problems)
        ttl = self._check_ttl(problems)
        if not isinstance(self.description, str) or not self.description.strip():
            problems.append(
                self._problem("description", "missing_description", "expected a non-empty text")
            )
        if problems:
            raise FeatureDefinitionError(problems)
        assert transform is not None
        assert refs is not None
        assert ttl is not None
        object.__setattr__(self, "input_refs", refs)
        object.__setattr__(self, "transform_value", transform)
        object.__setattr__(self, "ttl_value", ttl)
        object.__setattr__(self, "name", self._derive_name(transform, refs))

    def _check_inputs(self, problems: list[Problem]) -> tuple[InputRef, ...] | None:
        refs: list[InputRef] = []
        bad = False
        for text in self.inputs:
            ref, errors = parse_input(text)
            problems.extend(self._problem("inputs", "unknown_input", e) for e in errors)
            bad = bad or ref is None
            if ref is not None:
                refs.append(ref)
        cls = TRANSFORMS.get(self.transform)
        if cls is not None and len(self.inputs) != len(cls.roles):
            problems.append(
                self._problem(
                    "inputs",
                    "wrong_input_count",
                    f"transform {cls.key} takes {len(cls.roles)} input(s) "
                    f"{list(cls.roles)}, received {len(self.inputs)}",
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

    def _check_ttl(self, problems: list[Problem]) -> pd.Timedelta | None:
        try:
            return parse_window(self.ttl, allow_obs=False).delta
        except ValueError as exc:
            problems.append(self._problem("ttl", "bad_ttl", str(exc)))
            return None

    def _derive_name(self, transform: Transform, refs: tuple[InputRef, ...]) -> str:
        derived = transform.name([self.repo.token(ref.terms[0]) for ref in refs])
        name = f"{self.family}.{derived}"
        if not _NAME.match(derived) or not is_feature(name):
            raise FeatureDefinitionError(
                [
                    self._problem(
                        "inputs",
                        "bad_name",
                        f"derived name {derived!r} is not lowercase letters, digits and '_'",
                    )
                ]
            )
        return name

    def canonical(self) -> dict[str, Any]:
        """A JSON-ready description (used by the definitions hash and the manifest)."""
        labels = self.transform_value.labels()
        labels.pop("window", None)
        return {
            "name": self.name,
            "family": self.family,
            "transform": self.transform,
            "inputs": list(self.inputs),
            "window": self.window,
            "ttl": self.ttl,
            "params": {k: text or "false" for k, text in sorted(labels.items())},
            "description": self.description,
        }


@dataclass(frozen=True, kw_only=True)
class FeatureSet:
    """Validated definitions, the repository they belong to and the venue preferences of
    tables with venues.

    Attributes:
        definitions: the features, in file order (files sorted by name).
        repo: the repository: families, name tokens, price venues.
        sources: venue preference per table, best first.
    """

    definitions: tuple[FeatureDefinition, ...]
    repo: FeatureRepo = field(hash=False)
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

    @property
    def family_names(self) -> tuple[str, ...]:
        """The families declared in the repository, in declared order."""
        return self.repo.family_names

    @property
    def daily_venues(self) -> tuple[str, ...]:
        """The repository's venue preference of daily bars, best first."""
        return tuple(self.repo.daily_venues)

    @property
    def hourly_venues(self) -> tuple[str, ...]:
        """The repository's venue preference of hourly bars, best first."""
        return tuple(self.repo.hourly_venues)

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
                detail += (
                    f"; price venues come from [prices] in {REPO_FILE} (the daily_venues and "
                    "hourly_venues settings override them)"
                )
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
        wrong = venue_list_problem(venues)
        if wrong is not None:
            problems.append(
                Problem(
                    source=src,
                    count=1,
                    rule="bad_venues",
                    detail=wrong,
                    line=keys.get("venues", line),
                )
            )
            continue
        found[table] = tuple(body["venues"])
    return found


def _load_file(
    path: Path, repo: FeatureRepo, problems: list[Problem]
) -> tuple[list[FeatureDefinition], dict[str, tuple[str, ...]]]:
    read = read_toml(path, problems)
    if read is None:
        return [], {}
    data, text = read
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
    if not isinstance(family, str) or family not in repo.families:
        problems.append(
            Problem(
                str(path),
                "unknown_family",
                1,
                f"expected family = one of {list(repo.families)} (the [families] of "
                f"{REPO_FILE}), received {family!r}",
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
        definitions.extend(_load_feature(path, family, repo, body, line, keys, problems))
    return definitions, sources


def _load_feature(
    path: Path,
    family: str | None,
    repo: FeatureRepo,
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
                    repo=repo,
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
    """Load and validate ``repo.toml`` and every family file (``*.toml``) in ``directory``.

    Raises:
        FeatureDefinitionError: one error listing every problem of every file, each with
            its file and line: a missing or invalid ``repo.toml`` (reported alone, since the
            family files are checked against it), TOML syntax, unknown keys, families not
            declared in ``repo.toml``, unknown inputs or transforms, bad windows, TTLs or
            parameters, duplicate derived names, venue preferences missing or declared
            twice with different values.
    """
    problems: list[Problem] = []
    if not directory.is_dir():
        raise FeatureDefinitionError(
            [Problem(str(directory), "missing_folder", 1, "expected a folder of *.toml files")]
        )
    repo = read_repo(directory / REPO_FILE, problems)
    paths = sorted(p for p in directory.glob("*.toml") if p.name != REPO_FILE)
    if not paths:
        problems.append(
            Problem(str(directory), "no_definitions", 0, "expected at least one family file")
        )
    if repo is None:
        raise FeatureDefinitionError(problems)
    definitions: list[FeatureDefinition] = []
    sources: dict[str, tuple[str, ...]] = {}
    declared: dict[str, str] = {}
    for path in paths:
        found, file_sources = _load_file(path, repo, problems)
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
    return FeatureSet(
        definitions=tuple(definitions), repo=repo, sources=MappingProxyType(dict(sources))
    )


def _dedupe(problems: Sequence[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
