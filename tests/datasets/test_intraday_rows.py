"""Intraday training rows (``FrameSpec.train_hours``): where they are, that they equal
the served rows at the same times, that they use nothing known after their as-of time,
and that the daily rows stay exactly what they were."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.datasets import FrameSpec, build_frame, daily_spine
from downside.datasets import _builder as builder
from downside.errors import ModelSpecError
from downside.features import FeatureStore, load_definitions
from downside.sources import simulate_market
from downside.store import Store

REPO_FEATURES = Path(__file__).resolve().parents[2] / "features"
HOURS = (0, 6, 12, 18)
DAILY = FrameSpec(target="drawdown", symbols=("BTC", "ETH"))
INTRADAY = replace(DAILY, train_hours=HOURS)
CUTOFF = pd.Timestamp("2024-02-10T07:00Z")


def _feature_store(root: Path, data: Path) -> FeatureStore:
    store = Store(root)
    store.ingest_files(data)
    return FeatureStore(store, load_definitions(REPO_FEATURES))


def _perturbed_copy(source: Path, target: Path, cutoff: pd.Timestamp) -> Path:
    """The raw tables with every number of the rows at or after ``cutoff`` (event time,
    so known at ``cutoff`` at the earliest) scaled by 1.1."""
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*.parquet")):
        table = pd.read_parquet(path)
        later = (table["ts"] >= cutoff).to_numpy()
        for column in table.select_dtypes("float").columns:
            table.loc[later, column] = table.loc[later, column] * 1.1
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out, index=False)
    return target


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("intraday") / "market"
    simulate_market(data, start="2023-01-01", end="2024-03-31", symbols=("BTC", "ETH"), seed=4)
    return data


@pytest.fixture(scope="module")
def fs(market: Path) -> FeatureStore:
    return _feature_store(market.parent / "full", market)


@pytest.fixture(scope="module")
def daily(fs: FeatureStore) -> builder.Frame:
    return build_frame(DAILY, fs)


@pytest.fixture(scope="module")
def intraday(fs: FeatureStore) -> builder.Frame:
    return build_frame(INTRADAY, fs)


def test_rows_at_every_training_hour_up_to_the_last_asof_time(
    fs: FeatureStore, daily: builder.Frame, intraday: builder.Frame
) -> None:
    keys = intraday.keys
    assert sorted(set(keys["asof"].dt.hour)) == list(HOURS)
    assert (keys["asof"].dt.minute == 0).all()
    for symbol in DAILY.symbols:
        days = daily.keys.loc[daily.keys["symbol"] == symbol, "asof"]
        last = fs.latest_asof(symbol)
        expected = sorted(
            d + pd.Timedelta(hours=h)
            for d in days
            for h in HOURS
            if d + pd.Timedelta(hours=h) <= last
        )
        assert keys.loc[keys["symbol"] == symbol, "asof"].tolist() == expected
    assert len(intraday) == len(keys) * len(DAILY.thresholds) * len(DAILY.horizons_days)


def test_daily_rows_are_unchanged(
    fs: FeatureStore, daily: builder.Frame, intraday: builder.Frame
) -> None:
    spine = daily_spine(fs, DAILY.symbols)
    explicit = build_frame(DAILY, fs, asof=spine)
    pd.testing.assert_frame_equal(daily.frame, explicit.frame)
    np.testing.assert_array_equal(daily.key_features, explicit.key_features)
    midnight = intraday.frame[intraday.frame["asof"].dt.hour == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(daily.frame, midnight)
    assert daily.input_columns == intraday.input_columns


def test_intraday_rows_equal_the_served_rows_at_their_times(
    fs: FeatureStore, intraday: builder.Frame
) -> None:
    frame = intraday.frame
    times = [pd.Timestamp(t, tz="UTC") for t in ("2023-06-01 06:00", "2023-11-20 12:00")]
    times += [pd.Timestamp("2024-02-09 18:00", tz="UTC")]
    expected = frame[frame["asof"].isin(times)].reset_index(drop=True)
    served = build_frame(INTRADAY, fs, asof=times).frame
    pd.testing.assert_frame_equal(served, expected)
    daily_spec = build_frame(DAILY, fs, asof=times, labels=False).frame
    pd.testing.assert_frame_equal(daily_spec, expected.drop(columns=["label", "label_end"]))
    features = list(intraday.feature_columns)
    at_six = expected[expected["asof"] == times[0]].iloc[0][features]
    at_midnight = frame[frame["asof"] == times[0].floor("D")].iloc[0][features]
    changed = ~np.isclose(
        at_six.to_numpy(np.float64), at_midnight.to_numpy(np.float64), equal_nan=True
    )
    assert changed.any(), "no feature moves between 00:00 and 06:00: intraday rows add nothing"


def test_intraday_features_use_nothing_known_after_the_asof_time(
    market: Path, intraday: builder.Frame
) -> None:
    root = market.parent
    moved = _feature_store(root / "moved", _perturbed_copy(market, root / "moved-data", CUTOFF))
    perturbed = build_frame(INTRADAY, moved).frame
    full = intraday.frame
    columns = [*INTRADAY.query_columns, *builder.VOL_INPUTS, *intraday.feature_columns]
    before = (full["asof"] >= CUTOFF - pd.Timedelta(days=30)) & (full["asof"] < CUTOFF)
    assert full.loc[before, "asof"].max() == CUTOFF - pd.Timedelta(hours=1)
    assert (full.loc[before, "asof"].dt.hour != 0).any()
    pd.testing.assert_frame_equal(perturbed.loc[before, columns], full.loc[before, columns])
    after = full["asof"] >= CUTOFF + pd.Timedelta(days=2)
    changed = ~np.isclose(
        perturbed.loc[after, columns].to_numpy(np.float64),
        full.loc[after, columns].to_numpy(np.float64),
        equal_nan=True,
    )
    assert changed.any(axis=0).sum() > len(columns) // 2, "the perturbation moved no feature"


def _naive_label(hourly: pd.DataFrame, row: pd.Series) -> float:
    """The label from its definition: hourly bars opened in [asof, asof + H) (so closed
    in (asof, asof + H]), every one of them present, their lowest low against the
    reference close."""
    end = row["asof"] + pd.Timedelta(days=row["horizon_days"])
    bars = hourly[
        (hourly["symbol"] == row["symbol"])
        & (hourly["event_ts"] >= row["asof"])
        & (hourly["event_ts"] < end)
        & hourly["low"].notna()
    ]
    if len(bars) != int(row["horizon_days"] * 24):
        return np.nan
    low = np.fmin(bars["low"].to_numpy(), bars["close"].to_numpy()).min()
    return float(low <= row["ref_close"] * (1.0 - row["threshold"]))


def test_intraday_labels_follow_their_definition(fs: FeatureStore, intraday: builder.Frame) -> None:
    frame = intraday.frame
    intra = frame[frame["asof"].dt.hour != 0]
    sample = intra.sample(400, random_state=0)
    hourly = fs.store.prices("1h", fs.hourly_venues, list(DAILY.symbols))
    expected = np.array([_naive_label(hourly, row) for _, row in sample.iterrows()])
    np.testing.assert_array_equal(sample["label"].to_numpy(), expected)
    assert {0.0, 1.0} <= set(expected[~np.isnan(expected)])
    ends = sample["asof"] + pd.to_timedelta(sample["horizon_days"], unit="D")
    assert (sample["label_end"] == ends).all()
    assert intra["label"].isna().any()  # windows running past the last hourly bar


def test_an_intraday_label_starts_strictly_after_its_asof_time(
    fs: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asof = pd.Timestamp("2024-01-15 12:00", tz="UTC")
    spec = replace(INTRADAY, symbols=("BTC",), thresholds=(0.3,), horizons_days=(1.0, 3.0))
    before = build_frame(spec, fs, asof=[asof]).frame["label"].to_numpy()
    assert (before == 0.0).all()
    hourly = builder._hourly_lows(fs, builder._cache(fs))
    bar = (hourly["symbol"] == "BTC") & (hourly["event_ts"] == asof - pd.Timedelta(hours=1))
    crash_before = hourly.assign(low=hourly["low"].mask(bar, 1e-6))
    monkeypatch.setattr(builder, "_hourly_lows", lambda *_: crash_before)
    np.testing.assert_array_equal(build_frame(spec, fs, asof=[asof]).frame["label"], before)
    first = (hourly["symbol"] == "BTC") & (hourly["event_ts"] == asof)
    crash_after = hourly.assign(low=hourly["low"].mask(first, 1e-6))
    monkeypatch.setattr(builder, "_hourly_lows", lambda *_: crash_after)
    assert (build_frame(spec, fs, asof=[asof]).frame["label"] == 1.0).all()
    gap = hourly[
        ~((hourly["symbol"] == "BTC") & (hourly["event_ts"] == asof + pd.Timedelta(days=2)))
    ]
    monkeypatch.setattr(builder, "_hourly_lows", lambda *_: gap)
    assert build_frame(spec, fs, asof=[asof]).frame["label"].tolist()[0] == 0.0
    assert np.isnan(build_frame(spec, fs, asof=[asof]).frame["label"].tolist()[1])


def test_support_frames_refuse_intraday_hours(fs: FeatureStore) -> None:
    spec = FrameSpec(target="support", symbols=("BTC",), train_hours=(0, 12))
    with pytest.raises(ModelSpecError, match="not supported for the support target"):
        build_frame(spec, fs)


@pytest.mark.parametrize("hours", [(6, 12), (0, 12, 6), (0, 24)])
def test_bad_training_hours_are_refused(fs: FeatureStore, hours: tuple[int, ...]) -> None:
    with pytest.raises(ModelSpecError, match="train_hours"):
        build_frame(replace(DAILY, train_hours=hours), fs)
