"""Publication rules: available_ts per table and per macro series."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downside.config import Settings
from downside.errors import ConfigError
from downside.store import PublicationRule, PublicationRules, Store

UTC = "UTC"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def _available(rules: PublicationRules, table: str, ts: str, series: str | None = None) -> str:
    frame = pd.DataFrame({"event_ts": pd.Series([_ts(ts)]).astype("datetime64[us, UTC]")})
    if series is not None:
        frame["series"] = series
    out = rules.available_ts(table, frame)
    assert str(out.dtype) == "datetime64[us, UTC]"
    return out.iloc[0].isoformat()


@pytest.mark.parametrize(
    ("table", "ts", "expected"),
    [
        ("ohlcv_hourly", "2024-07-05 23:00", "2024-07-06T00:00:00+00:00"),
        ("ohlcv_daily", "2024-07-05", "2024-07-06T00:00:00+00:00"),
        ("funding_rates_8h", "2024-07-05 16:00", "2024-07-05T16:00:00+00:00"),
        ("funding_rates_daily", "2024-07-06", "2024-07-07T00:00:00+00:00"),
        ("open_interest_daily", "2024-07-06", "2024-07-07T00:00:00+00:00"),
        ("liquidations_daily", "2024-12-31", "2025-01-01T00:00:00+00:00"),
        ("stablecoin_supply_daily", "2024-07-04", "2024-07-05T00:00:00+00:00"),
        ("coinbase_premium_daily", "2024-07-04", "2024-07-05T00:00:00+00:00"),
        ("implied_vol_daily", "2024-07-04", "2024-07-05T00:00:00+00:00"),
        ("etf_flows_daily", "2024-07-05", "2024-07-06T12:00:00+00:00"),
        ("etf_flows_daily", "2024-07-03", "2024-07-04T12:00:00+00:00"),
    ],
)
def test_table_defaults(table: str, ts: str, expected: str) -> None:
    assert _available(PublicationRules.default(), table, ts) == expected


@pytest.mark.parametrize(
    ("series", "ts", "expected"),
    [
        # Friday -> Monday 20:00 UTC
        ("DGS10", "2024-07-05", "2024-07-08T20:00:00+00:00"),
        # Wednesday -> Friday: Thursday 2024-07-04 is a federal holiday
        ("DGS10", "2024-07-03", "2024-07-05T20:00:00+00:00"),
        # DFF has weekend rows: Saturday -> Monday
        ("DFF", "2024-07-06", "2024-07-08T20:00:00+00:00"),
        # Wednesday before Thanksgiving -> Friday
        ("VIXCLS", "2024-11-27", "2024-11-29T20:00:00+00:00"),
        ("SOFR", "2024-12-31", "2025-01-02T20:00:00+00:00"),
        # weekly dollar index: the Monday after its week
        ("DTWEXBGS", "2024-07-03", "2024-07-08T20:00:00+00:00"),
        ("DTWEXBGS", "2024-07-01", "2024-07-08T20:00:00+00:00"),
        # ... rolled to Tuesday when that Monday is Labor Day
        ("DTWEXBGS", "2024-08-30", "2024-09-03T20:00:00+00:00"),
        # DXY bars, including TradingView's Sunday-dated ones: D+1 00:00
        ("DXY_close", "2024-07-07", "2024-07-08T00:00:00+00:00"),
        ("DXY_open", "2024-07-04", "2024-07-05T00:00:00+00:00"),
        # JGB: next weekday 06:00 UTC (US holidays do not matter)
        ("JGB_10Y", "2024-07-05", "2024-07-08T06:00:00+00:00"),
        ("JGB_2Y", "2024-07-03", "2024-07-04T06:00:00+00:00"),
        # unknown series: conservative next US business day 20:00
        ("SOMETHING_NEW", "2024-07-03", "2024-07-05T20:00:00+00:00"),
    ],
)
def test_macro_series(series: str, ts: str, expected: str) -> None:
    assert _available(PublicationRules.default(), "macro_rates_daily", ts, series) == expected


def test_macro_rules_apply_per_row_in_a_mixed_frame() -> None:
    frame = pd.DataFrame(
        {
            "event_ts": pd.to_datetime(["2024-07-05"] * 3, utc=True).as_unit("us"),
            "series": ["DGS2", "JGB_1Y", "DXY_low"],
        },
        index=[10, 11, 12],
    )
    out = PublicationRules.default().available_ts("macro_rates_daily", frame)
    assert list(out.index) == [10, 11, 12]
    assert [t.isoformat() for t in out] == [
        "2024-07-08T20:00:00+00:00",
        "2024-07-08T06:00:00+00:00",
        "2024-07-06T00:00:00+00:00",
    ]


def test_etf_hour_comes_from_settings(isolated_env: object) -> None:
    settings_ = Settings(etf_flow_publication_hour_utc=14)
    store = Store.from_settings(settings_)
    assert store.root == settings_.store_dir
    assert _available(store.rules, "etf_flows_daily", "2024-07-05") == "2024-07-06T14:00:00+00:00"


def test_rules_can_be_replaced_per_series() -> None:
    rules = PublicationRules.default()
    faster = dataclasses.replace(
        rules,
        macro_series={**rules.macro_series, "DFF": PublicationRule.next_day("us_business", 13)},
    )
    assert _available(faster, "macro_rates_daily", "2024-07-05", "DFF") == (
        "2024-07-08T13:00:00+00:00"
    )
    assert faster.rule_for("macro_rates_daily", "DGS2").describe() == (
        "next us_business day 20:00 UTC"
    )


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: PublicationRule.after(timedelta(hours=-1)), "delay must be >= 0"),
        (lambda: PublicationRule.next_day("us_business", 24), "hour_utc must be 0..23"),
        (lambda: PublicationRules.default(etf_hour_utc=-1), "hour_utc must be 0..23"),
        (lambda: PublicationRules(tables={}), r"no rule for tables \['coinbase_premium_daily'"),
        (
            lambda: PublicationRules(
                tables={
                    **PublicationRules.default().tables,
                    "nope": PublicationRule.after(timedelta(0)),
                }
            ),
            r"unknown tables \['nope'\]",
        ),
    ],
)
def test_invalid_rules_are_rejected(build: Callable[[], object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()


_RULES = [
    PublicationRule.after(timedelta(hours=1)),
    PublicationRule.after(timedelta(0)),
    PublicationRule.next_day("calendar", 12),
    PublicationRule.next_day("weekdays", 6),
    PublicationRule.next_day("us_business", 20),
    PublicationRule.next_week("us_business", 20),
]


@settings(max_examples=40, deadline=None)
@given(
    rule=st.sampled_from(_RULES),
    hours=st.lists(st.integers(0, 24 * 365 * 30), min_size=2, max_size=60),
)
def test_rules_are_monotone_and_never_before_the_event(
    rule: PublicationRule, hours: list[int]
) -> None:
    event = (pd.Timestamp("2000-01-01", tz=UTC) + pd.to_timedelta(sorted(hours), unit="h")).as_unit(
        "us"
    )
    available = rule.apply(pd.Series(event))
    assert available.is_monotonic_increasing
    assert (available >= pd.Series(event)).all()


@settings(max_examples=40, deadline=None)
@given(days=st.lists(st.integers(0, 365 * 30), min_size=1, max_size=40))
def test_implied_vol_of_day_d_is_never_known_before_d_plus_1(days: list[int]) -> None:
    """A DVOL close is the index at the end of its day: known at D+1 00:00 UTC, not sooner."""
    event = pd.Series(
        (pd.Timestamp("2021-03-24", tz=UTC) + pd.to_timedelta(sorted(days), unit="D")).as_unit("us")
    )
    available = PublicationRules.default().available_ts(
        "implied_vol_daily", pd.DataFrame({"event_ts": event})
    )
    assert (available == event + pd.Timedelta(days=1)).all()
    assert (available.dt.hour == 0).all()


def test_implied_vol_rows_are_hidden_until_the_next_day(
    store: Store, implied_vol: Callable[..., pd.DataFrame]
) -> None:
    store.ingest({"implied_vol_daily": implied_vol(start="2024-03-01", periods=3)}, origin="t")
    just_before = _ts("2024-03-02 23:59:59.999999")
    seen = store.read("implied_vol_daily", available_by=just_before)
    assert seen["event_ts"].tolist() == [_ts("2024-03-01")]
    assert len(store.read("implied_vol_daily", available_by=_ts("2024-03-03"))) == 2
