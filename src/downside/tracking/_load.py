"""Load a registered model back as a :class:`downside.models.Predictor`, and find what
the registry knows about it (version, training run, logged plots)."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc
from mlflow.exceptions import MlflowException

from downside.config import Settings
from downside.errors import ModelNotFoundError, TrackingError
from downside.models import Predictor
from downside.tracking._client import connect

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ModelSource:
    """Where a loaded model came from.

    Attributes:
        uri: the URI it was loaded from.
        name: registered model name (None for URIs outside the registry).
        version: registered version.
        run_id: the MLflow run that trained it.
    """

    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None

    def describe(self) -> str:
        """``downside-drawdown v3 (models:/downside-drawdown@champion)`` or the URI."""
        if self.name is None:
            return self.uri
        return f"{self.name} v{self.version} ({self.uri})"


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


def resolve_model(uri: str, settings: Settings) -> ModelSource:
    """Registered name, version and training run of a ``models:/`` URI.

    URIs of other kinds (``runs:/``, paths) give a source with only ``uri`` set.

    Raises:
        ModelNotFoundError: the registry has no such model, version or alias.
    """
    match = _MODELS_URI.match(uri)
    if match is None:
        return ModelSource(uri)
    client = connect(settings)
    name = match["name"]
    try:
        if match["alias"]:
            mv = client.get_model_version_by_alias(name, match["alias"])
        else:
            mv = client.get_model_version(name, match["version"])
    except MlflowException as exc:
        raise ModelNotFoundError(
            f"registry {settings.resolved_registry_uri} has no model version for {uri!r}: "
            f"{exc}; see `downside models list`"
        ) from exc
    return ModelSource(uri, name, str(mv.version), mv.run_id)


def run_artifact(source: ModelSource, artifact_path: str, dst: Path, settings: Settings) -> Path:
    """Copy a file logged by the model's training run (e.g. ``plots/reliability.png``)
    to ``dst``.

    Raises:
        TrackingError: the model has no training run, or the run has no such artifact.
    """
    if source.run_id is None:
        raise TrackingError(
            f"model {source.uri} is not a registered version with a training run; "
            f"its {artifact_path} cannot be found"
        )
    connect(settings)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=source.run_id, artifact_path=artifact_path, dst_path=tmp
            )
        except (MlflowException, OSError) as exc:
            raise TrackingError(
                f"run {source.run_id} of {source.describe()} has no artifact "
                f"{artifact_path!r}: {exc}"
            ) from exc
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, dst)
    return dst
