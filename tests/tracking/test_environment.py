"""What a fresh environment needs for the served model: its requirements, the downside
wheel logged with it, and a fresh venv built from nothing else that answers like the
Forecaster here."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model
from packaging.requirements import Requirement

from downside.api import Forecaster
from downside.config import load_settings
from downside.tracking import connect
from downside.tracking._environment import pack_wheel, pip_requirements
from downside.tracking._load import download_version

VENV_BIN = Path(sys.executable).parent
UV = VENV_BIN / "uv"
UV_CACHE = subprocess.run(
    [str(UV), "cache", "dir"], capture_output=True, text=True, check=True
).stdout.strip()
"""The caller's uv cache, read before the tests move HOME."""

BLOCKED = (
    "optuna",
    "httpx",
    "typer",
    "rich",
    "ccxt",
    "duckdb",
    "polars",
    "matplotlib",
    "arch",
    "statsmodels",
    "downside.cli",
    "downside.api",
    "downside.workflows",
    "downside.sources.live",
)
"""Must not be needed to import the served model, even where a requirement brings it."""

IMPORT_PYFUNC = """
import json, sys
for name in json.loads(sys.argv[1]):
    sys.modules[name] = None  # unimportable, as if not installed
import downside.tracking._model_code
import downside.store  # FeatureStore.from_settings imports it when the model first reads
# modules loaded from a file (Cython registers a file-less `cython_runtime`)
print(json.dumps(sorted(n for n, m in sys.modules.items() if getattr(m, "__file__", None))))
"""


def _closure(names: set[str]) -> set[str]:
    """``names`` and every distribution they require (no extras), transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_normal(req.name))
    return seen


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_requirements_are_what_the_served_model_imports(tmp_path: Path) -> None:
    requirements = pip_requirements("./artifacts/downside.whl")
    assert requirements[-1] == "./artifacts/downside.whl"
    pinned = {_normal(r.split("==")[0]): r.split("==")[1] for r in requirements[:-1]}
    assert pinned == {n: importlib.metadata.version(n) for n in pinned}
    assert {"lightgbm", "mlflow", "numpy", "pandas", "scikit-learn"} <= set(pinned)

    # import the model with only the pinned packages and their dependencies importable,
    # as in a fresh environment built from the requirements
    owners = importlib.metadata.packages_distributions()
    allowed = _closure(set(pinned))
    absent = {m for m, dists in owners.items() if not {_normal(d) for d in dists} & allowed}
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PYFUNC, json.dumps(sorted(absent | set(BLOCKED)))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, f"the model needs more than its requirements:\n{out.stderr[-3000:]}"

    # and nothing is pinned that it does not import (duckdb was)
    top = {m.split(".")[0] for m in json.loads(out.stdout)}
    imported = {_normal(d) for m in top for d in owners.get(m, [])}
    assert set(pinned) <= imported, set(pinned) - imported


def test_packed_wheel_is_reproducible_and_complete(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    wheel = pack_wheel(first)
    assert wheel.read_bytes() == pack_wheel(second).read_bytes()
    version = importlib.metadata.version("downside")
    assert wheel.name == f"downside-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"downside-{version}.dist-info/METADATA").decode()
        record = archive.read(f"downside-{version}.dist-info/RECORD").decode()
    assert {
        "downside/__init__.py",
        "downside/py.typed",
        "downside/tracking/_model_code.py",
        "downside/_bundled/features/repo.toml",
        "downside/_bundled/models/drawdown.toml",
        f"downside-{version}.dist-info/entry_points.txt",
        f"downside-{version}.dist-info/WHEEL",
    } <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "Name: downside" in metadata
    assert {line.split(",")[0] for line in record.splitlines()} == names


def _champion_dir(dst: Path) -> Path:
    client = connect(load_settings())
    version = client.get_model_version_by_alias("downside-drawdown", "champion").version
    return download_version(client, "downside-drawdown", str(version), dst)


def test_logged_requirements_are_the_generated_ones(trained_env: Path, tmp_path: Path) -> None:
    model = _champion_dir(tmp_path)
    (wheel,) = (model / "artifacts").glob("downside-*.whl")
    lines = (model / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert lines == pip_requirements(f"./artifacts/{wheel.name}")
    assert not any(line.startswith(("duckdb", "optuna", "httpx")) for line in lines)
    assert not (model / "uv.lock").exists()  # the repository's lock is not the model's


FRESH_SCRIPT = """
import sys
import mlflow
import pandas as pd
import downside

model = mlflow.pyfunc.load_model("models:/downside-drawdown@champion")
model.predict(pd.read_parquet(sys.argv[1])).to_parquet(sys.argv[2])
print(downside.__file__)
"""


@pytest.mark.slow
def test_fresh_venv_from_the_logged_requirements_answers_like_the_forecaster(
    trained_env: Path, tmp_path: Path
) -> None:
    model = _champion_dir(tmp_path / "model")
    venv = tmp_path / "fresh"
    uv_env = {**os.environ, "UV_CACHE_DIR": UV_CACHE}
    subprocess.run(
        [str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        env=uv_env,
    )
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", python, "-r", "requirements.txt"],
        cwd=model,  # the wheel is referenced relative to the model folder
        capture_output=True,
        text=True,
        env=uv_env,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    asof = "2025-01-15T00:00:00Z"
    rows = pd.DataFrame(
        [
            {"symbol": s, "asof": asof, "threshold": t, "horizon_days": h}
            for s in ("BTC", "ETH")
            for t in (0.05, 0.1)
            for h in (7.0, 14.0)
        ]
    )
    rows.columns = pd.Index(list(rows.columns), dtype=object)
    rows.to_parquet(tmp_path / "rows.parquet")
    settings = load_settings()
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    env |= {
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.resolved_registry_uri,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    script = tmp_path / "answer.py"
    script.write_text(FRESH_SCRIPT, encoding="utf-8")
    ran = subprocess.run(
        [python, str(script), str(tmp_path / "rows.parquet"), str(tmp_path / "answer.parquet")],
        cwd=empty,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip().startswith(str(venv)), ran.stdout  # downside from the wheel

    got = pd.read_parquet(tmp_path / "answer.parquet")
    got = got.sort_values(["asof", "symbol", "threshold", "horizon_days"]).reset_index(drop=True)
    fc = Forecaster.load(support_uri=None)
    expected = fc.predict_drawdown(["BTC", "ETH"], asof=asof, thresholds=[0.05, 0.1])
    expected = expected[expected["horizon_days"].isin([7.0, 14.0])].reset_index(drop=True)
    assert len(got) == len(expected) == 8
    assert list(got.columns) == [c.name for c in _signature_outputs(model)]
    for column in expected.columns:
        if column == "asof":
            assert list(got[column]) == [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in expected[column]]
        elif pd.api.types.is_float_dtype(expected[column]):
            np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=1e-12)
        else:
            assert list(got[column].astype(str)) == list(expected[column].astype(str)), column


def _signature_outputs(model: Path) -> list[object]:
    signature = Model.load(str(model / "MLmodel")).signature
    assert signature is not None
    assert signature.outputs is not None
    return list(signature.outputs.inputs)
