"""Validation: each rule rejects with a clear message, all problems at once, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import InvalidNameError, SchemaError
from downside.store import Store, check_name

Mutation = Callable[[pd.DataFrame], pd.DataFrame]


def _set(column: str, row: int, value: object) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        if value is None or isinstance(value, str):
            out[column] = out[column].astype(object)
        out.loc[row, column] = value
        return out

    return mutate


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ts=frame["ts"].dt.tz_localize(None))


def _text_ts(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ts=frame["ts"].astype(str).astype(object))


def _drop(*columns: str) -> Mutation:
    return lambda frame: frame.drop(columns=list(columns))


def _duplicate_row(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[1]]], ignore_index=True)


def _text_close(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        close=frame["close"].astype(str).astype(object).where(frame.index != 2, "n/a")
    )


CASES: list[tuple[str, Mutation, str]] = [
    ("missing_columns", _drop("volume_quote", "pair"), r"missing \['pair', 'volume_quote'\]"),
    ("unknown_columns", lambda f: f.assign(extra=1.0), r"drop or rename \['extra'\]"),
    ("naive_timestamps", _naive, r"naive timestamps.*tz_localize\('UTC'\)"),
    ("ts_not_datetime", _text_ts, r"received dtype object; parse it with pd.to_datetime"),
    ("non_numeric_column", _text_close, r"column 'close' must be numeric.*'n/a'"),
    ("non_string_column", lambda f: f.assign(pair=7), r"column 'pair' must hold text.*7"),
    ("null_values", _set("close", 1, np.nan), r"column 'close' is required and may not be null"),
    ("null_values", _set("symbol", 1, None), r"column 'symbol' is required"),
    ("invalid_names", _set("venue", 0, "../etc"), r"venue values must match.*'\.\./etc'"),
    ("invalid_names", _set("symbol", 0, "BTC USD"), r"symbol values must match.*'BTC USD'"),
    ("duplicate_keys", _duplicate_row, r"rows must be unique on \['ts', 'symbol', 'venue'\]"),
    ("non_positive_prices", _set("low", 2, 0.0), r"must be > 0.*low=0\.0"),
    ("negative_values", _set("volume_base", 3, -1.0), r"must be >= 0.*volume_base=-1\.0"),
    ("high_below_low", _set("high", 0, 50.0), r"each bar needs high >= low"),
    ("open_close_outside_range", _set("close", 0, 150.0), r"open and close must lie within"),
    ("open_close_outside_range", _set("open", 0, 90.0), r"open and close must lie within"),
    (
        "misaligned_ts",
        lambda f: f.assign(ts=f["ts"] + pd.Timedelta(hours=3)),
        r"must fall on 00:00 UTC",
    ),
]


@pytest.mark.parametrize(("rule", "mutate", "match"), CASES)
def test_each_rule_rejects_and_writes_nothing(
    store: Store, bars: Callable[..., pd.DataFrame], rule: str, mutate: Mutation, match: str
) -> None:
    store.ingest({"ohlcv_daily": bars(symbol="ETH")}, origin="seed")
    before, files = store.version, sorted(p.name for p in store.root.rglob("*"))
    with pytest.raises(SchemaError, match=match) as info:
        store.ingest({"ohlcv_daily": mutate(bars())}, origin="test")
    assert [p.rule for p in info.value.problems] == [rule]
    assert info.value.problems[0].source == "test:ohlcv_daily"
    assert "nothing was written" in str(info.value)
    assert store.version == before
    assert sorted(p.name for p in store.root.rglob("*")) == files
    assert store.read("ohlcv_daily")["symbol"].unique().tolist() == ["ETH"]


def test_bad_input_on_an_empty_store_creates_nothing(
    store: Store, bars: Callable[..., pd.DataFrame]
) -> None:
    with pytest.raises(SchemaError, match="high_below_low"):
        store.ingest({"ohlcv_daily": _set("high", 0, 1.0)(bars())}, origin="test")
    assert store.is_empty
    assert store.version == "empty"
    assert not store.root.exists()


def test_every_problem_of_every_table_is_reported_at_once(
    store: Store, bars: Callable[..., pd.DataFrame], macro: Callable[..., pd.DataFrame]
) -> None:
    daily = _set("volume_base", 0, -5.0)(_set("high", 1, 10.0)(bars()))
    rates = macro("bad name!", ["2024-01-02", "2024-01-02"])
    with pytest.raises(SchemaError) as info:
        store.ingest(
            {"ohlcv_daily": daily, "macro_rates_daily": rates, "no_such_table": daily},
            origin="batch",
        )
    found = {(p.source, p.rule) for p in info.value.problems}
    assert found == {
        ("batch:ohlcv_daily", "high_below_low"),
        ("batch:ohlcv_daily", "negative_values"),
        ("batch:macro_rates_daily", "invalid_names"),
        ("batch:macro_rates_daily", "duplicate_keys"),
        ("batch:no_such_table", "unknown_table"),
    }
    assert store.is_empty


def test_two_bad_files_are_both_listed(
    store: Store,
    bars: Callable[..., pd.DataFrame],
    etf: Callable[..., pd.DataFrame],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _set("low", 0, 0.0)(bars()).to_parquet(folder / "ohlcv_daily.parquet")
    flows = etf(["2024-01-11", "2024-01-12"])
    flows.assign(ts=flows["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S")).to_csv(
        folder / "etf_flows_daily.csv", index=False
    )
    with pytest.raises(SchemaError, match=r"2 problem\(s\)") as info:
        store.ingest_files(folder)
    by_source = {Path(p.source).name: p.rule for p in info.value.problems}
    assert by_source == {
        "ohlcv_daily.parquet": "non_positive_prices",
        "etf_flows_daily.csv": "naive_timestamps",
    }
    assert store.is_empty


def test_csv_with_offsets_is_accepted(
    store: Store, etf: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    flows = etf(["2024-01-11", "2024-01-12"])
    flows.assign(ts=flows["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
        folder / "etf_flows_daily.csv", index=False
    )
    report = store.ingest_files(folder)
    assert report.table("etf_flows_daily").inserted == 2
    assert report.origin == str(folder)


def test_small_ohlc_inconsistency_is_kept_with_a_warning(
    store: Store, bars: Callable[..., pd.DataFrame]
) -> None:
    frame = bars()
    frame.loc[0, "close"] = frame.loc[0, "low"] * 0.998  # 0.2 % below the low
    report = store.ingest({"ohlcv_daily": frame}, origin="cq")
    assert [w.rule for w in report.warnings] == ["open_close_within_tolerance"]
    assert report.warnings[0].count == 1
    assert len(store.read("ohlcv_daily")) == len(frame)


def test_non_utc_offsets_are_converted(store: Store, etf: Callable[..., pd.DataFrame]) -> None:
    flows = etf(["2024-01-11"])
    flows["ts"] = flows["ts"].dt.tz_convert("America/New_York")
    store.ingest({"etf_flows_daily": flows}, origin="ny")
    got = store.read("etf_flows_daily")
    assert str(got["event_ts"].dtype) == "datetime64[us, UTC]"
    assert got["event_ts"].iloc[0] == pd.Timestamp("2024-01-11", tz="UTC")


def test_integer_column_must_hold_whole_numbers(store: Store) -> None:
    funding = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00"], utc=True),
            "symbol": "BTC",
            "venue": "binance",
            "instrument": "BTCUSDT-PERP",
            "funding_rate": 0.0001,
            "funding_interval_h": [8.0, 7.5],
        }
    )
    with pytest.raises(SchemaError, match=r"must hold whole numbers.*7\.5"):
        store.ingest({"funding_rates_8h": funding}, origin="t")
    store.ingest({"funding_rates_8h": funding.assign(funding_interval_h=8.0)}, origin="t")
    assert str(store.read("funding_rates_8h")["funding_interval_h"].dtype) == "Int64"


def test_empty_ingest_is_rejected(store: Store) -> None:
    with pytest.raises(SchemaError, match="no_tables"):
        store.ingest({}, origin="nothing")


@pytest.mark.parametrize("name", ["", "-BTC", "a/b", "x" * 65, "BTC USD", "é"])
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid symbol name"):
        check_name("symbol", name)


def test_check_name_accepts() -> None:
    assert check_name("venue", "binance_usdm_perp") == "binance_usdm_perp"
    assert check_name("ticker", "BRK.B-1") == "BRK.B-1"


IMPLIED_VOL_CASES: list[tuple[str, Mutation, str]] = [
    (
        "non_finite_values",
        _set("iv_annualized_pct", 2, np.inf),
        r"'iv_annualized_pct' must be finite",
    ),
    ("out_of_range", _set("iv_annualized_pct", 1, 0.55), r"within \[1, 500\].*a fraction"),
    ("out_of_range", _set("iv_annualized_pct", 3, 0.0), r"within \[1, 500\]"),
    ("out_of_range", _set("iv_annualized_pct", 0, -12.0), r"within \[1, 500\]"),
    ("out_of_range", _set("iv_annualized_pct", 4, 650.0), r"within \[1, 500\]"),
    ("null_values", _set("iv_annualized_pct", 1, np.nan), r"'iv_annualized_pct' is required"),
    ("invalid_names", _set("index", 0, "DVOL 30d"), r"index values must match"),
    ("misaligned_ts", lambda f: f.assign(ts=f["ts"] + pd.Timedelta(hours=8)), r"00:00 UTC"),
]


@pytest.mark.parametrize(("rule", "mutate", "match"), IMPLIED_VOL_CASES)
def test_implied_vol_rules_name_the_file_the_column_and_the_rows(
    store: Store,
    implied_vol: Callable[..., pd.DataFrame],
    tmp_path: Path,
    rule: str,
    mutate: Mutation,
    match: str,
) -> None:
    folder = tmp_path / "in" / "implied_vol"
    folder.mkdir(parents=True)
    path = folder / "implied_vol_daily.parquet"
    mutate(implied_vol()).to_parquet(path, index=False)
    with pytest.raises(SchemaError, match=match) as info:
        store.ingest_files(tmp_path / "in")
    (problem,) = info.value.problems
    assert (problem.rule, problem.source) == (rule, str(path))
    assert str(path) in str(info.value)
    if rule in ("non_finite_values", "out_of_range"):
        row = {"non_finite_values": 2, "out_of_range": None}[rule]
        assert problem.examples[0].startswith("row ")
        assert "symbol=BTC venue=deribit index=DVOL iv_annualized_pct=" in problem.examples[0]
        if row is not None:
            assert problem.examples[0].startswith(f"row {row + 1}: ts=2024-01-03")
    assert store.is_empty


def test_every_bad_implied_vol_row_is_counted(
    store: Store, implied_vol: Callable[..., pd.DataFrame]
) -> None:
    frame = implied_vol(periods=6)
    frame["iv_annualized_pct"] = [55.0, 0.4, np.inf, 700.0, -np.inf, 60.0]
    with pytest.raises(SchemaError) as info:
        store.ingest({"implied_vol_daily": frame}, origin="batch")
    counts = {p.rule: (p.count, list(p.examples)) for p in info.value.problems}
    assert counts["non_finite_values"][0] == 2
    assert counts["out_of_range"][0] == 2
    assert [e.split(":")[0] for e in counts["out_of_range"][1]] == ["row 2", "row 4"]


def test_infinite_values_are_refused_in_every_table(
    store: Store, bars: Callable[..., pd.DataFrame]
) -> None:
    with pytest.raises(SchemaError, match=r"'volume_base' must be finite.*row 3: ") as info:
        store.ingest({"ohlcv_daily": _set("volume_base", 2, np.inf)(bars())}, origin="test")
    assert [p.rule for p in info.value.problems] == ["non_finite_values"]
