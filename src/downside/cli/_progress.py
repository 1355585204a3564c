"""Progress bars on stderr: counts, elapsed time and ETA.

Bars show only when stderr is a terminal and ``-q`` is not given; otherwise each step
is logged at INFO on ``downside.cli`` (visible with ``-v``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from downside.cli._app import err, state

if TYPE_CHECKING:
    from downside.models import TuningResult

log = logging.getLogger("downside.cli")

POLL_S = 1.0
"""How often a tuning study is read to advance the trial bar."""


def enabled() -> bool:
    """Whether progress bars are drawn (stderr is a terminal and no ``-q``)."""
    return err.is_terminal and not state.quiet


class Bars:
    """A set of progress bars; without a terminal each update is a log line instead."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def add(self, description: str, total: float | None = None) -> Bar:
        """A new bar (``total`` None: a spinner with elapsed time)."""
        task = None
        if self._progress is not None:
            task = self._progress.add_task(description, total=total)
        else:
            log.info(description)
        return Bar(self._progress, task, description, total)


class Bar:
    """One bar: advance it, or set what it shows."""

    def __init__(
        self, progress: Progress | None, task: TaskID | None, description: str, total: float | None
    ) -> None:
        self._progress = progress
        self._task = task
        self.description = description
        self.total = total
        self.completed = 0.0
        self._steps = 0

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        """Set the count, the total or the text (the total grows to fit the count)."""
        if total is not None:
            self.total = total
        if completed is not None:
            self.completed = completed
            if self.total is not None and completed > self.total:
                self.total = completed
        if description is not None and description != self.description:
            self.description = description
            if self._progress is None:
                log.info(description)
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                completed=self.completed,
                total=self.total,
                description=self.description,
            )

    def step(self, description: str) -> None:
        """Count one more step as started: the ones before it are done."""
        self._steps += 1
        self.update(completed=self._steps - 1, description=description)

    def finish(self, description: str | None = None) -> None:
        """Mark the bar complete."""
        done = self.completed if self.total is None else max(self.total, self.completed)
        self.update(completed=done, total=done, description=description)


@contextlib.contextmanager
def bars() -> Iterator[Bars]:
    """Progress bars on stderr for the duration of the block."""
    if not enabled():
        yield Bars(None)
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    with progress:
        yield Bars(progress)


@contextlib.contextmanager
def follow_trials(bar: Bar, status: Callable[[], TuningResult], budget: int) -> Iterator[None]:
    """Advance ``bar`` with the finished (complete or pruned) trials of a study, read
    with ``status`` every :data:`POLL_S` seconds from a background thread while the
    block runs. The study is read once before the block (creating it if needed, so the
    tuning workers find it), and not at all when bars are off."""
    if not enabled():
        yield
        return

    def show(result: TuningResult) -> None:
        finished = result.n_complete + result.n_pruned
        best = "" if math.isnan(result.best_value) else f", best {result.best_value:.4f}"
        bar.update(completed=min(finished, budget), description=f"trials{best}")

    try:
        show(status())
    except Exception as exc:  # the tuning itself will report what is wrong
        log.debug("reading the study for progress failed: %s", exc)
        yield
        return
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL_S):
            try:
                result = status()
            except Exception as exc:  # a busy database: try again at the next poll
                log.debug("reading the study for progress failed: %s", exc)
                continue
            show(result)
            if result.n_complete + result.n_pruned >= budget:
                return

    thread = threading.Thread(target=poll, name="downside-trial-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
