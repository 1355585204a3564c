"""Load drivers for tests and benchmarks: many clients at once, every answer checked.

:func:`run_load` runs ``clients`` threads that start together (a barrier, so a cold
cache is hit by all of them at once) and send requests for ``duration_s`` seconds; each
answer is checked, and the :class:`LoadReport` counts requests, errors (exceptions),
mismatches (answers that differ from the single-threaded ones) and the latency
percentiles. :func:`served_model` starts ``mlflow models serve`` of a registered model
in its own process group (``--env-manager local``, this interpreter's ``bin/`` first on
``PATH``: MLflow execs ``uvicorn`` by name) and stops the whole group afterwards.

The requests both sides send are here too, so the tests and
``benchmarks/bench_load.py`` measure the same thing: :func:`forecaster_load` (the
:class:`~downside.api.Forecaster` from many threads, answers compared exactly with a
single-threaded Forecaster's) and :func:`served_load` (HTTP clients against a served
drawdown model, answers byte-identical to each other and equal to the single-threaded
Forecaster's to 1e-12, as floats travel as JSON text).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from downside.api import Forecaster

T = TypeVar("T")

SYMBOLS = ("BTC", "ETH", "SOL")
"""Symbols of the simulated market the requests cycle through."""

DAYS = pd.date_range("2025-01-01", periods=12, freq="9D", tz="UTC")
"""As-of times of the requests: 12 days of the simulated market's last year."""

CELLS: dict[str, list[float]] = {"thresholds": [0.05, 0.1], "horizons": [7.0, 14.0]}
"""The cells a served request names explicitly (the others ask for the full grid)."""


@dataclass(frozen=True)
class LoadReport:
    """What a load run did.

    Attributes:
        clients: concurrent clients (threads).
        duration_s: wall time from the common start to the last answer.
        requests: requests answered or failed.
        errors: requests that raised (a transport error, an HTTP error status, ...).
        mismatches: answers that differ from the expected ones.
        p50_ms: median latency of one request, milliseconds.
        p99_ms: 99th percentile latency, milliseconds.
        max_ms: slowest request, milliseconds.
        first_problem: the first error or mismatch, described (None when none).
    """

    clients: int
    duration_s: float
    requests: int
    errors: int
    mismatches: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    first_problem: str | None = None

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_per_s": self.throughput}

    def summary(self) -> str:
        return (
            f"{self.clients} clients, {self.duration_s:.1f} s: {self.requests} requests "
            f"({self.throughput:.1f}/s), {self.errors} errors, {self.mismatches} mismatches, "
            f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms"
        )


def run_load(
    send: Callable[[int], T],
    kinds: int,
    *,
    clients: int,
    duration_s: float,
    check: Callable[[int, T], bool],
) -> LoadReport:
    """Run ``clients`` threads for ``duration_s`` seconds, each sending request kinds
    ``0 .. kinds-1`` in turn (client ``i`` starts at kind ``i``), and check every answer.

    Args:
        send: answers request kind ``k`` (raises on failure).
        kinds: number of distinct requests.
        clients: concurrent threads; they start together.
        duration_s: each client stops sending once this much time has passed.
        check: whether the answer to kind ``k`` is the expected one (called in the
            client's thread; must be thread-safe).
    """
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    mismatches = [0] * clients
    problems: list[str] = []
    deadline = [0.0]

    def client(i: int) -> None:
        barrier.wait()
        k = i % kinds
        while time.perf_counter() < deadline[0]:
            started = time.perf_counter()
            try:
                answer = send(k)
            except Exception as exc:  # every failure is counted, the first one kept
                errors[i] += 1
                problems.append(f"request {k}: {type(exc).__name__}: {exc}")
            else:
                latencies[i].append(time.perf_counter() - started)
                if not check(k, answer):
                    mismatches[i] += 1
                    problems.append(f"request {k}: the answer differs from the expected one")
            k = (k + 1) % kinds

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + duration_s
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    seconds = np.concatenate([np.asarray(x, dtype=np.float64) for x in latencies])
    ms = seconds * 1000.0 if seconds.size else np.zeros(1)
    return LoadReport(
        clients=clients,
        duration_s=elapsed,
        requests=int(seconds.size + sum(errors)),
        errors=sum(errors),
        mismatches=sum(mismatches),
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        first_problem=problems[0] if problems else None,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served_model(
    model_uri: str,
    *,
    env: Mapping[str, str],
    log: Path,
    ready_timeout_s: float = 180.0,
    workers: int = 1,
    env_manager: str = "local",
) -> Iterator[str]:
    """``mlflow models serve -m MODEL_URI --env-manager ENV_MANAGER`` on a free port of
    127.0.0.1; yields its URL once ``/ping`` answers, then stops its process group
    (SIGTERM, SIGKILL after 30 s).

    Args:
        model_uri: e.g. ``models:/downside-drawdown@champion``.
        env: the server's environment (``MLFLOW_TRACKING_URI``, ``MLFLOW_REGISTRY_URI``,
            ``DOWNSIDE_HOME``, ...); this interpreter's ``bin/`` is put first on ``PATH``.
        log: file receiving the server's output.
        ready_timeout_s: how long to wait for ``/ping``.
        workers: uvicorn worker processes.
        env_manager: ``local`` (this venv) or ``uv``/``virtualenv`` (a fresh environment
            built from the model's own requirements; give a longer ``ready_timeout_s``).

    Raises:
        RuntimeError: the server exited or did not answer in time (with its log's tail).
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = str(Path(sys.executable).parent)
    full_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        env_manager,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=2.0, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {ready_timeout_s:.0f} s: {_tail(log)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop_group(proc)


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=grace_s)


# ---------------------------------------------------------------------------- the Forecaster


def forecaster_requests() -> list[tuple[str, str, pd.Timestamp]]:
    """``(kind, symbol, as-of time)``: drawdown surfaces and support breaks, 24 in all."""
    return [
        (kind, SYMBOLS[i % len(SYMBOLS)], day)
        for i, day in enumerate(DAYS)
        for kind in ("drawdown", "support")
    ]


def ask(fc: Forecaster, request: tuple[str, str, pd.Timestamp]) -> pd.DataFrame:
    """The Forecaster's answer to one of :func:`forecaster_requests`."""
    kind, symbol, day = request
    if kind == "drawdown":
        return fc.predict_drawdown(symbol, asof=day)
    return fc.predict_support_break(symbol, asof=day)


def forecaster_load(
    fc: Forecaster, alone: Forecaster, *, clients: int, duration_s: float
) -> LoadReport:
    """``fc`` (freshly loaded: its caches are cold) called from ``clients`` threads;
    every answer must equal ``alone``'s single-threaded one exactly (values and dtypes).
    """
    requests = forecaster_requests()
    expected = [ask(alone, r) for r in requests]
    return run_load(
        lambda k: ask(fc, requests[k]),
        len(requests),
        clients=clients,
        duration_s=duration_s,
        check=lambda k, got: bool(got.equals(expected[k])),
    )


# ---------------------------------------------------------------------------- served model


def served_requests() -> list[tuple[str, pd.Timestamp, bool]]:
    """``(symbol, as-of time, named cells?)``: the full grid of one symbol at one time,
    or the four cells of :data:`CELLS`, 12 in all."""
    return [(SYMBOLS[i % len(SYMBOLS)], day, i % 2 == 1) for i, day in enumerate(DAYS)]


def payload(request: tuple[str, pd.Timestamp, bool]) -> dict[str, Any]:
    """The JSON body of ``/invocations`` for one of :func:`served_requests`."""
    symbol, day, cells = request
    asof = f"{day:%Y-%m-%dT%H:%M:%SZ}"
    if not cells:
        return {"dataframe_records": [{"symbol": symbol, "asof": asof}]}
    rows = [[symbol, asof, t, h] for t in CELLS["thresholds"] for h in CELLS["horizons"]]
    columns = ["symbol", "asof", "threshold", "horizon_days"]
    return {"dataframe_split": {"columns": columns, "data": rows}}


def served_expected(fc: Forecaster) -> list[pd.DataFrame]:
    """The single-threaded Forecaster's answers to :func:`served_requests`."""
    out = []
    for symbol, day, cells in served_requests():
        if cells:
            frame = fc.predict_drawdown(
                symbol, asof=day, thresholds=CELLS["thresholds"], horizons=CELLS["horizons"]
            )
        else:
            frame = fc.predict_drawdown(symbol, asof=day)
        out.append(frame.sort_values(["threshold", "horizon_days"]).reset_index(drop=True))
    return out


def same_answer(text: str, expected: pd.DataFrame) -> bool:
    """Whether a served JSON answer holds ``expected``'s rows and columns (numbers to
    1e-12, ``asof`` as ISO text)."""
    got = pd.DataFrame(json.loads(text)["predictions"])
    if len(got) != len(expected) or set(got.columns) != set(expected.columns):
        return False
    got = got.sort_values(["threshold", "horizon_days"]).reset_index(drop=True)
    for column in expected.columns:
        want = expected[column]
        if column == "asof":
            same = list(got[column]) == [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in want]
        elif pd.api.types.is_numeric_dtype(want):
            values = got[column].to_numpy(dtype=np.float64)
            same = bool(np.allclose(values, want.to_numpy(np.float64), rtol=1e-12, atol=1e-12))
        else:
            same = [str(v) for v in got[column]] == [str(v) for v in want]
        if not same:
            return False
    return True


def served_load(
    url: str, expected: list[pd.DataFrame], *, clients: int, duration_s: float
) -> tuple[LoadReport, dict[int, str]]:
    """``clients`` HTTP clients (one connection each) posting :func:`served_requests` to
    ``url``: every answer to a request must be byte-identical to its first one, and the
    first must equal ``expected`` (:func:`same_answer`). Returns the report and the
    first answer text of each request."""
    requests = served_requests()
    local = threading.local()
    opened: list[httpx.Client] = []
    first: dict[int, str] = {}

    def send(k: int) -> str:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=120.0, trust_env=False)
            opened.append(client)
        response = client.post(f"{url}/invocations", json=payload(requests[k]))
        response.raise_for_status()
        return response.text

    def check(k: int, text: str) -> bool:
        seen = first.setdefault(k, text)
        return text == seen and (seen is not text or same_answer(text, expected[k]))

    try:
        report = run_load(send, len(requests), clients=clients, duration_s=duration_s, check=check)
    finally:
        for client in opened:
            client.close()
    return report, first
