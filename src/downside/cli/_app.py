"""`downside` command line: the typer app, its consoles, global options and error handling.

Startup stays fast: this module and every command module import only typer, rich, the
standard library, :mod:`downside.errors` and :mod:`downside.config` at the top; pandas,
:mod:`downside.api` and everything behind it (MLflow, scikit-learn, LightGBM, Optuna)
are imported inside the commands that need them.

Output: results go to stdout (a table for people, or ``--format json|csv`` for
programs: then stdout holds nothing else); progress, notes, warnings and errors go to
stderr. Progress bars show only when stderr is a terminal and ``-q`` is not given.

Exit codes: 0 success; 2 bad input (a :class:`CliInputError` naming the option, a
click usage error, or a ``ValueError``-like :class:`~downside.errors.DownsideError`);
1 any other failure (a source failed, nothing ingested or trained yet, no such model or
alias, a promotion was refused, a tuning worker died, the system refused a file).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

import downside
from downside.errors import (
    DownsideError,
    LookAheadError,
    PromotionRefusedError,
    ScenarioError,
    StaleDataError,
)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

app = typer.Typer(
    help="Point-in-time forecasts of crypto downside risk.\n\n"
    "Global options (-v, -q, --version) go before the command: downside -v update.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

console = Console()
"""Results (stdout)."""
err = Console(stderr=True)
"""Progress, notes, warnings and errors (stderr)."""

F = TypeVar("F", bound=Callable[..., Any])

START_PANEL = "Start here"
DATA_PANEL = "Data"
MODELS_PANEL = "Models"
FORECASTS_PANEL = "Forecasts"
"""Sections of ``downside --help``."""


def sub_app(name: str, help: str, panel: str) -> typer.Typer:
    """A command group ``downside NAME ...`` registered on :data:`app` in the help
    section ``panel``.

    A command module calls this at import; ``downside.cli`` imports every command
    module, so one import line there adds a group.
    """
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name, rich_help_panel=panel)
    return group


@dataclass
class CliState:
    """Global options of the current invocation."""

    quiet: bool = False


state = CliState()


class CliInputError(Exception):
    """A command-line argument is unusable: names the option and the expected form.

    Attributes:
        option: the option or argument, e.g. ``--start``.
        message: what was expected and what was received.
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.message = message
        super().__init__(f"{option}: {message}")


class NotReadyError(Exception):
    """The state a command needs does not exist yet (nothing ingested or trained)."""


CLI_HINTS: dict[type[DownsideError], str] = {
    StaleDataError: "on the command line: --allow-stale",
    PromotionRefusedError: "on the command line: --force --reason TEXT",
    LookAheadError: "on the command line: --replay FROM TO with FROM on or after that day, "
    "or --version N of a model trained on earlier data",
    ScenarioError: "on the command line: --shock INPUT=VALUE or --scenario PRESET",
}
"""What a library error's remedy is called on the command line."""


def error(message: str) -> None:
    """Print ``error: MESSAGE`` to stderr; the message is never read as markup."""
    err.print("[bold red]error:[/] ", end="", markup=True)
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """An informational line on stderr (hidden by ``-q``)."""
    if not state.quiet:
        err.print(message, markup=False, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """A warning on stderr (shown even with ``-q``)."""
    err.print("[yellow]warning:[/] ", end="", markup=True)
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def handle_errors(fn: F) -> F:
    """Turn errors into a one-line (or one-block) message on stderr and an exit code:
    2 for bad input, 1 for other failures (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CliInputError as exc:
            error(str(exc))
            raise typer.Exit(2) from exc
        except NotReadyError as exc:
            error(str(exc))
            raise typer.Exit(1) from exc
        except DownsideError as exc:
            hint = next((h for cls, h in CLI_HINTS.items() if isinstance(exc, cls)), None)
            error(str(exc) + (f" ({hint})" if hint else ""))
            raise typer.Exit(2 if isinstance(exc, ValueError) else 1) from exc
        except OSError as exc:  # a file or folder the system refused (permissions, space)
            error(str(exc))
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]


class _ConsoleHandler(logging.Handler):
    """Log records of the ``downside`` loggers as lines on stderr (above any progress bar)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.levelname.lower()}: {record.name}: {self.format(record)}"
            err.print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


_handler = _ConsoleHandler()
_handler.setFormatter(logging.Formatter("%(message)s"))


def configure_logging(verbosity: int) -> Callable[[], None]:
    """Show the ``downside`` loggers' records on stderr: warnings by default (and with
    ``-q``), INFO with ``-v``, DEBUG with ``-vv``. Other libraries' loggers (Optuna,
    MLflow) keep their own levels. Returns a function that puts the logger back as it was
    (the CLI may run inside another program, or many times in one test session)."""
    logger = logging.getLogger("downside")
    before = logger.level
    logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))
    if _handler not in logger.handlers:
        logger.addHandler(_handler)

    def restore() -> None:
        logger.removeHandler(_handler)
        logger.setLevel(before)

    return restore


def _version(value: bool) -> None:
    if value:
        console.print(f"downside {downside.__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="More detail on stderr: -v shows retries, waits and skipped inputs "
            "(INFO), -vv debug lines.",
        ),
    ] = 0,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bars or notes; warnings and errors only."),
    ] = False,
) -> None:
    """Point-in-time forecasts of crypto downside risk."""
    state.quiet = quiet
    ctx.call_on_close(configure_logging(verbose))
