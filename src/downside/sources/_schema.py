"""Canonical raw schema: one table per series family, as in the tidy file layout.

Every reader (files, simulator, live connectors) returns tables with these columns;
the store validates against them. ``ts`` is the event time: the bar open for bars,
00:00 UTC of the day for daily aggregates, the settlement time for funding. When a
value became known (``available_ts``) is decided by the store's publication rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["float", "int", "str"]


@dataclass(frozen=True)
class TableSpec:
    """Columns of one raw table.

    Attributes:
        name: table name, also the file stem (``ohlcv_daily`` -> ``ohlcv_daily.parquet``).
        keys: entity columns that, with ``ts``, identify a row.
        columns: every other column and its kind; ``required`` ones may not be null.
        required: value columns that must be present and non-null.
        positive: columns that must be > 0 where not null (prices).
        non_negative: columns that must be >= 0 where not null (volumes, liquidations).
        freq: nominal spacing of ``ts`` (``1h``, ``8h``, ``1d``).
        description: one line for listings.
        bounds: column -> (lowest, highest) plausible value, inclusive, where not null
            (``iv_annualized_pct``: 1 to 500 percent a year).
    """

    name: str
    keys: tuple[str, ...]
    columns: dict[str, ColumnKind]
    required: tuple[str, ...]
    positive: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    freq: str = "1d"
    description: str = ""
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return ("ts", *self.keys)

    @property
    def all_columns(self) -> tuple[str, ...]:
        return ("ts", *self.keys, *self.columns)


_OHLCV_COLUMNS: dict[str, ColumnKind] = {
    "pair": "str",
    "open": "float",
    "high": "float",
    "low": "float",
    "close": "float",
    "volume_base": "float",
    "volume_quote": "float",
}

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "ohlcv_daily",
            ("symbol", "venue"),
            _OHLCV_COLUMNS,
            required=("close",),
            positive=("open", "high", "low", "close"),
            non_negative=("volume_base", "volume_quote"),
            freq="1d",
            description="daily OHLCV bars per symbol and venue (ts = bar open)",
        ),
        TableSpec(
            "ohlcv_hourly",
            ("symbol", "venue"),
            _OHLCV_COLUMNS,
            required=("close",),
            positive=("open", "high", "low", "close"),
            non_negative=("volume_base", "volume_quote"),
            freq="1h",
            description="hourly OHLCV bars per symbol and venue (ts = bar open)",
        ),
        TableSpec(
            "funding_rates_8h",
            ("symbol", "venue"),
            {"instrument": "str", "funding_rate": "float", "funding_interval_h": "int"},
            required=("funding_rate",),
            freq="8h",
            description="perpetual funding rate per settlement (fraction per interval)",
        ),
        TableSpec(
            "funding_rates_daily",
            ("symbol", "venue"),
            {"funding_rate_8h_equiv": "float"},
            required=("funding_rate_8h_equiv",),
            description="daily mean funding rate, fraction per 8h",
        ),
        TableSpec(
            "open_interest_daily",
            ("symbol", "venue"),
            {
                "open_interest_usd": "float",
                "open_interest_base": "float",
                "estimated_leverage_ratio": "float",
            },
            required=("open_interest_usd",),
            non_negative=("open_interest_usd", "open_interest_base", "estimated_leverage_ratio"),
            description="futures open interest, USD notional",
        ),
        TableSpec(
            "liquidations_daily",
            ("symbol", "venue"),
            {
                "long_liq_usd": "float",
                "short_liq_usd": "float",
                "long_liq_base": "float",
                "short_liq_base": "float",
            },
            required=("long_liq_usd", "short_liq_usd"),
            non_negative=("long_liq_usd", "short_liq_usd", "long_liq_base", "short_liq_base"),
            description="forced liquidations of longs and shorts, USD notional per day",
        ),
        TableSpec(
            "etf_flows_daily",
            ("asset", "ticker"),
            {"net_flow_usd_m": "float"},
            required=("net_flow_usd_m",),
            description="US spot-ETF net flows per trading day, US$ millions",
        ),
        TableSpec(
            "macro_rates_daily",
            ("series",),
            {"source": "str", "value": "float", "unit": "str"},
            required=("value",),
            description="rates, dollar and macro series (long format)",
        ),
        TableSpec(
            "stablecoin_supply_daily",
            ("stablecoin",),
            {"circulating_usd": "float"},
            required=("circulating_usd",),
            non_negative=("circulating_usd",),
            description="stablecoin circulating supply, USD",
        ),
        TableSpec(
            "coinbase_premium_daily",
            ("symbol",),
            {"coinbase_premium_index_pct": "float", "coinbase_premium_gap_usd": "float"},
            required=("coinbase_premium_index_pct",),
            description="Coinbase USD vs Binance USDT price premium, percent",
        ),
        TableSpec(
            "implied_vol_daily",
            ("symbol", "venue", "index"),
            {"iv_annualized_pct": "float", "source": "str"},
            required=("iv_annualized_pct",),
            description="implied-volatility index (Deribit DVOL) daily close, percent a year",
            bounds={"iv_annualized_pct": (1.0, 500.0)},
        ),
    )
}
