"""The seeded regime change of a simulated market: untouched before its start, another
market after, reproducible, and the default simulation unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import ConfigError
from downside.sources import read_files, shift_regime, simulate_market
from downside.store import Store

START = "2023-03-01"


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regime") / "market"
    simulate_market(out, start="2023-01-01", end="2023-04-30", symbols=("BTC", "ETH"))
    return out


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {raw.table: raw.frame for raw in read_files(folder)}


def test_before_the_start_nothing_changes(market: Path, tmp_path: Path) -> None:
    before = _tables(market)
    after = _tables(shift_regime(market, tmp_path / "shifted", start=START, seed=3))
    cut = pd.Timestamp(START, tz="UTC")
    for name, frame in before.items():
        old = frame[frame["ts"] < cut].reset_index(drop=True)
        new = after[name][after[name]["ts"] < cut]
        new = new.sort_values(list(new.columns[:3])).reset_index(drop=True)
        old = old.sort_values(list(old.columns[:3])).reset_index(drop=True)
        pd.testing.assert_frame_equal(new, old, check_like=True)
    assert _tables(market)["ohlcv_daily"].equals(before["ohlcv_daily"])


def test_after_the_start_the_market_is_wilder(market: Path, tmp_path: Path) -> None:
    before = _tables(market)["ohlcv_hourly"]
    after = _tables(shift_regime(market, tmp_path / "shifted", start=START, vol_scale=3.0))[
        "ohlcv_hourly"
    ]
    cut = pd.Timestamp(START, tz="UTC")

    def vol(frame: pd.DataFrame) -> float:
        late = frame[(frame["symbol"] == "BTC") & (frame["ts"] >= cut)].sort_values("ts")
        return float(np.log(late["close"]).diff().std())

    assert vol(after) > 2.5 * vol(before)
    funding = _tables(tmp_path / "shifted")["funding_rates_8h"]
    assert funding.loc[funding["ts"] >= cut, "funding_rate"].mean() > 0.0003


def test_seeded_and_ingestible(market: Path, tmp_path: Path) -> None:
    one = shift_regime(market, tmp_path / "one", start=START, seed=5)
    two = shift_regime(market, tmp_path / "two", start=START, seed=5)
    other = shift_regime(market, tmp_path / "other", start=START, seed=6)
    daily = [_tables(p)["ohlcv_daily"] for p in (one, two, other)]
    pd.testing.assert_frame_equal(daily[0], daily[1])
    assert not daily[0].equals(daily[2])
    report = Store(tmp_path / "store").ingest_files(one)
    assert report.changed


def test_bad_arguments(market: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="crash_rate"):
        shift_regime(market, tmp_path / "x", start=START, crash_rate=2.0)
    with pytest.raises(ConfigError, match="not a date"):
        shift_regime(market, tmp_path / "x", start="soon")
