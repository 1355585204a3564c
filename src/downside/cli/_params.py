"""Parsing of command-line values: comma lists, numbers, percentages, dates.

Every function raises :class:`~downside.cli._app.CliInputError` naming the option, the
expected form and the value received; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from downside.cli._app import CliInputError

if TYPE_CHECKING:
    import pandas as pd

DATE_FORM = "a date or time such as 2024-01-01 or 2024-01-01T06:00Z (UTC when no zone is given)"
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def at_least(option: str, value: float | None, low: int) -> None:
    """Refuse a number below ``low`` (None passes).

    Raises:
        CliInputError: ``value < low``.
    """
    if value is not None and value < low:
        raise CliInputError(option, f"expected a number >= {low}, got {value:g}")


def items(option: str, text: str, what: str) -> list[str]:
    """The non-empty items of a comma list.

    Raises:
        CliInputError: no item.
    """
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise CliInputError(option, f"expected comma-separated {what}, got {text!r}")
    return values


def symbols(option: str, text: str) -> list[str]:
    """Upper-case symbols of a comma list (``btc, eth`` -> ``["BTC", "ETH"]``), without
    repeats.

    Raises:
        CliInputError: an empty list or a value that cannot be a symbol.
    """
    names = items(option, text, "symbols such as BTC,ETH")
    bad = [n for n in names if not _SYMBOL.match(n)]
    if bad:
        raise CliInputError(
            option,
            f"expected comma-separated symbols such as BTC,ETH (letters and digits), got "
            f"{', '.join(repr(b) for b in bad)}",
        )
    return list(dict.fromkeys(n.upper() for n in names))


def numbers(option: str, text: str, unit: str, *, positive: bool = True) -> list[float]:
    """Finite numbers of a comma list (``7,14``).

    Raises:
        CliInputError: an empty list, a value that is not a number, or (``positive``) a
            value at or below zero.
    """
    out = []
    for raw in items(option, text, f"numbers ({unit}) such as 7,14"):
        try:
            value = float(raw.replace("_", ""))
        except ValueError:
            raise CliInputError(
                option, f"expected comma-separated numbers ({unit}) such as 7,14, got {raw!r}"
            ) from None
        if not math.isfinite(value) or (positive and value <= 0):
            raise CliInputError(option, f"expected numbers ({unit}) above 0, got {raw!r}")
        out.append(value)
    return out


PERCENT_HINT = "thresholds are in percent on the command line: 5 means 5%"


def percents(option: str, text: str) -> list[float]:
    """Percentages of a comma list as fractions (``5,10`` -> ``[0.05, 0.1]``).

    A value below 1 is taken for a fraction typed by mistake and refused with a hint.

    Raises:
        CliInputError: not numbers, values outside (0, 100), or values below 1.
    """
    values = numbers(option, text, "percent")
    small = [v for v in values if v < 1]
    if small:
        shown = ", ".join(f"{v:g}" for v in small)
        meant = ", ".join(f"{100 * v:g}" for v in small)
        raise CliInputError(option, f"{PERCENT_HINT}; got {shown} (for {meant}%, pass {meant})")
    large = [v for v in values if v >= 100]
    if large:
        raise CliInputError(
            option, f"expected percentages below 100 (5 means 5%), got {large[0]:g}"
        )
    return [v / 100 for v in values]


def check_percent_range(option: str, fractions: list[float], trained: tuple[float, ...]) -> None:
    """Refuse percentages outside a model's trained thresholds, in the command line's
    unit (the library would state the range in fractions).

    Raises:
        CliInputError: a value outside ``[min(trained), max(trained)]``.
    """
    lo, hi = min(trained), max(trained)
    bad = [f for f in fractions if not lo - 1e-12 <= f <= hi + 1e-12]
    if bad:
        raise CliInputError(
            option,
            f"{', '.join(f'{100 * b:g}' for b in bad)} outside the trained range "
            f"{100 * lo:g} to {100 * hi:g} (percent: 5 means 5%); ask within the range or "
            "retrain with a wider grid",
        )


def when(option: str, text: str) -> pd.Timestamp:
    """A date or time as a UTC timestamp (text without a zone is UTC).

    Raises:
        CliInputError: the text is not a date or time.
    """
    from downside.errors import InvalidTimeError
    from downside.vocabulary import utc

    try:
        return utc(text, option)
    except InvalidTimeError:
        raise CliInputError(option, f"expected {DATE_FORM}, got {text!r}") from None


def maybe_when(option: str, text: str | None) -> pd.Timestamp | None:
    """:func:`when`, or None for None."""
    return None if text is None else when(option, text)
