"""Labels and supports on real Coinbase BTC daily bars, checked by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from downside.targets import detect_supports, drawdown_labels

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    raw = pd.read_parquet(shared_data / "ohlcv_daily.parquet")
    raw = raw[(raw["venue"] == "coinbase_spot") & (raw["symbol"] == "BTC")]
    prices = raw.rename(columns={"ts": "event_ts"})
    prices["available_ts"] = prices["event_ts"] + pd.Timedelta(days=1)
    return prices.reset_index(drop=True)


def test_btc_2024_12_09_matches_a_hand_check(btc: pd.DataFrame) -> None:
    asof = pd.Timestamp("2024-12-09", tz="UTC")
    spine = pd.DataFrame({"symbol": ["BTC"], "asof": [asof]})
    got = drawdown_labels(btc, spine, (0.05, 0.10), (1.0, 7.0)).set_index(
        ["threshold", "horizon_days"]
    )
    ref = btc.loc[btc["event_ts"] == asof - pd.Timedelta(days=1), "close"].item()
    week = btc[(btc["event_ts"] >= asof) & (btc["event_ts"] < asof + pd.Timedelta(days=7))]
    day = btc[btc["event_ts"] == asof]
    assert ref == pytest.approx(101_175, abs=1)
    assert got["ref_close"].iloc[0] == ref
    assert week["low"].min() == pytest.approx(94_220.8, abs=0.5)
    assert got.loc[(0.10, 7.0), "label"] == float(week["low"].min() <= ref * 0.90) == 0.0
    assert got.loc[(0.05, 7.0), "label"] == float(week["low"].min() <= ref * 0.95) == 1.0
    assert got.loc[(0.05, 1.0), "label"] == float(day["low"].min() <= ref * 0.95) == 1.0
    assert got.loc[(0.10, 7.0), "label_end"] == pd.Timestamp("2024-12-16", tz="UTC")


def test_btc_base_rates_are_plausible(btc: pd.DataFrame) -> None:
    spine = btc[["symbol", "event_ts"]].rename(columns={"event_ts": "asof"})
    got = drawdown_labels(btc, spine)
    rates = got.groupby(["threshold", "horizon_days"])["label"].mean()
    assert 0.05 < rates[(0.05, 1.0)] < 0.2
    assert 0.5 < rates[(0.05, 30.0)] < 0.9
    assert rates[(0.30, 30.0)] < 0.15
    unknown = got[got["label"].isna()]
    past_the_end = unknown["label_end"] > btc["available_ts"].max()
    assert (past_the_end | unknown["ref_close"].isna()).all()
    assert unknown["ref_close"].isna().sum() == 25


def test_btc_supports_are_near_and_below_price(btc: pd.DataFrame) -> None:
    spine = pd.DataFrame(
        {"symbol": "BTC", "asof": pd.date_range("2024-01-01", "2025-06-30", freq="7D", tz="UTC")}
    )
    got = detect_supports(btc, spine)
    assert got[["symbol", "asof"]].drop_duplicates().shape[0] == len(spine)
    nearest = got.groupby("asof")["distance_pct"].min()
    assert nearest.median() < 0.03
    assert (got["distance_pct"] > 0).all()
