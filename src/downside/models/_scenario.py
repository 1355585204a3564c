"""What-if answers: a request answered as it stands and with shocks, side by side.

Both answers come from :meth:`Predictor.predict` on the same checked request; the
scenario passes a :class:`downside.datasets.ShockTransform`, which moves the built rows
in one place before they are scored. The change of the probability is split as the
answers are: the change of ``p_reference`` (the model with no driver family switched
on: volatility, barrier distance, horizon) plus the change of each family's points.
Inputs a shock moves outside the range they had in training are flagged: the trees
never saw such values, so the answer extrapolates (a tree holds its outermost leaf).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from downside.datasets import Frame, Request, Shock, ShockTransform
from downside.features import FeatureStore
from downside.models._predictor import Predictor

_DERIVED = ("z_distance", "distance_pct", "distance_vol")
"""Query columns a price or volatility shock recomputes."""
_DRIVERS = ("ref_close", "sigma_daily")


@dataclass(frozen=True)
class ScenarioResult:
    """A what-if answer.

    Attributes:
        table: one row per cell answered in both cases: ``asof, symbol, threshold`` (or
            ``level``), ``horizon_days, base_probability, probability, change``,
            ``reference`` (change of ``p_reference``), the change of each family's
            points (they sum with ``reference`` to ``change``), ``base_ref_close,
            ref_close`` and ``outside_training`` (comma-separated inputs the shocks moved
            outside their training range on that row; empty when none).
        shocks: the shocks applied, in order.
        changes: every input moved, per (symbol, asof): ``symbol, asof, shock, column,
            base, value, outside_training``.
        unused: inputs named by shocks that are not inputs of this model.
        dropped: support rows left out because the shocked price is at or below their
            level: ``symbol, asof, level``.
        base: the base answer (:meth:`Predictor.predict`'s rows).
        shocked: the scenario answer.
    """

    table: pd.DataFrame
    shocks: tuple[Shock, ...]
    changes: pd.DataFrame
    unused: tuple[str, ...] = ()
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame)
    base: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    shocked: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def flagged(self) -> bool:
        """Whether any shock moved an input outside its training range."""
        return bool(self.changes["outside_training"].any()) if len(self.changes) else False


def _outside_rows(predictor: Predictor, data: Frame, changes: pd.DataFrame) -> list[str]:
    """Per row of ``data``: the moved inputs outside their training range."""
    profile = predictor.profile
    n = len(data)
    flags: list[list[str]] = [[] for _ in range(n)]
    if profile is None or changes.empty:
        return ["" for _ in range(n)]
    keys = data.keys
    position = {
        (s, t): k for k, (s, t) in enumerate(zip(keys["symbol"], keys["asof"], strict=True))
    }
    moved: dict[str, np.ndarray] = {}
    for (symbol, asof), part in changes.groupby(["symbol", "asof"], sort=False):
        k = position.get((symbol, asof))
        if k is None:
            continue
        columns = set(part["column"])
        if columns & set(_DRIVERS):
            columns |= set(_DERIVED)
        for column in columns:
            moved.setdefault(column, np.zeros(len(keys), dtype=bool))[k] = True
    for column, at_key in moved.items():
        if column not in profile.columns or column not in data.columns:
            continue
        rows = at_key[data.row_key]
        out = profile.columns[column].outside(np.asarray(data.columns[column], dtype=np.float64))
        for i in np.flatnonzero(rows & out):
            flags[i].append(column)
    return [",".join(sorted(f)) for f in flags]


def run_scenario(
    predictor: Predictor,
    feature_store: FeatureStore,
    request: Request,
    shocks: Sequence[Shock],
    *,
    allow_stale: bool = False,
) -> ScenarioResult:
    """Answer ``request`` as it stands and with ``shocks`` applied.

    Raises:
        ScenarioError: a shock names an unknown input.
        StaleDataError: stale inputs (unless ``allow_stale``).
        InsufficientHistoryError: too little history at an as-of time.
    """
    transform = ShockTransform(shocks, feature_store)
    base = predictor.predict(feature_store, request, allow_stale=allow_stale)
    shocked = predictor.predict(
        feature_store, request, allow_stale=allow_stale, transform=transform
    )
    effects = transform.effects
    changes = (
        pd.concat([e.changes for e in effects if len(e.changes)], ignore_index=True)
        if any(len(e.changes) for e in effects)
        else pd.DataFrame(columns=["symbol", "asof", "shock", "column", "base", "value"])
    )
    profile = predictor.profile
    outside = np.zeros(len(changes), dtype=bool)
    if profile is not None:
        for i, (column, value) in enumerate(zip(changes["column"], changes["value"], strict=True)):
            found = profile.columns.get(str(column))
            outside[i] = found is not None and bool(found.outside([float(value)])[0])
    changes["outside_training"] = outside
    cell = predictor.spec.frame.cell_column
    keys = ["asof", "symbol", cell, "horizon_days"]
    if transform.result is not None:
        shocked = shocked.assign(
            outside_training=_outside_rows(predictor, transform.result, changes)
        )
    else:
        shocked = shocked.assign(outside_training="")
    families = list(predictor.family_names)
    merged = base.merge(shocked, on=keys, how="inner", suffixes=("_base", ""))
    table = merged[keys].copy()
    table["base_probability"] = merged["probability_base"].to_numpy()
    table["probability"] = merged["probability"].to_numpy()
    table["change"] = table["probability"] - table["base_probability"]
    table["reference"] = (merged["p_reference"] - merged["p_reference_base"]).to_numpy()
    for family in families:
        table[family] = (merged[family] - merged[f"{family}_base"]).to_numpy()
    table["base_ref_close"] = merged["ref_close_base"].to_numpy()
    table["ref_close"] = merged["ref_close"].to_numpy()
    table["outside_training"] = merged["outside_training"].astype("str").to_numpy()
    dropped = [e.dropped for e in effects if len(e.dropped)]
    return ScenarioResult(
        table=table.reset_index(drop=True),
        shocks=tuple(shocks),
        changes=changes,
        unused=tuple(dict.fromkeys(n for e in effects for n in e.unused)),
        dropped=(
            pd.concat(dropped, ignore_index=True)
            if dropped
            else pd.DataFrame(columns=["symbol", "asof", "level"])
        ),
        base=base,
        shocked=shocked,
    )
