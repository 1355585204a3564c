"""`downside train` against a real `mlflow server` (SQLite backend, proxied artifacts)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings
from downside.tracking import CHALLENGER, CHAMPION, fold_scores, load_predictor

SpecFactory = Callable[..., Path]


@pytest.mark.slow
def test_train_registers_on_a_real_mlflow_server(
    home: Path,
    make_spec: SpecFactory,
    mlflow_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = make_spec("server")
    model = f"downside-{spec.stem}"
    monkeypatch.setenv("DOWNSIDE_TRACKING_URI", mlflow_server)

    out = CliRunner().invoke(app, ["train", str(spec), "--trials", "1"])
    assert out.exit_code == 0, out.output

    client = MlflowClient(mlflow_server, mlflow_server)
    registered = client.get_registered_model(model)
    assert {k: str(v) for k, v in registered.aliases.items()} == {CHAMPION: "1", CHALLENGER: "1"}
    version = client.get_model_version_by_alias(model, CHAMPION)
    assert str(version.version) == "1"
    assert version.status == "READY"
    assert fold_scores(client, model, "1")  # the promotion gate's input is recorded
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    nested = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(nested) == 1  # one tuning trial
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"feature_manifest.json", "data_fingerprint.json", "walk_forward", "plots"} <= logged

    # artifacts went through the server into its destination, not into the local home
    served = tmp_path / "mlflow-server" / "artifacts"
    assert list(served.rglob("MLmodel"))
    assert not (home / "mlflow.db").exists() or _no_runs_in(home / "mlflow.db")
    assert not (home / "mlartifacts").exists()

    # and the registered model loads back through the server
    predictor = load_predictor(f"models:/{model}@{CHAMPION}", load_settings())
    assert predictor.spec.name == spec.stem


def _no_runs_in(db: Path) -> bool:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return bool(con.execute("select count(*) from runs").fetchone()[0] == 0)
