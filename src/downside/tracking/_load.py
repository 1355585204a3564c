"""Load a registered model back as a :class:`downside.models.Predictor`, and find what
the registry knows about it (version, training run, logged plots).

A registered model is downloaded, checked file by file against the SHA-256 manifest
recorded on its version (:mod:`downside.tracking._integrity`), and only then handed to
MLflow, which imports its model code; a mismatch raises
:class:`~downside.errors.ModelIntegrityError` before anything from the download runs.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from downside.config import Settings
from downside.errors import ModelNotFoundError, TrackingError
from downside.models import Predictor
from downside.tracking._client import connect
from downside.tracking._integrity import (
    MANIFEST_TAG,
    drop_load_leftovers,
    parse_manifest,
    verify_model_dir,
)

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
    """Load ``models:/NAME@alias`` (or ``models:/NAME/VERSION``) and unwrap its predictor.

    The model is downloaded and every file checked against the SHA-256 manifest of its
    registered version before MLflow imports its code.

    Raises:
        ModelNotFoundError: no such model, version or alias in the configured registry,
            or a URI outside the registry (it has no manifest to check).
        ModelIntegrityError: the version has no manifest, or the files differ from it.
    """
    source = resolve_model(uri, settings)
    if source.name is None:
        raise ModelNotFoundError(
            f"cannot load {uri!r}: expected a registered model URI (models:/NAME@alias or "
            "models:/NAME/VERSION), whose files the registry's SHA-256 manifest vouches for"
        )
    client = connect(settings)
    name, version = source.name, str(source.version)
    tags = client.get_model_version(name, version).tags or {}
    manifest = parse_manifest(tags.get(MANIFEST_TAG), source.describe())
    with tempfile.TemporaryDirectory(prefix="downside-model-") as tmp:
        try:
            local = download_version(client, name, version, Path(tmp))
        except (MlflowException, OSError) as exc:
            raise ModelNotFoundError(
                f"cannot download model {uri!r} from registry "
                f"{settings.resolved_registry_uri}: {exc}. Train one with `downside train "
                "drawdown` (or `downside quickstart`), or check the alias with "
                "`downside models list`"
            ) from exc
        drop_load_leftovers(local)
        verify_model_dir(local, manifest, source.describe())
        model = mlflow.pyfunc.load_model(str(local))
    wrapped = model.unwrap_python_model()
    predictor: Predictor = wrapped.predictor
    return predictor


def download_version(client: MlflowClient, name: str, version: str, dst: Path) -> Path:
    """Copy a registered version's files, as stored, into a new folder under ``dst``.

    Read from the version's storage location, not through its ``models:/`` URI (MLflow
    adds a ``registered_model_meta`` file to downloads of those).
    """
    location = client.get_model_version_download_uri(name, version)
    folder = dst / f"{name}-v{version}"
    folder.mkdir(parents=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(folder)))


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
