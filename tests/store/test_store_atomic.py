"""Atomicity and locking, with a real second process killed mid-ingest."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from downside.errors import StoreLockedError
from downside.store import PAUSE_BEFORE_SWITCH_ENV, Store

pytestmark = pytest.mark.slow

Bars = Callable[..., pd.DataFrame]

_INGEST_SCRIPT = """
import logging, sys
from pathlib import Path
from downside.config import load_settings
from downside.store import Store
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
pause = load_settings().store_pause_before_switch_s
Store(Path(sys.argv[1]), pause_before_switch_s=pause).ingest_files(Path(sys.argv[2]))
"""


def _start_paused_ingest(root: Path, folder: Path, pause_s: float) -> subprocess.Popen[str]:
    """Start an ingest in another process; return once it sleeps before the manifest switch."""
    env = {**os.environ, PAUSE_BEFORE_SWITCH_ENV: str(pause_s)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _INGEST_SCRIPT, str(root), str(folder)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        if selector.select(timeout=1.0):
            line = proc.stderr.readline()
            seen.append(line)
            if "before the manifest switch" in line:
                return proc
            if not line:
                break
    proc.kill()
    proc.wait()
    raise AssertionError(f"the ingest process never paused; its stderr: {''.join(seen)}")


@pytest.fixture
def paused(store: Store, bars: Bars, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A second process holding the store lock, paused just before its manifest switch."""
    store.ingest({"ohlcv_daily": bars(periods=5)}, origin="seed")
    folder = tmp_path / "incoming"
    folder.mkdir()
    bars(periods=10).to_parquet(folder / "ohlcv_daily.parquet")
    bars(freq="1h", periods=24).to_parquet(folder / "ohlcv_hourly.parquet")
    proc = _start_paused_ingest(store.root, folder, pause_s=120)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_killed_ingest_leaves_the_store_as_before(
    store: Store, bars: Bars, paused: subprocess.Popen[str]
) -> None:
    before_version = store.version
    before = store.read("ohlcv_daily")
    written = sorted(p.name for p in (store.root / "data").iterdir())
    assert len(written) == 3  # the seed's file plus two new, unreferenced ones
    paused.send_signal(signal.SIGKILL)
    paused.wait()

    fresh = Store(store.root)
    assert fresh.version == before_version
    assert fresh.tables() == ["ohlcv_daily"]
    pd.testing.assert_frame_equal(fresh.read("ohlcv_daily"), before)
    assert [v.number for v in fresh.history()] == [1]  # the killed write's record is no version

    report = fresh.ingest({"ohlcv_daily": bars(periods=7)}, origin="after-crash")
    assert report.table("ohlcv_daily").inserted == 2
    assert len(fresh.read("ohlcv_daily")) == 7
    left = sorted(p.name for p in (fresh.root / "data").iterdir())
    assert len(left) == 2  # orphans collected; the seed's part and the new rows' part
    assert not list(fresh.root.glob("manifest.json.*.tmp"))
    assert [v.number for v in fresh.history()] == [2, 1]
    assert sorted(p.name for p in (fresh.root / "versions").iterdir()) == [
        "00000001.json",
        "00000002.json",
    ]


def test_second_ingest_waits_then_raises_store_locked(
    store: Store, bars: Bars, paused: subprocess.Popen[str]
) -> None:
    impatient = Store(store.root, lock_timeout_s=0.5)
    version = impatient.version
    started = time.monotonic()
    with pytest.raises(StoreLockedError, match=r"locked by another ingest.*store is unchanged"):
        impatient.ingest({"ohlcv_daily": bars(periods=8)}, origin="second")
    assert 0.4 < time.monotonic() - started < 10
    # readers do not need the lock
    assert len(impatient.read("ohlcv_daily")) == 5
    assert impatient.version == version

    paused.kill()
    paused.wait()
    report = impatient.ingest({"ohlcv_daily": bars(periods=8)}, origin="second")
    assert report.table("ohlcv_daily").inserted == 3
