"""Block bootstrap confidence intervals for metrics of time-ordered rows.

Forecast errors of overlapping horizons are autocorrelated, so resampling single rows
understates the uncertainty of a skill score. Resampling contiguous blocks of
``block_length`` rows keeps the dependence inside each block (Kuensch 1989; the
circular variant of Politis and Romano 1992 wraps blocks around the end so every row
is equally likely to be drawn).

The resampling is :mod:`arch.bootstrap`'s (``CircularBlockBootstrap``,
``MovingBlockBootstrap``): one replicate's row indices at a time, so memory grows with
the number of rows, not with rows times replicates. arch is imported when an interval
is computed: importing it loads statsmodels (about 3 s), which scoring alone, and the
served model, do not need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from downside.errors import ModelInputError, Problem

BlockScheme = Literal["circular", "moving"]


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval.

    Attributes:
        estimate: the metric on the original rows.
        lower: lower end of the interval.
        upper: upper end of the interval.
        level: coverage, e.g. 0.9.
        std: standard deviation of the bootstrap replicates.
        n_boot: number of replicates.
        block_length: rows per resampled block.
    """

    estimate: float
    lower: float
    upper: float
    level: float
    std: float
    n_boot: int
    block_length: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the closed interval."""
        return self.lower <= value <= self.upper


def _check(
    arrays: tuple[npt.NDArray[Any], ...],
    block_length: int,
    n_boot: int,
    level: float,
    scheme: str,
) -> int:
    problems: list[Problem] = []
    if not arrays:
        problems.append(
            Problem("arrays", "missing", 0, "expected at least one array, received none")
        )
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        problems.append(
            Problem(
                "arrays",
                "length_mismatch",
                len(lengths),
                f"expected arrays of one length, received lengths {sorted(lengths)}",
            )
        )
    n = min(lengths) if lengths else 0
    if arrays and n == 0:
        problems.append(Problem("arrays", "empty", 0, "expected at least one row, received none"))
    if not 1 <= block_length <= max(n, 1):
        problems.append(
            Problem(
                "block_length",
                "out_of_range",
                1,
                f"expected 1 <= block_length <= {n} (the number of rows), received {block_length}",
            )
        )
    if n_boot < 2:
        problems.append(Problem("n_boot", "out_of_range", 1, f"expected >= 2, received {n_boot}"))
    if not 0.0 < level < 1.0:
        problems.append(
            Problem("level", "out_of_range", 1, f"expected 0 < level < 1, received {level}")
        )
    if scheme not in ("circular", "moving"):
        problems.append(
            Problem(
                "scheme",
                "unknown_value",
                1,
                f"expected 'circular' or 'moving', received {scheme!r}",
            )
        )
    if problems:
        raise ModelInputError(problems)
    return n


def block_bootstrap_ci(
    metric_fn: Callable[..., float],
    *arrays: npt.ArrayLike,
    block_length: int,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.9,
    scheme: BlockScheme = "circular",
) -> BootstrapInterval:
    """Percentile confidence interval of ``metric_fn(*arrays)`` by block bootstrap.

    The arrays must be aligned and ordered by time (for stacked forecast frames: sort
    by ``asof``; rows of one as-of date then stay together when ``block_length`` is at
    least the rows per date). Every replicate draws the same row indices from every
    array, so paired metrics such as a skill score keep their pairing.

    Args:
        metric_fn: metric of the arrays, e.g. ``lambda p, r, y: brier_skill(p, r, y)``.
        *arrays: aligned, time-ordered arrays passed to ``metric_fn``.
        block_length: rows per block; a common choice is the forecast horizon in rows.
        n_boot: number of replicates.
        seed: seed of the random generator (the result is reproducible).
        level: coverage of the interval.
        scheme: each replicate concatenates ``ceil(n / block_length)`` blocks of
            consecutive rows cut to ``n`` rows; ``"circular"`` (default) blocks start
            anywhere and wrap around the end, ``"moving"`` blocks start in
            ``[0, n - block_length]`` and never wrap.

    Returns:
        The estimate, the interval and the replicates' standard deviation.

    Raises:
        ModelInputError: arrays of different lengths or none, empty input, or a
            block length, replicate count, level or scheme out of range.
    """
    from arch.bootstrap import CircularBlockBootstrap, MovingBlockBootstrap

    values = tuple(np.asarray(a) for a in arrays)
    _check(values, block_length, n_boot, level, scheme)
    kind = CircularBlockBootstrap if scheme == "circular" else MovingBlockBootstrap
    resampler = kind(block_length, *values, seed=np.random.default_rng(seed))

    def replicate(*rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        return np.array([metric_fn(*rows)], dtype=np.float64)

    replicates = resampler.apply(replicate, reps=n_boot)[:, 0]
    alpha = (1.0 - level) / 2.0
    lower, upper = np.quantile(replicates, [alpha, 1.0 - alpha])
    return BootstrapInterval(
        estimate=float(metric_fn(*values)),
        lower=float(lower),
        upper=float(upper),
        level=level,
        std=float(np.std(replicates, ddof=1)),
        n_boot=n_boot,
        block_length=block_length,
    )
