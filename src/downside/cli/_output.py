"""Results on stdout (tables that fit the terminal, JSON, CSV) and output files.

Tables never truncate a number: every numeric cell is formatted here, columns are as
wide as their widest cell, optional columns are left out and a table still wider than
the terminal is split into parts that repeat the key columns. JSON and CSV carry the
unformatted values; timestamps are ISO 8601 UTC (``2025-07-01T00:00:00Z``), missing
values are ``null`` (JSON) or empty (CSV).

Output files and folders are written atomically (a temporary sibling, then a rename).
An existing file or a non-empty folder is refused unless ``--force``, and nothing is
ever written inside the store folder (``$DOWNSIDE_HOME/store``).
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from downside.cli._app import CliInputError, console, note
from downside.config import load_settings

if TYPE_CHECKING:
    import pandas as pd


class Format(enum.StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        help="table (for people), json or csv (for programs: stdout then holds only the "
        "data; progress and notes go to stderr).",
        case_sensitive=False,
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an existing output file or non-empty folder.")
]

MISSING = "-"
"""How a table shows a missing value."""


# ---------------------------------------------------------------------- JSON and CSV


def iso(value: Any) -> str:
    """A timestamp as ISO 8601 UTC: ``2025-07-01T00:00:00Z`` (naive times are UTC)."""
    import pandas as pd

    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat().replace("+00:00", "Z")


def _is_missing(value: Any) -> bool:
    """Whether a scalar is None, NaN, NaT or NA."""
    import pandas as pd

    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def jsonable(value: Any) -> Any:
    """``value`` with frames as lists of row objects, timestamps as ISO 8601 UTC text,
    numpy scalars as Python numbers, and missing or non-finite numbers as None."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [
            {str(k): jsonable(v) for k, v in zip(value.columns, row, strict=True)}
            for row in value.itertuples(index=False, name=None)
        ]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | pd.Index | pd.Series | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp | datetime | np.datetime64):
        return iso(value)
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for CSV: timestamps as ISO 8601 UTC text, lists joined by
    ``;``."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or series.dtype.kind == "M":
            out[col] = [None if pd.isna(v) else iso(v) for v in series]
        elif series.dtype == object:
            out[col] = [
                ";".join(map(str, v))
                if isinstance(v, list | tuple)
                else iso(v)
                if isinstance(v, pd.Timestamp)
                else v
                for v in series
            ]
    return out


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout (nothing else is printed there)."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def print_csv(frame: pd.DataFrame) -> None:
    """``frame`` as CSV with a header on stdout (nothing else is printed there)."""
    sys.stdout.write(csv_frame(frame).to_csv(index=False, lineterminator="\n"))
    sys.stdout.flush()


def emit(fmt: Format, rows: pd.DataFrame, document: Any = None) -> bool:
    """Print a result for programs: ``document`` (default: ``rows``) as JSON, or
    ``rows`` as CSV. Returns False for ``table``: the caller draws its tables."""
    if fmt is Format.json:
        print_json(rows if document is None else document)
        return True
    if fmt is Format.csv:
        print_csv(rows)
        return True
    return False


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Col:
    """A table column.

    Attributes:
        key: column of the frame.
        header: shown header (default: ``key``).
        kind: how cells are formatted: ``text``, ``wrap`` (long text that may fold),
            ``int``, ``num``, ``pct`` (fraction as percent), ``pts`` (fraction as signed
            probability points), ``skill`` (fraction as signed percent), ``price``,
            ``time``, ``day``.
        keep: repeated in every part when a wide table is split.
        optional: left out when the table is wider than the terminal (before splitting).
    """

    key: str
    header: str | None = None
    kind: str = "text"
    keep: bool = False
    optional: bool = False

    @property
    def title(self) -> str:
        return self.key if self.header is None else self.header

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "num", "pct", "pts", "skill", "price")


def fmt_num(value: float) -> str:
    """A number in at most about 10 characters, never in scientific notation above 1."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def cell(value: Any, kind: str) -> str:
    """One table cell."""
    if _is_missing(value):
        return MISSING
    if kind == "int":
        return f"{int(value):,}"
    if kind == "num":
        return fmt_num(float(value))
    if kind == "pct":
        return f"{100 * float(value):.1f}%"
    if kind in ("pts", "skill"):
        text = f"{100 * float(value):+.1f}"
        text = "0.0" if text in ("+0.0", "-0.0") else text
        return text + ("%" if kind == "skill" else "")
    if kind == "price":
        return f"{float(value):,.2f}"
    if kind == "time":
        return f"{value:%Y-%m-%d %H:%M}"
    if kind == "day":
        return f"{value:%Y-%m-%d}"
    return str(value)


WRAP_WIDTH = 20
"""Width a ``wrap`` column is counted with when fitting a table (it folds beyond)."""


def _width(cols: Sequence[Col], widths: Mapping[str, int]) -> int:
    """Width of a rich table with these columns (padding 1 on each side, one rule
    between and around columns)."""
    return sum(widths[c.key] for c in cols) + 3 * len(cols) + 1


def _parts(cols: Sequence[Col], widths: Mapping[str, int], limit: int) -> list[list[Col]]:
    """The columns in groups that fit ``limit``; each group starts with the kept ones."""
    if _width(cols, widths) <= limit:
        return [list(cols)]
    keep = [c for c in cols if c.keep]
    parts: list[list[Col]] = []
    current: list[Col] = []
    for col in (c for c in cols if not c.keep):
        if current and _width([*keep, *current, col], widths) > limit:
            parts.append(current)
            current = []
        current.append(col)
    if current:
        parts.append(current)
    return [[*keep, *part] for part in parts]


def _layout(
    frame: pd.DataFrame, cols: Sequence[Col]
) -> tuple[dict[str, list[str]], dict[str, int], dict[str, int]]:
    """Cells, natural widths, and the widths used to fit the table (``wrap`` columns
    counted at most :data:`WRAP_WIDTH`)."""
    cells = {c.key: [cell(v, c.kind) for v in frame[c.key]] for c in cols}
    widths = {c.key: max([len(c.title), *(len(v) for v in cells[c.key])]) for c in cols}
    counted = {
        c.key: min(widths[c.key], WRAP_WIDTH) if c.kind == "wrap" else widths[c.key] for c in cols
    }
    return cells, widths, counted


def fits(frame: pd.DataFrame, cols: Sequence[Col]) -> bool:
    """Whether every column fits the terminal in one table (``wrap`` columns with at
    least :data:`WRAP_WIDTH` characters)."""
    return _width(cols, _layout(frame, cols)[2]) <= console.width


def show_table(
    frame: pd.DataFrame,
    cols: Sequence[Col],
    title: str | None = None,
    *,
    caption: str | Callable[[Sequence[str]], str] | None = None,
) -> None:
    """Print ``frame`` as a table that fits the terminal: optional columns are left out
    (from the right) while it is too wide, then the rest is split into parts that repeat
    the kept columns. A callable ``caption`` gets the keys of the columns shown."""
    cells, widths, counted = _layout(frame, cols)
    shown = list(cols)
    while _width(shown, counted) > console.width and any(c.optional for c in shown):
        shown.remove(next(c for c in reversed(shown) if c.optional))
    if callable(caption):
        caption = caption([c.key for c in shown])
    parts = _parts(shown, counted, console.width)
    for i, part in enumerate(parts, start=1):
        suffix = f" ({i}/{len(parts)})" if len(parts) > 1 else ""
        table = Table(
            title=None if title is None else Text(title + suffix),
            caption=Text(caption) if caption is not None and i == len(parts) else None,
            caption_justify="left",
        )
        for col in part:
            if col.kind == "wrap":
                table.add_column(col.title, overflow="fold")
            else:
                table.add_column(
                    col.title,
                    justify="right" if col.numeric else "left",
                    no_wrap=True,
                    min_width=widths[col.key],
                )
        for r in range(len(frame)):
            table.add_row(*(Text(cells[c.key][r]) for c in part))
        console.print(table, markup=False, highlight=False)


# ---------------------------------------------------------------------- output paths


def _store_dir() -> Path:
    return load_settings().store_dir.expanduser().resolve()


def _check_not_in_store(option: str, path: Path) -> Path:
    resolved = path.expanduser().resolve()
    store = _store_dir()
    if resolved == store or store in resolved.parents:
        raise CliInputError(
            option,
            f"{path} is inside the store folder {store}, which only downside writes; "
            "choose a path outside it",
        )
    return resolved


def check_out_file(option: str, path: Path, *, force: bool, suffixes: Sequence[str]) -> Path:
    """Check a file to be written: a known suffix, not a folder, not inside the store,
    absent unless ``force``.

    Raises:
        CliInputError: naming ``option`` and the expected form.
    """
    if path.suffix.lower() not in suffixes:
        raise CliInputError(
            option, f"expected a file name ending in {' or '.join(suffixes)}, got {path.name!r}"
        )
    resolved = _check_not_in_store(option, path)
    if resolved.is_dir():
        raise CliInputError(option, f"{path} is a folder; expected a file path")
    if resolved.exists() and not force:
        raise CliInputError(
            option, f"{path} exists; pass --force to replace it, or choose another path"
        )
    return resolved


def check_out_dir(option: str, path: Path, *, force: bool) -> Path:
    """Check a folder to be written: not a file, not inside the store, absent or empty
    unless ``force``.

    Raises:
        CliInputError: naming ``option`` and the expected form.
    """
    resolved = _check_not_in_store(option, path)
    if resolved.exists() and not resolved.is_dir():
        raise CliInputError(option, f"{path} is a file; expected a folder (new or empty)")
    if resolved.is_dir() and any(resolved.iterdir()) and not force:
        raise CliInputError(
            option,
            f"folder {path} is not empty; pass --force to replace it, or choose a new or "
            "empty folder",
        )
    return resolved


def _umask_mode(mode: int) -> int:
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces
    ``path`` in one rename, when it fails it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o666))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; when the block succeeds it takes the
    place of ``path`` (an existing folder is replaced), when it fails it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o777))
        if path.is_dir() and any(path.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


FRAME_SUFFIXES = (".parquet", ".csv")


def write_frame(frame: pd.DataFrame, out: Path) -> None:
    """Write a frame as Parquet or CSV (by suffix) atomically and note it on stderr;
    CSV timestamps are ISO 8601 UTC. ``out`` was checked with :func:`check_out_file`."""
    with atomic_file(out) as tmp:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            csv_frame(frame).to_csv(tmp, index=False, lineterminator="\n")
    note(f"wrote {len(frame):,} rows to {out}")
