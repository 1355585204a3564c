"""Windows and durations as written in feature definitions (``7d``, ``24h``, ``5obs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Unit = Literal["h", "d", "obs"]

_PATTERN = re.compile(r"^([1-9][0-9]*)(h|d|obs)$")


@dataclass(frozen=True)
class Window:
    """A trailing window: a span of time (``h``, ``d``) or a number of observations (``obs``).

    Attributes:
        count: positive length in ``unit``.
        unit: ``h`` (hours), ``d`` (calendar days) or ``obs`` (rows of the input's own grid).
    """

    count: int
    unit: Unit

    @property
    def label(self) -> str:
        """The text form, also used in derived feature names (``7d``, ``5obs``)."""
        return f"{self.count}{self.unit}"

    @property
    def is_time(self) -> bool:
        """Whether the window is a span of time rather than a number of rows."""
        return self.unit != "obs"

    @property
    def delta(self) -> pd.Timedelta:
        """The span of a time window.

        Raises:
            ValueError: the window counts observations, not time.
        """
        if self.unit == "obs":
            raise ValueError(f"window {self.label} counts observations and has no time span")
        return pd.Timedelta(hours=self.count) if self.unit == "h" else pd.Timedelta(days=self.count)


def parse_window(text: object, *, allow_obs: bool = True) -> Window:
    """Parse ``<n>h``, ``<n>d`` or (if allowed) ``<n>obs`` with ``n >= 1``.

    Raises:
        ValueError: the text does not have that form; the message says what was expected.
    """
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if match is None or (match.group(2) == "obs" and not allow_obs):
        expected = "'<n>h', '<n>d' or '<n>obs'" if allow_obs else "'<n>h' or '<n>d'"
        raise ValueError(f"expected {expected} with n >= 1, received {text!r}")
    unit: Unit = "h" if match.group(2) == "h" else "d" if match.group(2) == "d" else "obs"
    return Window(int(match.group(1)), unit)
