"""FeatureStore on a small store: availability, TTL, ages, spine checks, cache, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import FeatureDefinitionError, SchemaError, UnknownSymbolError
from downside.features import REPO_FILE, FeatureStore, load_definitions
from downside.store import Store

REPO_FEATURES = Path(__file__).resolve().parents[2] / "features"

DEFINITIONS = """
family = "technical"

[[feature]]
transform = "log_return"
inputs = ["ohlcv_daily.close"]
window = "1d"
ttl = "3d"
description = "daily log return"
"""
ETF_DEFINITIONS = """
family = "etf_flows"

[[feature]]
transform = "level"
inputs = ["etf_flows_daily.net_flow_usd_m[ticker=TOTAL]"]
ttl = "3d"
description = "net flow"

[[feature]]
transform = "sum"
inputs = ["etf_flows_daily.net_flow_usd_m[ticker=TOTAL]"]
window = "2obs"
ttl = "2d"
description = "two-day flow"
"""
RATES_DEFINITIONS = """
family = "rates"

[[feature]]
transform = "level"
inputs = ["macro_rates_daily.value[series=DGS2]"]
ttl = "6d"
description = "2y yield"
"""
DAYS = pd.date_range("2024-01-01", "2024-03-31", freq="D", tz="UTC").as_unit("us")


def _bars(symbols: tuple[str, ...] = ("BTC", "ETH"), days: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(5)
    for k, symbol in enumerate(symbols):
        close = (100.0 + 50 * k) * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
        rows.append(
            pd.DataFrame(
                {
                    "ts": days,
                    "symbol": symbol,
                    "venue": "coinbase_spot",
                    "pair": f"{symbol}-USD",
                    "open": close,
                    "high": close * 1.01,
                    "low": close * 0.99,
                    "close": close,
                    "volume_base": 1000.0,
                    "volume_quote": np.nan,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _etf(days: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    weekdays = days[days.day_of_week < 5]
    return pd.DataFrame(
        {
            "ts": weekdays,
            "asset": "BTC",
            "ticker": "TOTAL",
            "net_flow_usd_m": np.arange(len(weekdays), dtype=float) - 10.0,
        }
    )


def _rates(days: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    weekdays = days[days.day_of_week < 5]
    return pd.DataFrame(
        {
            "ts": weekdays,
            "series": "DGS2",
            "source": "FRED",
            "value": 4.0 + np.arange(len(weekdays)) / 100,
            "unit": "percent",
        }
    )


@pytest.fixture
def feature_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "technical.toml").write_text(DEFINITIONS, encoding="utf-8")
    (folder / "etf_flows.toml").write_text(ETF_DEFINITIONS, encoding="utf-8")
    (folder / "rates.toml").write_text(RATES_DEFINITIONS, encoding="utf-8")
    repo = (REPO_FEATURES / REPO_FILE).read_text(encoding="utf-8")
    (folder / REPO_FILE).write_text(repo, encoding="utf-8")
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.ingest(
        {"ohlcv_daily": _bars(), "etf_flows_daily": _etf(), "macro_rates_daily": _rates()},
        origin="test",
    )
    return store


@pytest.fixture
def features(store: Store, feature_dir: Path) -> FeatureStore:
    return FeatureStore(
        store,
        load_definitions(feature_dir),
        daily_venues=("coinbase_spot",),
        hourly_venues=("binance_spot",),
    )


def _spine(symbols: list[str], times: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"symbol": symbols, "asof": pd.to_datetime(times, utc=True, format="ISO8601").as_unit("us")}
    )


def test_friday_etf_flow_is_invisible_before_saturday_noon(features: FeatureStore) -> None:
    flows = _etf().set_index("ts")["net_flow_usd_m"]
    thursday = flows[pd.Timestamp("2024-03-07", tz="UTC")]
    friday = flows[pd.Timestamp("2024-03-08", tz="UTC")]
    spine = _spine(["BTC", "BTC"], ["2024-03-09 11:00", "2024-03-09 12:00"])
    out = features.get_features(spine, ["etf_flows.etf_flow_total"])
    assert out["etf_flows.etf_flow_total"].tolist() == [thursday, friday]
    ages = features.feature_ages(spine, ["etf_flows.etf_flow_total"])
    assert ages["etf_flows.etf_flow_total"].tolist() == [59.0, 36.0]


def test_values_older_than_ttl_are_missing_and_flagged(features: FeatureStore) -> None:
    spine = _spine(
        ["BTC", "BTC", "ETH", "BTC"],
        ["2024-03-09 12:00", "2024-03-11 11:00", "2024-03-09 12:00", "2023-06-01 00:00"],
    )
    names = ["etf_flows.etf_flow_total", "etf_flows.etf_flow_total_sum_2obs"]
    values = features.get_features(spine, names)
    stale = features.stale(spine, names)
    ages = features.feature_ages(spine, names)
    friday = _etf().set_index("ts")["net_flow_usd_m"][pd.Timestamp("2024-03-08", tz="UTC")]
    assert values.loc[0, names[0]] == pytest.approx(friday)
    assert values[names].iloc[1:].isna().all().all()
    assert stale[names].to_numpy().tolist() == [
        [False, False],
        [True, True],
        [False, False],
        [False, False],
    ]
    assert ages.loc[1, names[0]] == pytest.approx(83.0)
    assert ages[names].iloc[2:].isna().all().all()
    assert stale.dtypes[names].eq(bool).all()


def test_rows_are_never_used_before_their_available_ts(features: FeatureStore) -> None:
    bars = _bars().query("symbol == 'ETH'").set_index("ts")["close"]
    rng = np.random.default_rng(3)
    stamps = pd.Timestamp("2024-01-03", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 80 * 24 * 60, 500), unit="min"
    )
    spine = pd.DataFrame({"symbol": "ETH", "asof": stamps.as_unit("us")})
    out = features.get_features(spine, ["technical.return_1d"])
    for asof, value in zip(spine["asof"], out["technical.return_1d"], strict=True):
        last_known = asof.floor("D") - pd.Timedelta(days=1)
        expected = np.log(bars[last_known] / bars[last_known - pd.Timedelta(days=1)])
        assert value == pytest.approx(expected, rel=1e-12)


def test_output_keeps_spine_order_types_and_global_features(features: FeatureStore) -> None:
    spine = _spine(
        ["ETH", "BTC", "ETH", "BTC"],
        ["2024-03-20", "2024-02-10 05:00", "2024-02-10 05:00", "2024-03-20"],
    )
    out = features.get_features(spine)
    assert list(out.columns) == ["symbol", "asof", *features.definitions.names]
    assert out["symbol"].tolist() == spine["symbol"].tolist()
    assert out["asof"].tolist() == spine["asof"].tolist()
    assert str(out["asof"].dtype) == "datetime64[us, UTC]"
    assert (out.dtypes.iloc[2:] == np.float64).all()
    assert out.loc[1, "rates.dgs2"] == out.loc[2, "rates.dgs2"]
    assert out.loc[0, "rates.dgs2"] == out.loc[3, "rates.dgs2"]
    assert np.isnan(out.loc[0, "etf_flows.etf_flow_total"])
    assert not np.isnan(out.loc[3, "etf_flows.etf_flow_total"])


def test_spine_problems_are_reported_together(features: FeatureStore) -> None:
    bad = pd.DataFrame(
        {
            "symbol": ["BTC", "DOGE", None],
            "asof": pd.to_datetime(["2024-03-01"] * 3, format="ISO8601"),
        }
    )
    with pytest.raises(SchemaError, match="not_utc") as info:
        features.get_features(bad)
    assert {p.rule for p in info.value.problems} == {"not_utc", "null_symbol", "unknown_symbol"}
    with pytest.raises(SchemaError, match="missing_columns"):
        features.get_features(pd.DataFrame({"symbol": ["BTC"]}))
    good = _spine(["BTC"], ["2024-03-01"])
    with pytest.raises(FeatureDefinitionError, match="unknown_feature"):
        features.get_features(good, ["technical.nope"])


def test_cache_is_reused_and_rebuilt_when_data_or_definitions_change(
    features: FeatureStore, store: Store, feature_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spine = _spine(["BTC"], ["2024-04-02"])
    before = features.get_features(spine)
    folders = [p for p in (store.root / "features").iterdir() if p.is_dir()]
    assert len(folders) == 1
    assert (folders[0] / "manifest.json").is_file()
    assert not list(folders[0].glob("*.tmp"))

    def refuse(*args: object) -> None:
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr("downside.features._store.compute_group", refuse)
    again = FeatureStore(
        store,
        load_definitions(feature_dir),
        daily_venues=("coinbase_spot",),
        hourly_venues=("binance_spot",),
    )
    pd.testing.assert_frame_equal(again.get_features(spine), before)
    monkeypatch.undo()

    later = pd.date_range("2024-04-01", "2024-04-05", freq="D", tz="UTC").as_unit("us")
    store.ingest({"ohlcv_daily": _bars(days=later)}, origin="more")
    after = features.get_features(_spine(["BTC"], ["2024-04-06"]))
    assert not np.isnan(after.loc[0, "technical.return_1d"])
    assert features.latest_asof("BTC") == pd.Timestamp("2024-04-06", tz="UTC")
    folders = [p for p in (store.root / "features").iterdir() if p.is_dir()]
    assert len(folders) == 1


def test_export_builds_inclusive_grids(features: FeatureStore) -> None:
    daily = features.export(["BTC", "ETH"], "2024-03-01T00:00Z", "2024-03-10T00:00Z", "1d")
    assert len(daily) == 20
    assert daily["asof"].iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert daily["asof"].iloc[9] == pd.Timestamp("2024-03-10", tz="UTC")
    hourly = features.export(["BTC"], "2024-03-01T00:30Z", "2024-03-02T00:00Z", "1h")
    assert len(hourly) == 24
    with pytest.raises(SchemaError, match="naive_timestamp"):
        features.export(["BTC"], "2024-03-01", "2024-03-02T00:00Z")
    with pytest.raises(SchemaError, match="unknown_freq"):
        features.export(["BTC"], "2024-03-01T00:00Z", "2024-03-02T00:00Z", "1w")  # type: ignore[arg-type]


def test_metadata(features: FeatureStore) -> None:
    assert features.symbols() == ["BTC", "ETH"]
    assert features.latest_asof("ETH") == pd.Timestamp("2024-04-01", tz="UTC")
    with pytest.raises(UnknownSymbolError, match=r"unknown symbol\(s\) \['SOL'\]"):
        features.latest_asof("SOL")
    manifest = features.manifest()
    assert manifest["names"] == list(features.definitions.names)
    assert features.family_names() == (
        "leverage",
        "funding",
        "etf_flows",
        "rates",
        "implied_vol",
        "technical",
        "drivers_vol",
    )
    assert manifest["family_names"] == list(features.family_names())
    assert manifest["definitions_hash"] == features.definitions.hash
    assert features.families()["rates.dgs2"] == "rates"
    assert manifest["inputs"]["rates.dgs2"] == ["macro_rates_daily.value[series=DGS2]"]


def test_from_settings_uses_the_settings_store(feature_dir: Path) -> None:
    from downside.config import load_settings

    settings = load_settings({"feature_dir": feature_dir})
    Store.from_settings(settings).ingest({"ohlcv_daily": _bars()}, origin="test")
    fs = FeatureStore.from_settings(settings)
    assert fs.symbols() == ["BTC", "ETH"]
    assert fs.store.root == settings.store_dir


def test_price_venues_come_from_the_repo_unless_the_settings_override_them(
    feature_dir: Path,
) -> None:
    from downside.config import load_settings

    repo = (feature_dir / REPO_FILE).read_text(encoding="utf-8")
    (feature_dir / REPO_FILE).write_text(
        repo.replace(
            'daily_venues = [\n    "coinbase_spot",', 'daily_venues = [\n    "kraken_spot",'
        ),
        encoding="utf-8",
    )
    definitions = load_definitions(feature_dir)
    assert definitions.daily_venues[0] == "kraken_spot"
    fs = FeatureStore.from_settings(load_settings({"feature_dir": feature_dir}))
    assert fs.daily_venues == definitions.daily_venues
    assert fs.hourly_venues == definitions.hourly_venues
    assert fs.manifest()["daily_venues"] == list(definitions.daily_venues)
    mine = load_settings({"feature_dir": feature_dir, "daily_venues": ("coinbase_spot",)})
    fs = FeatureStore.from_settings(mine)
    assert fs.daily_venues == ("coinbase_spot",)
    assert fs.hourly_venues == definitions.hourly_venues
    with pytest.raises(SchemaError, match="bad_venue_list"):
        FeatureStore(fs.store, definitions, hourly_venues=())
