"""Corrupt variants of the real files, as a careful user would try them: every one is
refused with a SchemaError naming its rule and file, and leaves every byte of the store
as it was; the real files still ingest.

The store is filled once with all of ``../shared/data``; each variant is a folder holding
one damaged copy of a real file (or a real file beside a second copy).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import SchemaError
from downside.store import Store
from downside.testing.store import tree_digest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

Mutation = Callable[[pd.DataFrame], pd.DataFrame]
Writer = Callable[[Path, Path], None]
PRICES = ["open", "high", "low", "close"]


def _rows(frame: pd.DataFrame, days: int = 1, **keys: str) -> pd.Index:
    """Index of the first ``days`` rows from 2024-06-01 of the series with ``keys``."""
    mask = frame["ts"] >= pd.Timestamp("2024-06-01", tz="UTC")
    for column, value in keys.items():
        mask &= frame[column] == value
    return frame.index[mask][:days]


BTC_CB = {"symbol": "BTC", "venue": "coinbase_spot"}
ETH_BN = {"symbol": "ETH", "venue": "binance_spot"}


def _set(columns: list[str] | str, value: object, days: int = 1, **keys: str) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        cols = [columns] if isinstance(columns, str) else columns
        if isinstance(value, str) or value is None:
            for column in cols:
                out[column] = out[column].astype(object)
        out.loc[_rows(out, days, **(keys or BTC_CB)), cols] = value
        return out

    return mutate


def _scale(factor: float, columns: list[str] = PRICES, **keys: str) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out.loc[_rows(out, 1, **(keys or BTC_CB)), columns] *= factor
        return out

    return mutate


def _append_scaled(factor: float) -> Mutation:
    """A new bar one day after the series' last, its OHLC consistent but ``factor`` off."""

    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        series = frame.loc[(frame["symbol"] == "BTC") & (frame["venue"] == "coinbase_spot")]
        last = series.loc[[series["ts"].idxmax()]].copy()
        last["ts"] += pd.Timedelta(days=1)
        last[PRICES] *= factor
        return pd.concat([frame, last], ignore_index=True)

    return mutate


def _shift_ts(to: str, **keys: str) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out.loc[_rows(out, 1, **(keys or BTC_CB)), "ts"] = pd.Timestamp(to, tz="UTC")
        return out

    return mutate


def _symbol(value: str, column: str = "symbol") -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out.loc[out[column] == "BTC", column] = value
        return out

    return mutate


def _first_rows(column: str, value: object) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        if isinstance(value, str) or value is None:
            out[column] = out[column].astype(object)
        elif isinstance(value, float):
            out[column] = out[column].astype("float64")  # an int column read as float
        out.loc[out.index[:3], column] = value
        return out

    return mutate


def _last_hour(factor: float) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        btc = out.index[(out["symbol"] == "BTC") & (out["venue"] == "binance_spot")]
        out.loc[btc[-100], PRICES] *= factor
        return out

    return mutate


def frame_variant(table: str, mutate: Mutation, name: str | None = None) -> Writer:
    """Write ``mutate(real table)`` as ``<table>.parquet`` (or ``name``)."""

    def write(folder: Path, data: Path) -> None:
        source = next(data.rglob(f"{table}.parquet"))
        frame = mutate(pd.read_parquet(source))
        if name is not None and name.endswith(".csv"):
            frame.to_csv(folder / name, index=False)
        else:
            frame.to_parquet(folder / (name or f"{table}.parquet"), index=False)

    return write


def _twice_with_suffix_case(folder: Path, data: Path) -> None:
    shutil.copy(data / "ohlcv_daily.parquet", folder / "ohlcv_daily.parquet")
    shutil.copy(data / "ohlcv_daily.parquet", folder / "ohlcv_daily.Parquet")


def _backup_suffix(folder: Path, data: Path) -> None:
    shutil.copy(data / "ohlcv_daily.parquet", folder / "ohlcv_daily.parquet.bak")


def _truncated(folder: Path, data: Path) -> None:
    blob = (data / "ohlcv_daily.parquet").read_bytes()
    (folder / "ohlcv_daily.parquet").write_bytes(blob[: len(blob) // 2])


def _empty_file(folder: Path, data: Path) -> None:
    (folder / "ohlcv_daily.parquet").write_bytes(b"")


def _naive_csv(folder: Path, data: Path) -> None:
    frame = pd.read_parquet(data / "ohlcv_daily.parquet").head(50)
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(folder / "ohlcv_daily.csv", index=False)


def _duplicate(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[5]]], ignore_index=True)


def _misaligned(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[_rows(out, 1, **BTC_CB), "ts"] += pd.Timedelta(hours=3)
    return out


D = "ohlcv_daily"
# id, writer, the rules the refusal names (exactly), a word the message must contain
VARIANTS: list[tuple[str, Writer, set[str], str]] = [
    ("nan_ohl_over_stored", frame_variant(D, _set(["open", "high", "low"], np.nan, 5)),
     {"null_overwrites_value"}, "'open'"),
    ("nan_volume_over_stored", frame_variant(D, _set("volume_base", np.nan, 3)),
     {"null_overwrites_value"}, "'volume_base'"),
    ("inf_high", frame_variant(D, _set("high", np.inf)), {"non_finite_values"}, "'high'"),
    ("inf_volume", frame_variant(D, _set("volume_base", np.inf)),
     {"non_finite_values"}, "'volume_base'"),
    ("minus_inf_low", frame_variant(D, _set("low", -np.inf)),
     {"non_finite_values", "non_positive_prices"}, "'low'"),
    ("price_1e300", frame_variant(D, _set(PRICES, 1e300)), {"out_of_range"}, "'close'"),
    ("high_1e300", frame_variant(D, _set("high", 1e300)), {"out_of_range"}, "'high'"),
    ("volume_1e300", frame_variant(D, _set("volume_base", 1e300)),
     {"out_of_range"}, "'volume_base'"),
    ("close_1000x_consistent", frame_variant(D, _scale(1000.0)),
     {"price_jump", "venue_mismatch"}, "'close'"),
    ("close_div_1000_consistent", frame_variant(D, _scale(0.001)),
     {"price_jump", "venue_mismatch"}, "'close'"),
    ("close_5x_beside_other_venues", frame_variant(D, _scale(5.0)),
     {"venue_mismatch"}, "other venues"),
    ("new_bar_1000x", frame_variant(D, _append_scaled(1000.0)), {"price_jump"}, "'open'"),
    ("eth_binance_1000x", frame_variant(D, _scale(1000.0, **ETH_BN)),
     {"price_jump", "venue_mismatch"}, "'high'"),
    ("ts_2031", frame_variant(D, _shift_ts("2031-01-01")), {"ts_out_of_range"}, "2031"),
    ("ts_2200", frame_variant(D, _shift_ts("2200-01-01")), {"ts_out_of_range"}, "2200"),
    ("ts_1970", frame_variant(D, _shift_ts("1970-01-01")), {"ts_out_of_range"}, "1970"),
    ("ts_2008", frame_variant(D, _shift_ts("2008-12-31")), {"ts_out_of_range"}, "2009-01-03"),
    ("lowercase_btc", frame_variant(D, _symbol("btc")), {"non_canonical_symbols"}, "'btc'"),
    ("mixed_case_btc", frame_variant(D, _symbol("Btc")), {"non_canonical_symbols"}, "'Btc'"),
    ("padded_btc", frame_variant(D, _symbol(" BTC")), {"invalid_names"}, "' BTC'"),
    ("suffix_case_twice", _twice_with_suffix_case, {"duplicate_table"}, "ohlcv_daily.Parquet"),
    ("backup_suffix", _backup_suffix, {"unsupported_format"}, ".bak"),
    ("truncated_parquet", _truncated, {"unreadable_file"}, "ohlcv_daily.parquet"),
    ("empty_file", _empty_file, {"unreadable_file"}, "ohlcv_daily.parquet"),
    ("naive_csv", _naive_csv, {"naive_timestamps"}, "tz_localize"),
    ("negative_volume", frame_variant(D, _set("volume_base", -1.0)),
     {"negative_values"}, "volume_base"),
    ("zero_close", frame_variant(D, _set(PRICES, 0.0)), {"non_positive_prices"}, "close"),
    ("negative_low", frame_variant(D, _set("low", -5.0)), {"non_positive_prices"}, "low"),
    ("high_below_low", frame_variant(D, _set("high", 1.0)), {"high_below_low"}, "high >= low"),
    ("close_above_high", frame_variant(D, _scale(1.2, ["close"])),
     {"open_close_outside_range"}, "within [low, high]"),
    ("duplicate_row", frame_variant(D, _duplicate), {"duplicate_keys"}, "unique"),
    ("missing_close", frame_variant(D, lambda f: f.drop(columns=["close"])),
     {"missing_columns"}, "'close'"),
    ("extra_column", frame_variant(D, lambda f: f.assign(note="x")),
     {"unknown_columns"}, "'note'"),
    ("close_as_text", frame_variant(D, _set("close", "abc"), "ohlcv_daily.csv"),
     {"non_numeric_column"}, "'close'"),
    ("ts_as_text", frame_variant(D, lambda f: f.assign(ts=f["ts"].astype(str).astype(object))),
     {"ts_not_datetime"}, "'ts'"),
    ("misaligned_ts", frame_variant(D, _misaligned), {"misaligned_ts"}, "00:00 UTC"),
    ("null_symbol", frame_variant(D, _set("symbol", None)), {"null_values"}, "'symbol'"),
    ("path_venue", frame_variant(D, _set("venue", "../x")), {"invalid_names"}, "'../x'"),
    ("hourly_1000x", frame_variant("ohlcv_hourly", _last_hour(1000.0)), {"price_jump"}, "'close'"),
    ("hourly_ts_2031", frame_variant("ohlcv_hourly", _shift_ts("2031-01-01", **ETH_BN)),
     {"ts_out_of_range"}, "2031"),
    ("funding_500pct", frame_variant("funding_rates_8h", _first_rows("funding_rate", 5.0)),
     {"out_of_range"}, "'funding_rate'"),
    ("funding_interval_inf",
     frame_variant("funding_rates_8h", _first_rows("funding_interval_h", np.inf)),
     {"non_finite_values"}, "'funding_interval_h'"),
    ("dvol_5000pct", frame_variant("implied_vol_daily", _first_rows("iv_annualized_pct", 5e3)),
     {"out_of_range"}, "'iv_annualized_pct'"),
    ("macro_inf", frame_variant("macro_rates_daily", _first_rows("value", np.inf)),
     {"non_finite_values"}, "'value'"),
    ("etf_lowercase_asset", frame_variant("etf_flows_daily", _symbol("btc", "asset")),
     {"non_canonical_symbols"}, "'btc'"),
    ("oi_1e300", frame_variant("open_interest_daily", _first_rows("open_interest_usd", 1e300)),
     {"out_of_range"}, "'open_interest_usd'"),
    ("stablecoin_nan", frame_variant("stablecoin_supply_daily",
                                     _first_rows("circulating_usd", np.nan)),
     {"null_values"}, "'circulating_usd'"),
    ("premium_500pct",
     frame_variant("coinbase_premium_daily", _first_rows("coinbase_premium_index_pct", 500.0)),
     {"out_of_range"}, "'coinbase_premium_index_pct'"),
    ("liquidations_ts_2200",
     frame_variant("liquidations_daily", _shift_ts("2200-01-01", symbol="BTC")),
     {"ts_out_of_range"}, "2200"),
]  # fmt: skip


@pytest.fixture(scope="module")
def filled(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store holding every real file (module-wide: each variant must leave it as it was)."""
    store = Store(tmp_path_factory.mktemp("corrupt") / "store", lock_timeout_s=30)
    store.ingest_files(shared_data)
    return store


def test_there_are_at_least_forty_variants() -> None:
    assert len(VARIANTS) >= 40
    assert len({v[0] for v in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize(("writer", "rules", "word"), [v[1:] for v in VARIANTS],
                         ids=[v[0] for v in VARIANTS])  # fmt: skip
def test_each_corrupt_variant_is_refused_and_changes_no_byte(
    filled: Store, shared_data: Path, tmp_path: Path, writer: Writer, rules: set[str], word: str
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    writer(folder, shared_data)
    before, version = tree_digest(filled.root), filled.version
    with pytest.raises(SchemaError) as caught:
        filled.ingest_files(folder)
    found = {p.rule for p in caught.value.problems}
    assert found == rules, str(caught.value)
    message = str(caught.value)
    for rule in rules:
        assert rule in message
    assert word in message
    assert str(folder) in message  # the file is named
    assert "nothing was written" in message
    assert tree_digest(filled.root) == before
    assert filled.version == version


def test_the_real_files_still_ingest_and_change_nothing(filled: Store, shared_data: Path) -> None:
    before = tree_digest(filled.root)
    report = filled.ingest_files(shared_data)
    assert not report.changed
    assert report.inserted == report.updated == 0
    assert tree_digest(filled.root) == before
    assert [v.number for v in filled.history()] == [1]
