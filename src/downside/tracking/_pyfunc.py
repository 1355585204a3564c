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
(``asof`` as ISO text): probability, baseline, family points, ``stale_features``;
:func:`signature` declares both sides.
A request at a time where inputs the model uses are stale fails with the
:class:`~downside.errors.StaleDataError` message (features and ages); serving never
answers from stale inputs silently.

Before reading its state, ``load_context`` checks the SHA-256 of the model code, state
and wheel against those logged in the model's ``model_config`` (see
:mod:`downside.tracking._integrity`) and raises
:class:`~downside.errors.ModelIntegrityError` on a mismatch; ``predict`` only runs on a
model whose ``load_context`` passed.

Example, against ``mlflow models serve -m models:/downside-drawdown@champion``::

    curl -s http://127.0.0.1:5000/invocations -H 'Content-Type: application/json' -d '
      {"dataframe_split": {"columns": ["symbol", "asof", "threshold", "horizon_days"],
                           "data": [["BTC", "2025-01-15T00:00:00Z", 0.1, 7]]}}'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, Schema

from downside.config import load_settings
from downside.errors import ModelIntegrityError
from downside.features import FeatureStore
from downside.models import Predictor
from downside.tracking._integrity import CONFIG_KEY, verify_model_dir

INPUT_COLUMNS = ("symbol", "asof", "threshold", "level", "horizon_days")
STATE_ARTIFACT = "artifacts/state.json"
"""Where MLflow keeps the ``state`` artifact inside the model folder."""


def signature(predictor: Predictor) -> ModelSignature:
    """Input and output columns of the served model, in the order it answers them.

    Outputs follow :meth:`downside.models.Predictor.predict`: the family columns are the
    predictor's ``family_names``; support models add ``level_type`` and
    ``distance_pct``.
    """
    cell = predictor.spec.frame.cell_column
    inputs = Schema(
        [
            ColSpec("string", "symbol"),
            ColSpec("string", "asof", required=False),
            ColSpec("double", cell, required=False),
            ColSpec("double", "horizon_days", required=False),
        ]
    )
    doubles = ("probability", "baseline_probability", "p_reference", *predictor.family_names)
    support = [ColSpec("string", "level_type"), ColSpec("double", "distance_pct")]
    outputs = Schema(
        [
            ColSpec("string", "asof"),
            ColSpec("string", "symbol"),
            ColSpec("double", cell),
            ColSpec("double", "horizon_days"),
            *(ColSpec("double", name) for name in doubles),
            ColSpec("string", "leading_driver"),
            *(support if cell == "level" else []),
            ColSpec("double", "ref_close"),
            ColSpec("double", "sigma_daily"),
            ColSpec("string", "stale_features"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


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
        """Check the model's files against the hashes in its ``model_config``, then
        read the state.

        Raises:
            ModelIntegrityError: no hashes logged, or a file differs from its hash.
        """
        state = Path(context.artifacts["state"])
        model_dir = state.parents[1]
        expected = (context.model_config or {}).get(CONFIG_KEY)
        if not isinstance(expected, dict) or STATE_ARTIFACT not in expected:
            raise ModelIntegrityError(
                f"model at {model_dir} logs no SHA-256 of its files in model_config "
                f"[{CONFIG_KEY!r}]: it was not logged by `downside train`; refusing to load it",
                source=str(model_dir),
            )
        verify_model_dir(model_dir, expected, str(model_dir), complete=False)
        self.predictor = Predictor.from_state(json.loads(state.read_text(encoding="utf-8")))
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
