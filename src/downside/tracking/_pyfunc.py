"""The registered MLflow model: a pyfunc built from code that returns probabilities.

Input rows (``mlflow models serve`` JSON or a DataFrame):

=============  ========  ==================================================
column         type      meaning
=============  ========  ==================================================
symbol         string    required, e.g. ``BTC``
asof           string    ISO time (UTC); empty = latest known time
threshold      double    drawdown models: fraction (0.1 = 10%); empty = grid
level          double    support models: price level; empty = auto-detected
horizon_days   double    empty = the trained grid
=============  ========  ==================================================

The model reads features from the point-in-time store configured by the serving
process's settings (``DOWNSIDE_HOME`` or ``downside.toml``), as of each row's time.
Rows that name every grid value get exactly those answers; rows that leave
``threshold``/``level`` or ``horizon_days`` empty get the trained grid (detected
supports). The answer has the columns of :meth:`downside.models.Predictor.predict`
(``asof`` as ISO text): probability, baseline, family points, ``stale_features``.
A request at a time where inputs the model uses are stale fails with the
:class:`~downside.errors.StaleDataError` message (features and ages); serving never
answers from stale inputs silently.

Example, against ``mlflow models serve -m models:/downside-drawdown@champion``::

    curl -s http://127.0.0.1:5000/invocations -H 'Content-Type: application/json' -d '
      {"dataframe_split": {"columns": ["symbol", "asof", "threshold", "horizon_days"],
                           "data": [["BTC", "2025-01-15T00:00:00Z", 0.1, 7]]}}'
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from downside.config import load_settings
from downside.errors import PredictionInputError
from downside.features import FeatureStore
from downside.models import Predictor

INPUT_COLUMNS = ("symbol", "asof", "threshold", "level", "horizon_days")


def answer(predictor: Predictor, fs: FeatureStore, requests: pd.DataFrame) -> pd.DataFrame:
    """Answer request rows with the predictor, reading features from ``fs``.

    Raises:
        PredictionInputError: a request lacks ``symbol`` or has an unparsable ``asof``.
    """
    if "symbol" not in requests.columns or requests["symbol"].isna().any():
        raise PredictionInputError(
            f"every request row needs a symbol; received columns {list(requests.columns)}"
        )
    req = requests.copy()
    req["symbol"] = req["symbol"].astype(str).str.upper()
    asof_raw = (
        req["asof"] if "asof" in req.columns else pd.Series(None, index=req.index, dtype=object)
    )
    try:
        parsed = pd.to_datetime(asof_raw.replace("", None), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise PredictionInputError(
            f"cannot parse asof values {asof_raw.head(3).tolist()}: expected ISO times such as "
            "2024-12-09T00:00:00Z"
        ) from exc
    latest = {s: fs.latest_asof(s) for s in req["symbol"].unique()}
    req["asof"] = [
        a if not pd.isna(a) else latest[s] for s, a in zip(req["symbol"], parsed, strict=True)
    ]
    req["asof"] = pd.to_datetime(req["asof"], utc=True).astype("datetime64[us, UTC]")
    spine = req[["symbol", "asof"]].drop_duplicates().reset_index(drop=True)
    horizons = _values(req, "horizon_days")
    if predictor.spec.target == "drawdown":
        thresholds = _values(req, "threshold")
        out = predictor.predict(fs, spine, thresholds=thresholds, horizons_days=horizons)
        return _restrict(out, req, ["threshold", "horizon_days"])
    levels = None
    if "level" in req.columns and req["level"].notna().any():
        levels = req.loc[req["level"].notna(), ["symbol", "asof", "level"]].drop_duplicates()
    out = predictor.predict(fs, spine, horizons_days=horizons, levels=levels)
    return _restrict(out, req, ["horizon_days"])


def _values(req: pd.DataFrame, column: str) -> list[float] | None:
    if column not in req.columns or req[column].isna().all():
        return None
    return sorted({float(v) for v in req[column].dropna()})


def _restrict(out: pd.DataFrame, req: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Keep only the combinations asked for where rows name them explicitly."""
    named = [c for c in columns if c in req.columns and req[c].notna().all()]
    if len(named) < len(columns):
        return out
    wanted = req[["symbol", "asof", *named]].drop_duplicates()
    merged = out.merge(wanted, on=["symbol", "asof", *named], how="inner")
    return merged.reset_index(drop=True)


class DownsideModel(PythonModel):
    """Pyfunc wrapper around :class:`downside.models.Predictor`."""

    predictor: Predictor
    _store: FeatureStore | None

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["state"], encoding="utf-8") as fh:
            self.predictor = Predictor.from_state(json.load(fh))
        self._store = None

    @property
    def feature_store(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore.from_settings(load_settings())
        return self._store

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        out = answer(self.predictor, self.feature_store, pd.DataFrame(model_input))
        out["asof"] = out["asof"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out.replace({np.nan: None}) if out.isna().any().any() else out
