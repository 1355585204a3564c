"""The `downside` command line.

Each command module registers its commands (and its group, with
:func:`downside.cli._app.sub_app`) when imported: one import line below adds a module.
Nothing here imports pandas, :mod:`downside.api`, MLflow or LightGBM; the commands do,
when they run.
"""

# isort: off
# Registration order is the order of `downside --help`: start, data, models, forecasts.
from downside.cli import _quickstart as _quickstart
from downside.cli import _ingest as _ingest
from downside.cli import _update as _update
from downside.cli import _features as _features
from downside.cli import _store as _store
from downside.cli import _train as _train
from downside.cli import _backtest as _backtest
from downside.cli import _ablation as _ablation
from downside.cli import _models as _models
from downside.cli import _predict as _predict
from downside.cli import _report as _report
from downside.cli import _track as _track

# isort: on
from downside.cli._app import app


def main() -> None:
    """Entry point of the `downside` console script and of ``python -m downside``."""
    app(prog_name="downside")


__all__ = ["app", "main"]
