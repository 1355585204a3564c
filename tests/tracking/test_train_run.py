"""What a training run records in MLflow: run name and description, source commit, the
store as a dataset input, a signature whose outputs are the answer's columns, and the
SHA-256 manifest of the registered files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mlflow.models import Model
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_RUN_NOTE

from downside.api import Forecaster
from downside.config import load_settings
from downside.tracking import connect
from downside.tracking._integrity import MANIFEST_TAG, artifact_manifest, drop_load_leftovers
from downside.tracking._load import download_version

REPO = Path(__file__).resolve().parents[2]


def _head() -> str | None:
    out = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or None


@pytest.mark.parametrize("kind", ["drawdown", "support"])
def test_training_run_and_registered_version(trained_env: Path, tmp_path: Path, kind: str) -> None:
    settings = load_settings()
    client = connect(settings)
    name = f"downside-{kind}"
    version = client.get_model_version_by_alias(name, "champion")
    run = client.get_run(version.run_id)

    assert run.info.run_name == f"train {kind}: 0 trials, 1 fold(s)"
    note = run.data.tags[MLFLOW_RUN_NOTE]
    assert f"Fit of spec `{kind}`" in note
    assert f"Registered as `{name}` version {version.version}" in note
    assert "git_commit" not in run.data.tags
    if _head() is not None:
        assert run.data.tags[MLFLOW_GIT_COMMIT] == _head()

    (used,) = run.inputs.dataset_inputs
    assert used.dataset.name == "store"
    assert len(used.dataset.digest) == 16
    assert json.loads(used.dataset.source)["uri"].endswith("store")
    assert {t.key: t.value for t in used.tags}["mlflow.data.context"] == "training"
    assert json.loads(used.dataset.profile)["num_rows"] >= 2  # one row per raw table

    model = download_version(client, name, str(version.version), tmp_path)
    drop_load_leftovers(model)  # serving tests may have loaded it in place
    assert json.loads(version.tags[MANIFEST_TAG]) == artifact_manifest(model)
    signature = Model.load(str(model / "MLmodel")).signature
    assert signature is not None
    assert signature.outputs is not None
    fc = Forecaster.load(settings=settings)
    answer = (
        fc.predict_drawdown(["BTC"], thresholds=[0.1], horizons=[7])
        if kind == "drawdown"
        else fc.predict_support_break("BTC", horizons=[7])
    )
    assert signature.outputs.input_names() == list(answer.columns)
    predictor = fc.drawdown if kind == "drawdown" else fc.support
    assert predictor is not None
    assert set(predictor.family_names) <= set(signature.outputs.input_names())
