"""The estimator contract suite: scikit-learn's common checks plus checks on frames.

Like scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`,
:func:`parametrize_with_checks` turns a list of estimator instances into pytest cases,
one per (estimator, check)::

    from downside.models import DrawdownSurface
    from downside.testing.estimators import parametrize_with_checks

    @parametrize_with_checks([DrawdownSurface(n_estimators=20, random_state=0)])
    def test_contract(estimator, check):
        check(estimator)

Each estimator says what it needs through scikit-learn's tags (``__sklearn_tags__``):
its ``input_tags`` are a :class:`~downside.models._surface.FrameInputTags`, which adds to
scikit-learn's ``allow_nan``, ``positive_only``, ``categorical``... whether ``X`` must
be a DataFrame with named columns, the query columns of each frame kind it accepts,
the volatility columns where NaN is allowed, and whether every column is an input.
Two groups of checks run:

1. **scikit-learn's common checks.** They feed unnamed numpy arrays, which estimators
   that find their inputs by name refuse. Each check that cannot apply is listed by
   :func:`expected_failed_checks` with its reason, derived from the tags, and with the
   frame check below that tests the same property on a DataFrame. As with
   scikit-learn's ``expected_failed_checks``, such a check still runs and is reported
   as an expected failure with its reason; strictly: if it starts passing, the test
   fails, so the list cannot go stale.
2. **Checks on frames** (:data:`FRAME_CHECKS`), on stacked frames built by
   :func:`make_frame` with the columns :func:`downside.datasets.build_frame` produces,
   labels drawn from a known probability. Checks that a tag rules out are not
   generated (as scikit-learn does): ``check_frame_labels`` only where
   ``target_tags.required``, ``check_frame_nan_allowed`` only where ``allow_nan``,
   ``check_frame_positive_only`` only where ``positive_only``.

pytest is imported only when :func:`parametrize_with_checks` is called.
"""

from __future__ import annotations

import itertools
import pickle
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import estimator_checks_generator

from downside.datasets import DRAWDOWN_QUERY, SUPPORT_QUERY, VOL_INPUTS
from downside.errors import DownsideError, ModelInputError, NotFittedError, PredictionInputError
from downside.models._surface import FrameInputTags

if TYPE_CHECKING:
    import pytest

Check = Callable[[Any], None]
"""A check: called with an (unfitted) estimator, raises AssertionError on a violation."""

FEATURES = ("leverage.oi_change_7d", "funding.rate_8h_mean_7d")
"""Driver features of the suite's frames; the first moves the event probability."""

LEVERAGE_EFFECT = 0.8
THRESHOLDS = (0.05, 0.10, 0.20)
DISTANCES = (0.03, 0.08, 0.15)
"""Support levels of the suite's frames, as fractions below the reference close."""
HORIZONS = (3.0, 7.0, 14.0)


# ---------------------------------------------------------------------------- frames


def make_frame(
    kind: str, *, n_dates: int = 200, symbols: Sequence[str] = ("BTC", "ETH"), seed: int = 0
) -> pd.DataFrame:
    """A stacked drawdown or support frame in :func:`downside.datasets.build_frame`'s
    layout: keys (``symbol``, ``asof``), query columns, volatility inputs, two driver
    features, ``label`` and ``label_end``; sorted by ``asof`` then ``symbol``.

    The event probability is the driftless GBM first passage ``2 Phi(z_distance)`` with
    a logistic tilt by the leverage feature; ``sigma_implied`` is NaN over the first
    fifth of the dates (implied volatility is missing before DVOL).
    """
    rng = np.random.default_rng(seed)
    asof = pd.date_range("2024-01-01", periods=n_dates, freq="D", tz="UTC", unit="us")
    keys = pd.DataFrame(
        {
            "symbol": pd.array(np.tile(list(symbols), n_dates), dtype="str"),
            "asof": np.repeat(asof, len(symbols)),
        }
    )
    n = len(keys)
    sigma = np.exp(rng.normal(np.log(0.03), 0.3, n))
    keys["sigma_daily"] = sigma
    keys["sigma_parkinson"] = sigma * np.exp(rng.normal(0.0, 0.1, n))
    implied = sigma * 1.1
    implied[keys["asof"] < asof[n_dates // 5]] = np.nan
    keys["sigma_implied"] = implied
    keys["std_ret_1d"] = rng.standard_t(5, n)
    for name in FEATURES:
        keys[name] = rng.normal(0.0, 1.0, n)
    keys["ref_close"] = 100.0 * np.exp(rng.normal(0.0, 0.5, n))
    cells = THRESHOLDS if kind == "drawdown" else DISTANCES
    grid = pd.DataFrame([(c, h) for c in cells for h in HORIZONS], columns=["cell", "horizon_days"])
    frame = keys.merge(grid, how="cross")
    s, h, d = frame["sigma_daily"], frame["horizon_days"], frame["cell"]
    if kind == "drawdown":
        frame["threshold"] = d
        frame["z_distance"] = np.log1p(-d) / (s * np.sqrt(h))
    else:
        frame["level"] = frame["ref_close"] * (1.0 - d)
        frame["level_type"] = pd.array(np.where(d < 0.1, "swing_low", "round_number"), dtype="str")
        frame["distance_pct"] = d
        frame["distance_vol"] = -np.log1p(-d) / s
        frame["z_distance"] = np.log1p(-d) / (s * np.sqrt(h))
        frame["touches"] = rng.integers(1, 6, len(frame)).astype(np.float64)
        frame["age_days"] = rng.integers(1, 200, len(frame)).astype(np.float64)
    p_gbm = np.clip(2.0 * norm.cdf(frame["z_distance"]), 1e-4, 1.0 - 1e-4)
    p = expit(logit(p_gbm) + LEVERAGE_EFFECT * frame[FEATURES[0]])
    frame["label"] = (rng.random(len(frame)) < p).astype(np.int64)
    frame["label_end"] = frame["asof"] + pd.to_timedelta(frame["horizon_days"], unit="D")
    return frame.drop(columns="cell").sort_values(["asof", "symbol"], kind="stable")


def input_columns(kind: str) -> list[str]:
    """The model inputs of a frame of ``kind``: query columns, volatility inputs and the
    features, as :attr:`downside.datasets.Frame.input_columns` orders them."""
    query = DRAWDOWN_QUERY if kind == "drawdown" else SUPPORT_QUERY
    return [*query, *VOL_INPUTS, *FEATURES]


def _tags(estimator: Any) -> FrameInputTags:
    tags = get_tags(estimator).input_tags
    if not isinstance(tags, FrameInputTags):
        raise AssertionError(
            f"{type(estimator).__name__}.__sklearn_tags__() must return "
            f"FrameInputTags as input_tags, not {type(tags).__name__}"
        )
    return tags


class _Data:
    """A frame of one kind, split into what ``fit`` and ``predict_proba`` take."""

    def __init__(self, estimator: Any, kind: str, frame: pd.DataFrame | None = None) -> None:
        self.kind = kind
        self.frame = make_frame(kind) if frame is None else frame
        self.tags = _tags(estimator)
        if self.tags.every_column_is_input:
            self.X = self.frame[input_columns(kind)].reset_index(drop=True)
            self.fit_kwargs: dict[str, Any] = {
                "times": self.frame["asof"].to_numpy(),
                "label_end": self.frame["label_end"].to_numpy(),
            }
        else:
            self.X = self.frame.reset_index(drop=True)
            self.fit_kwargs = {}
        self.y = self.frame["label"].to_numpy()
        self.query = self.tags.query_columns[kind]

    def fit(self, estimator: Any, X: Any = None, y: Any = "same") -> Any:
        return estimator.fit(
            self.X if X is None else X, self.y if isinstance(y, str) else y, **self.fit_kwargs
        )


def _kinds(estimator: Any) -> list[str]:
    return list(_tags(estimator).query_columns)


def _proba(estimator: Any, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(estimator.predict_proba(X), dtype=np.float64)


def _fitted(estimator: Any, kind: str) -> tuple[Any, _Data]:
    model = clone(estimator)
    data = _Data(model, kind)
    data.fit(model)
    return model, data


def _raises(kind: type[DownsideError], names: Sequence[str], call: Callable[[], Any]) -> str:
    """Run ``call``; it must raise ``kind`` whose message names every one of ``names``."""
    try:
        call()
    except Exception as exc:  # a raw TypeError/KeyError/... is reported below
        caught = exc
    else:
        raise AssertionError(f"expected {kind.__name__} naming {list(names)}, nothing was raised")
    if not isinstance(caught, kind):
        raise AssertionError(
            f"expected {kind.__name__} naming {list(names)}, got {type(caught).__name__}: {caught}"
        ) from caught
    message = str(caught)
    missing = [name for name in names if name not in message]
    assert not missing, f"the message does not name {missing}: {message}"
    return message


# ---------------------------------------------------------------------------- checks


def check_frame_fit_returns_self(estimator: Any) -> None:
    """``fit`` returns the estimator itself, on every frame kind it accepts."""
    for kind in _kinds(estimator):
        model = clone(estimator)
        assert _Data(model, kind).fit(model) is model


def check_frame_predict_proba(estimator: Any) -> None:
    """Probabilities of shape ``(n, 2)`` in [0, 1] summing to 1; ``predict`` is the
    event where P >= 0.5; ``classes_`` is ``[0, 1]``; ``score`` is an accuracy."""
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        p = _proba(model, data.X)
        assert p.shape == (len(data.X), 2), p.shape
        assert np.isfinite(p).all()
        assert ((p >= 0.0) & (p <= 1.0)).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(model.classes_, [0, 1])
        predicted = np.asarray(model.predict(data.X))
        np.testing.assert_array_equal(predicted, (p[:, 1] >= 0.5).astype(np.int64))
        assert 0.0 <= float(model.score(data.X, data.y)) <= 1.0


def check_frame_unfitted(estimator: Any) -> None:
    """Before ``fit``, predicting raises :class:`downside.errors.NotFittedError` (a
    ``ValueError`` and ``AttributeError``, as scikit-learn's), whatever the input."""
    for kind in _kinds(estimator):
        data = _Data(estimator, kind)
        for method in ("predict_proba", "predict"):
            model = clone(estimator)
            _raises(NotFittedError, [type(model).__name__], partial(getattr(model, method), data.X))
    assert issubclass(NotFittedError, ValueError)
    assert issubclass(NotFittedError, AttributeError)


def check_frame_fit_idempotent(estimator: Any) -> None:
    """Fitting twice on the same rows gives the same probabilities, and so does a clone
    (the estimator is deterministic given its parameters); a clone of a fitted
    estimator is unfitted."""
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        first = _proba(model, data.X)
        second = _proba(data.fit(model), data.X)
        np.testing.assert_allclose(second, first, rtol=0, atol=1e-12)
        twin = clone(model)
        _raises(NotFittedError, [], partial(twin.predict_proba, data.X))
        np.testing.assert_allclose(_proba(data.fit(twin), data.X), first, rtol=0, atol=1e-12)


def check_frame_pickle(estimator: Any) -> None:
    """A pickled and unpickled fitted estimator predicts the same."""
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        restored = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(_proba(restored, data.X), _proba(model, data.X))


def check_frame_state(estimator: Any) -> None:
    """Estimators with ``to_state``/``from_state``: the state survives JSON and the
    rebuilt estimator predicts the same."""
    import json

    if not hasattr(estimator, "to_state"):
        return
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        state = json.loads(json.dumps(model.to_state()))
        rebuilt = type(model).from_state(state)
        np.testing.assert_array_equal(_proba(rebuilt, data.X), _proba(model, data.X))


def check_frame_params_unchanged(estimator: Any) -> None:
    """``fit`` changes no parameter and adds only attributes ending in ``_``."""
    for kind in _kinds(estimator):
        model = clone(estimator)
        params = model.get_params(deep=False)
        public = {k for k in vars(model) if not k.startswith("_")}
        _Data(model, kind).fit(model)
        after = model.get_params(deep=False)
        for name, value in params.items():
            assert after[name] is value or after[name] == value, f"fit changed {name!r}"
        added = {k for k in vars(model) if not k.startswith("_")} - public
        bad = sorted(k for k in added if not k.endswith("_"))
        assert not bad, f"fit set public attributes without a trailing underscore: {bad}"


def check_frame_inputs_unchanged(estimator: Any) -> None:
    """Neither ``fit`` nor predicting modifies ``X`` or ``y``; predicting changes no
    attribute of the fitted estimator."""
    for kind in _kinds(estimator):
        model = clone(estimator)
        data = _Data(model, kind)
        X, y = data.X.copy(), data.y.copy()
        data.fit(model)
        pd.testing.assert_frame_equal(data.X, X)
        np.testing.assert_array_equal(data.y, y)
        before = {k: pickle.dumps(v) for k, v in vars(model).items()}
        model.predict_proba(data.X)
        model.predict(data.X)
        pd.testing.assert_frame_equal(data.X, X)
        after = {k: pickle.dumps(v) for k, v in vars(model).items()}
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"predicting changed attributes {changed}"


def check_frame_row_order(estimator: Any) -> None:
    """Predictions follow the rows: permuted rows give the permuted probabilities."""
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        order = np.random.default_rng(3).permutation(len(data.X))
        whole = _proba(model, data.X)
        shuffled = _proba(model, data.X.iloc[order])
        np.testing.assert_allclose(shuffled, whole[order], rtol=0, atol=1e-12)


def check_frame_subset_invariance(estimator: Any) -> None:
    """Rows are answered independently: the whole frame's probabilities equal those of
    uneven batches of its rows and of single rows, and an empty frame gives an empty
    ``(0, 2)`` answer."""
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        whole = _proba(model, data.X)
        cuts = [0, 1, 8, 9, 100, len(data.X) // 2, len(data.X)]
        parts = [_proba(model, data.X.iloc[a:b]) for a, b in itertools.pairwise(cuts)]
        np.testing.assert_allclose(np.vstack(parts), whole, rtol=0, atol=1e-12)
        last = _proba(model, data.X.iloc[[-1]])
        np.testing.assert_allclose(last, whole[-1:], rtol=0, atol=1e-12)
        assert _proba(model, data.X.iloc[:0]).shape == (0, 2)


def check_frame_missing_columns(estimator: Any) -> None:
    """A frame without a query or volatility column it needs is refused, naming the
    column: at ``fit`` (:class:`~downside.errors.ModelInputError`, for estimators that
    learn from the rows) and when predicting
    (:class:`~downside.errors.PredictionInputError`). Columns are found by name, not
    counted: an extra column is ignored when predicting."""
    learns = get_tags(estimator).target_tags.required
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        for column in (*data.query, *data.tags.volatility_columns):
            short = data.X.drop(columns=column)
            if learns:
                _raises(ModelInputError, [column], partial(data.fit, clone(estimator), short))
            _raises(PredictionInputError, [column], partial(model.predict_proba, short))
        extra = data.X.assign(unused_column=1.0)
        np.testing.assert_array_equal(_proba(model, extra), _proba(model, data.X))


def check_frame_non_finite_query(estimator: Any) -> None:
    """NaN or infinity in a query column is refused, naming the column, when
    predicting, and at ``fit`` for estimators that learn from the rows."""
    learns = get_tags(estimator).target_tags.required
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        for column in data.query:
            for value in (np.nan, np.inf):
                bad = data.X.copy()
                bad.loc[bad.index[::5], column] = value
                if learns:
                    _raises(ModelInputError, [column], partial(data.fit, clone(estimator), bad))
                _raises(PredictionInputError, [column], partial(model.predict_proba, bad))


def check_frame_nan_allowed(estimator: Any) -> None:
    """Where ``allow_nan``: volatility inputs missing on some rows (every 7th) and, for
    estimators whose every column is an input, features missing on some rows (every
    3rd) still give finite probabilities, at fit and when predicting."""
    tags = _tags(estimator)
    for kind in _kinds(estimator):
        model = clone(estimator)
        data = _Data(model, kind)
        holes = data.X.copy()
        if tags.volatility_columns:
            holes.loc[holes.index[::7], list(tags.volatility_columns)] = np.nan
        if tags.every_column_is_input:
            holes.loc[holes.index[::3], list(FEATURES)] = np.nan
        data.fit(model, holes)
        assert np.isfinite(_proba(model, holes)).all()
        assert np.isfinite(_proba(model, data.X)).all()


def check_frame_refuses_arrays(estimator: Any) -> None:
    """Where ``dataframe_only``: a numpy array, a list of rows or a sparse matrix is
    refused with a downside error that asks for a DataFrame, never a raw
    ``TypeError``/``AttributeError``/``KeyError``."""
    from scipy import sparse

    learns = get_tags(estimator).target_tags.required
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        numeric = data.X.select_dtypes("number")
        for bad in (
            numeric.to_numpy(),
            numeric.to_numpy().tolist(),
            sparse.csr_matrix(numeric.fillna(0.0).to_numpy()),
        ):
            if learns:
                _raises(ModelInputError, ["DataFrame"], partial(data.fit, clone(estimator), bad))
            _raises(PredictionInputError, ["DataFrame"], partial(model.predict_proba, bad))


def check_frame_refuses_1d(estimator: Any) -> None:
    """Where 1-d input is not allowed (``one_d_array`` False): a Series or a 1-d array
    is refused with a downside error naming ``X``."""
    learns = get_tags(estimator).target_tags.required
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        column = data.query[0]
        for bad in (data.X[column], data.X[column].to_numpy()):
            if learns:
                _raises(ModelInputError, ["X"], partial(data.fit, clone(estimator), bad))
            _raises(PredictionInputError, ["DataFrame"], partial(model.predict_proba, bad))


def check_frame_labels(estimator: Any) -> None:
    """Where ``y`` is required: labels are event indicators, 0 or 1. Other values (2,
    -1, 0.5, NaN, text), a wrong length or ``None`` are refused with
    :class:`~downside.errors.ModelInputError` naming ``y``."""
    for kind in _kinds(estimator):
        data = _Data(estimator, kind)
        n = len(data.y)
        bad_labels: list[Any] = [
            np.where(data.y == 1, 2, 0),
            np.where(data.y == 1, 1, -1),
            np.full(n, 0.5),
            np.where(data.y == 1, np.nan, 0.0),
            np.where(data.y == 1, "event", "none"),
            data.y[:-1],
            None,
        ]
        for y in bad_labels:
            _raises(ModelInputError, ["y"], partial(data.fit, clone(estimator), None, y))


def check_frame_positive_only(estimator: Any) -> None:
    """Where ``positive_only``: a zero or negative value in a query column is refused
    when predicting, naming the column."""
    for kind in _kinds(estimator):
        model, data = _fitted(estimator, kind)
        for column in data.query:
            for value in (0.0, -1.0):
                bad = data.X.copy()
                bad.loc[bad.index[::5], column] = value
                _raises(PredictionInputError, [column], partial(model.predict_proba, bad))


FRAME_CHECKS: dict[str, Check] = {
    check.__name__: check
    for check in (
        check_frame_fit_returns_self,
        check_frame_predict_proba,
        check_frame_unfitted,
        check_frame_fit_idempotent,
        check_frame_pickle,
        check_frame_state,
        check_frame_params_unchanged,
        check_frame_inputs_unchanged,
        check_frame_row_order,
        check_frame_subset_invariance,
        check_frame_missing_columns,
        check_frame_non_finite_query,
        check_frame_nan_allowed,
        check_frame_refuses_arrays,
        check_frame_refuses_1d,
        check_frame_labels,
        check_frame_positive_only,
    )
}
"""Every check on frames, by name."""


def frame_checks(estimator: Any) -> Iterator[tuple[str, Check]]:
    """The checks on frames that apply to ``estimator`` given its tags."""
    tags = get_tags(estimator)
    inputs = _tags(estimator)
    skip = {
        "check_frame_labels": not tags.target_tags.required,
        "check_frame_nan_allowed": not inputs.allow_nan,
        "check_frame_positive_only": not inputs.positive_only,
        "check_frame_refuses_arrays": not inputs.dataframe_only,
        "check_frame_refuses_1d": inputs.one_d_array,
    }
    for name, check in FRAME_CHECKS.items():
        if not skip.get(name, False):
            yield name, check


# ---------------------------------------------------------------------------- scikit-learn

ON_ARRAYS: dict[str, str] = {
    "check_classifier_data_not_an_array": "check_frame_refuses_arrays",
    "check_classifier_not_supporting_multiclass": "check_frame_labels",
    "check_classifiers_classes": "check_frame_labels",
    "check_classifiers_one_label": "check_frame_labels",
    "check_classifiers_regression_target": "check_frame_labels",
    "check_classifiers_train": "check_frame_predict_proba",
    "check_complex_data": "check_frame_refuses_arrays",
    "check_dict_unchanged": "check_frame_inputs_unchanged",
    "check_dont_overwrite_parameters": "check_frame_params_unchanged",
    "check_dtype_object": "check_frame_refuses_arrays",
    "check_estimator_sparse_array": "check_frame_refuses_arrays",
    "check_estimator_sparse_matrix": "check_frame_refuses_arrays",
    "check_estimator_sparse_tag": "check_frame_refuses_arrays",
    "check_estimators_dtypes": "check_frame_predict_proba",
    "check_estimators_empty_data_messages": "check_frame_subset_invariance",
    "check_estimators_fit_returns_self": "check_frame_fit_returns_self",
    "check_estimators_nan_inf": "check_frame_non_finite_query",
    "check_estimators_overwrite_params": "check_frame_params_unchanged",
    "check_estimators_pickle": "check_frame_pickle",
    "check_f_contiguous_array_estimator": "check_frame_predict_proba",
    "check_fit2d_1feature": "check_frame_missing_columns",
    "check_fit2d_1sample": "check_frame_labels",
    "check_fit2d_predict1d": "check_frame_refuses_1d",
    "check_fit_check_is_fitted": "check_frame_unfitted",
    "check_fit_idempotent": "check_frame_fit_idempotent",
    "check_fit_score_takes_y": "check_frame_predict_proba",
    "check_methods_sample_order_invariance": "check_frame_row_order",
    "check_methods_subset_invariance": "check_frame_subset_invariance",
    "check_n_features_in": "check_frame_missing_columns",
    "check_n_features_in_after_fitting": "check_frame_missing_columns",
    "check_pipeline_consistency": "check_frame_fit_idempotent",
    "check_positive_only_tag_during_fit": "check_frame_positive_only",
    "check_readonly_memmap_input": "check_frame_predict_proba",
    "check_requires_y_none": "check_frame_labels",
    "check_supervised_y_2d": "check_frame_labels",
}
"""scikit-learn checks that fit or predict on an unnamed array (numpy, sparse, a list),
with the check on frames that tests the same property."""

FIT_READS_NOTHING: dict[str, str] = {
    "check_classifiers_one_label_sample_weights": "check_frame_labels",
    "check_fit1d": "check_frame_refuses_1d",
    "check_fit_non_negative": "check_frame_positive_only",
    "check_supervised_y_no_nan": "check_frame_labels",
}
"""scikit-learn checks that expect ``fit`` to refuse bad ``X`` or ``y``: they fail for
an estimator that learns nothing from the rows (``target_tags.required`` False), whose
``predict_proba`` reads and checks ``X``."""

PASSED_WHEN_FIT_READS_NOTHING = frozenset(
    {
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_estimators_overwrite_params",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit_check_is_fitted",
        "check_readonly_memmap_input",
    }
)
"""Checks of :data:`ON_ARRAYS` that only call ``fit``: they pass for an estimator that
learns nothing from the rows, since its ``fit`` accepts any ``X``."""


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """scikit-learn checks that cannot apply to ``estimator``, with the reason, derived
    from its tags (for ``parametrize_with_checks(expected_failed_checks=...)``).

    Raises:
        AssertionError: the estimator's ``input_tags`` are not :class:`FrameInputTags`.
    """
    tags = get_tags(estimator)
    inputs = _tags(estimator)
    name = type(estimator).__name__
    learns = tags.target_tags.required
    out: dict[str, str] = {}
    if inputs.dataframe_only:
        columns = "; ".join(f"{k}: {list(v)}" for k, v in inputs.query_columns.items())
        for check, covered_by in ON_ARRAYS.items():
            if not learns and check in PASSED_WHEN_FIT_READS_NOTHING:
                continue
            out[check] = (
                f"{name} finds its inputs by column name (input_tags.dataframe_only; "
                f"{columns}) and refuses the unnamed array this check passes; "
                f"{covered_by} tests the same on a frame"
            )
    if not learns:
        for check, covered_by in FIT_READS_NOTHING.items():
            out[check] = (
                f"{name}.fit learns nothing from the rows (target_tags.required is False) "
                f"and accepts any X and y; predict_proba reads and checks X ({covered_by})"
            )
    out["check_estimators_unfitted"] = (
        "predicting before fit raises downside.errors.NotFittedError, a ValueError and "
        "AttributeError like scikit-learn's but not its subclass (downside.errors imports "
        "no third-party package); check_frame_unfitted tests it"
    )
    return out


def _check_name(check: Any) -> str:
    while hasattr(check, "__wrapped__"):
        check = check.__wrapped__
    return str(check.func.__name__ if isinstance(check, partial) else check.__name__)


def _estimator_id(estimator: Any) -> str:
    return re.sub(r"\s+", "", repr(estimator))


def all_checks(estimator: Any) -> Iterator[tuple[str, Check, str | None]]:
    """Every check of ``estimator``: scikit-learn's common checks, then the checks on
    frames; each as ``(name, check, reason it is expected to fail or None)``."""
    expected = expected_failed_checks(estimator)
    for _, check in estimator_checks_generator(estimator, legacy=True, mark=None):
        name = _check_name(check)
        yield name, check, expected.get(name)
    for name, check in frame_checks(estimator):
        yield name, check, None


def _expected_to_fail(check: Check, name: str, reason: str) -> Check:
    """``check`` as a strict expected failure: it must fail (the test is then reported
    as xfailed with ``reason``); if it passes, the test fails."""

    def run(estimator: Any) -> None:
        import pytest

        try:
            check(estimator)
        except Exception:  # any failure is the expected one
            failed = True
        else:
            failed = False
        if failed:  # outside the except block: no traceback of the check to format
            pytest.xfail(reason)
        raise AssertionError(
            f"{name} passed, yet it is listed as an expected failure ({reason}); take it "
            "off expected_failed_checks"
        )

    run.__name__ = name
    return run


def parametrize_with_checks(estimators: Sequence[Any]) -> pytest.MarkDecorator:
    """A pytest ``parametrize`` over ``(estimator, check)`` for every check of every
    estimator. Checks listed by :func:`expected_failed_checks` are strict expected
    failures carrying their reason, as with scikit-learn's ``parametrize_with_checks``;
    they are marked from inside the check, which spares pytest formatting the traceback
    of every expected failure (half a second each)."""
    import pytest

    params = []
    for estimator in estimators:
        for name, check, reason in all_checks(estimator):
            run = check if reason is None else _expected_to_fail(check, name, reason)
            params.append(pytest.param(estimator, run, id=f"{_estimator_id(estimator)}-{name}"))
    return pytest.mark.parametrize(("estimator", "check"), params)
