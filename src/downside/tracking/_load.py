"""Load a registered model back as a :class:`downside.models.Predictor`."""

from __future__ import annotations

import mlflow.pyfunc
from mlflow.exceptions import MlflowException

from downside.config import Settings
from downside.errors import ModelNotFoundError
from downside.models import Predictor
from downside.tracking._client import connect


def load_predictor(uri: str, settings: Settings) -> Predictor:
    """Load ``models:/NAME@alias`` (or any MLflow model URI) and unwrap its predictor.

    Raises:
        ModelNotFoundError: no such model, version or alias in the configured registry.
    """
    connect(settings)
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ModelNotFoundError(
            f"cannot load model {uri!r} from registry {settings.resolved_registry_uri}: {exc}. "
            "Train one with `downside train drawdown` (or `downside quickstart`), or check "
            "the alias "
            "with `downside models list`"
        ) from exc
    wrapped = model.unwrap_python_model()
    predictor: Predictor = wrapped.predictor
    return predictor
