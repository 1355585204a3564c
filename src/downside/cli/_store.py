"""`downside store ...`: the store's versions: history, rollback, delete, verify, vacuum.

Every change of the stored data is a version (see :meth:`downside.store.Store.history`).
These commands list them, restore one, remove rows with a recorded reason, check the
data files against their recorded SHA-256 digests, and drop old versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from downside.cli._app import DATA_PANEL, CliInputError, console, error, handle_errors, sub_app
from downside.config import load_settings

if TYPE_CHECKING:
    import pandas as pd

    from downside.store import Store, StoreVersion

store_app = sub_app(
    "store",
    "The store's versions: history, rollback, delete rows, verify files, vacuum.",
    DATA_PANEL,
)


def _store() -> Store:
    from downside.store import Store

    return Store.from_settings(load_settings())


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _when(text: str | None, option: str) -> pd.Timestamp | None:
    import pandas as pd

    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError as exc:
        raise CliInputError(
            option, f"expected a date or time such as 2024-01-01, received {text!r}"
        ) from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _changes(version: StoreVersion) -> str:
    parts = []
    for table, change in sorted(version.changes.items()):
        counts = [
            f"{sign}{value:,}"
            for sign, value in (
                ("+", change.inserted),
                ("~", change.updated),
                ("-", change.deleted),
            )
            if value
        ]
        parts.append(f"{table} {' '.join(counts) or '0'}")
    return "; ".join(parts) or "-"


@store_app.command("history")
@handle_errors
def history_command(
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show the newest N versions.")
    ] = None,
) -> None:
    """List the store's versions, newest (the current one) first.

    Changes per table: +inserted, ~changed, -deleted rows.
    """
    from rich.table import Table

    versions = _store().history()
    if not versions:
        _say("the store has no versions yet: ingest data first (downside ingest files DIR)")
        return
    table = Table(title="store history", show_lines=False)
    for name, justify in (
        ("version", "right"),
        ("written (UTC)", "left"),
        ("operation", "left"),
        ("origin", "left"),
        ("changes", "left"),
        ("rows", "right"),
        ("reason", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for k, version in enumerate(versions[:limit]):
        table.add_row(
            f"{version.number}{' *' if k == 0 else ''}",
            f"{version.written_at:%Y-%m-%d %H:%M:%S}",
            version.operation,
            version.origin,
            _changes(version),
            f"{sum(version.tables.values()):,}",
            version.reason or "",
        )
    console.print(table, markup=False, highlight=False)
    _say(f"* current version, content id {versions[0].content}")


@store_app.command("rollback")
@handle_errors
def rollback_command(
    version: Annotated[
        int, typer.Argument(help="The version to restore (downside store history).")
    ],
    reason: Annotated[str | None, typer.Option(help="Why; kept in the history.")] = None,
) -> None:
    """Make the data of VERSION current again, byte for byte, as a new version.

    The restored files are checked against their SHA-256 digests first. History keeps
    every version, so a rollback can itself be rolled back.
    """
    store = _store()
    before = store.history()
    written = store.rollback(version, reason=reason)
    if before and written.number == before[0].number:
        _say(f"version {version} holds the current data already; nothing was written")
        return
    _say(f"restored version {version} as version {written.number} ({_changes(written)})")


@store_app.command("delete")
@handle_errors
def delete_command(
    table: Annotated[str, typer.Option("--table", help="Canonical table, e.g. ohlcv_daily.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the history.")],
    symbol: Annotated[
        str | None,
        typer.Option(help="Symbol (asset for etf_flows_daily, series for macro_rates_daily)."),
    ] = None,
    venue: Annotated[str | None, typer.Option(help="Venue, for tables keyed by venue.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First event time removed (UTC, inclusive).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Event times before this are removed (UTC).")
    ] = None,
    whole_table: Annotated[
        bool, typer.Option("--all", help="Drop the whole table (no other filter given).")
    ] = False,
) -> None:
    """Remove rows matching every filter given, as a new version with the reason."""
    filters = (symbol, venue, start, end)
    if whole_table and any(f is not None for f in filters):
        raise CliInputError("--all", "drops the whole table: give it without other filters")
    if not whole_table and all(f is None for f in filters):
        raise CliInputError(
            "--symbol/--venue/--from/--to",
            "give at least one filter, or --all to drop the whole table",
        )
    written = _store().delete(
        table,
        symbol=symbol,
        venue=venue,
        start=_when(start, "--from"),
        end=_when(end, "--to"),
        reason=reason,
    )
    _say(f"version {written.number}: {written.origin}: {_changes(written)}")


@store_app.command("verify")
@handle_errors
def verify_command(
    current_only: Annotated[
        bool, typer.Option("--current-only", help="Check the current version's files only.")
    ] = False,
) -> None:
    """Check every data file against its recorded size and SHA-256 (exit 1 if damaged)."""
    report = _store().verify(all_versions=not current_only)
    _say(
        f"checked {report.files} file(s), {report.bytes:,} bytes, of {len(report.versions)} "
        "version(s)"
    )
    if report.ok:
        _say("every file is intact")
        return
    for problem in report.problems:
        error(problem.render())
    intact = ", ".join(str(v) for v in report.intact) or "none"
    error(
        f"{len(report.problems)} damaged file(s); versions whose files are all intact: "
        f"{intact}; restore one with `downside store rollback N`, or drop a damaged table "
        "with `downside store delete --table T --all --reason TEXT` and ingest it again"
    )
    raise typer.Exit(1)


@store_app.command("vacuum")
@handle_errors
def vacuum_command(
    keep: Annotated[int, typer.Option("--keep", help="Versions to keep, the current included.")],
) -> None:
    """Remove all but the KEEP newest versions and the data files only they used."""
    report = _store().vacuum(keep=keep)
    removed = ", ".join(str(v) for v in report.removed) or "none"
    _say(
        f"kept versions {', '.join(str(v) for v in report.kept)}; removed {removed}; "
        f"deleted {report.files} file(s), {report.bytes:,} bytes"
    )
