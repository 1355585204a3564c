"""One booster trained on more rows than one worker holds: LightGBM's own Dask estimator.

:func:`training_part` turns one partition of training rows (built on a worker, e.g. the
rows of a few symbols) into what LightGBM needs: the tree columns as a float64 matrix,
the labels and the base's log-odds (``init_score``). :func:`fit_dask` hands those
partitions, left where they were built, to :class:`lightgbm.dask.DaskLGBMClassifier`,
which trains one booster with LightGBM's data-parallel learner: every worker builds
histograms of its own rows and the workers agree on each split over a socket network.
No worker ever holds all rows, and the driver holds none.

The same inputs as :meth:`BoostedSurface.fit`: the same parameters (rounds, leaves,
regularisation, bagging, seed, ``deterministic``), the same monotone constraints on the
query columns and the same base margin as ``init_score``. The result is *not*
bit-identical to the local booster: LightGBM's data-parallel learner bins features from
each worker's rows and sums histograms across workers, and bagging samples per worker,
so splits and leaf values differ slightly; predictions and scores are close (the test
measures how close), and monotonicity holds exactly (constraints act on every split).

Only what is computable from one partition alone is allowed: a base without fitted
parameters (``"none"`` or ``"parkinson"``, whose log-odds per row do not depend on the
other rows; ``"vol_logistic"`` and ``"combo"`` are fitted on all rows) and
``calibration="none"`` (a calibrator needs a second booster on a block of time).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets import VOL_INPUTS
from downside.errors import ModelInputError, ModelSpecError, Problem
from downside.models._calibration import IdentityCalibrator
from downside.models._surface import BoostedSurface, FloatArray, label_array

M = TypeVar("M", bound=BoostedSurface)

DISTRIBUTED_BASES = ("none", "parkinson")
"""Bases whose log-odds per row need no fitted parameter (computable per partition)."""


@dataclass(frozen=True, eq=False)
class TrainingPart:
    """One partition of training rows as LightGBM sees them.

    Attributes:
        matrix: the tree columns (``tree_features``), float64, categories as codes.
        label: 0/1 labels.
        init_score: the base's log-odds per row.
        names: every input column (the model's ``feature_names_``).
        categories: levels of each categorical column.
        trees: the columns the trees split on.
    """

    matrix: FloatArray
    label: FloatArray
    init_score: FloatArray
    names: tuple[str, ...]
    categories: dict[str, list[Any]]
    trees: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.label)

    def summary(self) -> tuple[int, int, tuple[str, ...], dict[str, list[Any]]]:
        """Rows, events, columns and category levels (what the driver checks)."""
        return len(self), int(self.label.sum()), self.names, self.categories


def check_distributed(model: BoostedSurface) -> None:
    """Raise unless ``model`` can be fitted from independent partitions.

    Raises:
        ModelSpecError: parameters out of range, a fitted base, a calibrator, recency
            weighting, or no boosting rounds.
    """
    model._check_params()
    name = type(model).__name__
    problems = []
    if model.base not in DISTRIBUTED_BASES:
        problems.append(
            Problem(
                f"{name}.base",
                "not_distributable",
                1,
                f"a distributed fit needs a base without fitted parameters "
                f"{DISTRIBUTED_BASES}, received {model.base!r} (fitted on all rows); "
                "use base = 'parkinson' or drop distributed = true",
            )
        )
    if model.calibration != "none":
        problems.append(
            Problem(
                f"{name}.calibration",
                "not_distributable",
                1,
                f"a distributed fit needs calibration = 'none', received "
                f"{model.calibration!r} (a calibrator needs a second booster on the last "
                "block of time)",
            )
        )
    if model.weight_half_life_days is not None:
        problems.append(
            Problem(
                f"{name}.weight_half_life_days",
                "not_distributable",
                1,
                "a distributed fit weighs every row alike: recency weights need the latest "
                "as-of time of all partitions; drop weight_half_life_days or distributed",
            )
        )
    if model.n_estimators < 1:
        problems.append(
            Problem(
                f"{name}.n_estimators",
                "not_distributable",
                1,
                f"a distributed fit trains trees: expected >= 1, received {model.n_estimators}",
            )
        )
    if problems:
        raise ModelSpecError(problems)


def training_part(model: BoostedSurface, X: pd.DataFrame, y: npt.ArrayLike) -> TrainingPart:
    """The rows of one partition as LightGBM's inputs, checked as :meth:`fit` checks them.

    Raises:
        ModelSpecError: as :func:`check_distributed`.
        ModelInputError: missing query columns, unsupported dtypes, labels other than 0/1.
    """
    check_distributed(model)
    names, categories, matrix, problems = model._fit_inputs(X)
    labels = label_array(y, problems)
    if labels is not None and labels.size != len(X):
        problems.append(
            Problem("y", "length_mismatch", 1, f"expected {len(X)} labels, got {labels.size}")
        )
    elif labels is not None and not np.isin(labels, (0.0, 1.0)).all():
        problems.append(Problem("y", "non_binary_labels", 1, "expected 0 or 1"))
    if problems or labels is None:
        raise ModelInputError(problems)
    trees = [c for c in names if c not in VOL_INPUTS]
    tree_idx = [names.index(c) for c in trees]
    base = np.zeros(3, dtype=np.float64)
    return TrainingPart(
        matrix=np.ascontiguousarray(matrix[:, tree_idx]),
        label=labels,
        init_score=model._base_margin(matrix, names, base),
        names=tuple(names),
        categories=categories,
        trees=tuple(trees),
    )


def _field(part: TrainingPart, name: str) -> FloatArray:
    value: FloatArray = getattr(part, name)
    return value


def _summary(part: TrainingPart) -> tuple[int, int, tuple[str, ...], dict[str, list[Any]]]:
    return part.summary()


def fit_dask(model: M, client: Any, parts: Sequence[Any]) -> M:
    """Fit ``model``'s booster with :class:`lightgbm.dask.DaskLGBMClassifier` on
    partitions that stay on the workers.

    Args:
        model: an unfitted surface (its parameters are used).
        client: a ``distributed.Client``.
        parts: futures of :class:`TrainingPart` (one per partition, already on the
            workers, e.g. from ``client.map``).

    Returns:
        ``model``, fitted (no calibrator: ``calibration="none"``).

    Raises:
        ModelSpecError: as :func:`check_distributed`.
        ModelInputError: no rows, a single class over all partitions, or partitions
            with different columns or category levels.
    """
    import dask.array as da
    from lightgbm.dask import DaskLGBMClassifier

    check_distributed(model)
    summaries = client.gather(client.map(_summary, parts, pure=False))
    problems: list[Problem] = []
    kept = [(p, s) for p, s in zip(parts, summaries, strict=True) if s[0] > 0]
    rows = sum(s[0] for _, s in kept)
    events = sum(s[1] for _, s in kept)
    if rows == 0 or events in (0, rows):
        problems.append(Problem("y", "one_class", rows, f"expected both outcomes over {rows} rows"))
    layouts = {(s[2], repr(s[3])) for _, s in kept}
    if len(layouts) > 1:
        problems.append(
            Problem(
                "parts",
                "different_columns",
                len(layouts),
                "expected the same input columns and category levels in every partition",
            )
        )
    if problems:
        raise ModelInputError(problems)
    names, categories = list(kept[0][1][2]), kept[0][1][3]
    trees = [c for c in names if c not in VOL_INPUTS]
    params = model._lgb_params(trees)
    del params["num_threads"]  # lightgbm.dask uses each worker's thread count

    def column(name: str, shape: tuple[int, ...]) -> Any:
        blocks = [
            da.from_delayed(  # type: ignore[no-untyped-call]
                client.submit(_field, p, name, pure=False), shape=(s[0], *shape), dtype=np.float64
            )
            for p, s in kept
        ]
        return da.concatenate(blocks)  # type: ignore[no-untyped-call]

    X = column("matrix", (len(trees),))
    y = column("label", ())
    init_score = column("init_score", ())
    estimator = DaskLGBMClassifier(
        client=client,
        objective=params.pop("objective"),
        n_estimators=model.n_estimators,
        learning_rate=params.pop("learning_rate"),
        num_leaves=params.pop("num_leaves"),
        min_child_samples=params.pop("min_data_in_leaf"),
        colsample_bytree=params.pop("feature_fraction"),
        subsample=params.pop("bagging_fraction"),
        subsample_freq=params.pop("bagging_freq"),
        reg_lambda=params.pop("lambda_l2"),
        min_split_gain=params.pop("min_gain_to_split"),
        random_state=params.pop("seed", None),
        **params,
    )
    with warnings.catch_warnings(), client.as_current():
        # as_current: lightgbm.dask waits on the parts with the default client.
        # lightgbm.dask warns "Parameter n_jobs will be ignored" on every fit (get_params
        # always holds n_jobs): it sets num_threads to each worker's thread count instead.
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        estimator.fit(
            X,
            y,
            init_score=init_score,
            feature_name=trees,
            categorical_feature=[j for j, c in enumerate(trees) if c in categories],
        )
    booster = estimator.to_local().booster_
    return model._set_fitted(
        booster,
        int(booster.current_iteration()),
        names,
        categories,
        trees,
        np.zeros(3, dtype=np.float64),
        IdentityCalibrator(),
        {"requested": "none", "method": "none", "fit": "lightgbm.dask"},
        {},
    )
