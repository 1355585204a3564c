"""Reader for the tidy file layout: one ``<table>.parquet`` or ``<table>.csv`` per table.

Tables may sit in subfolders (the shared data keeps ``implied_vol/implied_vol_daily.parquet``
beside the top-level files); the folder is searched recursively, symbolic links to folders
included. Hidden files and folders (``.name``) are not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from downside.errors import Problem, SchemaError
from downside.sources._schema import TABLES

DATA_SUFFIXES = (".parquet", ".csv")
"""Suffixes of table files, matched case-insensitively (``.Parquet`` is read)."""


@dataclass(frozen=True)
class RawFile:
    """One raw table read from a file, not yet validated."""

    table: str
    path: Path
    frame: pd.DataFrame


def _read_one(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    if "ts" in frame.columns:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=False, format="ISO8601")
    return frame


def _visible_files(directory: Path) -> list[Path]:
    """Every file below ``directory`` that is not hidden, sorted; each folder read once."""
    files: list[Path] = []
    seen: set[str] = set()
    for root, folders, names in os.walk(directory, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        folders[:] = [name for name in folders if not name.startswith(".")]
        files.extend(Path(root, name) for name in names if not name.startswith("."))
    return sorted(files)


def _problem(path: Path, stem: str, found: dict[str, Path], directory: Path) -> Problem | None:
    """What is wrong with reading ``path`` as table ``stem``, if anything."""
    if path.suffix.lower() not in DATA_SUFFIXES:
        suffix = f"suffix {''.join(path.suffixes)!r}" if path.suffixes else "no suffix"
        return Problem(
            str(path),
            "unsupported_format",
            1,
            f"file named after table {stem} has {suffix}; expected "
            f"{stem}.parquet or {stem}.csv (any case); convert or unpack it, or rename it "
            "if it is not a table",
        )
    if stem not in TABLES:
        return Problem(
            str(path),
            "unknown_table",
            1,
            f"expected a file named after a table ({', '.join(sorted(TABLES))}); "
            "rename or move the file",
        )
    if stem in found:
        return Problem(
            str(path),
            "duplicate_table",
            1,
            f"table {stem} is also in {found[stem].relative_to(directory)}; each table is "
            "read from one file in the folder and its subfolders: keep one",
        )
    return None


def read_files(directory: Path) -> list[RawFile]:
    """Read every table file in ``directory`` and its subfolders.

    A file is a table file when its suffix is ``.parquet`` or ``.csv`` in any case
    (``.Parquet``); it must then be named after a known table (see
    :data:`downside.sources.TABLES`). A file named after a table with another suffix
    (``ohlcv_daily.csv.gz``) is an error too, so no table is skipped silently; other files
    (``README.md``) and hidden ones are not read. Each table must come from exactly one
    file: the same table in two subfolders is an error naming both. Timestamps in CSV
    files must carry an offset (``2024-01-01T00:00:00Z``); naive ones are rejected by
    validation in the store.

    Args:
        directory: the folder to read.

    Returns:
        One :class:`RawFile` per table, in the order of their paths.

    Raises:
        SchemaError: the folder is missing, holds no table file, holds unknown data
            files or files of a table in an unsupported format, holds the same table
            twice (``.parquet`` and ``.csv``, or in two subfolders), or a file cannot be
            read (every problem is listed).
    """
    if not directory.is_dir():
        raise SchemaError(
            [Problem(str(directory), "missing_folder", 1, "expected a folder of table files")]
        )
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for path in _visible_files(directory):
        is_data = path.suffix.lower() in DATA_SUFFIXES
        stem = path.stem if is_data else path.name.split(".", 1)[0]
        if not is_data and stem not in TABLES:
            continue  # not a table file (README.md, notes)
        problem = _problem(path, stem, found, directory)
        if problem is None:
            found[stem] = path
        else:
            problems.append(problem)
    if not found and not problems:
        problems.append(
            Problem(
                str(directory),
                "no_tables",
                0,
                "expected at least one <table>.parquet or <table>.csv in the folder or its "
                f"subfolders, tables: {', '.join(sorted(TABLES))}",
            )
        )
    if problems:
        raise SchemaError(problems)
    out = []
    first_error: Exception | None = None
    for table, path in found.items():
        try:
            out.append(RawFile(table, path, _read_one(path)))
        except (OSError, ValueError) as exc:
            first_error = first_error or exc
            problems.append(Problem(str(path), "unreadable_file", 1, f"cannot read file: {exc}"))
    if problems:
        raise SchemaError(problems) from first_error
    return out
