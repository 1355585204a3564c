"""The `downside` command line."""

from downside.cli import _commands as _commands
from downside.cli._app import app


def main() -> None:
    """Entry point of the `downside` console script."""
    app()


__all__ = ["app", "main"]
