"""Monotone, calibrated LightGBM surfaces: P(drawdown) and P(support break).

Both models share :class:`BoostedSurface`: one LightGBM binary model over rows stacked
across the query grid ((threshold, horizon) or (level, horizon)), monotone constraints
on the query columns, and a monotone calibrator fitted on the last block of time.

Fitting, step by step:

1. Validate parameters and inputs (all problems at once). Numeric and boolean columns
   become float64; ``category`` columns keep their levels; pandas ``str``/object
   columns become categories with their sorted distinct values as levels (LightGBM
   rejects strings). The levels are stored and applied again at prediction.
2. With ``base="parkinson"`` (the shipped specs' choice), the trees boost from the
   log-odds of the GBM first-passage probability with the Parkinson range volatility
   (the strongest of the backtest's baselines on 2022-2025; no fitted parameter). With
   ``base="combo"``, from the mean of an EWMA filtered-historical-simulation
   probability (its table fitted from the training rows' standardized returns) and an
   implied-volatility GBM probability. With ``base="vol_logistic"``, fit the
   volatility-only logistic ``a * z_distance + b * ln(horizon_days) + c`` (``a, b >=
   0``, so it is monotone in threshold and horizon) and boost from its log-odds. In
   every case the base's logit is LightGBM's ``init_score``: the trees learn only how
   leverage, funding, flows, rates, implied volatility and technicals move the
   probability away from what volatility alone says, and with few informative splits
   the model falls back to the base instead of to regime-specific levels of the
   training years. ``n_estimators = 0`` is the base alone.
3. Train the booster on all rows (``callbacks`` and ``eval_set`` act here, so an
   Optuna pruning callback can stop a trial before any further work).
4. Calibration (unless ``calibration="none"``): the distinct as-of times are ordered
   and the last ``calibration_fraction`` of them is held out. A second booster with the
   same number of rounds is trained on earlier rows whose ``label_end`` falls before the
   held-out block (rows whose label reaches into it are purged), its margins on the
   held-out rows fit the calibrator (see :func:`select_calibrator` for ``"auto"``), and
   the booster of step 2 is kept together with that calibrator. Rows are never
   shuffled.

Recency weighting (``weight_half_life_days``): each training row weighs
``0.5 ** (age_days / weight_half_life_days)``, its age counted back from the latest
as-of time of the rows being fitted, in the booster (LightGBM's row weights) and in the
fitted ``vol_logistic`` base; the calibration booster and base weigh their own rows
from their own latest time. The ``parkinson`` base has no parameter, and the ``combo``
base's simulation table is drawn from distinct (time, return) pairs, unweighted.

Monotonicity survives calibration because every calibrator is non-decreasing in the
margin and float addition of non-decreasing tree outputs is non-decreasing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import InputTags, Tags

from downside.datasets import VOL_INPUTS
from downside.errors import (
    ModelInputError,
    ModelSpecError,
    NotFittedError,
    PredictionInputError,
    Problem,
)
from downside.models._calibration import (
    AnyCalibrator,
    CalibrationMethod,
    IdentityCalibrator,
    calibrator_from_state,
    fit_logistic,
    select_calibrator,
)
from downside.models._volbase import EwmaFhs, combo_probability, implied_gbm_probability

FloatArray = npt.NDArray[np.float64]

STATE_FORMAT = "downside.boosted-surface/1"
"""Version tag of :meth:`BoostedSurface.to_state` dictionaries."""

VALID_NAME = "valid"
"""Name of ``eval_set`` in LightGBM's evaluation results (for pruning callbacks)."""

EVAL_METRIC = "binary_logloss"
"""Metric LightGBM reports per iteration on ``eval_set``."""

_BAD_NAME = re.compile(r'[\s\[\]{}:,"]')

FrameKind = Literal["drawdown", "support"]


@dataclass(slots=True)
class FrameInputTags(InputTags):  # type: ignore[misc]
    """scikit-learn's input tags plus what an estimator of downside frames needs.

    scikit-learn's common checks feed unnamed numpy arrays; the estimators of this
    package find their inputs by column name. These tags say so (``__sklearn_tags__``
    returns them as ``tags.input_tags``), and :mod:`downside.testing.estimators`
    reads them to explain which scikit-learn checks cannot apply and to build the
    frames its own checks fit on.

    Attributes:
        dataframe_only: ``X`` must be a pandas DataFrame with named columns; a numpy
            array, a Series or a list is refused with a downside error naming ``X``.
        query_columns: frame kind (``"drawdown"``, ``"support"``) to the columns ``X``
            of that kind must have, finite on every row; the kinds listed are the ones
            the estimator accepts.
        volatility_columns: further columns ``X`` must have, where NaN is allowed (the
            volatility inputs of a base: implied volatility is missing before DVOL).
        every_column_is_input: True when every column of ``X`` is a model input (keys
            and times then go to ``fit(times=..., label_end=...)``); False when the
            named columns are read, the rest ignored, and the as-of and label end
            times come from the ``asof`` and ``label_end`` columns.
    """

    dataframe_only: bool = True
    query_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    volatility_columns: tuple[str, ...] = ()
    every_column_is_input: bool = False


def as_time_array(name: str, values: Any, n: int, problems: list[Problem]) -> npt.NDArray[Any]:
    """Times as comparable numbers: int64 microseconds for datetimes, floats otherwise."""
    series = pd.Series(values).reset_index(drop=True)
    if len(series) != n:
        problems.append(
            Problem(
                name,
                "length_mismatch",
                1,
                f"expected {n} values (rows of X), received {len(series)}",
            )
        )
        return np.zeros(n, dtype=np.int64)
    if series.isna().any():
        problems.append(
            Problem(
                name, "missing_values", int(series.isna().sum()), "expected a time on every row"
            )
        )
        return np.zeros(n, dtype=np.int64)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
        return np.asarray(series.dt.as_unit("us").astype("int64").to_numpy(), dtype=np.int64)
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64)
    problems.append(
        Problem(
            name, "not_a_time", n, f"expected datetimes or numbers, received dtype {series.dtype}"
        )
    )
    return np.zeros(n, dtype=np.int64)


def valid_half_life(value: Any) -> bool:
    """Whether ``value`` is a recency half-life: None, or a finite number of days > 0."""
    if value is None:
        return True
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
        and value > 0
    )


def recency_weights(times_us: npt.NDArray[np.int64], half_life_days: float) -> FloatArray:
    """Row weights ``0.5 ** (age_days / half_life_days)``, the age of each row counted
    back from the latest of ``times_us`` (as-of times in microseconds since the epoch,
    as :func:`as_time_array` returns datetimes)."""
    age_days = (times_us.max() - times_us).astype(np.float64) / 86_400e6
    return np.asarray(0.5 ** (age_days / half_life_days), dtype=np.float64)


def _category_codes(series: pd.Series, levels: list[Any]) -> FloatArray:
    """Codes of ``series`` among ``levels`` as floats; -1 marks unseen or missing values."""
    if levels and all(isinstance(v, str) for v in levels):
        series = series.astype("str")
    codes = pd.Index(levels).get_indexer(pd.Index(series.astype(object)))
    return np.asarray(codes, dtype=np.float64)


def label_array(y: Any, problems: list[Problem]) -> FloatArray | None:
    """Labels as a flat float array; None (and a problem on ``y``) when ``y`` is None or
    not numeric."""
    if y is None:
        problems.append(Problem("y", "missing", 1, "expected labels 0 or 1, received None"))
        return None
    try:
        return np.asarray(y, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        problems.append(
            Problem("y", "non_binary_labels", 1, f"expected labels 0 or 1, not numbers: {exc}")
        )
        return None


Columns = pd.DataFrame | Mapping[str, Any]
"""Model inputs: a DataFrame, or a mapping of column name to array (no pandas overhead)."""


def _n_rows(X: Columns) -> int:
    if isinstance(X, pd.DataFrame):
        return len(X)
    return len(next(iter(X.values()))) if X else 0


def _to_matrix(
    X: Columns,
    names: Sequence[str],
    categories: Mapping[str, list[Any]],
    query: Sequence[str],
    problems: list[Problem],
) -> FloatArray:
    """Float matrix in model column order; categories as codes, NaN where missing.

    Records unseen category levels, non-numeric values and non-finite query values.
    """
    matrix = np.empty((_n_rows(X), len(names)), dtype=np.float64)
    for j, col in enumerate(names):
        values = X[col]
        if col in categories:
            series = values if isinstance(values, pd.Series) else pd.Series(values)
            codes = _category_codes(series, categories[col])
            unseen = (codes < 0) & series.notna().to_numpy()
            if unseen.any():
                shown = sorted({str(v) for v in series[unseen].unique()})
                problems.append(
                    Problem(
                        f"X.{col}",
                        "unknown_categories",
                        int(unseen.sum()),
                        f"expected one of the levels seen in fit {categories[col][:10]}",
                        tuple(shown),
                    )
                )
            codes[codes < 0] = np.nan
            matrix[:, j] = codes
            continue
        try:
            if isinstance(values, pd.Series):
                matrix[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                matrix[:, j] = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            problems.append(
                Problem(
                    f"X.{col}", "not_numeric", len(matrix), f"expected numbers as in fit: {exc}"
                )
            )
    for col in query:
        bad = ~np.isfinite(matrix[:, list(names).index(col)])
        if bad.any():
            problems.append(
                Problem(
                    f"X.{col}",
                    "non_finite_query",
                    int(bad.sum()),
                    "expected a finite value on every row of a query column",
                )
            )
    return matrix


class BoostedSurface(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Shared machinery of :class:`DrawdownSurface` and :class:`SupportBreakModel`.

    Subclasses only declare ``monotone`` (query column to constraint: +1 the
    probability never falls as the column grows, -1 never rises) and ``always_on``
    (query columns that stay switched on in family explanations).

    Args:
        n_estimators: boosting rounds; 0 keeps the base alone (no trees: the
            probability is the calibrated base, every driver family contributes 0).
        learning_rate: shrinkage per round.
        num_leaves: leaves per tree.
        min_child_samples: minimum rows per leaf (stacked rows of one date are highly
            dependent, so this is large).
        feature_fraction: share of columns sampled per tree.
        bagging_fraction: share of rows sampled per bagging round.
        bagging_freq: bagging every this many rounds (0 disables bagging).
        lambda_l2: L2 penalty on leaf values.
        min_gain_to_split: minimum loss reduction of a split.
        monotone_constraints_method: LightGBM's ``basic``, ``intermediate`` or ``advanced``.
        calibration: ``"auto"`` (Platt or isotonic by time-ordered validation),
            ``"isotonic"``, ``"platt"`` or ``"none"``.
        calibration_fraction: share of the distinct as-of times held out, at the end,
            to fit the calibrator.
        base: ``"none"`` (trees from a constant), ``"vol_logistic"`` (trees boost from
            the volatility-only logistic fitted on the same rows; needs ``z_distance``
            and ``horizon_days`` among the inputs) or ``"combo"`` (trees boost from the
            volatility combination of :mod:`downside.models._volbase`; needs the frame's
            ``z_distance, horizon_days, sigma_daily`` and volatility inputs) or
            ``"parkinson"`` (trees boost from the GBM first passage with the Parkinson
            range volatility: no fitted parameter).
        weight_half_life_days: recency weighting of the training rows: a row ``d``
            days older than the latest as-of time of the rows being fitted weighs
            ``0.5 ** (d / weight_half_life_days)`` (needs datetime ``times``). None
            weighs every row alike.
        random_state: LightGBM seed (None: LightGBM's default seeds).
        n_jobs: LightGBM ``num_threads``.
        verbose: LightGBM verbosity (-1 silent).

    Attributes:
        booster_: the fitted :class:`lightgbm.Booster` (loaded from its text format), or
            None with ``n_estimators=0``.
        feature_names_: input columns in model order (also ``feature_names_in_``).
        categories_: levels of each categorical column.
        calibrator_: the monotone map from margin to probability.
        calibration_report_: which calibrator was chosen, and the validation losses.
        base_coef_: coefficients ``[a, b, c]`` of the base logistic (zeros without one).
        base_fhs_: the simulation table of the combination base (None without one).
        tree_features_: the inputs the trees split on: every input but the frame's
            volatility inputs (:data:`downside.datasets.VOL_INPUTS`), which only feed
            the base.
        classes_: ``array([0, 1])``.
        n_iter_: boosting rounds kept (the best iteration under early stopping).
        evals_result_: per-iteration ``eval_set`` log loss, ``{"valid": {...}}``.
    """

    monotone: ClassVar[Mapping[str, int]] = {}
    always_on: ClassVar[tuple[str, ...]] = ()
    low_monitored: ClassVar[bool] = True
    """Whether labels count intraday lows (drawdowns) rather than daily closes (support
    breaks); the combination base corrects its barrier accordingly."""
    target: ClassVar[FrameKind] = "drawdown"
    """The frames the estimator is fitted on (``"support"``: one row per level)."""

    booster_: lgb.Booster | None
    feature_names_: list[str]
    feature_names_in_: npt.NDArray[np.object_]
    n_features_in_: int
    categories_: dict[str, list[Any]]
    calibrator_: AnyCalibrator
    calibration_report_: dict[str, Any]
    base_coef_: FloatArray
    base_fhs_: EwmaFhs | None
    tree_features_: list[str]
    classes_: npt.NDArray[np.int64]
    n_iter_: int
    evals_result_: dict[str, Any]

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 200,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        bagging_freq: int = 1,
        lambda_l2: float = 10.0,
        min_gain_to_split: float = 0.0,
        monotone_constraints_method: Literal["basic", "intermediate", "advanced"] = "advanced",
        calibration: CalibrationMethod = "auto",
        calibration_fraction: float = 0.2,
        base: Literal["none", "vol_logistic", "combo", "parkinson"] = "none",
        weight_half_life_days: float | None = None,
        random_state: int | None = None,
        n_jobs: int = 1,
        verbose: int = -1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.bagging_freq = bagging_freq
        self.lambda_l2 = lambda_l2
        self.min_gain_to_split = min_gain_to_split
        self.monotone_constraints_method = monotone_constraints_method
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.base = base
        self.weight_half_life_days = weight_half_life_days
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ tags

    def _base_columns(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Inputs of the volatility base: (finite on every row, NaN allowed)."""
        if self.base == "vol_logistic":
            return ("z_distance", "horizon_days"), ()
        scale = ("z_distance", "horizon_days", "sigma_daily", "sigma_parkinson")
        if self.base == "parkinson":
            return scale, ()
        if self.base == "combo":
            return scale, ("sigma_implied", "std_ret_1d")
        return (), ()

    def _query_columns(self) -> list[str]:
        """Columns that must be present and finite: the monotone query columns and the
        base's volatility scale (a row without it has no base probability)."""
        finite, _ = self._base_columns()
        return list(dict.fromkeys([*self.monotone, *finite]))

    def __sklearn_tags__(self) -> Tags:
        """A binary classifier of one frame kind, on DataFrames only: NaN allowed in
        features (not in query columns), category and string columns become categories,
        every column is an input."""
        tags = super().__sklearn_tags__()
        base = tags.input_tags
        tags.input_tags = FrameInputTags(
            allow_nan=True,
            categorical=True,
            string=True,
            two_d_array=base.two_d_array,
            query_columns={self.target: tuple(self._query_columns())},
            volatility_columns=self._base_columns()[1],
            every_column_is_input=True,
        )
        tags.target_tags.one_d_labels = True
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> None:
        name = type(self).__name__
        checks: list[tuple[str, bool, str]] = [
            ("n_estimators", self.n_estimators >= 0, ">= 0"),
            (
                "base",
                self.n_estimators > 0 or self.base != "none",
                "a base when n_estimators is 0",
            ),
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("num_leaves", self.num_leaves >= 2, ">= 2"),
            ("min_child_samples", self.min_child_samples >= 1, ">= 1"),
            ("feature_fraction", 0 < self.feature_fraction <= 1, "in (0, 1]"),
            ("bagging_fraction", 0 < self.bagging_fraction <= 1, "in (0, 1]"),
            ("bagging_freq", self.bagging_freq >= 0, ">= 0"),
            ("lambda_l2", self.lambda_l2 >= 0, ">= 0"),
            ("min_gain_to_split", self.min_gain_to_split >= 0, ">= 0"),
            (
                "monotone_constraints_method",
                self.monotone_constraints_method in ("basic", "intermediate", "advanced"),
                "'basic', 'intermediate' or 'advanced'",
            ),
            (
                "calibration",
                self.calibration in ("auto", "isotonic", "platt", "none"),
                "'auto', 'isotonic', 'platt' or 'none'",
            ),
            ("calibration_fraction", 0 < self.calibration_fraction < 1, "in (0, 1)"),
            (
                "base",
                self.base in ("none", "vol_logistic", "combo", "parkinson"),
                "'none', 'vol_logistic', 'combo' or 'parkinson'",
            ),
            (
                "weight_half_life_days",
                valid_half_life(self.weight_half_life_days),
                "None or a positive number of days",
            ),
            ("n_jobs", self.n_jobs >= 1, ">= 1"),
        ]
        problems = [
            Problem(
                f"{name}.{param}",
                "invalid_parameter",
                1,
                f"expected {rule}, received {getattr(self, param)!r}",
            )
            for param, ok, rule in checks
            if not ok
        ]
        if problems:
            raise ModelSpecError(problems)

    def _lgb_params(self, names: Sequence[str]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": "binary",
            "metric": EVAL_METRIC,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "min_gain_to_split": self.min_gain_to_split,
            "monotone_constraints": [self.monotone.get(n, 0) for n in names],
            "monotone_constraints_method": self.monotone_constraints_method,
            "num_threads": self.n_jobs,
            "verbose": self.verbose,
            "deterministic": True,
            "force_row_wise": True,
        }
        if self.random_state is not None:
            params["seed"] = self.random_state
        return params

    # ------------------------------------------------------------------ inputs

    def _fit_inputs(
        self, X: pd.DataFrame
    ) -> tuple[list[str], dict[str, list[Any]], FloatArray, list[Problem]]:
        """Column names, category levels and the matrix of ``X``, with every problem."""
        problems: list[Problem] = []
        names = [str(c) for c in X.columns]
        query = self._query_columns()
        vol = [c for c in self._base_columns()[1] if c not in query]
        missing = [c for c in [*query, *vol] if c not in names]
        if missing:
            with_base = f" and, with base={self.base!r}, {vol}" if vol else ""
            problems.append(
                Problem(
                    "X",
                    "missing_columns",
                    len(missing),
                    f"{type(self).__name__} needs the query columns {query}{with_base}; "
                    f"missing {missing}",
                    tuple(missing),
                )
            )
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(
                Problem(
                    "X",
                    "duplicate_columns",
                    len(dupes),
                    "expected unique column names",
                    tuple(dupes),
                )
            )
        bad_names = [n for n in names if _BAD_NAME.search(n) or n == "bias"]
        if bad_names:
            problems.append(
                Problem(
                    "X",
                    "bad_column_names",
                    len(bad_names),
                    "expected names without whitespace or [ ] { } : , \" and not 'bias' "
                    "(LightGBM's text format and contributions() reserve them)",
                    tuple(bad_names),
                )
            )
        categories: dict[str, list[Any]] = {}
        unsupported: list[str] = []
        for col in names if not dupes else []:
            dtype = X[col].dtype
            if isinstance(dtype, pd.CategoricalDtype):
                categories[col] = list(dtype.categories)
            elif pd.api.types.is_string_dtype(dtype):
                categories[col] = sorted({str(v) for v in X[col].dropna().unique()})
            elif not pd.api.types.is_numeric_dtype(dtype):
                unsupported.append(f"{col} ({dtype})")
        if unsupported:
            problems.append(
                Problem(
                    "X",
                    "unsupported_dtypes",
                    len(unsupported),
                    "expected numeric, boolean, category or string columns; pass times "
                    "through `times=`/`label_end=` rather than as inputs",
                    tuple(unsupported),
                )
            )
        query_as_category = [c for c in query if c in categories]
        if query_as_category:
            problems.append(
                Problem(
                    "X",
                    "categorical_query_columns",
                    len(query_as_category),
                    "expected numeric query columns",
                    tuple(query_as_category),
                )
            )
        if problems:
            return names, categories, np.empty((0, 0)), problems
        matrix = _to_matrix(X, names, categories, query, problems)
        return names, categories, matrix, problems

    def to_matrix(self, X: Columns) -> FloatArray:
        """The float64 input matrix of ``X`` in model column order (categories as codes,
        NaN where missing), as the booster sees it.

        Args:
            X: a DataFrame, or a mapping of column name to array, with every column of
                :attr:`feature_names_` (extra columns are ignored).

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: not a frame or mapping, missing columns, unseen
                category levels, non-numeric values, non-finite query values.
        """
        self._check_fitted()
        if not isinstance(X, pd.DataFrame | Mapping):
            raise PredictionInputError(
                f"{type(self).__name__} expects a pandas DataFrame with columns "
                f"{self.feature_names_}, received {type(X).__name__}; build one with these columns"
            )
        present = X.columns if isinstance(X, pd.DataFrame) else X.keys()
        missing = [c for c in self.feature_names_ if c not in present]
        if missing:
            raise PredictionInputError(
                f"{type(self).__name__} input lacks {len(missing)} column(s) it was fitted "
                f"with: {missing}; expected all of {self.feature_names_} (extra columns are "
                "ignored); select the same input columns as in fit"
            )
        problems: list[Problem] = []
        matrix = _to_matrix(
            X, self.feature_names_, self.categories_, self._query_columns(), problems
        )
        if problems:
            details = "; ".join(p.render() for p in problems)
            raise PredictionInputError(
                f"{type(self).__name__} cannot predict these rows: {details}; "
                "fix the listed columns (the model accepts what it saw in fit)"
            )
        return matrix

    def base_margin(self, matrix: FloatArray) -> FloatArray:
        """Log-odds of the volatility base per row of :meth:`to_matrix` (zeros without a
        base): what the trees boost from.

        Raises:
            NotFittedError: before ``fit``.
        """
        self._check_fitted()
        return self._base_margin(matrix, self.feature_names_, self._fitted_base())

    def tree_margin(self, matrix: FloatArray) -> FloatArray:
        """The booster's log-odds per row of :meth:`to_matrix`, without the base.

        Raises:
            NotFittedError: before ``fit``.
        """
        self._check_fitted()
        if self.booster_ is None:
            return np.zeros(len(matrix), dtype=np.float64)
        raw = self.booster_.predict(
            self.tree_matrix(matrix), raw_score=True, num_threads=self.n_jobs
        )
        return np.asarray(raw, dtype=np.float64)

    def tree_matrix(self, matrix: FloatArray) -> FloatArray:
        """The columns of :meth:`to_matrix` the trees split on (:attr:`tree_features_`).

        Raises:
            NotFittedError: before ``fit``.
        """
        self._check_fitted()
        if self.tree_features_ == self.feature_names_:
            return matrix
        index = [self.feature_names_.index(c) for c in self.tree_features_]
        return matrix[:, index]

    def _fitted_base(self) -> FloatArray | EwmaFhs:
        return (
            self.base_fhs_
            if self.base == "combo" and self.base_fhs_ is not None
            else self.base_coef_
        )

    def _base_design(self, matrix: FloatArray, names: Sequence[str]) -> FloatArray:
        z = matrix[:, list(names).index("z_distance")]
        h = matrix[:, list(names).index("horizon_days")]
        return np.column_stack([z, np.log(np.maximum(h, 1e-9)), np.ones_like(z)])

    def _fit_base(
        self,
        matrix: FloatArray,
        labels: FloatArray,
        names: Sequence[str],
        times: npt.NDArray[Any],
        weights: FloatArray | None = None,
    ) -> FloatArray | EwmaFhs:
        """The fitted base: logistic coefficients (zeros for ``base="none"``; fitted with
        the row ``weights``), or the combination's simulation table, drawn from the
        distinct (time, standardized return) pairs of the rows (one per symbol and day,
        whatever the grid)."""
        if self.base == "none":
            return np.zeros(3, dtype=np.float64)
        if self.base == "parkinson":
            return np.zeros(3, dtype=np.float64)
        if self.base == "combo":
            column = list(names)
            residual = matrix[:, column.index("std_ret_1d")]
            horizon = matrix[:, column.index("horizon_days")]
            pairs = np.unique(np.column_stack([times.astype(np.float64), residual]), axis=0)
            seed = 0 if self.random_state is None else int(self.random_state)
            return EwmaFhs.fit(pairs[:, 1], float(np.nanmax(horizon)), seed=seed)
        design = self._base_design(matrix, names)
        return fit_logistic(design, labels, lower_bounds=(0.0, 0.0, None), l2=1e-6, weights=weights)

    def _base_margin(
        self, matrix: FloatArray, names: Sequence[str], base: FloatArray | EwmaFhs
    ) -> FloatArray:
        """Log-odds of the base per row (zeros without a base)."""
        if isinstance(base, EwmaFhs):
            column = list(names)
            z, h, s = (
                matrix[:, column.index(c)] for c in ("z_distance", "horizon_days", "sigma_daily")
            )
            p = combo_probability(
                base,
                z * s * np.sqrt(h),
                h,
                s,
                matrix[:, column.index("sigma_parkinson")],
                matrix[:, column.index("sigma_implied")],
                lows=self.low_monitored,
            )
            clipped = np.clip(p, 1e-12, 1.0 - 1e-12)
            return np.asarray(np.log(clipped / (1.0 - clipped)), dtype=np.float64)
        if self.base == "parkinson":
            column = list(names)
            z, h, s = (
                matrix[:, column.index(c)] for c in ("z_distance", "horizon_days", "sigma_daily")
            )
            b = z * s * np.sqrt(h)
            sigma = matrix[:, column.index("sigma_parkinson")]
            p = implied_gbm_probability(
                b, np.full(len(b), np.nan), sigma, h, 0.0 if self.low_monitored else 1.0
            )
            clipped = np.clip(p, 1e-12, 1.0 - 1e-12)
            return np.asarray(np.log(clipped / (1.0 - clipped)), dtype=np.float64)
        if not base.any():
            return np.zeros(len(matrix), dtype=np.float64)
        return np.asarray(self._base_design(matrix, names) @ base, dtype=np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(type(self).__name__)

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        X: pd.DataFrame,
        y: npt.ArrayLike,
        *,
        times: npt.ArrayLike | pd.Series | None = None,
        label_end: npt.ArrayLike | pd.Series | None = None,
        callbacks: Sequence[Callable[..., Any]] | None = None,
        eval_set: tuple[pd.DataFrame, npt.ArrayLike] | None = None,
    ) -> Self:
        """Fit the booster on all rows and the calibrator on the last block of time.

        Args:
            X: query columns and feature columns, one row per stacked query.
            y: labels, 0 or 1.
            times: as-of time of each row; None means row order is time order.
            label_end: when each row's label became known; rows whose label ends inside
                the calibration block are purged from the calibration booster's training
                rows. Needs ``times``.
            callbacks: LightGBM callbacks of the main booster (e.g. an Optuna pruning
                callback or ``lightgbm.early_stopping``); they see ``eval_set`` results.
            eval_set: ``(X_valid, y_valid)`` scored every iteration as ``"valid"`` with
                ``"binary_logloss"`` (raw booster, before calibration).

        Returns:
            ``self``.

        Raises:
            ModelSpecError: a parameter is out of range.
            ModelInputError: every problem of the inputs: missing query columns,
                unsupported dtypes, labels other than 0/1 or a single class, lengths
                that do not match, missing times, ``label_end`` without ``times`` or
                before ``times``, ``weight_half_life_days`` without datetime ``times``,
                and calibration blocks without both classes.
        """
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise ModelInputError(
                [
                    Problem(
                        "X",
                        "not_a_frame",
                        1,
                        f"expected a pandas DataFrame, received {type(X).__name__}",
                    )
                ]
            )
        n = len(X)
        names, categories, matrix, problems = self._fit_inputs(X)
        labels = label_array(y, problems)
        if labels is None:
            labels = np.zeros(n, dtype=np.float64)
        elif labels.size != n:
            problems.append(
                Problem(
                    "y",
                    "length_mismatch",
                    1,
                    f"expected {n} labels (rows of X), received {labels.size}",
                )
            )
        else:
            bad = ~np.isin(labels, (0.0, 1.0))
            if bad.any():
                problems.append(
                    Problem(
                        "y",
                        "non_binary_labels",
                        int(bad.sum()),
                        "expected 0 or 1 (drop unlabelled rows before fit)",
                    )
                )
            elif np.unique(labels).size < 2:
                problems.append(Problem("y", "one_class", n, "expected both outcomes 0 and 1"))
        t = (
            np.arange(n, dtype=np.float64)
            if times is None
            else as_time_array("times", times, n, problems)
        )
        end: npt.NDArray[Any] | None = None
        if label_end is not None:
            if times is None:
                problems.append(
                    Problem(
                        "label_end",
                        "needs_times",
                        1,
                        "expected `times` as well: label_end is compared with them",
                    )
                )
            else:
                end = as_time_array("label_end", label_end, n, problems)
                early = end < t
                if early.any():
                    problems.append(
                        Problem(
                            "label_end",
                            "before_asof",
                            int(early.sum()),
                            "expected label_end >= times on every row",
                        )
                    )
        # as_time_array gives datetimes as int64 microseconds, numbers as float64
        if self.weight_half_life_days is not None and (times is None or t.dtype != np.int64):
            problems.append(
                Problem(
                    "times",
                    "needs_datetimes",
                    1,
                    "expected datetime as-of times: weight_half_life_days weighs rows by "
                    "their age in days; pass times=, or drop weight_half_life_days",
                )
            )
        if problems:
            raise ModelInputError(problems)

        if eval_set is not None:
            x_valid, y_valid = eval_set
            valid_matrix = _to_matrix(x_valid, names, categories, self._query_columns(), problems)
            valid_labels = np.asarray(y_valid, dtype=np.float64).reshape(-1)
            if valid_labels.size != len(x_valid) or not np.isin(valid_labels, (0.0, 1.0)).all():
                problems.append(
                    Problem(
                        "eval_set",
                        "bad_labels",
                        1,
                        f"expected {len(x_valid)} labels of 0 or 1 for the eval_set rows",
                    )
                )
        if problems:
            raise ModelInputError(problems)

        trees = [c for c in names if c not in VOL_INPUTS]
        tree_idx = [names.index(c) for c in trees]
        params = self._lgb_params(trees)
        cat_idx = [j for j, c in enumerate(trees) if c in categories]
        weights = self._weights(t)
        base = self._fit_base(matrix, labels, names, t, weights)
        train_set = lgb.Dataset(
            matrix[:, tree_idx],
            label=labels,
            weight=weights,
            init_score=self._base_margin(matrix, names, base),
            feature_name=trees,
            categorical_feature=cat_idx,
            params={"verbose": self.verbose},
            free_raw_data=True,
        )
        valid_sets: list[lgb.Dataset] = []
        evals: dict[str, Any] = {}
        all_callbacks = list(callbacks or [])
        if eval_set is not None:
            valid_sets.append(
                lgb.Dataset(
                    valid_matrix[:, tree_idx],
                    label=valid_labels,
                    init_score=self._base_margin(valid_matrix, names, base),
                    reference=train_set,
                    feature_name=trees,
                    categorical_feature=cat_idx,
                )
            )
            all_callbacks.append(lgb.record_evaluation(evals))
        booster: lgb.Booster | None = None
        n_iter = 0
        if self.n_estimators > 0:
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=self.n_estimators,
                valid_sets=valid_sets,
                valid_names=[VALID_NAME] * len(valid_sets),
                callbacks=all_callbacks,
            )
            n_iter = (
                booster.best_iteration
                if booster.best_iteration > 0
                else booster.current_iteration()
            )
        calibrator, report = self._fit_calibrator(
            matrix, labels, t, end, params, names, tree_idx, cat_idx, n_iter
        )
        return self._set_fitted(
            booster, n_iter, names, categories, trees, base, calibrator, report, evals
        )

    def _weights(self, times: npt.NDArray[Any]) -> FloatArray | None:
        """Recency weights of rows at ``times`` (None without a half-life)."""
        if self.weight_half_life_days is None:
            return None
        return recency_weights(times, float(self.weight_half_life_days))

    def _set_fitted(
        self,
        booster: lgb.Booster | None,
        n_iter: int,
        names: list[str],
        categories: dict[str, list[Any]],
        trees: list[str],
        base: FloatArray | EwmaFhs,
        calibrator: AnyCalibrator,
        report: dict[str, Any],
        evals: dict[str, Any],
    ) -> Self:
        """Store the learned state (the booster kept through its text format)."""
        self.feature_names_ = names
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.categories_ = categories
        self.booster_ = (
            None
            if booster is None
            else lgb.Booster(model_str=booster.model_to_string(num_iteration=n_iter))
        )
        self.n_iter_ = int(n_iter)
        self.calibrator_ = calibrator
        self.calibration_report_ = report
        self.base_coef_ = base if not isinstance(base, EwmaFhs) else np.zeros(3)
        self.base_fhs_ = base if isinstance(base, EwmaFhs) else None
        self.tree_features_ = trees
        self.classes_ = np.array([0, 1], dtype=np.int64)
        self.evals_result_ = evals
        return self

    def _fit_calibrator(
        self,
        matrix: FloatArray,
        labels: FloatArray,
        times: npt.NDArray[Any],
        label_end: npt.NDArray[Any] | None,
        params: Mapping[str, Any],
        names: list[str],
        tree_idx: list[int],
        cat_idx: list[int],
        n_iter: int,
    ) -> tuple[AnyCalibrator, dict[str, Any]]:
        if self.calibration == "none":
            return IdentityCalibrator(), {"requested": "none", "method": "none"}
        dates = np.unique(times)
        if dates.size < 2:
            raise ModelInputError(
                [
                    Problem(
                        "times",
                        "one_date",
                        len(times),
                        "expected at least two distinct times to hold out a calibration "
                        "block; pass times, or use calibration='none'",
                    )
                ]
            )
        n_held = min(max(round(self.calibration_fraction * dates.size), 1), dates.size - 1)
        cut = dates[dates.size - n_held]
        problems: list[Problem] = []
        held = times >= cut
        train_rows = ~held
        if label_end is not None:
            train_rows &= label_end < cut
        for name, rows in (("calibration training rows", train_rows), ("calibration block", held)):
            classes = np.unique(labels[rows])
            if classes.size < 2:
                problems.append(
                    Problem(
                        name,
                        "one_class",
                        int(rows.sum()),
                        f"expected both outcomes, received {classes.tolist()} after holding "
                        f"out the last {self.calibration_fraction:.0%} of time and purging; "
                        "raise calibration_fraction, add data, or use calibration='none'",
                    )
                )
        if problems:
            raise ModelInputError(problems)
        cal_weights = self._weights(times[train_rows])
        cal_base = self._fit_base(
            matrix[train_rows], labels[train_rows], names, times[train_rows], cal_weights
        )
        cal_set = lgb.Dataset(
            matrix[train_rows][:, tree_idx],
            label=labels[train_rows],
            weight=cal_weights,
            init_score=self._base_margin(matrix[train_rows], names, cal_base),
            feature_name=[names[j] for j in tree_idx],
            categorical_feature=cat_idx,
            params={"verbose": self.verbose},
        )
        margin = self._base_margin(matrix[held], names, cal_base)
        if n_iter > 0:
            cal_booster = lgb.train(dict(params), cal_set, num_boost_round=n_iter)
            margin = margin + np.asarray(
                cal_booster.predict(
                    matrix[held][:, tree_idx], raw_score=True, num_threads=self.n_jobs
                ),
                dtype=np.float64,
            )
        calibrator, report = select_calibrator(
            margin,
            labels[held],
            times[held],
            None if label_end is None else label_end[held],
            self.calibration,
        )
        report.update(
            {"n_calibration_rows": int(held.sum()), "n_purged": int((~held & ~train_rows).sum())}
        )
        return calibrator, report

    # ------------------------------------------------------------------ predict

    def predict_raw(self, X: pd.DataFrame) -> FloatArray:
        """Uncalibrated log-odds margin: the base logistic's plus the booster's.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: missing columns, unseen category levels, non-finite
                query values.
        """
        matrix = self.to_matrix(X)
        return self.tree_margin(matrix) + self.base_margin(matrix)

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Calibrated probabilities, shape ``(n, 2)``: ``[P(no event), P(event)]``.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: as :meth:`predict_raw`.
        """
        margin = self.predict_raw(X)
        p = self.calibrator_.transform(margin)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """Event (1) where its calibrated probability is at least 0.5, else 0.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: as :meth:`predict_raw`.
        """
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-column SHAP values in log-odds (LightGBM ``pred_contrib``) plus ``bias``.

        Each row sums to :meth:`predict_raw` (up to float rounding). The base logistic's
        log-odds are part of ``bias``: the columns explain how the trees move the
        probability away from the volatility-only base.

        Raises:
            NotFittedError: before ``fit``.
            PredictionInputError: as :meth:`predict_raw`.
        """
        matrix = self.to_matrix(X)
        if self.booster_ is None:
            values = np.zeros((len(matrix), len(self.tree_features_) + 1), dtype=np.float64)
        else:
            values = np.asarray(
                self.booster_.predict(
                    self.tree_matrix(matrix), pred_contrib=True, num_threads=self.n_jobs
                ),
                dtype=np.float64,
            )
        values[:, -1] += self.base_margin(matrix)
        return pd.DataFrame(values, columns=[*self.tree_features_, "bias"], index=X.index)

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state: booster text, parameters, columns, levels, calibrator.

        Raises:
            NotFittedError: before ``fit``.
        """
        self._check_fitted()
        return {
            "format": STATE_FORMAT,
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "booster": None if self.booster_ is None else self.booster_.model_to_string(),
            "feature_names": list(self.feature_names_),
            "categories": {k: list(v) for k, v in self.categories_.items()},
            "calibrator": self.calibrator_.to_state(),
            "base_coef": [float(v) for v in self.base_coef_],
            "base_fhs": None if self.base_fhs_ is None else self.base_fhs_.to_state(),
            "tree_features": list(self.tree_features_),
            "calibration_report": dict(self.calibration_report_),
            "n_iter": self.n_iter_,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_state`; predictions are identical.

        Raises:
            ModelInputError: wrong format, a state of another estimator, or missing keys.
        """
        problems: list[Problem] = []
        if state.get("format") != STATE_FORMAT:
            problems.append(
                Problem(
                    "state",
                    "unknown_format",
                    1,
                    f"expected format {STATE_FORMAT!r}, received {state.get('format')!r}",
                )
            )
        if state.get("estimator") != cls.__name__:
            problems.append(
                Problem(
                    "state",
                    "wrong_estimator",
                    1,
                    f"expected a {cls.__name__} state, received "
                    f"{state.get('estimator')!r}; load it with that class",
                )
            )
        missing = [
            k
            for k in ("params", "booster", "feature_names", "categories", "calibrator", "n_iter")
            if k not in state
        ]
        if missing:
            problems.append(
                Problem(
                    "state",
                    "missing_keys",
                    len(missing),
                    f"expected keys {missing}",
                    tuple(missing),
                )
            )
        if problems:
            raise ModelInputError(problems)
        model = cls(**state["params"])
        names = [str(n) for n in state["feature_names"]]
        model.booster_ = (
            None if state["booster"] is None else lgb.Booster(model_str=state["booster"])
        )
        model.feature_names_ = names
        model.feature_names_in_ = np.asarray(names, dtype=object)
        model.n_features_in_ = len(names)
        model.categories_ = {str(k): list(v) for k, v in state["categories"].items()}
        model.calibrator_ = calibrator_from_state(state["calibrator"])
        model.calibration_report_ = dict(state.get("calibration_report", {}))
        model.base_coef_ = np.asarray(state.get("base_coef", [0.0, 0.0, 0.0]), dtype=np.float64)
        fhs = state.get("base_fhs")
        model.base_fhs_ = None if fhs is None else EwmaFhs.from_state(fhs)
        model.tree_features_ = [str(n) for n in state.get("tree_features", names)]
        model.classes_ = np.array([0, 1], dtype=np.int64)
        model.n_iter_ = int(state["n_iter"])
        model.evals_result_ = {}
        return model


class DrawdownSurface(BoostedSurface):
    """P(drawdown of at least ``threshold`` within ``horizon_days``), one model for the grid.

    Monotone by construction: the probability never rises with ``threshold``, never
    falls with ``horizon_days`` and rises with ``z_distance`` (the barrier distance in
    volatility units, negative; closer to zero means likelier). Parameters as in
    :class:`BoostedSurface`.
    """

    monotone: ClassVar[Mapping[str, int]] = {"threshold": -1, "horizon_days": 1, "z_distance": 1}
    always_on: ClassVar[tuple[str, ...]] = ("threshold", "horizon_days")


class SupportBreakModel(BoostedSurface):
    """P(a support level breaks within ``horizon_days``) over (as-of, level) rows.

    Monotone: rises with ``horizon_days`` and ``z_distance``, falls with ``distance_pct``
    and ``distance_vol`` (farther levels break less often). Parameters as in
    :class:`BoostedSurface`.
    """

    monotone: ClassVar[Mapping[str, int]] = {
        "horizon_days": 1,
        "z_distance": 1,
        "distance_pct": -1,
        "distance_vol": -1,
    }
    always_on: ClassVar[tuple[str, ...]] = ("horizon_days",)
    low_monitored: ClassVar[bool] = False
    target: ClassVar[FrameKind] = "support"
