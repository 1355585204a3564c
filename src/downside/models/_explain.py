"""Explanations by driver family, in probability points.

LightGBM's ``pred_contrib`` gives exact per-column SHAP values in log-odds. Summed per
family they add up to the margin, but probability is a non-linear (calibrated) function
of the margin, so log-odds shares do not translate into probability shares. Here the
five families are the players of a cooperative game whose value is a probability:

    v(S) = calibrator(bias + sum of always-on columns + sum of families in S)

with the query columns (``threshold``, ``horizon_days``) always switched on. Exact
Shapley values over the 2^5 = 32 coalitions then split ``v(all) - v(none)`` among the
families: the points sum exactly to ``p_model - p_reference``, where ``p_reference``
is the probability with no driver family switched on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from math import factorial

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.errors import PredictionInputError
from downside.models._calibration import Calibrator
from downside.models._spec import FAMILIES
from downside.models._surface import BoostedSurface

QUERY = "query"
"""Family value that marks a column as always switched on."""

DEFAULT_FAMILY = "technical"
"""Family of a column the mapping does not name (z_distance, sigma_daily, level features)."""


def infer_families(columns: Sequence[str]) -> dict[str, str]:
    """Family of each column from its name: the prefix before the first dot.

    ``leverage.oi_change_7d`` belongs to ``leverage``; names without a known family
    prefix (``z_distance``, ``sigma_daily``) are ``technical``; ``threshold`` and
    ``horizon_days`` are ``query`` (always on).
    """
    out: dict[str, str] = {}
    for col in columns:
        prefix = col.split(".", 1)[0]
        if col in ("threshold", "horizon_days"):
            out[col] = QUERY
        else:
            out[col] = prefix if "." in col and prefix in FAMILIES else DEFAULT_FAMILY
    return out


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


_MEMBERS, _WEIGHTS = _coalition_weights(len(FAMILIES))


def family_contributions(
    model: BoostedSurface,
    X: pd.DataFrame,
    families: Mapping[str, str],
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

    Returns:
        One column per family in probability points, then ``p_reference`` and
        ``p_model``, on ``X``'s index.

    Raises:
        NotFittedError: the model is not fitted.
        PredictionInputError: an unknown family, or inputs the model cannot predict.
    """
    _check_families(families)
    contrib = model.contributions(X)
    return shapley_by_family(contrib, model.calibrator_, families, always_on=model.always_on)


def _check_families(families: Mapping[str, str]) -> None:
    unknown = sorted({f for f in families.values() if f not in (*FAMILIES, QUERY)})
    if unknown:
        raise PredictionInputError(
            f"unknown driver families {unknown} in the families mapping: expected one of "
            f"{[*FAMILIES, QUERY]}; map each column to one of these"
        )


def shapley_by_family(
    contributions: pd.DataFrame,
    calibrator: Calibrator,
    families: Mapping[str, str],
    *,
    always_on: Sequence[str] = ("threshold", "horizon_days"),
) -> pd.DataFrame:
    """Exact Shapley values of the families in probability space, vectorised.

    Args:
        contributions: per-column log-odds contributions with a final ``bias`` column
            (as :meth:`BoostedSurface.contributions` returns).
        calibrator: the map from margin to probability applied to every coalition.
        families: column to family (``leverage, funding, etf_flows, rates, technical``)
            or ``"query"`` (always on). Columns it does not name are ``query`` when in
            ``always_on`` and ``technical`` otherwise (``z_distance``, ``sigma_daily``,
            level features).
        always_on: query columns switched on in every coalition unless mapped.

    Returns:
        One column per family (probability points), then ``p_reference`` (no family
        on) and ``p_model`` (all on); the family columns sum to ``p_model - p_reference``.

    Raises:
        PredictionInputError: a family outside the known families, or no ``bias`` column.
    """
    _check_families(families)
    if contributions.columns[-1] != "bias":
        raise PredictionInputError(
            "contributions must end with the 'bias' column of LightGBM's pred_contrib, "
            f"received columns ending {list(contributions.columns[-3:])}; pass the frame "
            "of BoostedSurface.contributions()"
        )
    values = contributions.to_numpy(dtype=np.float64)
    names = [str(c) for c in contributions.columns[:-1]]
    base = values[:, -1].copy()
    sums = np.zeros((len(values), len(FAMILIES)), dtype=np.float64)
    index = {f: i for i, f in enumerate(FAMILIES)}
    for j, col in enumerate(names):
        family = families.get(col, QUERY if col in always_on else DEFAULT_FAMILY)
        if family == QUERY:
            base += values[:, j]
        else:
            sums[:, index[family]] += values[:, j]
    margins = base[:, None] + sums @ _MEMBERS.T
    coalition_p = calibrator.transform(margins.ravel()).reshape(margins.shape)
    points = coalition_p @ _WEIGHTS
    out = pd.DataFrame(points, columns=list(FAMILIES), index=contributions.index)
    out["p_reference"] = coalition_p[:, 0]
    out["p_model"] = coalition_p[:, -1]
    return out
