"""`--cluster ADDRESS`: run a command's heavy steps on a Dask cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from downside.config import Settings

if TYPE_CHECKING:
    from downside.workflows._engine import Engine

ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Dask scheduler that runs feature builds, backtest folds and final fits, e.g. "
        "tcp://HOST:8786 (default: DOWNSIDE_CLUSTER, else this process).",
        show_default=False,
    ),
]


@contextlib.contextmanager
def on_cluster(settings: Settings) -> Iterator[Engine]:
    """The engine of ``settings.cluster`` (the option, else DOWNSIDE_CLUSTER) for the
    block; jobs given no engine use it."""
    from downside.workflows._engine import connect

    with connect(settings.cluster) as engine:
        yield engine
