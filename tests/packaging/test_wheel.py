"""The built distribution works on its own: sdist and wheel from `uv build`, the wheel
installed into a fresh venv outside the repository, the command line run from an empty
folder with the feature and model definitions the wheel bundles."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
UV_CACHE = subprocess.run(
    [str(UV), "cache", "dir"], capture_output=True, text=True, check=True
).stdout.strip()
"""The caller's uv cache, read before the tests move HOME."""


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installs_and_runs_from_an_empty_folder(tmp_path: Path) -> None:
    uv_env = {**os.environ, "UV_CACHE_DIR": UV_CACHE}
    dist = tmp_path / "dist"
    _run([str(UV), "build", "--quiet", "--out-dir", str(dist), str(REPO)], tmp_path, uv_env)
    version = importlib.metadata.version("downside")
    (wheel,) = dist.glob("downside-*.whl")
    (sdist,) = dist.glob("downside-*.tar.gz")
    assert wheel.name == f"downside-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        built = set(archive.namelist())
    assert {
        "downside/_bundled/features/repo.toml",
        "downside/_bundled/models/drawdown.toml",
        "downside/_bundled/models/support.toml",
        "downside/py.typed",
    } <= built
    with tarfile.open(sdist) as archive:
        assert f"downside-{version}/features/repo.toml" in archive.getnames()

    venv = tmp_path / "venv"
    _run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, uv_env)
    _run(
        [
            str(UV),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(wheel),
        ],
        tmp_path,
        uv_env,
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOWNSIDE_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY", "PYTHON"))
        and k != "VIRTUAL_ENV"
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "DOWNSIDE_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }
    downside = str(venv / "bin" / "downside")
    assert _run([downside, "--version"], empty, env).strip().endswith(version)
    assert "quickstart" in _run([downside, "--help"], empty, env)
    assert "technical" in _run([downside, "features", "list"], empty, env)
    out = _run([downside, "quickstart", "--trials", "0", "--folds", "1"], empty, env)
    assert "downside-drawdown v1" in out
    assert "BTC" in _run([downside, "predict", "drawdown", "--symbols", "BTC"], empty, env)
    assert sorted(p.name for p in empty.iterdir()) == []  # state went to DOWNSIDE_HOME

    # the wheels logged with the two models (packed from the installed package) are the
    # same bytes and hold the same files as the one uv built
    drawdown, support = (tmp_path / "home").rglob("artifacts/artifacts/downside-*.whl")
    assert drawdown.read_bytes() == support.read_bytes()
    with zipfile.ZipFile(drawdown) as archive:
        packed = set(archive.namelist())
    info = f"downside-{version}.dist-info/"
    assert {n for n in packed if not n.startswith(info)} == {
        n for n in built if not n.startswith(info)
    }
