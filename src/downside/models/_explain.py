"""Explanations by driver family, in probability points.

LightGBM's ``pred_contrib`` gives exact per-column SHAP values in log-odds. Summed per
family they add up to the margin, but probability is a non-linear (calibrated) function
of the margin, so log-odds shares do not translate into probability shares. Here the
driver families are the players of a cooperative game whose value is a probability:

    v(S) = calibrator(bias + sum of always-on columns + sum of families in S)

with the query columns (``threshold``, ``horizon_days``) always switched on. Exact
Shapley values over the 2^n coalitions (32 for five families) then split
``v(all) - v(none)`` among the
families: the points sum exactly to ``p_model - p_reference``, where ``p_reference``
is the probability with no driver family switched on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from functools import lru_cache
from math import factorial

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.errors import PredictionInputError
from downside.models._calibration import Calibrator
from downside.models._surface import BoostedSurface
from downside.vocabulary import ALWAYS_ON, QUERY, family_of

MAX_FAMILIES = 12
"""Exact Shapley values evaluate 2^n coalitions per row: at most this many families."""


@lru_cache(maxsize=16)
def _coalition_weights(n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Membership matrix ``(2^n, n)`` and Shapley weights ``(2^n, n)``.

    ``phi = V @ W`` where ``V[:, c]`` is the value of coalition ``c``: a coalition
    containing player ``f`` adds ``|S|!(n-|S|)!/n!`` with ``|S|`` counted without ``f``,
    one not containing it subtracts ``|S|!(n-|S|-1)!/n!``.
    """
    members = np.array(list(itertools.product((0.0, 1.0), repeat=n)), dtype=np.float64)
    size = members.sum(axis=1).astype(int)
    weights = np.zeros_like(members)
    for c, k in enumerate(size):
        for f in range(n):
            if members[c, f]:
                weights[c, f] = factorial(k - 1) * factorial(n - k) / factorial(n)
            else:
                weights[c, f] = -factorial(k) * factorial(n - k - 1) / factorial(n)
    return members, weights


def family_contributions(
    model: BoostedSurface,
    X: pd.DataFrame,
    families: Mapping[str, str],
    family_names: Sequence[str],
) -> pd.DataFrame:
    """Probability points contributed by each driver family, per row.

    Computes the model's per-column SHAP values (LightGBM ``pred_contrib``, TreeSHAP,
    whose cost grows with trees x leaves x depth^2 and dominates the run time; raise the
    model's ``n_jobs`` to spread it over cores) and passes them to
    :func:`shapley_by_family` with the model's calibrator.

    Args:
        model: a fitted :class:`DrawdownSurface` or :class:`SupportBreakModel`.
        X: the model's input columns (extra columns are ignored).
        families: input column to family (see :func:`shapley_by_family`); columns it
            does not name are ``query`` when they are the model's always-on query
            columns (``threshold``, ``horizon_days``) and ``technical`` otherwise.
        family_names: the driver families (the players), in output order.

    Returns:
        One column per family in probability points, then ``p_reference`` and
        ``p_model``, on ``X``'s index.

    Raises:
        NotFittedError: the model is not fitted.
        PredictionInputError: an unknown family, or inputs the model cannot predict.
    """
    contrib = model.contributions(X)
    return shapley_by_family(
        contrib, model.calibrator_, families, family_names, always_on=model.always_on
    )


def _check_families(families: Mapping[str, str], family_names: Sequence[str]) -> None:
    if len(family_names) > MAX_FAMILIES:
        raise PredictionInputError(
            f"{len(family_names)} driver families: exact Shapley values need 2^n coalitions, "
            f"expected at most {MAX_FAMILIES}; merge families in the feature repository"
        )
    unknown = sorted({f for f in families.values() if f not in (*family_names, QUERY)})
    if unknown:
        raise PredictionInputError(
            f"unknown driver families {unknown} in the families mapping: expected one of "
            f"{[*family_names, QUERY]}; map each column to one of these"
        )


def shapley_by_family(
    contributions: pd.DataFrame,
    calibrator: Calibrator,
    families: Mapping[str, str],
    family_names: Sequence[str],
    *,
    always_on: Sequence[str] = ALWAYS_ON,
) -> pd.DataFrame:
    """Exact Shapley values of the families in probability space, vectorised.

    Args:
        contributions: per-column log-odds contributions with a final ``bias`` column
            (as :meth:`BoostedSurface.contributions` returns).
        calibrator: the map from margin to probability applied to every coalition.
        families: column to family (one of ``family_names``) or ``"query"`` (always
            on). Columns it does not name get :func:`downside.vocabulary.family_of`:
            ``query`` when in ``always_on``, their prefix for ``<family>.<name>``
            columns, ``technical`` otherwise (``z_distance``, ``sigma_daily``...).
        family_names: the driver families (the players), in output order.
        always_on: query columns switched on in every coalition unless mapped.

    Returns:
        One column per family (probability points), then ``p_reference`` (no family
        on) and ``p_model`` (all on); the family columns sum to ``p_model - p_reference``.

    Raises:
        PredictionInputError: a family outside the known families, or no ``bias`` column.
    """
    _check_families(families, family_names)
    if contributions.columns[-1] != "bias":
        raise PredictionInputError(
            "contributions must end with the 'bias' column of LightGBM's pred_contrib, "
            f"received columns ending {list(contributions.columns[-3:])}; pass the frame "
            "of BoostedSurface.contributions()"
        )
    values = contributions.to_numpy(dtype=np.float64)
    names = [str(c) for c in contributions.columns[:-1]]
    base = values[:, -1].copy()
    sums = np.zeros((len(values), len(family_names)), dtype=np.float64)
    index = {f: i for i, f in enumerate(family_names)}
    for j, col in enumerate(names):
        family = families.get(col) or family_of(col, always_on)
        if family == QUERY:
            base += values[:, j]
        elif family not in index:
            raise PredictionInputError(
                f"column {col!r} belongs to family {family!r}, which is not among "
                f"{list(family_names)}; pass its family in the families mapping"
            )
        else:
            sums[:, index[family]] += values[:, j]
    members, weights = _coalition_weights(len(family_names))
    margins = base[:, None] + sums @ members.T
    coalition_p = calibrator.transform(margins.ravel()).reshape(margins.shape)
    points = coalition_p @ weights
    out = pd.DataFrame(points, columns=list(family_names), index=contributions.index)
    out["p_reference"] = coalition_p[:, 0]
    out["p_model"] = coalition_p[:, -1]
    return out
