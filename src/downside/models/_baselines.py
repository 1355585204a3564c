"""Baselines on the same frames and API as the surfaces.

- :class:`Climatology`: the trailing base rate per cell, strictly causal.
- :class:`GBMFirstPassage`: the closed-form barrier-hitting probability of a driftless
  (or drifting) geometric Brownian motion, corrected for discrete monitoring.
- :class:`VolLogistic`: logistic regression on the volatility-scaled distance only.

Each accepts the stacked drawdown frame (``threshold``) or support frame (``level``,
``ref_close``, ``distance_vol``) of :mod:`downside.datasets` as ``X``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags

from downside.errors import (
    ModelInputError,
    ModelSpecError,
    NotFittedError,
    PredictionInputError,
    Problem,
)
from downside.models._calibration import fit_logistic
from downside.models._surface import FrameInputTags, as_time_array, label_array
from downside.models._volbase import BGK_BETA, first_passage_probability

FloatArray = npt.NDArray[np.float64]
FrameKind = Literal["drawdown", "support"]


def _not_a_frame(X: Any) -> str:
    return f"expected a pandas DataFrame with named columns, received {type(X).__name__}"


def frame_kind(X: pd.DataFrame) -> FrameKind:
    """``"drawdown"`` for frames with ``threshold``, ``"support"`` for ``level`` frames.

    Raises:
        PredictionInputError: ``X`` is not a DataFrame, or has neither ``threshold`` nor
            ``level`` and ``ref_close``.
    """
    if not isinstance(X, pd.DataFrame):
        raise PredictionInputError(f"cannot tell the frame kind: {_not_a_frame(X)}")
    if "threshold" in X.columns:
        return "drawdown"
    if {"level", "ref_close"} <= set(X.columns):
        return "support"
    raise PredictionInputError(
        "cannot tell the frame kind: expected a drawdown frame (column 'threshold') or a "
        f"support frame (columns 'level' and 'ref_close'), received columns {list(X.columns)}"
    )


def _required(X: object, columns: Sequence[str], who: str) -> list[Problem]:
    if not isinstance(X, pd.DataFrame):
        return [Problem("X", "not_a_frame", 1, f"{who} {_not_a_frame(X)}")]
    missing = [c for c in columns if c not in X.columns]
    if not missing:
        return []
    return [
        Problem(
            "X",
            "missing_columns",
            len(missing),
            f"{who} needs columns {list(columns)}; missing {missing}",
            tuple(missing),
        )
    ]


def _raise_for_prediction(who: str, problems: Sequence[Problem]) -> None:
    if problems:
        details = "; ".join(p.render() for p in problems)
        raise PredictionInputError(
            f"{who} cannot predict these rows: {details}; fix the listed columns and retry"
        )


def _non_finite(X: pd.DataFrame, columns: Sequence[str]) -> list[Problem]:
    """Columns of ``X`` with missing or infinite values, one problem each."""
    problems = []
    for column in columns:
        values = pd.to_numeric(X[column], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            problems.append(
                Problem(
                    f"X.{column}",
                    "non_finite_query",
                    int(bad.sum()),
                    "expected a finite number on every row of a query column",
                )
            )
    return problems


def _frame_tags(
    tags: Tags,
    query: dict[str, tuple[str, ...]],
    *,
    volatility: tuple[str, ...] = (),
    positive_only: bool = False,
) -> Tags:
    """A binary classifier of named frame columns: reads ``query``, ignores other columns,
    takes as-of and label end times from the ``asof`` and ``label_end`` columns."""
    tags.input_tags = FrameInputTags(
        allow_nan=bool(volatility),
        positive_only=positive_only,
        two_d_array=tags.input_tags.two_d_array,
        query_columns=query,
        volatility_columns=volatility,
        every_column_is_input=False,
    )
    tags.target_tags.one_d_labels = True
    if tags.classifier_tags is not None:
        tags.classifier_tags.multi_class = False
    return tags


def _proba(p: FloatArray) -> FloatArray:
    return np.column_stack([1.0 - p, p])


def _labels(y: npt.ArrayLike, n: int, problems: list[Problem]) -> FloatArray:
    labels = label_array(y, problems)
    if labels is None:
        return np.zeros(n, dtype=np.float64)
    if labels.size != n:
        problems.append(
            Problem("y", "length_mismatch", 1, f"expected {n} labels, received {labels.size}")
        )
    elif not np.isin(labels, (0.0, 1.0)).all():
        bad = int((~np.isin(labels, (0.0, 1.0))).sum())
        problems.append(
            Problem("y", "non_binary_labels", bad, "expected 0 or 1 (drop unlabelled rows)")
        )
    return labels


class Climatology(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Trailing base rate per cell, from labels already known at each row's as-of time.

    Cells are (``threshold``, ``horizon_days``) for drawdown frames and
    (``horizon_days``, ``distance_vol`` bucket) for support frames. ``fit`` stores the
    labelled history; a prediction at ``asof`` counts only history rows with
    ``label_end <= asof`` (strictly causal, whatever the fit rows were). Thin cells are
    shrunk towards the pooled trailing rate of all cells, which is itself shrunk towards
    ``prior``::

        pooled = (events_all + prior_strength * prior) / (rows_all + prior_strength)
        p = (events_cell + prior_strength * pooled) / (rows_cell + prior_strength)

    Args:
        distance_vol_edges: inner edges of the ``distance_vol`` buckets (support frames).
        prior: base rate used before any label is known.
        prior_strength: pseudo-rows of the prior at each level of shrinkage.

    Attributes:
        kind_: ``"drawdown"`` or ``"support"``.
        history_: the labelled history: ``rows`` and ``events`` per ``cell`` and
            ``label_end`` (time number), ordered by ``label_end``.
        classes_: ``array([0, 1])``.
    """

    kind_: FrameKind
    history_: pd.DataFrame
    classes_: npt.NDArray[np.int64]

    def __init__(
        self,
        *,
        distance_vol_edges: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0),
        prior: float = 0.1,
        prior_strength: float = 20.0,
    ) -> None:
        self.distance_vol_edges = distance_vol_edges
        self.prior = prior
        self.prior_strength = prior_strength

    def _cells(self, X: pd.DataFrame, kind: FrameKind) -> pd.Series:
        if kind == "drawdown":
            keys = pd.MultiIndex.from_arrays(
                [X["threshold"].to_numpy(np.float64), X["horizon_days"].to_numpy(np.float64)]
            )
        else:
            bucket = np.digitize(X["distance_vol"].to_numpy(np.float64), self.distance_vol_edges)
            keys = pd.MultiIndex.from_arrays([X["horizon_days"].to_numpy(np.float64), bucket])
        return pd.Series([str(k) for k in keys], index=X.index)

    def _columns(self, kind: FrameKind) -> tuple[str, ...]:
        return (
            ("threshold", "horizon_days")
            if kind == "drawdown"
            else ("horizon_days", "distance_vol")
        )

    def __sklearn_tags__(self) -> Tags:
        """Cells of either frame kind; no feature is read, so its score is poor by design."""
        tags = _frame_tags(
            super().__sklearn_tags__(),
            {kind: self._columns(kind) for kind in ("drawdown", "support")},
        )
        if tags.classifier_tags is not None:
            tags.classifier_tags.poor_score = True
        return tags

    def fit(
        self,
        X: pd.DataFrame,
        y: npt.ArrayLike,
        *,
        times: npt.ArrayLike | pd.Series | None = None,
        label_end: npt.ArrayLike | pd.Series | None = None,
    ) -> Self:
        """Store the labelled history.

        Args:
            X: a drawdown or support frame.
            y: labels, 0 or 1.
            times: unused by the fit (kept for the common API); history is ordered by
                ``label_end``.
            label_end: when each label became known; default ``X["label_end"]``.

        Returns:
            ``self``.

        Raises:
            ModelSpecError: ``prior`` outside (0, 1) or ``prior_strength`` <= 0.
            ModelInputError: not a frame, missing or non-finite cell columns, bad labels,
                missing or unparsable times.
        """
        params = []
        if not 0 < self.prior < 1:
            params.append(
                Problem(
                    "Climatology.prior",
                    "invalid_parameter",
                    1,
                    f"expected in (0, 1), received {self.prior!r}",
                )
            )
        if not self.prior_strength > 0:
            params.append(
                Problem(
                    "Climatology.prior_strength",
                    "invalid_parameter",
                    1,
                    f"expected > 0, received {self.prior_strength!r}",
                )
            )
        if params:
            raise ModelSpecError(params)
        try:
            kind = frame_kind(X)
        except PredictionInputError as exc:
            raise ModelInputError([Problem("X", "unknown_frame", 1, str(exc))]) from exc
        problems = _required(X, self._columns(kind), "Climatology")
        problems += [] if problems else _non_finite(X, self._columns(kind))
        if label_end is None and "label_end" not in X.columns:
            problems.append(
                Problem("label_end", "missing", 1, "expected label_end= or a 'label_end' column")
            )
        labels = _labels(y, len(X), problems)
        if problems:
            raise ModelInputError(problems)
        end = as_time_array(
            "label_end", X["label_end"] if label_end is None else label_end, len(X), problems
        )
        if problems:
            raise ModelInputError(problems)
        history = pd.DataFrame(
            {
                "cell": self._cells(X, kind).to_numpy(),
                "label_end": end,
                "rows": np.ones(len(X), dtype=np.float64),
                "events": labels,
            }
        )
        return self._set_history(kind, history)

    def _set_history(self, kind: FrameKind, history: pd.DataFrame) -> Self:
        """Keep the history as rows and events per (cell, label end), ordered by label
        end (a prediction only counts rows whose label ended by its time, so rows that
        share a cell and a label end are interchangeable: counts, not rows, are kept)."""
        grouped = history.groupby(["label_end", "cell"], sort=True)[["rows", "events"]].sum()
        self.kind_ = kind
        self.history_ = grouped.reset_index()[["cell", "label_end", "rows", "events"]]
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return self

    @classmethod
    def merged(cls, fitted: Sequence[Climatology]) -> Climatology:
        """One climatology from several fitted on disjoint rows (e.g. one partition of
        symbols each): predictions equal those of one fitted on all the rows.

        Raises:
            ModelInputError: no climatology, an unfitted one, or different frame kinds
                or parameters.
        """
        problems = []
        if not fitted or not all(hasattr(c, "history_") for c in fitted):
            problems.append(Problem("fitted", "not_fitted", 1, "expected fitted climatologies"))
        elif len({(c.kind_, repr(c.get_params())) for c in fitted}) > 1:
            problems.append(
                Problem(
                    "fitted",
                    "different_climatologies",
                    len(fitted),
                    "expected one frame kind and the same parameters in every part",
                )
            )
        if problems:
            raise ModelInputError(problems)
        out = cls(**fitted[0].get_params())
        return out._set_history(fitted[0].kind_, pd.concat([c.history_ for c in fitted]))

    def predict_proba(
        self, X: pd.DataFrame, *, times: npt.ArrayLike | pd.Series | None = None
    ) -> FloatArray:
        """Trailing, shrunk base rate of each row's cell as of the row's time.

        Args:
            X: a frame of the kind seen in fit.
            times: as-of time of each row; default ``X["asof"]``.

        Returns:
            ``(n, 2)`` probabilities ``[P(no event), P(event)]``.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: not a frame, missing or non-finite cell columns, or
                missing times.
        """
        if not hasattr(self, "history_"):
            raise NotFittedError("Climatology")
        problems = _required(X, self._columns(self.kind_), "Climatology")
        _raise_for_prediction("Climatology", problems)
        problems += _non_finite(X, self._columns(self.kind_))
        if times is None and "asof" not in X.columns:
            problems.append(Problem("times", "missing", 1, "expected times= or an 'asof' column"))
        _raise_for_prediction("Climatology", problems)
        asof = as_time_array("times", X["asof"] if times is None else times, len(X), problems)
        _raise_for_prediction("Climatology", problems)
        m = float(self.prior_strength)
        hist = self.history_
        pooled_n, pooled_k = _counts_until(hist, asof)
        pooled = (pooled_k + m * self.prior) / (pooled_n + m)
        cells = self._cells(X, self.kind_).to_numpy()
        n_cell = np.zeros(len(X), dtype=np.float64)
        k_cell = np.zeros(len(X), dtype=np.float64)
        for cell, group in hist.groupby("cell", sort=False):
            rows = cells == cell
            if not rows.any():
                continue
            n_cell[rows], k_cell[rows] = _counts_until(group, asof[rows])
        return _proba((k_cell + m * pooled) / (n_cell + m))

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """1 where the base rate is at least 0.5.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: as :meth:`predict_proba`.
        """
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def _counts_until(history: pd.DataFrame, asof: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
    """Rows and events of ``history`` (ordered by label end) whose label ended at or
    before each time of ``asof``."""
    seen = np.searchsorted(history["label_end"].to_numpy(), asof, side="right")
    rows = np.concatenate([[0.0], np.cumsum(history["rows"].to_numpy())])[seen]
    events = np.concatenate([[0.0], np.cumsum(history["events"].to_numpy())])[seen]
    return rows, events


class GBMFirstPassage(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Closed-form probability that a GBM touches the barrier within the horizon.

    The barrier is ``ln(1 - threshold)`` for drawdown frames and
    ``ln(level / ref_close)`` for support frames. Labels observed at discrete times
    cross less often than a continuous path; following Broadie, Glasserman and Kou
    (1997) the continuous formula is evaluated at a barrier shifted away from the price,
    ``b - 0.5826 * sigma * sqrt(dt)`` (the price barrier times
    ``exp(-0.5826 sigma sqrt(dt))``).

    The monitoring interval ``dt`` follows the labels of :mod:`downside.targets`:
    drawdown labels use every bar's low (the running minimum of the path), so they are
    treated as continuously monitored (``dt = 0``); support labels use the default break
    rule, a daily close below the level (``dt = 1`` day). Pass ``monitoring_dt_days``
    for other rules (``1.0`` for close-only drawdowns, ``0.0`` for the ``"low"`` break
    rule).

    Args:
        vol: ``"ewma"`` uses ``sigma_daily``; ``"parkinson"`` uses ``sigma_parkinson``;
            ``"implied"`` uses ``sigma_implied`` (daily implied volatility), or
            ``sigma_parkinson`` where it is missing.
        drift: drift of the log price per day (0: the martingale-like default).
        monitoring_dt_days: monitoring interval in days; None picks it by frame kind.

    Attributes:
        classes_: ``array([0, 1])``.
    """

    classes_: npt.NDArray[np.int64]

    def __init__(
        self,
        *,
        vol: Literal["ewma", "parkinson", "implied"] = "ewma",
        drift: float = 0.0,
        monitoring_dt_days: float | None = None,
    ) -> None:
        self.vol = vol
        self.drift = drift
        self.monitoring_dt_days = monitoring_dt_days

    def __sklearn_tags__(self) -> Tags:
        """Either frame kind, positive inputs only (volatilities, horizons, thresholds,
        levels and prices); ``y`` is not needed: nothing is learned from the rows, which
        ``predict_proba`` reads and checks."""
        tags = _frame_tags(
            super().__sklearn_tags__(),
            {
                kind: tuple(c for c in self._columns(kind) if c != "sigma_implied")
                for kind in ("drawdown", "support")
            },
            volatility=("sigma_implied",) if self.vol == "implied" else (),
            positive_only=True,
        )
        tags.target_tags.required = False
        if tags.classifier_tags is not None:
            tags.classifier_tags.poor_score = True
        return tags

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None, **fit_params: Any) -> Self:
        """Validate the parameters; nothing is learned from the rows.

        Args:
            X: a drawdown or support frame (unused beyond the API).
            y: unused.
            **fit_params: ``times``/``label_end`` of the common API, unused.

        Returns:
            ``self``.

        Raises:
            ModelSpecError: an unknown ``vol`` or a negative ``monitoring_dt_days``.
        """
        problems = []
        if self.vol not in ("ewma", "parkinson", "implied"):
            problems.append(
                Problem(
                    "GBMFirstPassage.vol",
                    "invalid_parameter",
                    1,
                    f"expected 'ewma', 'parkinson' or 'implied', received {self.vol!r}",
                )
            )
        if self.monitoring_dt_days is not None and not self.monitoring_dt_days >= 0:
            problems.append(
                Problem(
                    "GBMFirstPassage.monitoring_dt_days",
                    "invalid_parameter",
                    1,
                    f"expected >= 0 or None, received {self.monitoring_dt_days!r}",
                )
            )
        if problems:
            raise ModelSpecError(problems)
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return self

    def _columns(self, kind: FrameKind) -> list[str]:
        """The columns ``predict_proba`` reads from a frame of ``kind``."""
        sigma = "sigma_daily" if self.vol == "ewma" else "sigma_parkinson"
        needed = [sigma, "horizon_days"] + (["sigma_implied"] if self.vol == "implied" else [])
        return needed + (["threshold"] if kind == "drawdown" else ["level", "ref_close"])

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Barrier-hitting probabilities, ``(n, 2)``.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: missing columns (``sigma_parkinson`` for
                ``vol="parkinson"``), non-positive volatilities or horizons, thresholds
                outside (0, 1), non-positive levels or reference prices.
        """
        if not hasattr(self, "classes_"):
            raise NotFittedError("GBMFirstPassage")
        kind = frame_kind(X)
        sigma_col = "sigma_daily" if self.vol == "ewma" else "sigma_parkinson"
        problems = _required(X, self._columns(kind), f"GBMFirstPassage(vol={self.vol!r})")
        _raise_for_prediction("GBMFirstPassage", problems)
        sigma = X[sigma_col].to_numpy(dtype=np.float64, na_value=np.nan)
        if self.vol == "implied":
            implied = X["sigma_implied"].to_numpy(dtype=np.float64, na_value=np.nan)
            sigma = np.where(np.isfinite(implied) & (implied > 0), implied, sigma)
        horizon = X["horizon_days"].to_numpy(dtype=np.float64, na_value=np.nan)
        checks = {sigma_col: sigma, "horizon_days": horizon}
        if kind == "drawdown":
            threshold = X["threshold"].to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~((threshold > 0) & (threshold < 1))
            if bad.any():
                problems.append(
                    Problem(
                        "X.threshold",
                        "out_of_range",
                        int(bad.sum()),
                        "expected thresholds in (0, 1)",
                    )
                )
            barrier = np.log1p(-np.clip(threshold, 0.0, 1.0 - 1e-12))
        else:
            level = X["level"].to_numpy(dtype=np.float64, na_value=np.nan)
            ref = X["ref_close"].to_numpy(dtype=np.float64, na_value=np.nan)
            checks |= {"level": level, "ref_close": ref}
            valid = np.isfinite(level) & np.isfinite(ref) & (level > 0) & (ref > 0)
            ratio = np.divide(level, ref, out=np.ones_like(level), where=valid)
            barrier = np.log(ratio)
        for name, values in checks.items():
            bad = ~(np.isfinite(values) & (values > 0))
            if bad.any():
                problems.append(
                    Problem(
                        f"X.{name}", "not_positive", int(bad.sum()), "expected finite values > 0"
                    )
                )
        _raise_for_prediction("GBMFirstPassage", problems)
        dt = self.monitoring_dt_days
        if dt is None:
            dt = 0.0 if kind == "drawdown" else 1.0
        shifted = barrier - BGK_BETA * sigma * np.sqrt(dt)
        p = first_passage_probability(shifted, sigma, horizon, self.drift)
        return _proba(np.where(barrier >= 0.0, 1.0, p))

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """1 where the probability is at least 0.5.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: as :meth:`predict_proba`.
        """
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


class VolLogistic(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """The volatility-only model: ``sigmoid(a * z_distance + b * ln(horizon_days) + c)``.

    Fitted by maximum likelihood with ``a >= 0`` (the probability rises as the barrier
    gets closer in volatility units). A logistic regression fitted by likelihood is its
    own Platt scaling, so its probabilities are calibrated on its two inputs.

    Args:
        l2: small ridge penalty that keeps the fit finite on separable data.

    Attributes:
        coef_: ``[a, b]``.
        intercept_: ``c``.
        classes_: ``array([0, 1])``.
    """

    coef_: FloatArray
    intercept_: float
    classes_: npt.NDArray[np.int64]

    def __init__(self, *, l2: float = 1e-6) -> None:
        self.l2 = l2

    def __sklearn_tags__(self) -> Tags:
        """Either frame kind: reads ``z_distance`` and ``horizon_days`` only."""
        query = ("z_distance", "horizon_days")
        return _frame_tags(super().__sklearn_tags__(), {"drawdown": query, "support": query})

    @staticmethod
    def _design(X: pd.DataFrame, problems: list[Problem]) -> FloatArray:
        problems.extend(_required(X, ("z_distance", "horizon_days"), "VolLogistic"))
        if problems:
            return np.empty((0, 3))
        z = X["z_distance"].to_numpy(dtype=np.float64, na_value=np.nan)
        h = X["horizon_days"].to_numpy(dtype=np.float64, na_value=np.nan)
        bad_h = ~(np.isfinite(h) & (h > 0))
        for name, bad, rule in (
            ("z_distance", ~np.isfinite(z), "finite values"),
            ("horizon_days", bad_h, "finite values > 0"),
        ):
            if bad.any():
                problems.append(
                    Problem(f"X.{name}", "bad_values", int(bad.sum()), f"expected {rule}")
                )
        return np.column_stack([z, np.log(np.where(bad_h, 1.0, h)), np.ones_like(z)])

    def fit(
        self,
        X: pd.DataFrame,
        y: npt.ArrayLike,
        *,
        times: npt.ArrayLike | pd.Series | None = None,
        label_end: npt.ArrayLike | pd.Series | None = None,
    ) -> Self:
        """Fit the three coefficients.

        Args:
            X: a frame with ``z_distance`` and ``horizon_days``.
            y: labels, 0 or 1.
            times: unused (common API).
            label_end: unused (common API).

        Returns:
            ``self``.

        Raises:
            ModelSpecError: a negative ``l2``.
            ModelInputError: missing or non-finite inputs, bad labels, a single class.
        """
        if not self.l2 >= 0:
            raise ModelSpecError(
                [
                    Problem(
                        "VolLogistic.l2",
                        "invalid_parameter",
                        1,
                        f"expected >= 0, received {self.l2!r}",
                    )
                ]
            )
        problems: list[Problem] = []
        design = self._design(X, problems)
        if not isinstance(X, pd.DataFrame):
            raise ModelInputError(problems)
        labels = _labels(y, len(X), problems)
        if problems:
            raise ModelInputError(problems)
        beta = fit_logistic(design, labels, lower_bounds=(0.0, None, None), l2=self.l2)
        self.coef_ = beta[:2].copy()
        self.intercept_ = float(beta[2])
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return self

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """``(n, 2)`` probabilities.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: missing or non-finite inputs.
        """
        if not hasattr(self, "coef_"):
            raise NotFittedError("VolLogistic")
        problems: list[Problem] = []
        design = self._design(X, problems)
        _raise_for_prediction("VolLogistic", problems)
        beta = np.append(self.coef_, self.intercept_)
        return _proba(np.asarray(expit(design @ beta), dtype=np.float64))

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """1 where the probability is at least 0.5.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: as :meth:`predict_proba`.
        """
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)
