"""A registered model whose files changed after registration is refused before anything
from it runs: through ``Forecaster.load`` (the registry's SHA-256 manifest) and through
the pyfunc's own ``load_context`` (the hashes in its ``model_config``)."""

from __future__ import annotations

import contextlib
import json
import py_compile
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from downside import api
from downside.api import Forecaster
from downside.config import load_settings
from downside.errors import ModelIntegrityError, ModelNotFoundError
from downside.tracking import connect
from downside.tracking._integrity import MANIFEST_TAG, artifact_manifest

SpecFactory = Callable[..., Path]


def _stored_model_dir(client: MlflowClient, name: str, version: str) -> Path:
    """The registered version's files where the artifact store keeps them."""
    location = client.get_model_version_download_uri(name, version)
    return Path(unquote(urlparse(location).path))


@pytest.mark.slow
def test_altered_model_files_are_refused_before_anything_runs(
    home: Path, make_spec: SpecFactory, tmp_path: Path
) -> None:
    spec = make_spec("integrity")
    api.train(spec, trials=0, folds=1)
    name, uri = f"downside-{spec.stem}", f"models:/downside-{spec.stem}@champion"
    client = connect(load_settings())
    stored = _stored_model_dir(client, name, "1")
    manifest = json.loads(client.get_model_version(name, "1").tags[MANIFEST_TAG])
    assert manifest == artifact_manifest(stored)
    assert {"MLmodel", "_model_code.py", "requirements.txt", "artifacts/state.json"} <= set(
        manifest
    )
    assert Forecaster.load(uri, support_uri=None).drawdown is not None

    code, state = stored / "_model_code.py", stored / "artifacts" / "state.json"
    original_code, original_state = code.read_bytes(), state.read_bytes()
    marker = tmp_path / "model-code-ran"
    code.write_bytes(original_code + f"\nopen({str(marker)!r}, 'w').close()\n".encode())
    with pytest.raises(ModelIntegrityError, match=r"altered: \['_model_code.py'\]") as info:
        Forecaster.load(uri, support_uri=None)
    assert info.value.altered == ("_model_code.py",)
    assert not marker.exists()  # the appended line never ran

    code.write_bytes(original_code)
    state.write_bytes(original_state + b" ")  # still valid JSON: only the hash tells
    with pytest.raises(ModelIntegrityError, match=r"artifacts/state\.json"):
        Forecaster.load(uri, support_uri=None)

    state.write_bytes(original_state)
    (stored / "artifacts" / "extra.py").write_text("print('hello')\n", encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match="not in the manifest") as info:
        Forecaster.load(uri, support_uri=None)
    assert info.value.unexpected == ("artifacts/extra.py",)

    (stored / "artifacts" / "extra.py").unlink()
    assert Forecaster.load(uri, support_uri=None).drawdown is not None

    # bytecode planted beside the model code (an unchecked-hash .pyc is used without
    # looking at the source): dropped from the download, never run
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    planted = stored / "__pycache__" / f"_model_code.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(
        str(evil),
        cfile=str(planted),
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    assert Forecaster.load(uri, support_uri=None).drawdown is not None
    assert not marker.exists()
    with contextlib.suppress(MlflowException):  # MLflow loading in place would run it
        mlflow.pyfunc.load_model(str(stored))
    assert marker.exists()


@pytest.mark.slow
def test_the_pyfunc_checks_its_files_in_load_context(
    home: Path, make_spec: SpecFactory, tmp_path: Path
) -> None:
    spec = make_spec("selfcheck")
    api.train(spec, trials=0, folds=1)
    client = connect(load_settings())
    copy = tmp_path / "model"
    shutil.copytree(_stored_model_dir(client, f"downside-{spec.stem}", "1"), copy)
    assert mlflow.pyfunc.load_model(str(copy)).unwrap_python_model().predictor is not None

    state = copy / "artifacts" / "state.json"
    state.write_bytes(state.read_bytes() + b"\n")
    with pytest.raises(ModelIntegrityError, match=r"altered: \['artifacts/state\.json'\]"):
        mlflow.pyfunc.load_model(str(copy))


def test_models_outside_the_registry_are_not_loaded() -> None:
    with pytest.raises(ModelNotFoundError, match="expected a registered model URI"):
        Forecaster.load("runs:/0123456789abcdef/model", support_uri=None)
