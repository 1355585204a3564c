"""What a model's inputs looked like in training: range and deciles of every numeric input.

A :class:`~downside.models.Predictor` keeps the profile of the rows it was fitted on, so
that later questions can be checked against them without the training data: input
drift (:func:`downside.evaluation.population_stability` of recent values against the
training deciles) and what-if shocks that move an input outside the range the trees
ever saw. Features are profiled once per (symbol, as-of) key, query and volatility
columns once per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets import Frame
from downside.evaluation import bin_shares, population_stability, quantile_edges

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ColumnProfile:
    """One input in training.

    Attributes:
        low: smallest finite value (NaN when there was none).
        high: largest finite value.
        edges: inner decile edges (repeated ones merged).
        shares: share of the training values below ``low`` (0), per bin of ``edges``,
            above ``high`` (0), then the missing share
            (:func:`downside.evaluation.bin_shares`).
    """

    low: float
    high: float
    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def of(cls, values: npt.ArrayLike) -> ColumnProfile:
        data = np.asarray(values, dtype=np.float64)
        finite = data[np.isfinite(data)]
        edges = quantile_edges(finite)
        low = float(finite.min()) if finite.size else float("nan")
        high = float(finite.max()) if finite.size else float("nan")
        return cls(
            low=low,
            high=high,
            edges=edges,
            shares=tuple(float(v) for v in bin_shares(data, edges, low, high)),
        )

    def psi(self, values: npt.ArrayLike) -> float:
        """Population stability index of ``values`` against the training shares."""
        return population_stability(
            self.shares, bin_shares(values, self.edges, self.low, self.high)
        )

    def outside(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Where finite ``values`` lie outside ``[low, high]``."""
        data = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return np.asarray(np.isfinite(data) & ((data < self.low) | (data > self.high)))


@dataclass(frozen=True)
class InputProfile:
    """Every numeric input of a model in training.

    Attributes:
        columns: input name to its profile.
        first_asof: first as-of time of the labelled training rows.
        last_asof: last one.
        last_label_end: the latest time a training label looked at.
        keys: labelled (symbol, as-of) keys profiled.
    """

    columns: Mapping[str, ColumnProfile]
    first_asof: pd.Timestamp | None
    last_asof: pd.Timestamp | None
    last_label_end: pd.Timestamp | None
    keys: int

    @classmethod
    def of_frame(cls, data: Frame) -> InputProfile:
        """The profile of a training frame's labelled rows (all rows when unlabelled)."""
        columns = data.columns
        n = len(data)
        labelled = (
            ~np.isnan(np.asarray(columns["label"], dtype=np.float64))
            if "label" in columns
            else np.ones(n, dtype=bool)
        )
        keys = np.unique(data.row_key[labelled])
        profiles: dict[str, ColumnProfile] = {}
        features = set(data.feature_columns)
        for j, name in enumerate(data.feature_columns):
            profiles[name] = ColumnProfile.of(data.key_features[keys, j])
        for name in data.input_columns:
            if name in features or name not in columns:
                continue
            values = columns[name]
            if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype) or (
                not pd.api.types.is_numeric_dtype(getattr(values, "dtype", np.float64))
            ):
                continue
            profiles[name] = ColumnProfile.of(np.asarray(values, dtype=np.float64)[labelled])
        asof = data.keys["asof"].iloc[keys]
        ends = columns.get("label_end")
        last_end = None
        if ends is not None and labelled.any():
            last_end = pd.Timestamp(pd.Series(ends)[labelled].max())
        return cls(
            columns=profiles,
            first_asof=pd.Timestamp(asof.min()) if len(keys) else None,
            last_asof=pd.Timestamp(asof.max()) if len(keys) else None,
            last_label_end=last_end,
            keys=len(keys),
        )

    def to_state(self) -> dict[str, Any]:
        def iso(ts: pd.Timestamp | None) -> str | None:
            return None if ts is None else ts.isoformat()

        return {
            "columns": {
                name: {
                    "low": p.low,
                    "high": p.high,
                    "edges": list(p.edges),
                    "shares": list(p.shares),
                }
                for name, p in self.columns.items()
            },
            "first_asof": iso(self.first_asof),
            "last_asof": iso(self.last_asof),
            "last_label_end": iso(self.last_label_end),
            "keys": self.keys,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> InputProfile:
        def ts(value: Any) -> pd.Timestamp | None:
            return pd.Timestamp(value) if value is not None else None

        return cls(
            columns={
                str(name): ColumnProfile(
                    low=float(p["low"]),
                    high=float(p["high"]),
                    edges=tuple(float(v) for v in p["edges"]),
                    shares=tuple(float(v) for v in p["shares"]),
                )
                for name, p in state["columns"].items()
            },
            first_asof=ts(state.get("first_asof")),
            last_asof=ts(state.get("last_asof")),
            last_label_end=ts(state.get("last_label_end")),
            keys=int(state.get("keys", 0)),
        )
