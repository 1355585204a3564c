"""The feature repository's own file, ``repo.toml``: families, name tokens, price venues.

It sits beside the family files and looks like::

    [families]                    # in this order; a description each
    leverage = "open interest, estimated leverage and liquidations"

    [tokens]                      # what an input contributes to derived names
    open_interest_daily.open_interest_usd = "oi"
    macro_rates_daily.value = "{sel}"   # the selector's value, lowercased: rates.dgs2
    ohlcv_daily.close = ""        # nothing: prices are the default subject (return_7d)

    [prices]                      # venue preference of the stitched bars, best first
    daily_venues = ["coinbase_spot", "binance_spot"]
    hourly_venues = ["binance_spot"]

A column without a token is named by the column itself; a selector's value is appended
(``value_dgs2``) unless the token places it with ``{sel}``. The ``daily_venues`` and
``hourly_venues`` settings, when set, override ``[prices]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from downside.errors import FeatureDefinitionError, Problem
from downside.features._inputs import InputTerm, numeric_columns, selector_keys
from downside.features._toml import key_lines, read_toml
from downside.sources import TABLES
from downside.vocabulary import family_of, is_feature

REPO_FILE = "repo.toml"
"""Name of the repository file in a folder of feature definitions."""

_SECTIONS = ("families", "tokens", "prices")
_PRICE_KEYS = ("daily_venues", "hourly_venues")
_SEL = "{sel}"
_TOKEN = re.compile(r"^[a-z0-9_]*$")


def venue_list_problem(value: object) -> str | None:
    """What is wrong with a venue preference, or ``None`` when it is a non-empty list of
    distinct venue names."""
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) and v for v in value)
        or len(set(value)) != len(value)
    ):
        return f"expected a non-empty list of distinct venue names, received {value!r}"
    return None


def _family_problem(name: object, description: object) -> str | None:
    probe = f"{name}.x"
    if not isinstance(name, str) or not is_feature(probe) or family_of(probe) != name:
        return (
            "family names are lowercase letters, digits and '_' starting with a letter "
            f"(the prefix of '<family>.<name>' columns), received {name!r}"
        )
    if not isinstance(description, str) or not description.strip():
        return f"family {name}: expected a non-empty description, received {description!r}"
    return None


def _token_problem(key: str, token: object) -> tuple[str, str] | None:
    table, _, column = key.partition(".")
    if table not in TABLES or column not in numeric_columns(table):
        detail = (
            f"expected 'table.column' naming a numeric column of a known table, received {key!r}"
        )
        return "unknown_token_input", detail
    if not isinstance(token, str):
        return "bad_token", f"{key}: expected a text token, received {token!r}"
    rest = token.replace(_SEL, "", 1)
    if not _TOKEN.match(rest):
        return "bad_token", (
            f"{key}: expected lowercase letters, digits and '_' (and at most one {_SEL}), "
            f"received {token!r}"
        )
    if rest != token and not selector_keys(table):
        return "bad_token", f"{key}: {table} takes no selector, so {_SEL} has nothing to show"
    return None


@dataclass(frozen=True, kw_only=True)
class FeatureRepo:
    """The repository's families, name tokens and price venues, validated when constructed.

    Attributes:
        families: family name -> description, in declared order.
        tokens: ``table.column`` -> what the input contributes to derived names (see the
            module docstring).
        daily_venues: venue preference of daily bars, best first.
        hourly_venues: venue preference of hourly bars, best first.
        source: the file (for error messages).
        key_lines: line of each dotted key in ``source`` (``tokens.ohlcv_daily.close``).

    Raises:
        FeatureDefinitionError: every problem found, with file and line: no families,
            bad family names or descriptions, tokens of unknown inputs, bad tokens, two
            columns of one table with the same token, bad venue lists.
    """

    families: Mapping[str, str] = field(hash=False)
    tokens: Mapping[str, str] = field(default_factory=dict, hash=False)
    daily_venues: Sequence[str]
    hourly_venues: Sequence[str]
    source: str = "<memory>"
    key_lines: Mapping[str, int] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def _problem(self, key: str, rule: str, detail: str) -> Problem:
        section = key.split(".", 1)[0]
        line = self.key_lines.get(key, self.key_lines.get(section))
        return Problem(self.source, rule, 1, detail, line=line)

    def __post_init__(self) -> None:
        problems = [*self._check_families(), *self._check_tokens(), *self._check_venues()]
        if problems:
            raise FeatureDefinitionError(problems)
        object.__setattr__(self, "families", MappingProxyType(dict(self.families)))
        object.__setattr__(self, "tokens", MappingProxyType(dict(self.tokens)))
        object.__setattr__(self, "daily_venues", tuple(self.daily_venues))
        object.__setattr__(self, "hourly_venues", tuple(self.hourly_venues))
        object.__setattr__(self, "key_lines", MappingProxyType(dict(self.key_lines)))

    def _check_families(self) -> list[Problem]:
        if not self.families:
            detail = 'declare at least one family under [families]: name = "description"'
            return [self._problem("families", "no_families", detail)]
        problems = []
        for name, description in self.families.items():
            found = _family_problem(name, description)
            if found is not None:
                problems.append(self._problem(f"families.{name}", "bad_family", found))
        return problems

    def _check_tokens(self) -> list[Problem]:
        problems = []
        seen: dict[tuple[str, str], str] = {}
        for key, token in self.tokens.items():
            found = _token_problem(key, token)
            if found is not None:
                problems.append(self._problem(f"tokens.{key}", *found))
                continue
            table = key.split(".", 1)[0]
            first = seen.setdefault((table, token), key)
            if token and first != key:
                detail = (
                    f"{key} and {first} are both named {token!r}: their features would get "
                    "the same names; give each column of a table its own token"
                )
                problems.append(self._problem(f"tokens.{key}", "duplicate_token", detail))
        return problems

    def _check_venues(self) -> list[Problem]:
        problems = []
        for key in _PRICE_KEYS:
            detail = venue_list_problem(getattr(self, key))
            if detail is not None:
                problems.append(self._problem(f"prices.{key}", "bad_venues", f"{key}: {detail}"))
        return problems

    @property
    def family_names(self) -> tuple[str, ...]:
        """The declared families, in order."""
        return tuple(self.families)

    def token(self, term: InputTerm) -> str:
        """What ``term`` contributes to derived names: its token (the column's name when
        there is none) with the selector's value, lowercased, in place of ``{sel}`` or
        appended."""
        base = self.tokens.get(f"{term.table}.{term.column}", term.column)
        value = "_".join(v.lower() for _, v in term.selector)
        if _SEL in base:
            return base.replace(_SEL, value)
        return f"{base}_{value}" if value else base


def _at(path: Path, rule: str, detail: str, line: int | None) -> Problem:
    return Problem(str(path), rule, 1, detail, line=line)


def _flat_tokens(
    path: Path, raw: Mapping[str, Any], lines: Mapping[str, int], problems: list[Problem]
) -> dict[str, Any]:
    """``[tokens]`` as ``table.column`` -> token, whether written ``table.column = ...``,
    ``"table.column" = ...`` or under ``[tokens.table]``."""
    flat: dict[str, Any] = {}
    for outer, value in raw.items():
        pairs = value.items() if isinstance(value, dict) else [(None, value)]
        for inner, token in pairs:
            key = outer if inner is None else f"{outer}.{inner}"
            if key in flat:
                detail = f"{key} is declared twice (quoted and dotted); keep one"
                problems.append(_at(path, "duplicate_token", detail, lines.get(f"tokens.{key}")))
            flat[key] = token
    return flat


def load_repo(path: Path) -> FeatureRepo:
    """Load and validate a ``repo.toml``.

    Raises:
        FeatureDefinitionError: every problem of the file, each with its line: a missing
            file, TOML syntax, unknown keys, sections that are not tables, and the
            problems :class:`FeatureRepo` finds.
    """
    problems: list[Problem] = []
    repo = read_repo(path, problems)
    if repo is None:
        raise FeatureDefinitionError(problems)
    return repo


def read_repo(path: Path, problems: list[Problem]) -> FeatureRepo | None:
    """:func:`load_repo` adding its problems to ``problems``; ``None`` when there are any."""
    if not path.is_file():
        detail = (
            f"expected {REPO_FILE} declaring [families], [tokens] and [prices] beside the "
            "family files; start from the one in the repository's features/ folder"
        )
        problems.append(_at(path, "missing_repo", detail, None))
        return None
    read = read_toml(path, problems)
    if read is None:
        return None
    data, text = read
    lines = key_lines(text)
    local = [
        _at(
            path,
            "unknown_key",
            f"{REPO_FILE} holds the tables {list(_SECTIONS)}, received {key!r}",
            lines.get(key),
        )
        for key in sorted(set(data) - set(_SECTIONS))
    ]
    sections: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        body = data.get(name, {})
        if not isinstance(body, dict):
            detail = f"expected a [{name}] table, received {body!r}"
            local.append(_at(path, "bad_section", detail, lines.get(name)))
            body = {}
        sections[name] = body
    prices = sections["prices"]
    local.extend(
        _at(
            path,
            "unknown_key",
            f"[prices] takes {list(_PRICE_KEYS)}, received {key!r}",
            lines.get(f"prices.{key}"),
        )
        for key in sorted(set(prices) - set(_PRICE_KEYS))
    )
    tokens = _flat_tokens(path, sections["tokens"], lines, local)
    try:
        repo = FeatureRepo(
            families=sections["families"],
            tokens=tokens,
            daily_venues=prices.get("daily_venues", ()),
            hourly_venues=prices.get("hourly_venues", ()),
            source=str(path),
            key_lines=lines,
        )
    except FeatureDefinitionError as exc:
        local.extend(exc.problems)
        repo = None
    problems.extend(local)
    return None if local else repo
