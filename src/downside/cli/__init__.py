"""The `downside` command line."""

from downside.cli import _backtest as _backtest
from downside.cli import _commands as _commands
from downside.cli import _report as _report
from downside.cli import _update as _update
from downside.cli._app import app


def main() -> None:
    """Entry point of the `downside` console script."""
    app()


__all__ = ["app", "main"]
