"""Input drift: the population stability index of recent values against a reference.

``PSI = sum_b (a_b - e_b) ln(a_b / e_b)`` over bins ``b`` of the reference distribution
(its deciles), with ``e`` the reference shares and ``a`` the recent shares. Two bins
outside the reference range (below its minimum, above its maximum; empty in the
reference) make values never seen before count heavily, and missing values are one
more bin, so an input that stops arriving drifts too. Shares are floored at
:data:`PSI_FLOOR` so an empty bin does not make the index infinite. Common reading:
below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one; for inputs that
move slowly (a 200-day moving-average distance) a short recent window always sits in
a few deciles, so compare with the PSI of windows of the same length within the
reference period (:func:`window_psi`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

PSI_FLOOR = 1e-4
"""Smallest share a bin counts with."""


def quantile_edges(values: npt.ArrayLike, n_bins: int = 10) -> tuple[float, ...]:
    """Inner bin edges of the finite ``values`` at their quantiles (repeated edges
    merged): ``n_bins - 1`` edges at most, none for constant or empty input."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return ()
    inner = np.quantile(data, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return tuple(float(v) for v in np.unique(inner))


def bin_shares(
    values: npt.ArrayLike, edges: Sequence[float], low: float, high: float
) -> FloatArray:
    """Shares of ``values``: below ``low``, in the bins cut at ``edges`` within ``[low,
    high]`` (a value on an edge goes to the upper bin), above ``high``, then missing:
    ``len(edges) + 4`` shares summing to 1 (all zero for empty input; with ``low`` or
    ``high`` NaN every finite value falls in the inner bins)."""
    data = np.asarray(values, dtype=np.float64)
    inner = len(edges) + 1
    out = np.zeros(inner + 3, dtype=np.float64)
    if data.size == 0:
        return out
    finite = np.isfinite(data)
    present = data[finite]
    below = present < low if np.isfinite(low) else np.zeros(present.size, dtype=bool)
    above = present > high if np.isfinite(high) else np.zeros(present.size, dtype=bool)
    within = present[~below & ~above]
    ids = np.searchsorted(np.asarray(edges, dtype=np.float64), within, side="right")
    out[0] = float(below.sum())
    out[1 : inner + 1] = np.bincount(ids, minlength=inner)
    out[inner + 1] = float(above.sum())
    out[-1] = float((~finite).sum())
    return out / float(data.size)


def population_stability(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """PSI of two share vectors over the same bins (see the module docstring).

    Raises:
        ValueError: the vectors differ in length.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"expected share vectors of one length, received {e.shape} and {a.shape}")
    e = np.maximum(e, PSI_FLOOR)
    a = np.maximum(a, PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def window_psi(
    values: npt.ArrayLike,
    times: npt.ArrayLike,
    expected: npt.ArrayLike,
    edges: Sequence[float],
    low: float,
    high: float,
    *,
    window: int,
    step: int,
) -> FloatArray:
    """PSI of every window of ``window`` consecutive time units (``times``: integers,
    e.g. days) against ``expected``, one window every ``step`` units: the spread of the
    index within the reference period itself, for windows as long as the recent one."""
    data = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.int64)
    if data.size == 0:
        return np.zeros(0, dtype=np.float64)
    out = []
    for end in range(int(t.min()) + window - 1, int(t.max()) + 1, max(1, step)):
        chosen = data[(t > end - window) & (t <= end)]
        if chosen.size:
            out.append(population_stability(expected, bin_shares(chosen, edges, low, high)))
    return np.asarray(out, dtype=np.float64)
