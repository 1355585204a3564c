"""`downside train SPEC` and `downside tune SPEC`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Annotated

import typer

from downside.cli import _params
from downside.cli._app import MODELS_PANEL, app, handle_errors
from downside.cli._cluster import ClusterOption, on_cluster
from downside.cli._output import Col, Format, FormatOption, emit, fmt_num, show_table
from downside.cli._progress import Bar, Bars, bars, enabled, follow_trials
from downside.cli._quickstart import TRAIN_STEPS, train_document
from downside.config import Settings, load_settings

SpecArgument = Annotated[
    str, typer.Argument(help="Spec name (drawdown) or path (models/drawdown.toml).")
]


@contextlib.contextmanager
def _follow_study(progress: Bars, spec: str, settings: Settings, budget: int) -> Iterator[Bar]:
    """A bar of the spec's finished trials, following the study while the block tunes it."""
    from downside import api

    bar = progress.add("trials", total=budget)
    if not enabled():
        yield bar
        return
    settings.home.mkdir(parents=True, exist_ok=True)  # where the default study lives
    with follow_trials(bar, lambda: api.tuning_status(spec, settings=settings), budget):
        yield bar


def _budget(spec: str, settings: Settings, trials: int | None) -> int:
    from downside.models import load_spec

    return load_spec(spec, settings.resolved_model_dir).trials if trials is None else trials


@app.command(rich_help_panel=MODELS_PANEL)
@handle_errors
def train(
    spec: SpecArgument,
    trials: Annotated[
        int | None, typer.Option(help="Tuning trials (default: the spec's budget; 0: none).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Local tuning processes.")] = 1,
    timeout: Annotated[float | None, typer.Option(help="Tuning time limit in seconds.")] = None,
    cluster: ClusterOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Tune, score on purged walk-forward folds, fit, log to MLflow and register."""
    import pandas as pd

    from downside import api

    _params.at_least("--trials", trials, 0)
    _params.at_least("--workers", workers, 1)
    _params.at_least("--timeout", timeout, 0)
    settings = load_settings({"cluster": cluster})
    budget = _budget(spec, settings, trials)
    with on_cluster(settings), bars() as progress:
        steps = progress.add("starting", total=TRAIN_STEPS + (budget > 0))
        tuning = _follow_study(progress, spec, settings, budget) if budget > 0 else None
        with tuning or contextlib.nullcontext():
            result = api.train(
                spec,
                trials=trials,
                workers=workers,
                timeout_s=timeout,
                settings=settings,
                progress=steps.step,
            )
        steps.finish(f"registered {result.registered_model} v{result.version}")
    metrics = pd.DataFrame(sorted(result.metrics.items()), columns=["metric", "value"])
    if emit(fmt, metrics, train_document(result)):
        return
    show_table(
        metrics,
        [Col("metric", keep=True), Col("value", kind="num")],
        f"{result.registered_model} v{result.version} ({', '.join(result.aliases)})",
        caption=f"run {result.run_id}",
    )


@app.command(rich_help_panel=MODELS_PANEL)
@handle_errors
def tune(
    spec: SpecArgument,
    trials: Annotated[int, typer.Option(help="Total finished trials the study should reach.")] = 20,
    timeout: Annotated[float | None, typer.Option(help="Time limit in seconds.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes on the same study.")] = 1,
    fmt: FormatOption = Format.table,
) -> None:
    """Run the spec's Optuna study (joins it if it exists; resumes interrupted studies)."""
    import pandas as pd

    from downside import api

    _params.at_least("--trials", trials, 1)
    _params.at_least("--workers", workers, 1)
    _params.at_least("--timeout", timeout, 0)
    settings = load_settings()
    _budget(spec, settings, trials)  # an unknown spec fails here, before any state
    with bars() as progress, _follow_study(progress, spec, settings, trials) as bar:
        result = api.tune(
            spec, trials=trials, timeout_s=timeout, workers=workers, settings=settings
        )
        bar.update(completed=min(trials, result.n_complete + result.n_pruned))
    summary = {k: v for k, v in dataclasses.asdict(result).items() if k != "best_params"}
    params = pd.DataFrame(sorted(result.best_params.items()), columns=["param", "value"])
    row = pd.DataFrame([{**summary, **{f"best.{k}": v for k, v in result.best_params.items()}}])
    if emit(fmt, row, dataclasses.asdict(result)):
        return
    study = pd.DataFrame([(k, _value(v)) for k, v in summary.items()], columns=["field", "value"])
    show_table(study, [Col("field", keep=True), Col("value")], f"study {result.study_name}")
    show_table(
        params.assign(value=[_value(v) for v in params["value"]]),
        [Col("param", keep=True), Col("value")],
        "best parameters",
    )


def _value(value: object) -> str:
    return fmt_num(value) if isinstance(value, float) else str(value)
