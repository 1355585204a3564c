"""`downside ingest files DIR`: validate and ingest a folder of table files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from downside.cli._app import DATA_PANEL, console, handle_errors, sub_app, warn
from downside.cli._output import Col, Format, FormatOption, emit, show_table
from downside.cli._progress import bars
from downside.config import load_settings

ingest_app = sub_app("ingest", "Ingest raw data into the point-in-time store.", DATA_PANEL)


@ingest_app.command("files")
@handle_errors
def ingest_files(
    directory: Annotated[Path, typer.Argument(help="Folder of <table>.parquet|csv files.")],
    allow_null_updates: Annotated[
        bool,
        typer.Option(
            "--allow-null-updates",
            help="Let a missing value (NaN) in a file replace a value already stored "
            "(refused by default: rule null_overwrites_value).",
        ),
    ] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Validate and ingest every table file of DIRECTORY (idempotent and atomic)."""
    from downside import api

    with bars() as progress:
        bar = progress.add(f"reading {directory}")

        def show(step: str, done: int, total: int) -> None:
            bar.update(completed=done, total=total, description=step)

        report = api.ingest_files(
            directory,
            allow_null_updates=allow_null_updates,
            progress=show,
            settings=load_settings(),
        )
        bar.finish(f"ingested {len(report.tables)} table(s)")
    for problem in report.warnings:
        warn(problem.render())
    frame = report.to_frame()
    document = {
        "origin": report.origin,
        "version_before": report.version_before,
        "version_after": report.version_after,
        "changed": report.changed,
        "tables": frame,
        "warnings": [problem.render() for problem in report.warnings],
    }
    if emit(fmt, frame, document):
        return
    root = Path(directory)
    frame["file"] = [_relative(Path(source), root) for source in frame["source"]]
    obvious = all(
        Path(source).parent == root and Path(source).stem == table
        for table, source in zip(frame["table"], frame["source"], strict=True)
    )
    cols = [
        Col("table", keep=True),
        *([] if obvious else [Col("file", kind="wrap", optional=True)]),
        Col("rows_read", "read", "int"),
        Col("inserted", "new", "int"),
        Col("updated", "changed", "int"),
        Col("unchanged", "same", "int"),
        Col("total_rows", "total", "int"),
    ]
    show_table(frame, cols, f"ingested {directory}")
    console.print(
        f"store version {report.version_before} -> {report.version_after}"
        + ("" if report.changed else " (nothing changed)"),
        markup=False,
        highlight=False,
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
