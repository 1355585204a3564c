"""Reader for the tidy file layout: one ``<table>.parquet`` or ``<table>.csv`` per table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from downside.errors import Problem, SchemaError
from downside.sources._schema import TABLES

DATA_SUFFIXES = (".parquet", ".csv")


@dataclass(frozen=True)
class RawFile:
    """One raw table read from a file, not yet validated."""

    table: str
    path: Path
    frame: pd.DataFrame


def _read_one(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    if "ts" in frame.columns:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=False, format="ISO8601")
    return frame


def read_files(directory: Path) -> list[RawFile]:
    """Read every table file in ``directory``.

    Files named after a known table (see :data:`downside.sources.TABLES`) are read;
    other ``.parquet``/``.csv`` files are an error, so nothing is skipped silently.
    Timestamps in CSV files must carry an offset (``2024-01-01T00:00:00Z``); naive
    ones are rejected by validation in the store.

    Raises:
        SchemaError: the folder is missing, holds no table file, holds unknown data
            files, or holds the same table twice (``.parquet`` and ``.csv``).
    """
    if not directory.is_dir():
        raise SchemaError(
            [Problem(str(directory), "missing_folder", 1, "expected a folder of table files")]
        )
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix not in DATA_SUFFIXES:
            continue
        if path.stem not in TABLES:
            problems.append(
                Problem(
                    str(path),
                    "unknown_table",
                    1,
                    f"expected a file named after a table ({', '.join(sorted(TABLES))}); "
                    "rename or move the file",
                )
            )
        elif path.stem in found:
            problems.append(
                Problem(
                    str(path),
                    "duplicate_table",
                    1,
                    f"table {path.stem} also read from {found[path.stem].name}; keep one",
                )
            )
        else:
            found[path.stem] = path
    if not found and not problems:
        problems.append(
            Problem(
                str(directory),
                "no_tables",
                0,
                "expected at least one <table>.parquet or <table>.csv, "
                f"tables: {', '.join(sorted(TABLES))}",
            )
        )
    if problems:
        raise SchemaError(problems)
    out = []
    for table, path in found.items():
        try:
            frame = _read_one(path)
        except (OSError, ValueError) as exc:
            raise SchemaError(
                [Problem(str(path), "unreadable_file", 1, f"cannot read file: {exc}")]
            ) from exc
        out.append(RawFile(table, path, frame))
    return out
