"""Monotone calibrators from a model's log-odds margin to a probability.

Every calibrator is non-decreasing in the margin, so a model that is monotone in its
inputs stays monotone after calibration:

- :class:`IdentityCalibrator` is the logistic function itself (no calibration);
- :class:`PlattCalibrator` is ``sigmoid(slope * margin + intercept)`` with the slope
  constrained to be positive while fitting;
- :class:`IsotonicCalibrator` is a non-decreasing step-linear map fitted by isotonic
  regression, clipped to ``[ISOTONIC_EPS, 1 - ISOTONIC_EPS]`` so that no forecast is
  ever a certain 0 or 1.

:func:`select_calibrator` chooses between Platt and isotonic on time-ordered blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from downside.errors import ModelInputError, Problem

FloatArray = npt.NDArray[np.float64]
CalibrationMethod = Literal["auto", "isotonic", "platt", "none"]

ISOTONIC_EPS = 1e-6
"""Smallest probability an isotonic calibrator returns (and 1 minus the largest)."""

MIN_PLATT_SLOPE = 1e-6
"""Lower bound of the Platt slope: the map stays strictly increasing."""


class Calibrator(Protocol):
    """A non-decreasing map from log-odds margin to probability."""

    kind: ClassVar[str]

    def transform(self, margin: FloatArray) -> FloatArray:
        """Probability of the event for each margin."""
        ...

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable parameters; :func:`calibrator_from_state` inverts it."""
        ...


@dataclass(frozen=True)
class IdentityCalibrator:
    """No calibration: the logistic function of the margin."""

    kind: ClassVar[str] = "none"

    def transform(self, margin: FloatArray) -> FloatArray:
        """Return ``sigmoid(margin)``."""
        return np.asarray(expit(margin), dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        """Return ``{"kind": "none"}``."""
        return {"kind": self.kind}


def fit_logistic(
    design: FloatArray,
    y: FloatArray,
    *,
    lower_bounds: tuple[float | None, ...] | None = None,
    l2: float = 0.0,
    weights: FloatArray | None = None,
) -> FloatArray:
    """Maximum-likelihood logistic regression ``P(y=1) = sigmoid(design @ beta)``.

    Solved with L-BFGS-B and the analytic gradient; ``lower_bounds`` constrains single
    coefficients (the Platt slope stays positive). Add a column of ones to ``design``
    for an intercept.

    Args:
        design: ``(n, k)`` matrix of regressors.
        y: ``n`` outcomes, 0 or 1.
        lower_bounds: per coefficient, a lower bound or None.
        l2: ridge penalty on every coefficient (per row, like the mean log loss).
        weights: ``n`` non-negative row weights; the loss is then the weighted mean log
            loss. None weighs every row alike.

    Returns:
        The ``k`` coefficients.

    Raises:
        ModelInputError: mismatched shapes, weights that are negative or sum to zero, or
            only one class in ``y``.
    """
    n, k = design.shape
    problems: list[Problem] = []
    if y.shape != (n,):
        problems.append(
            Problem("y", "length_mismatch", 1, f"expected {n} labels, received {y.shape}")
        )
    elif np.unique(y).size < 2:
        problems.append(
            Problem("y", "one_class", n, "expected both outcomes 0 and 1 to fit a logistic map")
        )
    if weights is not None and (
        weights.shape != (n,) or not np.all(weights >= 0) or not weights.sum() > 0
    ):
        problems.append(
            Problem(
                "weights",
                "bad_weights",
                1,
                f"expected {n} non-negative weights with a positive sum, received shape "
                f"{weights.shape}",
            )
        )
    if problems:
        raise ModelInputError(problems)

    share = None if weights is None else weights / weights.sum()

    def loss(beta: FloatArray) -> tuple[float, FloatArray]:
        z = design @ beta
        row_loss = np.logaddexp(0.0, z) - y * z
        if share is None:
            value = float(np.mean(row_loss) + 0.5 * l2 * beta @ beta)
            grad = design.T @ (expit(z) - y) / n + l2 * beta
        else:
            value = float(share @ row_loss + 0.5 * l2 * beta @ beta)
            grad = design.T @ (share * (expit(z) - y)) + l2 * beta
        return value, np.asarray(grad, dtype=np.float64)

    limits = lower_bounds or (None,) * k
    bounds = [(lo, None) for lo in limits]
    start = np.array([0.0 if lo is None else max(1.0, lo) for lo in limits], dtype=np.float64)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(result.x, dtype=np.float64)


@dataclass(frozen=True)
class PlattCalibrator:
    """``sigmoid(slope * margin + intercept)`` with ``slope > 0``.

    Attributes:
        slope: multiplier of the margin (at least :data:`MIN_PLATT_SLOPE`).
        intercept: shift of the log-odds.
    """

    slope: float
    intercept: float
    kind: ClassVar[str] = "platt"

    @classmethod
    def fit(cls, margin: FloatArray, y: FloatArray) -> PlattCalibrator:
        """Fit slope and intercept by maximum likelihood, the slope bounded below.

        Raises:
            ModelInputError: mismatched lengths or a single class in ``y``.
        """
        design = np.column_stack([margin, np.ones_like(margin)])
        slope, intercept = fit_logistic(design, y, lower_bounds=(MIN_PLATT_SLOPE, None))
        return cls(slope=float(slope), intercept=float(intercept))

    def transform(self, margin: FloatArray) -> FloatArray:
        """Return ``sigmoid(slope * margin + intercept)``."""
        return np.asarray(expit(self.slope * margin + self.intercept), dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        """Return the kind, slope and intercept."""
        return {"kind": self.kind, "slope": self.slope, "intercept": self.intercept}


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Non-decreasing piecewise-linear map through fitted knots, flat beyond the ends.

    Attributes:
        knots_x: increasing margins of the knots.
        knots_y: non-decreasing probabilities at the knots.
    """

    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    kind: ClassVar[str] = "isotonic"

    @classmethod
    def fit(cls, margin: FloatArray, y: FloatArray) -> IsotonicCalibrator:
        """Fit an increasing isotonic regression of ``y`` on ``margin``.

        Raises:
            ModelInputError: mismatched lengths or a single class in ``y``.
        """
        if y.shape != margin.shape or np.unique(y).size < 2:
            raise ModelInputError(
                [
                    Problem(
                        "y",
                        "one_class_or_length",
                        int(y.size),
                        f"expected {margin.size} labels with both outcomes, received "
                        f"{y.size} with classes {np.unique(y).tolist()}",
                    )
                ]
            )
        iso = IsotonicRegression(
            y_min=ISOTONIC_EPS, y_max=1.0 - ISOTONIC_EPS, increasing=True, out_of_bounds="clip"
        ).fit(margin, y)
        return cls(
            knots_x=tuple(float(v) for v in iso.X_thresholds_),
            knots_y=tuple(float(v) for v in iso.y_thresholds_),
        )

    def transform(self, margin: FloatArray) -> FloatArray:
        """Interpolate between knots; constant beyond the first and last knot."""
        knots_x, knots_y = np.asarray(self.knots_x), np.asarray(self.knots_y)
        return np.asarray(np.interp(margin, knots_x, knots_y), dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        """Return the kind and the knots."""
        return {"kind": self.kind, "knots_x": list(self.knots_x), "knots_y": list(self.knots_y)}


AnyCalibrator = IdentityCalibrator | PlattCalibrator | IsotonicCalibrator


def calibrator_from_state(state: Mapping[str, Any]) -> AnyCalibrator:
    """Rebuild a calibrator from its :meth:`to_state` dictionary.

    Raises:
        ModelInputError: unknown kind or missing parameters.
    """
    kind = state.get("kind")
    try:
        if kind == "none":
            return IdentityCalibrator()
        if kind == "platt":
            return PlattCalibrator(slope=float(state["slope"]), intercept=float(state["intercept"]))
        if kind == "isotonic":
            return IsotonicCalibrator(
                knots_x=tuple(float(v) for v in state["knots_x"]),
                knots_y=tuple(float(v) for v in state["knots_y"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelInputError(
            [Problem("calibrator", "bad_state", 1, f"expected the parameters of {kind!r}: {exc}")]
        ) from exc
    raise ModelInputError(
        [
            Problem(
                "calibrator",
                "unknown_kind",
                1,
                f"expected kind 'none', 'platt' or 'isotonic', received {kind!r}",
            )
        ]
    )


def time_block_edges(times: npt.NDArray[Any], n_blocks: int) -> npt.NDArray[Any]:
    """Start times of ``n_blocks`` contiguous blocks with about equal numbers of dates.

    Blocks are cut between distinct timestamps, so rows of one date never straddle a
    cut. Returns the ``n_blocks - 1`` inner cut points (a block starts at each).
    """
    unique = np.unique(times)
    positions = np.linspace(0, unique.size, n_blocks + 1)[1:-1].astype(np.intp)
    return unique[np.clip(positions, 0, unique.size - 1)]


def _summed_log_loss(p: FloatArray, y: FloatArray) -> float:
    clipped = np.clip(p, 1e-15, 1.0 - 1e-15)
    return float(-np.sum(y * np.log(clipped) + (1.0 - y) * np.log1p(-clipped)))


def select_calibrator(
    margin: FloatArray,
    y: FloatArray,
    times: npt.NDArray[Any],
    label_end: npt.NDArray[Any] | None,
    method: CalibrationMethod,
    *,
    n_blocks: int = 4,
) -> tuple[AnyCalibrator, dict[str, Any]]:
    """Fit the calibrator for ``method``; for ``"auto"`` choose Platt or isotonic.

    ``"auto"`` runs forward-chaining validation on time-ordered blocks of the held-out
    rows: for each block after the first, both calibrators are fitted on the earlier
    blocks (rows whose ``label_end`` reaches the validation block are purged) and scored
    by log loss on the block. The method with the lower total out-of-sample log loss
    wins (ties and folds without both classes go to Platt, the two-parameter map that
    is harder to overfit); the winner is then refitted on all held-out rows.

    Args:
        margin: held-out log-odds margins of the booster.
        y: their outcomes.
        times: their as-of times (any orderable dtype).
        label_end: when each label became known, or None (no purging).
        method: ``"auto"``, ``"isotonic"``, ``"platt"`` or ``"none"``.
        n_blocks: validation blocks of ``"auto"``.

    Returns:
        The fitted calibrator and a report: ``method``, ``requested`` and, for
        ``"auto"``, the out-of-sample log loss per method and the number of folds.

    Raises:
        ModelInputError: the held-out rows do not contain both outcomes.
    """
    report: dict[str, Any] = {"requested": method, "n_rows": int(y.size)}
    if method == "none":
        report["method"] = "none"
        return IdentityCalibrator(), report
    if np.unique(y).size < 2:
        raise ModelInputError(
            [
                Problem(
                    "calibration block",
                    "one_class",
                    int(y.size),
                    f"expected both outcomes among the {y.size} held-out calibration rows, "
                    f"received only {np.unique(y).tolist()}; raise calibration_fraction, "
                    "add data, or use calibration='none'",
                )
            ]
        )
    chosen: Literal["platt", "isotonic"]
    if method == "auto":
        losses = {"platt": 0.0, "isotonic": 0.0}
        folds, scored = 0, 0
        edges = time_block_edges(times, n_blocks)
        block = np.searchsorted(edges, times, side="right")
        for k in range(1, edges.size + 1):
            fit_rows = block < k
            if label_end is not None:
                fit_rows &= label_end < edges[k - 1]
            valid_rows = block == k
            if np.unique(y[fit_rows]).size < 2 or not valid_rows.any():
                continue
            folds += 1
            scored += int(valid_rows.sum())
            platt = PlattCalibrator.fit(margin[fit_rows], y[fit_rows])
            iso = IsotonicCalibrator.fit(margin[fit_rows], y[fit_rows])
            losses["platt"] += _summed_log_loss(platt.transform(margin[valid_rows]), y[valid_rows])
            losses["isotonic"] += _summed_log_loss(iso.transform(margin[valid_rows]), y[valid_rows])
        chosen = "isotonic" if folds and losses["isotonic"] < losses["platt"] else "platt"
        report.update(
            {
                "n_folds": folds,
                "n_scored": scored,
                "log_loss_platt": losses["platt"] / scored if scored else None,
                "log_loss_isotonic": losses["isotonic"] / scored if scored else None,
            }
        )
    else:
        chosen = method
    report["method"] = chosen
    calibrator: AnyCalibrator = (
        PlattCalibrator.fit(margin, y) if chosen == "platt" else IsotonicCalibrator.fit(margin, y)
    )
    return calibrator, report
