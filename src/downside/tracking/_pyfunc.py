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
from downside.features import FeatureStore
from downside.models import Predictor

INPUT_COLUMNS = ("symbol", "asof", "threshold", "level", "horizon_days")


def answer(predictor: Predictor, fs: FeatureStore, requests: pd.DataFrame) -> pd.DataFrame:
    """Answer request rows with the predictor, reading features from ``fs``; the rows
    are checked by :func:`downside.datasets.check_request` like every other request.

    Raises:
        PredictionInputError: a row lacks ``symbol`` or has an unparsable ``asof``, or
            any other bad request (see ``check_request``).
        StaleDataError: inputs the model uses are stale at a requested time.
    """
    return predictor.answer(fs, rows=pd.DataFrame(requests))


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
