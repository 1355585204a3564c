"""Fixtures for the tracking tests: a tiny simulated market built once per session, copied
into each test's private home, and small model specs written per test.

The market is one symbol (BTC) over two and a half years: one walk-forward fold of 60
days after 360 days of training, a 2 x 2 (threshold, horizon) grid. A trial takes one to
three seconds on one LightGBM thread, so studies of a few trials stay quick.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial

from downside.config import load_settings
from downside.features import FeatureStore
from downside.models import close_study
from downside.sources import simulate_market
from downside.store import Store

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MLFLOW = VENV_BIN / "mlflow"

SpecFactory = Callable[..., Path]
"""Writes a small spec file and returns its path:
``make_spec(prefix, trials=2, folds=1, **model_params)``."""


@pytest.fixture(scope="session")
def template_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the simulated BTC market ingested, its features built and an empty
    MLflow database (creating its tables takes seconds)."""
    root = tmp_path_factory.mktemp("market")
    sim = simulate_market(root / "files", start="2022-01-01", end="2024-06-30", symbols=("BTC",))
    empty = root / "empty.toml"
    empty.write_text("", encoding="utf-8")
    settings = load_settings(  # nothing from the caller's environment or settings file
        {"home": root / "home", "feature_dir": REPO / "features"},
        environ={},
        config_file=empty,
    )
    Store.from_settings(settings).ingest_files(sim.out_dir)
    FeatureStore.from_settings(settings).build()
    MlflowClient(settings.resolved_tracking_uri).search_experiments()
    return settings.home


@pytest.fixture
def home(isolated_env: Path, template_home: Path) -> Path:
    """This test's DOWNSIDE_HOME: a private copy of the template home."""
    shutil.copytree(template_home, isolated_env)
    return isolated_env


@pytest.fixture
def make_spec(tmp_path: Path) -> SpecFactory:
    """Writes ``<name>.toml`` for a drawdown spec named ``<prefix>-<random hex>``, so no
    other test, nor an earlier run on a shared PostgreSQL database, has its study or
    registered model; the spec name is the file's stem."""

    def write(prefix: str, *, trials: int = 2, folds: int = 1, **model: float) -> Path:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        params = {"n_estimators": 100, "num_leaves": 7, "min_child_samples": 100, **model}
        lines = "\n".join(f"{k} = {v!r}" for k, v in params.items())
        path = tmp_path / "specs" / f"{name}.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            f'name = "{name}"\n'
            'target = "drawdown"\n\n'
            '[data]\nsymbols = ["BTC"]\nfreq = "1d"\n\n'
            "[grid]\nthresholds = [0.05, 0.10]\nhorizons_days = [1, 7]\n\n"
            "[walk_forward]\n"
            'scheme = "expanding"\ntest_days = 60\nembargo_days = 1\nmin_train_days = 360\n\n'
            f"[model]\n{lines}\n\n"
            f"[tuning]\ntrials = {trials}\nfolds = {folds}\nseed = 7\n",
            encoding="utf-8",
        )
        return path

    return write


TrialsReader = Callable[[str, str], list[FrozenTrial]]
"""``read_trials(spec_name, storage_url)``: every trial of the spec's study."""


@pytest.fixture
def read_trials() -> TrialsReader:
    def read(spec_name: str, storage_url: str) -> list[FrozenTrial]:
        study = optuna.load_study(study_name=f"downside-{spec_name}", storage=storage_url)
        try:
            return study.get_trials()
        finally:
            close_study(study)

    return read


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL that `.ci/run` exports; the test is skipped without it."""
    url = os.environ.get("DOWNSIDE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "DOWNSIDE_TEST_POSTGRES_URL is unset: run through .ci/run, which starts "
            "PostgreSQL and exports it (e.g. postgresql+psycopg://ci:ci@127.0.0.1:5433/optuna_ci)"
        )
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts), stopped
    with its whole process group afterwards. Yields its URL."""
    port = _free_port()
    root = tmp_path / "mlflow-server"
    root.mkdir()
    log = (root / "server.log").open("wb")
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}: {_tail(root)}")
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer /health in 120 s: {_tail(root)}")
            time.sleep(0.5)
        yield url
    finally:
        stop_group(proc)
        log.close()


def _tail(root: Path) -> str:
    return (root / "server.log").read_text(encoding="utf-8", errors="replace")[-3000:]


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = 15) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session``), then
    SIGKILL whatever is left after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=grace_s)
