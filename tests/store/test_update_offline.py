"""`update` without a network ends fast with one error per source; an update killed with
SIGKILL mid-run resumes to the store of an uninterrupted run, nothing lost or doubled."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from downside.sources.live import (
    BinanceSpot,
    BinanceUsdm,
    DefiLlamaStablecoins,
    DeribitVolatility,
    Farside,
    FredGraph,
    HttpOptions,
    RetryPolicy,
)
from downside.store import CHECKPOINT_NAME, PAUSE_BEFORE_SWITCH_ENV, Store, UpdateReport, update
from downside.testing import Answer, LocalServer

DOCUMENTED = Path(__file__).resolve().parents[1] / "fixtures" / "documented"
NOW = pd.Timestamp("2024-03-01", tz="UTC")
SINCE = pd.Timestamp("2024-01-01", tz="UTC")
UNTIL = pd.Timestamp("2024-02-10", tz="UTC")
OFFLINE = (BinanceUsdm, BinanceSpot, FredGraph, Farside, DefiLlamaStablecoins, DeribitVolatility)
"""The connectors of the default sources (no API keys set)."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_offline_update_ends_fast_with_one_line_per_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every provider points at a closed port of its own on 127.0.0.1: connections are
    refused at once, as when DNS fails offline."""
    from downside.cli import app

    for connector in OFFLINE:
        monkeypatch.setattr(connector, "default_url", f"http://127.0.0.1:{_closed_port()}")
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["update"], env={"FRED_API_KEY": "", "COINGLASS_API_KEY": ""})
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"offline update took {elapsed:.1f} s"
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if "connection failed" in line]
    sources = [line.split("failed:")[0].split()[-1].split("/")[0] for line in failures]
    assert sorted(sources) == sorted(c.name for c in OFFLINE), result.output
    assert result.output.count("connection failed") == len(OFFLINE)  # each printed once
    assert "skipped" in result.output or "skip" in result.output


def _klines(path: str, query: Mapping[str, str], _headers: Mapping[str, str]) -> Answer:
    if not path.endswith("/api/v3/klines"):
        return 404, "text/plain", b"not found", {}
    rows = json.loads(
        (DOCUMENTED / f"binance_api_v3_klines_BTCUSDT_{query['interval']}.json").read_text()
    )
    lo, hi = int(query["startTime"]), int(query["endTime"])
    kept = [r for r in rows if lo <= r[0] <= hi][: int(query["limit"])]
    return 200, "application/json", json.dumps(kept).encode(), {}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(_klines) as srv:
        yield srv


def _connector(url: str) -> BinanceSpot:
    options = HttpOptions(retry=RetryPolicy(max_attempts=1), sleep=lambda _s: None, now=lambda: NOW)
    return BinanceSpot(options, base_url=url, intervals=("1d", "1h"), page_limit=10)


def _run(store: Store, url: str) -> UpdateReport:
    return update(
        store, [_connector(url)], symbols=["BTC"], since=SINCE, until=UNTIL, now=lambda: NOW
    )


_UPDATE_SCRIPT = """
import logging, sys
from pathlib import Path
import pandas as pd
from downside.config import load_settings
from downside.sources.live import BinanceSpot, HttpOptions, RetryPolicy
from downside.store import Store, update
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
now = pd.Timestamp("2024-03-01", tz="UTC")
options = HttpOptions(retry=RetryPolicy(max_attempts=1), now=lambda: now)
connector = BinanceSpot(options, base_url=sys.argv[2], intervals=("1d", "1h"), page_limit=10)
store = Store(Path(sys.argv[1]), pause_before_switch_s=load_settings().store_pause_before_switch_s)
update(store, [connector], symbols=["BTC"], since=pd.Timestamp("2024-01-01", tz="UTC"),
       until=pd.Timestamp("2024-02-10", tz="UTC"), now=lambda: now)
"""


def _kill_at_switch(root: Path, url: str, switch: int) -> None:
    """Run an update in another process; SIGKILL it while it pauses before its
    ``switch``-th manifest switch (its page's parts and version record are written)."""
    env = {**os.environ, PAUSE_BEFORE_SWITCH_ENV: "1.5"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _UPDATE_SCRIPT, str(root), url],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    seen: list[str] = []
    pauses = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and selector.select(timeout=1.0) is not None:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "before the manifest switch" in line:
                pauses += 1
                if pauses == switch:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return
        raise AssertionError(f"the update never reached switch {switch}: {''.join(seen)}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()


@pytest.fixture(scope="module")
def reference(
    server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Store, UpdateReport]:
    """A store filled by an uninterrupted update, and its report."""
    store = Store(tmp_path_factory.mktemp("reference") / "store", lock_timeout_s=5)
    report = _run(store, server.base("binance_spot"))
    assert report.ok
    return store, report


@pytest.mark.slow
@pytest.mark.parametrize("switch", [1, 4, 7])
def test_an_update_killed_with_sigkill_resumes_without_loss_or_duplicates(
    server: LocalServer, reference: tuple[Store, UpdateReport], tmp_path: Path, switch: int
) -> None:
    expected, uninterrupted = reference
    root = tmp_path / "store"
    url = server.base("binance_spot")
    _kill_at_switch(root, url, switch)

    killed = Store(root, lock_timeout_s=5)
    numbers = [v.number for v in killed.history()]
    assert numbers == list(range(len(numbers), 0, -1))  # only committed versions count
    assert len(numbers) in (switch - 1, switch)  # (switch if the kill came late)
    rows_before = sum(len(killed.read(t)) for t in killed.tables())
    checkpoint = json.loads((root / CHECKPOINT_NAME).read_text())["series"]

    resumed = _run(Store(root, lock_timeout_s=5), url)
    assert resumed.ok
    assert not (root / CHECKPOINT_NAME).exists()
    pages = {s.series: s.pages for s in uninterrupted.series}
    for item in resumed.series:
        if item.series in checkpoint:
            assert item.resumed
            assert item.pages == pages[item.series] - len(checkpoint[item.series]["done"])
    final = Store(root)
    for table in expected.tables():
        got = final.read(table)
        assert not got.duplicated(["event_ts", "symbol", "venue"]).any()
        pd.testing.assert_frame_equal(got, expected.read(table))
    total = sum(len(expected.read(t)) for t in expected.tables())
    assert rows_before + resumed.inserted == total
    assert resumed.updated == 0
    assert final.verify().ok
    records = sorted(p.name for p in (root / "versions").iterdir())
    assert len(records) == len(final.history())  # the killed write's record was removed
