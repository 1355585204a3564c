"""No look-ahead: removing every raw row at or after a cutoff C changes no feature before C.

Per family on the simulated market (fast), and black-box on the real data through
``Store.ingest_files`` and ``FeatureStore.export`` for several cutoffs. One simulated
cutoff falls mid-day (09:00 UTC): a store updated then holds part of the day's 8-hourly
funding settlements, and must serve what history served at that time (a daily mean of
8-hourly rows is known once its day has ended, not a mean of the rows seen so far).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from downside.features import FeatureStore, load_definitions
from downside.sources import simulate_market
from downside.store import Store

REPO_FEATURES = Path(__file__).resolve().parents[2] / "features"
FAMILY_NAMES = load_definitions(REPO_FEATURES).family_names
SIM_CUTOFFS = ("2024-03-16T00:00Z", "2024-06-12T09:00Z", "2024-09-04T00:00Z")
REAL_CUTOFFS = ("2021-05-19T00:00Z", "2022-11-08T00:00Z", "2024-12-09T00:00Z")


def _truncated_copy(source: Path, target: Path, cutoff: pd.Timestamp) -> Path:
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*.parquet")):
        kept = pd.read_parquet(path).loc[lambda f: f["ts"] < cutoff]
        if len(kept):
            out = target / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            kept.to_parquet(out, index=False)
    return target


def _feature_store(root: Path, data: Path) -> FeatureStore:
    store = Store(root)
    store.ingest_files(data)
    return FeatureStore(store, load_definitions(REPO_FEATURES))


def _hourly_spine(symbols: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    times = pd.date_range(start, end, freq="h", inclusive="left").as_unit("us")
    return pd.DataFrame(
        {
            "symbol": [s for s in symbols for _ in range(len(times))],
            "asof": list(times) * len(symbols),
        }
    ).astype({"asof": "datetime64[us, UTC]"})


@pytest.fixture(scope="module")
def simulated(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Per cutoff: features before C from the full and the truncated store, and the same
    for the 10 days after C (which must differ, or the test would prove nothing)."""
    base = tmp_path_factory.mktemp("leak-sim")
    data = base / "data"
    simulate_market(data, start="2023-01-01", end="2024-12-31", symbols=("BTC", "ETH"), seed=3)
    full = _feature_store(base / "full", data)
    out = {}
    for k, text in enumerate(SIM_CUTOFFS):
        cutoff = pd.Timestamp(text)
        cut = _feature_store(base / f"cut{k}", _truncated_copy(data, base / f"data{k}", cutoff))
        before = _hourly_spine(["BTC", "ETH"], cutoff - pd.Timedelta(days=45), cutoff)
        after = _hourly_spine(["BTC", "ETH"], cutoff, cutoff + pd.Timedelta(days=10))
        out[text] = (
            full.get_features(before),
            cut.get_features(before),
            full.get_features(after),
            cut.get_features(after),
        )
    return out


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_no_lookahead_per_family_on_simulated_market(
    family: str,
    simulated: dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]],
) -> None:
    for cutoff, (full, cut, full_after, cut_after) in simulated.items():
        columns = ["symbol", "asof", *[c for c in full.columns if c.startswith(family + ".")]]
        assert len(columns) > 2
        values = full[columns[2:]]
        assert values.notna().any().mean() >= 0.75, f"{family}: mostly empty at {cutoff}"
        pd.testing.assert_frame_equal(full[columns], cut[columns], check_exact=True)
        assert not full_after[columns].equals(cut_after[columns]), (
            f"{family}: rows after {cutoff} changed nothing; the leak test is vacuous"
        )


@pytest.mark.realdata
@pytest.mark.slow
def test_no_lookahead_black_box_on_real_data(shared_data: Path, tmp_path: Path) -> None:
    full = _feature_store(tmp_path / "full", shared_data)
    symbols = full.symbols()
    for k, text in enumerate(REAL_CUTOFFS):
        cutoff = pd.Timestamp(text)
        data = _truncated_copy(shared_data, tmp_path / f"data{k}", cutoff)
        cut = _feature_store(tmp_path / f"cut{k}", data)
        known = [s for s in symbols if s in cut.symbols()]
        start, last = cutoff - pd.Timedelta(days=400), cutoff - pd.Timedelta(days=1)
        expected = full.export(known, start, last, "1d")
        actual = cut.export(known, start, last, "1d")
        assert expected.iloc[:, 2:].notna().to_numpy().mean() > 0.3
        pd.testing.assert_frame_equal(actual, expected, check_exact=True)
        hours = cutoff - pd.Timedelta(days=3), cutoff - pd.Timedelta(hours=1)
        pd.testing.assert_frame_equal(
            cut.export(known, *hours, "1h"), full.export(known, *hours, "1h"), check_exact=True
        )
