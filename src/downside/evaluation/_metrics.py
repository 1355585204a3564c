"""Proper scoring rules and calibration diagnostics for binary event probabilities.

The Brier score, log loss and calibration curve are scikit-learn's
(``brier_score_loss``, ``log_loss``, ``calibration_curve``), behind one input check that
lists every problem; the skill score is computed here because the bootstrap calls it
thousands of times and scikit-learn re-validates its inputs on every call.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from downside.errors import ModelInputError, Problem
from downside.evaluation._checks import FloatArray, check_probabilities_and_labels

BinStrategy = Literal["quantile", "uniform"]

RELIABILITY_COLUMNS: tuple[str, ...] = (
    "bin",
    "lower",
    "upper",
    "count",
    "mean_predicted",
    "observed_rate",
)


def brier_score(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Mean squared difference between predicted probabilities and outcomes.

    Args:
        p: predicted probabilities of the event, in [0, 1].
        y: outcomes, 0 or 1.

    Returns:
        The Brier score (lower is better; 0 is perfect).

    Raises:
        ModelInputError: lengths differ, probabilities leave [0, 1], labels are not 0/1.
    """
    (prob,), labels = check_probabilities_and_labels({"p": p}, y)
    return float(brier_score_loss(labels, prob, labels=[0.0, 1.0]))


def log_loss(p: npt.ArrayLike, y: npt.ArrayLike, *, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood, with probabilities clipped to ``[eps, 1 - eps]``.

    Clipping keeps a single confident miss (p = 0 for an event) finite: it costs
    ``-log(eps)`` (about 34.5 nats for the default) instead of infinity.

    Args:
        p: predicted probabilities of the event, in [0, 1].
        y: outcomes, 0 or 1.
        eps: clipping bound, in (0, 0.5).

    Returns:
        The log loss in nats (lower is better).

    Raises:
        ModelInputError: invalid inputs, or ``eps`` outside (0, 0.5).
    """
    if not 0.0 < eps < 0.5:
        raise ModelInputError(
            [Problem("eps", "out_of_range", 1, f"expected 0 < eps < 0.5, received {eps!r}")]
        )
    (prob,), labels = check_probabilities_and_labels({"p": p}, y)
    return float(sk_log_loss(labels, np.clip(prob, eps, 1.0 - eps), labels=[0.0, 1.0]))


def brier_skill(p: npt.ArrayLike, p_ref: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Brier skill score of ``p`` against a reference forecast: ``1 - BS(p) / BS(p_ref)``.

    Args:
        p: probabilities of the model under test.
        p_ref: probabilities of the reference (climatology, a baseline).
        y: outcomes, 0 or 1.

    Returns:
        The skill: positive when ``p`` beats the reference, 1 for a perfect forecast.

    Raises:
        ModelInputError: invalid inputs, or a reference with a Brier score of zero (the
            skill is undefined against a perfect reference).
    """
    (prob, ref), labels = check_probabilities_and_labels({"p": p, "p_ref": p_ref}, y)
    ref_score = float(np.mean((ref - labels) ** 2))
    if ref_score == 0.0:
        raise ModelInputError(
            [
                Problem(
                    "p_ref",
                    "perfect_reference",
                    labels.size,
                    "expected a reference with a positive Brier score, received a perfect one; "
                    "skill against it is undefined",
                )
            ]
        )
    return 1.0 - float(np.mean((prob - labels) ** 2)) / ref_score


def _bin_ids(
    prob: FloatArray, n_bins: int, strategy: BinStrategy
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    problems: list[Problem] = []
    if n_bins < 1:
        problems.append(Problem("n_bins", "out_of_range", 1, f"expected >= 1, received {n_bins}"))
    if strategy not in ("quantile", "uniform"):
        problems.append(
            Problem(
                "strategy",
                "unknown_value",
                1,
                f"expected 'quantile' or 'uniform', received {strategy!r}",
            )
        )
    if problems:
        raise ModelInputError(problems)
    if strategy == "quantile":
        edges = np.percentile(prob, np.linspace(0.0, 100.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], prob)
    return ids, edges


def reliability_table(
    p: npt.ArrayLike,
    y: npt.ArrayLike,
    n_bins: int = 10,
    *,
    strategy: BinStrategy = "quantile",
) -> pd.DataFrame:
    """Observed event rate against mean predicted probability, per probability bin.

    The rates are scikit-learn's ``calibration_curve``; this adds each bin's edges and
    row count, binned by the same rule: quantile bins share the rows about equally
    (tied edges merge bins), uniform bins split [0, 1] evenly; a value on an edge
    belongs to the lower bin. Bins without rows are left out of the table (no row of
    input is left out).

    Args:
        p: predicted probabilities.
        y: outcomes, 0 or 1.
        n_bins: number of bins before empty ones are left out.
        strategy: ``"quantile"`` or ``"uniform"``.

    Returns:
        A frame with columns ``bin, lower, upper, count, mean_predicted, observed_rate``.

    Raises:
        ModelInputError: invalid inputs, ``n_bins < 1`` or an unknown strategy.
    """
    (prob,), labels = check_probabilities_and_labels({"p": p}, y)
    ids, edges = _bin_ids(prob, n_bins, strategy)
    total = np.bincount(ids, minlength=n_bins)
    keep = np.flatnonzero(total > 0)
    observed, predicted = calibration_curve(
        labels, prob, pos_label=1.0, n_bins=n_bins, strategy=strategy
    )
    return pd.DataFrame(
        {
            "bin": keep.astype(np.int64),
            "lower": edges[keep],
            "upper": edges[keep + 1],
            "count": total[keep].astype(np.int64),
            "mean_predicted": predicted,
            "observed_rate": observed,
        },
        columns=list(RELIABILITY_COLUMNS),
    )


def expected_calibration_error(
    p: npt.ArrayLike,
    y: npt.ArrayLike,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> float:
    """Row-weighted mean absolute gap between observed rate and mean prediction per bin.

    Args:
        p: predicted probabilities.
        y: outcomes, 0 or 1.
        n_bins: number of bins (see :func:`reliability_table`).
        strategy: ``"quantile"`` (default; every bin holds about as many rows) or
            ``"uniform"``.

    Returns:
        The ECE, in probability points (0 is perfectly calibrated on these bins).

    Raises:
        ModelInputError: invalid inputs, ``n_bins < 1`` or an unknown strategy.
    """
    table = reliability_table(p, y, n_bins, strategy=strategy)
    weights = table["count"].to_numpy(dtype=np.float64)
    gaps = np.abs(
        table["observed_rate"].to_numpy(dtype=np.float64)
        - table["mean_predicted"].to_numpy(dtype=np.float64)
    )
    return float(np.sum(weights * gaps) / np.sum(weights))
