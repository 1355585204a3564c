"""Turn simulated paths into the canonical raw tables (same columns as the real files).

Part of :func:`downside.sources.simulate_market`; see :mod:`downside.sources._simulate`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from downside.sources._sim_macro import Calendars, FloatArray, MacroPaths, anchor_path
from downside.sources._sim_market import (
    ETF_ASSETS,
    GARCH_ALPHA,
    GARCH_BETA,
    HOURS,
    MarketPaths,
)

SPOT_VENUE = "sim_spot"
PERP_VENUE = "sim_perp"
AGGREGATE_VENUE = "sim_all_exchanges"
FUNDING_HOURS = (0, 8, 16)
ETF_TICKERS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "BTC": (
        ("IBIT", 0.55, 0.0),
        ("FBTC", 0.25, 0.0),
        ("ARKB", 0.08, 0.0),
        ("BITB", 0.07, 0.0),
        ("GBTC", 0.05, -40.0),
    ),
    "ETH": (("ETHA", 0.6, 0.0), ("FETH", 0.25, 0.0), ("ETHE", 0.15, -15.0)),
}
"""Per asset: (ticker, share of the total flow, persistent bias in US$ m)."""
ETF_FLOW_SCALE = {"BTC": 200.0, "ETH": 50.0}
"""Typical absolute ETF flow (US$ m) that moves the Coinbase premium by 0.05 points."""
MACRO_SERIES: tuple[tuple[str, str, str, str], ...] = (
    ("DFF", "FRED", "percent", "calendar"),
    ("DGS2", "FRED", "percent", "us_business"),
    ("DGS10", "FRED", "percent", "us_business"),
    ("VIXCLS", "FRED", "index", "us_business"),
    ("BAMLH0A0HYM2", "FRED", "percent", "us_business"),
    ("JGB_2Y", "Japan MOF (jgbcme_all.csv)", "percent", "weekdays"),
    ("DXY_close", "TradingView(ICE DXY)", "index", "weekdays"),
)
"""(series, source, unit, calendar) of every simulated macro series."""
IV_VENUE = "sim_options"
IV_INDEX = "DVOL"
IV_SOURCE = "simulated"
IV_HORIZON_DAYS = 30
IV_PREMIUM = 1.4
IV_NOISE_PERSISTENCE = 0.9
IV_NOISE_SD = 0.03


def _str(values: list[str] | str, n: int) -> pd.Series:
    """A plain ``str`` column of length ``n``."""
    data = [values] * n if isinstance(values, str) else values
    return pd.Series(data, dtype="str")


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by the entity keys, then time, with a fresh index."""
    return frame.sort_values([*keys, "ts"], kind="stable").reset_index(drop=True)


def ohlcv_tables(
    symbols: tuple[str, ...], calendars: Calendars, market: MarketPaths
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly bars and the daily bars aggregated from them (UTC days).

    Raises:
        ValueError: never for consistent inputs; pandas raises on length mismatches.
    """
    n_days = len(calendars.days)
    hours = pd.date_range(calendars.days[0], periods=n_days * HOURS, freq="h", tz="UTC", unit="us")
    hourly_parts = []
    daily_parts = []
    for j, symbol in enumerate(symbols):
        decimals = market.constants[j].decimals
        prices = {
            name: np.round(getattr(market, name)[:, j], decimals)
            for name in ("open", "high", "low", "close")
        }
        volume = np.round(market.volume[:, j], 4)
        hourly_parts.append(
            pd.DataFrame(
                {
                    "ts": hours,
                    "symbol": _str(symbol, len(hours)),
                    "pair": _str(f"{symbol}-USD", len(hours)),
                    "venue": _str(SPOT_VENUE, len(hours)),
                    **prices,
                    "volume_base": volume,
                    "volume_quote": np.full(len(hours), np.nan),
                }
            )
        )
        grid = {name: values.reshape(n_days, HOURS) for name, values in prices.items()}
        daily_parts.append(
            pd.DataFrame(
                {
                    "ts": calendars.days,
                    "symbol": _str(symbol, n_days),
                    "pair": _str(f"{symbol}-USD", n_days),
                    "venue": _str(SPOT_VENUE, n_days),
                    "open": grid["open"][:, 0],
                    "high": grid["high"].max(axis=1),
                    "low": grid["low"].min(axis=1),
                    "close": grid["close"][:, -1],
                    "volume_base": volume.reshape(n_days, HOURS).sum(axis=1),
                    "volume_quote": np.full(n_days, np.nan),
                }
            )
        )
    keys = ["symbol", "venue"]
    return (
        _sorted(pd.concat(hourly_parts, ignore_index=True), keys),
        _sorted(pd.concat(daily_parts, ignore_index=True), keys),
    )


def funding_tables(
    symbols: tuple[str, ...], calendars: Calendars, market: MarketPaths
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Funding per 8 h settlement and its daily mean (fraction per 8 h).

    Raises:
        ValueError: never for consistent inputs.
    """
    n_days = len(calendars.days)
    settle = pd.date_range(
        calendars.days[0], periods=n_days * len(FUNDING_HOURS), freq="8h", unit="us"
    )
    rows_8h = []
    rows_daily = []
    for j, symbol in enumerate(symbols):
        rates = np.round(market.funding[:, :, j], 8)
        rows_8h.append(
            pd.DataFrame(
                {
                    "ts": settle,
                    "symbol": _str(symbol, len(settle)),
                    "instrument": _str(f"{symbol}USDT-PERP", len(settle)),
                    "venue": _str(PERP_VENUE, len(settle)),
                    "funding_rate": rates.ravel(),
                    "funding_interval_h": np.full(len(settle), 8, dtype=np.int64),
                }
            )
        )
        rows_daily.append(
            pd.DataFrame(
                {
                    "ts": calendars.days,
                    "symbol": _str(symbol, n_days),
                    "venue": _str(PERP_VENUE, n_days),
                    "funding_rate_8h_equiv": rates.mean(axis=1),
                }
            )
        )
    keys = ["symbol", "venue"]
    return (
        _sorted(pd.concat(rows_8h, ignore_index=True), keys),
        _sorted(pd.concat(rows_daily, ignore_index=True), keys),
    )


def derivatives_tables(
    symbols: tuple[str, ...], calendars: Calendars, market: MarketPaths, daily_close: FloatArray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open interest and liquidations per symbol and UTC day.

    Raises:
        ValueError: never for consistent inputs.
    """
    n_days = len(calendars.days)
    oi_parts = []
    liq_parts = []
    for j, symbol in enumerate(symbols):
        close = daily_close[:, j]
        oi_base = np.round(market.open_interest_base[:, j], 3)
        long_usd = np.round(market.long_liq_usd[:, j], 2)
        short_usd = np.round(market.short_liq_usd[:, j], 2)
        common = {
            "ts": calendars.days,
            "symbol": _str(symbol, n_days),
            "venue": _str(AGGREGATE_VENUE, n_days),
        }
        oi_parts.append(
            pd.DataFrame(
                {
                    **common,
                    "open_interest_usd": np.round(oi_base * close, 2),
                    "open_interest_base": oi_base,
                    "estimated_leverage_ratio": np.round(market.leverage_ratio[:, j], 6),
                }
            )
        )
        liq_parts.append(
            pd.DataFrame(
                {
                    **common,
                    "long_liq_usd": long_usd,
                    "short_liq_usd": short_usd,
                    "long_liq_base": long_usd / close,
                    "short_liq_base": short_usd / close,
                }
            )
        )
    keys = ["symbol", "venue"]
    return (
        _sorted(pd.concat(oi_parts, ignore_index=True), keys),
        _sorted(pd.concat(liq_parts, ignore_index=True), keys),
    )


def etf_table(calendars: Calendars, market: MarketPaths, rng: np.random.Generator) -> pd.DataFrame:
    """ETF net flows per ticker plus ``TOTAL`` (their sum) on reported US trading days.

    Raises:
        ValueError: never for consistent inputs.
    """
    parts = []
    for a, asset in enumerate(ETF_ASSETS):
        reported = np.flatnonzero(~np.isnan(market.etf_flow[:, a]))
        total = market.etf_flow[reported, a]
        tickers = ETF_TICKERS[asset]
        shares = np.array([share for _, share, _ in tickers])
        bias = np.array([b for _, _, b in tickers])
        noise = rng.standard_normal((len(reported), len(tickers))) * np.abs(total)[:, None] * 0.15
        deviation = noise + bias
        deviation -= shares * deviation.sum(axis=1, keepdims=True)
        flows = np.round(shares * total[:, None] + deviation, 1)
        ts = calendars.days[reported]
        for k, (ticker, _, _) in enumerate(tickers):
            parts.append(
                pd.DataFrame(
                    {
                        "ts": ts,
                        "asset": _str(asset, len(ts)),
                        "ticker": _str(ticker, len(ts)),
                        "net_flow_usd_m": flows[:, k],
                    }
                )
            )
        parts.append(
            pd.DataFrame(
                {
                    "ts": ts,
                    "asset": _str(asset, len(ts)),
                    "ticker": _str("TOTAL", len(ts)),
                    "net_flow_usd_m": flows.sum(axis=1),
                }
            )
        )
    return _sorted(pd.concat(parts, ignore_index=True), ["asset", "ticker"])


def macro_table(calendars: Calendars, macro: MacroPaths) -> pd.DataFrame:
    """Long-format macro series on their own calendars (FRED, Tokyo, DXY).

    Raises:
        ValueError: never for consistent inputs.
    """
    values = {
        "DFF": macro.dff,
        "DGS2": macro.dgs2,
        "DGS10": macro.dgs10,
        "VIXCLS": macro.vix,
        "BAMLH0A0HYM2": macro.hy_oas,
        "JGB_2Y": macro.jgb2,
        "DXY_close": macro.dxy,
    }
    masks = {
        "calendar": np.ones(len(calendars.days), dtype=bool),
        "us_business": calendars.us_business,
        "weekdays": calendars.weekdays,
    }
    parts = []
    for series, source, unit, calendar in MACRO_SERIES:
        mask = masks[calendar]
        ts = calendars.days[mask]
        parts.append(
            pd.DataFrame(
                {
                    "ts": ts,
                    "series": _str(series, len(ts)),
                    "source": _str(source, len(ts)),
                    "value": values[series][mask],
                    "unit": _str(unit, len(ts)),
                }
            )
        )
    return _sorted(pd.concat(parts, ignore_index=True), ["series"])


def stablecoin_table(
    calendars: Calendars, market_return: FloatArray, rng: np.random.Generator
) -> pd.DataFrame:
    """USDT, USDC and the exported total, growing faster after crypto rallies.

    Raises:
        ValueError: never for consistent inputs.
    """
    n = len(calendars.days)
    momentum = pd.Series(market_return).ewm(span=60).mean().to_numpy()
    flow = np.cumsum(0.15 * momentum)
    usdt = np.exp(
        anchor_path(n, (62e9, 75e9, 66e9, 83e9, 110e9, 140e9, 155e9), log=True)
        + flow
        + np.cumsum(rng.standard_normal(n) * 0.001)
    )
    usdc = np.exp(
        anchor_path(n, (26e9, 50e9, 55e9, 30e9, 25e9, 40e9, 62e9), log=True)
        + flow
        + np.cumsum(rng.standard_normal(n) * 0.0015)
    )
    other = (usdt + usdc) * (0.18 + np.cumsum(rng.standard_normal(n) * 0.0005))
    parts = []
    for name, values in (("USDT", usdt), ("USDC", usdc), ("TOTAL_EXPORTED", usdt + usdc + other)):
        parts.append(
            pd.DataFrame(
                {
                    "ts": calendars.days,
                    "stablecoin": _str(name, n),
                    "circulating_usd": np.round(values, 0),
                }
            )
        )
    return _sorted(pd.concat(parts, ignore_index=True), ["stablecoin"])


def premium_table(
    symbols: tuple[str, ...],
    calendars: Calendars,
    market: MarketPaths,
    daily_close: FloatArray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Coinbase premium for the simulated BTC and ETH: US demand shows as a premium.

    The premium follows the asset's latest ETF flow and turns negative during cascades.

    Raises:
        ValueError: never for consistent inputs.
    """
    n = len(calendars.days)
    parts = []
    for a, asset in enumerate(ETF_ASSETS):
        if asset not in symbols:
            continue
        j = symbols.index(asset)
        flow = pd.Series(market.etf_flow[:, a]).ffill().fillna(0.0).to_numpy()
        pct = (
            0.01
            + 0.05 * flow / ETF_FLOW_SCALE[asset]
            - 0.4 * market.cascade[:, j]
            + 0.05 * rng.standard_t(4.0, n)
        )
        pct = np.round(pct, 6)
        parts.append(
            pd.DataFrame(
                {
                    "ts": calendars.days,
                    "symbol": _str(asset, n),
                    "coinbase_premium_index_pct": pct,
                    "coinbase_premium_gap_usd": np.round(pct / 100.0 * daily_close[:, j], 2),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "ts": pd.DatetimeIndex([], dtype="datetime64[us, UTC]"),
                "symbol": pd.Series([], dtype="str"),
                "coinbase_premium_index_pct": pd.Series([], dtype="float64"),
                "coinbase_premium_gap_usd": pd.Series([], dtype="float64"),
            }
        )
    return _sorted(pd.concat(parts, ignore_index=True), ["symbol"])


def implied_vol_table(
    symbols: tuple[str, ...], calendars: Calendars, market: MarketPaths, rng: np.random.Generator
) -> pd.DataFrame:
    """A DVOL-like implied volatility per symbol and UTC day, from the market's own variance.

    The value of day ``d`` (its close, known at ``d+1`` 00:00 UTC) is the volatility the
    model expects over the next 30 days as of the end of ``d`` (GARCH factor reverting to
    1 at rate ``alpha + beta``), annualised, times a variance-risk premium, times
    log-AR(1) noise drawn from ``rng`` only.

    Raises:
        ValueError: never for consistent inputs.
    """
    n = len(calendars.days)
    persistence = GARCH_ALPHA + GARCH_BETA
    weight = (1.0 - persistence**IV_HORIZON_DAYS) / (IV_HORIZON_DAYS * (1.0 - persistence))
    expected_garch = 1.0 + (market.garch_next - 1.0) * weight
    shocks = rng.standard_normal((n, len(symbols))) * IV_NOISE_SD
    noise = np.empty_like(shocks)
    noise[0] = shocks[0] / np.sqrt(1.0 - IV_NOISE_PERSISTENCE**2)
    for d in range(1, n):
        noise[d] = IV_NOISE_PERSISTENCE * noise[d - 1] + shocks[d]
    parts = []
    for j, symbol in enumerate(symbols):
        daily_vol = market.constants[j].daily_vol * market.calm_next[:, j]
        annual_pct = 100.0 * daily_vol * np.sqrt(365.0 * expected_garch)
        parts.append(
            pd.DataFrame(
                {
                    "ts": calendars.days,
                    "symbol": _str(symbol, n),
                    "venue": _str(IV_VENUE, n),
                    "index": _str(IV_INDEX, n),
                    "iv_annualized_pct": np.round(annual_pct * IV_PREMIUM * np.exp(noise[:, j]), 2),
                    "source": _str(IV_SOURCE, n),
                }
            )
        )
    return _sorted(pd.concat(parts, ignore_index=True), ["symbol", "venue", "index"])
