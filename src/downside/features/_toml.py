"""Reading definition files: TOML text plus the line of every key, for error messages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from downside.errors import Problem

_SYNTAX_LINE = re.compile(r"line (\d+)")
_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r'^\s*((?:[A-Za-z0-9_\-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"))*)\s*=')
_PART = re.compile(r'"([^"]*)"|([A-Za-z0-9_\-]+)')


def read_toml(path: Path, problems: list[Problem]) -> tuple[dict[str, Any], str] | None:
    """The parsed file and its text, or ``None`` after adding a ``toml_syntax`` problem
    (with the line TOML reports)."""
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = _SYNTAX_LINE.search(str(exc))
        problems.append(
            Problem(
                str(path),
                "toml_syntax",
                1,
                f"cannot parse TOML: {exc}",
                line=int(match.group(1)) if match else None,
            )
        )
        return None


def _dotted(text: str) -> str:
    return ".".join(quoted or bare for quoted, bare in _PART.findall(text))


def key_lines(text: str) -> dict[str, int]:
    """Line of every table header and key of a file of plain tables, by dotted path:
    ``prices`` for ``[prices]``, ``prices.daily_venues`` for a key in it,
    ``tokens.ohlcv_daily.close`` for ``ohlcv_daily.close = ...`` under ``[tokens]`` (quoted
    and bare keys alike). The first line wins where a path repeats."""
    found: dict[str, int] = {}
    prefix = ""
    for number, line in enumerate(text.splitlines(), start=1):
        table = _TABLE.match(line)
        if table is not None:
            prefix = _dotted(table.group(1))
            found.setdefault(prefix, number)
            continue
        key = _KEY.match(line)
        if key is not None:
            path = _dotted(key.group(1))
            found.setdefault(f"{prefix}.{path}" if prefix else path, number)
    return found
