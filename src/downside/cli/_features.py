"""`downside features list|export`: the feature definitions and point-in-time values."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from downside.cli import _params
from downside.cli._app import DATA_PANEL, CliInputError, handle_errors, note, sub_app
from downside.cli._cluster import ClusterOption, on_cluster
from downside.cli._output import (
    FRAME_SUFFIXES,
    Col,
    ForceOption,
    Format,
    FormatOption,
    check_out_file,
    emit,
    fits,
    show_table,
    write_frame,
)
from downside.cli._ready import require_store
from downside.config import load_settings

if TYPE_CHECKING:
    import pandas as pd

features_app = sub_app("features", "List and export point-in-time features.", DATA_PANEL)


@features_app.command("list")
@handle_errors
def features_list(fmt: FormatOption = Format.table) -> None:
    """List the feature definitions (validates them)."""
    import pandas as pd

    from downside.features import load_definitions

    settings = load_settings()
    definitions = load_definitions(settings.resolved_feature_dir)
    frame = pd.DataFrame(
        [
            {
                "name": d.name,
                "family": d.family,
                "inputs": list(d.inputs),
                "window": d.window,
                "ttl": d.ttl,
                "description": d.description,
            }
            for d in definitions
        ],
        columns=["name", "family", "inputs", "window", "ttl", "description"],
    )
    if emit(fmt, frame):
        return
    shown = frame.assign(inputs=[", ".join(v) for v in frame["inputs"]])
    title = f"{len(frame)} features from {settings.resolved_feature_dir}"
    wide = [
        Col("name", keep=True),
        Col("family", optional=True),
        Col("inputs", kind="wrap", optional=True),
        Col("window"),
        Col("ttl"),
        Col("description", kind="wrap"),
    ]
    if fits(shown, [c for c in wide if not c.optional]):
        show_table(shown, wide, title)
        return
    shown["feature"] = [
        f"{name}\n  {text}" for name, text in zip(frame["name"], frame["description"], strict=True)
    ]
    show_table(
        shown,
        [Col("feature", "feature, description", "wrap"), Col("window"), Col("ttl")],
        title,
    )


@features_app.command("export")
@handle_errors
def features_export(
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols, e.g. BTC,ETH.")],
    start: Annotated[str, typer.Option(help="First as-of date (UTC).")],
    end: Annotated[str, typer.Option(help="Last as-of date (UTC).")],
    out: Annotated[
        Path | None,
        typer.Option(help="Write a .parquet or .csv file (default: print the values)."),
    ] = None,
    freq: Annotated[str, typer.Option(help="1d or 1h.")] = "1d",
    cluster: ClusterOption = None,
    force: ForceOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Export point-in-time features: one row per symbol and as-of time (a missing or
    outdated feature cache is built first, on the cluster with --cluster)."""
    names = _params.symbols("--symbols", symbols)
    if freq not in ("1d", "1h"):
        raise CliInputError("--freq", f"expected 1d or 1h, got {freq!r}")
    first = _params.when("--start", start)
    last = _params.when("--end", end)
    if out is not None:
        check_out_file("--out", out, force=force, suffixes=FRAME_SUFFIXES)
    settings = load_settings({"cluster": cluster})
    require_store(settings)
    from downside.features import FeatureStore
    from downside.workflows._engine import building_on

    store = FeatureStore.from_settings(settings)
    with on_cluster(settings) as engine, building_on(store, engine):
        frame = store.export(names, first, last, freq)  # type: ignore[arg-type]
    if out is not None:
        write_frame(frame, out)
        return
    if emit(fmt, frame):
        return
    _show_transposed(frame)


def _show_transposed(frame: pd.DataFrame) -> None:
    """Features as rows, one column per (symbol, as-of): as many as fit the terminal."""
    keys = frame[["symbol", "asof"]]
    daily = all(t.hour == 0 and t.minute == 0 for t in keys["asof"])
    labels = [
        f"{s} {a:%Y-%m-%d}" if daily else f"{s} {a:%m-%d %H:%M}"
        for s, a in keys.itertuples(index=False)
    ]
    table = frame.drop(columns=["symbol", "asof"]).T.reset_index(names="feature")
    table.columns = ["feature", *labels]
    cols = [Col("feature", keep=True)]
    for label in labels:
        if len(cols) > 1 and not fits(table, [*cols, Col(label, kind="num")]):
            break
        cols.append(Col(label, kind="num"))
    show_table(table, cols)
    left = len(labels) - (len(cols) - 1)
    if left:
        note(
            f"... {left:,} more (symbol, as-of) rows; all of them with --out FILE or "
            "--format json|csv"
        )
