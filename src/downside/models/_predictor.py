"""A trained model with everything needed to answer questions at any as-of time.

The same object serves the Python API (:class:`downside.api.Forecaster`) and the MLflow
pyfunc, so both give identical answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from downside.errors import PredictionInputError
from downside.features import FeatureStore
from downside.models._baselines import GBMFirstPassage
from downside.models._explain import family_contributions
from downside.models._pipeline import assemble
from downside.models._spec import FAMILIES, ModelSpec, parse_spec
from downside.models._surface import DrawdownSurface, SupportBreakModel

STATE_VERSION = 1


@dataclass(frozen=True)
class Predictor:
    """A fitted model, its spec and the column roles it was trained with."""

    spec: ModelSpec
    spec_text: str
    model: DrawdownSurface | SupportBreakModel
    input_columns: tuple[str, ...]
    families: Mapping[str, str]

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state; the booster is kept in LightGBM's text format."""
        return {
            "version": STATE_VERSION,
            "spec_text": self.spec_text,
            "model": self.model.to_state(),
            "input_columns": list(self.input_columns),
            "families": dict(self.families),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Predictor:
        spec = parse_spec(state["spec_text"], source="<registered model>")
        model_cls = DrawdownSurface if spec.target == "drawdown" else SupportBreakModel
        return cls(
            spec=spec,
            spec_text=state["spec_text"],
            model=model_cls.from_state(state["model"]),
            input_columns=tuple(state["input_columns"]),
            families=dict(state["families"]),
        )

    def _check_range(self, name: str, values: Sequence[float], trained: Sequence[float]) -> None:
        lo, hi = min(trained), max(trained)
        bad = [v for v in values if not lo <= v <= hi]
        if bad:
            raise PredictionInputError(
                f"{name} {bad} outside the trained range [{lo:g}, {hi:g}] of model "
                f"{self.spec.registered_name}; ask within the range or retrain with a wider grid"
            )

    def predict(
        self,
        feature_store: FeatureStore,
        spine: pd.DataFrame,
        *,
        thresholds: Sequence[float] | None = None,
        horizons_days: Sequence[float] | None = None,
        levels: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Probabilities, the volatility baseline and family contributions.

        Args:
            feature_store: where features and prices are read, as of each spine time.
            spine: ``symbol, asof`` rows.
            thresholds: drawdown fractions (drawdown models); default the trained grid.
            horizons_days: horizons; default the trained grid.
            levels: support models: ``symbol, asof, level`` rows; None = auto-detected.

        Raises:
            PredictionInputError: unknown symbol, a threshold or horizon outside the
                trained range, or a support level at or above the price.
        """
        known = set(feature_store.symbols())
        unknown = sorted(set(spine["symbol"]) - known)
        if unknown:
            raise PredictionInputError(
                f"unknown symbol(s) {unknown}: the store has prices for {sorted(known)}; "
                "ingest data for the symbol or pick one of these"
            )
        horizons = list(horizons_days or self.spec.horizons_days)
        self._check_range("horizons_days", horizons, self.spec.horizons_days)
        grid = None
        if self.spec.target == "drawdown":
            grid = list(thresholds or self.spec.thresholds)
            self._check_range("thresholds", grid, self.spec.thresholds)
        data = assemble(
            self.spec,
            feature_store,
            spine=spine,
            levels=levels,
            thresholds=grid,
            horizons_days=horizons,
        )
        frame = data.frame
        x = frame[list(self.input_columns)]
        p = self.model.predict_proba(x)[:, 1]
        contrib = family_contributions(self.model, x, self.families)
        baseline = (
            GBMFirstPassage(vol="ewma").fit(frame, np.zeros(len(frame))).predict_proba(frame)[:, 1]
        )
        key = ["asof", "symbol"]
        key += (
            ["threshold"]
            if self.spec.target == "drawdown"
            else ["level", "level_type", "distance_pct"]
        )
        out = (
            frame[[*key, "horizon_days", "ref_close"]].copy()
            if "ref_close" in frame
            else frame[[*key, "horizon_days"]].copy()
        )
        out.insert(len(key) + 1, "probability", p)
        out["baseline_probability"] = baseline
        out["p_reference"] = contrib["p_reference"].to_numpy()
        for fam in FAMILIES:
            out[fam] = contrib[fam].to_numpy() if fam in contrib else 0.0
        out["leading_driver"] = out[list(FAMILIES)].abs().idxmax(axis=1)
        return out.reset_index(drop=True)
