"""A regime change for the simulated market, for monitoring tests and demonstrations.

:func:`shift_regime` rewrites a folder written by :func:`downside.sources.simulate_market`
so that from day ``start`` on the market is another one: hourly log returns are
``vol_scale`` times larger, a crash (a ``crash_drop`` fall over two hours) strikes each
symbol on a share ``crash_rate`` of the days (drawn from ``seed``), the daily bars are
aggregated again from the new hourly bars, funding rates rise by ``funding_add`` per
settlement, the leverage ratio is ``leverage_scale`` times higher, open interest follows
the new closes, liquidations are ``vol_scale`` times larger and implied volatility
``vol_scale`` times higher (within its bounds). Everything before ``start``, and every
other table, is left as simulated, so the default simulated market is unchanged and the
regime change is a separate, seeded step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from downside.errors import ConfigError
from downside.sources._files import read_files


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)
    os.replace(tmp, path)


_CRASH_DROP = 0.08
"""Fall of a crash, spread over two hours (14:00 and 15:00 UTC)."""


def _hourly(
    frame: pd.DataFrame, start: pd.Timestamp, vol_scale: float, crash: Mapping[str, set[str]]
) -> pd.DataFrame:
    """Hourly bars from ``start`` on with scaled log returns and ranges, plus crashes."""
    out = frame.sort_values(["symbol", "venue", "ts"], kind="stable").reset_index(drop=True)
    for key, rows in out.groupby(["symbol", "venue"], sort=False).groups.items():
        symbol = str(key[0]) if isinstance(key, tuple) else str(key)
        part = out.loc[rows]
        after = (part["ts"] >= start).to_numpy()
        if not after.any():
            continue
        open_, high, low, close = (
            part[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")
        )
        first = int(np.argmax(after))
        prev = close[first - 1] if first else open_[0]
        step = np.log(close[first:] / np.concatenate(([prev], close[first:-1])))
        late = part.iloc[first:]
        day = late["ts"].dt.strftime("%Y-%m-%d").isin(crash.get(symbol, set())).to_numpy()
        hit = day & late["ts"].dt.hour.isin((14, 15)).to_numpy()
        step = vol_scale * step + np.where(hit, np.log(1.0 - 0.5 * _CRASH_DROP), 0.0)
        new_close = prev * np.exp(np.cumsum(step))
        new_open = np.concatenate(([prev], new_close[:-1]))
        up = np.log(high / np.maximum(open_, close))[first:]
        down = np.log(np.minimum(open_, close) / low)[first:]
        index = rows[first:]
        out.loc[index, "open"] = new_open
        out.loc[index, "close"] = new_close
        out.loc[index, "high"] = np.maximum(new_open, new_close) * np.exp(vol_scale * up)
        out.loc[index, "low"] = np.minimum(new_open, new_close) * np.exp(-vol_scale * down)
    return out


def _daily_from_hourly(
    daily: pd.DataFrame, hourly: pd.DataFrame, start: pd.Timestamp
) -> pd.DataFrame:
    late = hourly[hourly["ts"] >= start].copy()
    late["day"] = late["ts"].dt.floor("D")
    bars = late.groupby(["symbol", "venue", "day"], sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume_base=("volume_base", "sum"),
    )
    out = daily.set_index(["symbol", "venue", "ts"]).sort_index()
    bars.index = bars.index.set_names(["symbol", "venue", "ts"])
    common = out.index.intersection(bars.index)
    for column in ("open", "high", "low", "close", "volume_base"):
        out.loc[common, column] = bars.loc[common, column].to_numpy()
    return out.reset_index()[list(daily.columns)]


def shift_regime(
    source: Path,
    out_dir: Path,
    *,
    start: str,
    seed: int = 11,
    vol_scale: float = 2.5,
    crash_rate: float = 0.05,
    funding_add: float = 0.0004,
    leverage_scale: float = 1.5,
) -> Path:
    """Write ``source``'s simulated tables to ``out_dir`` with a regime change from
    ``start`` (see the module docstring).

    Args:
        source: a folder written by :func:`downside.sources.simulate_market`.
        out_dir: where the changed files go (created; may be ``source`` itself).
        start: first UTC day of the new regime, ``YYYY-MM-DD``.
        seed: seed of the crash days.
        vol_scale: factor on hourly log returns, intrabar ranges, liquidations and
            implied volatility.
        crash_rate: share of days with a crash per symbol.
        funding_add: added to every funding rate (fraction per 8 hours).
        leverage_scale: factor on the estimated leverage ratio.

    Returns:
        ``out_dir``.

    Raises:
        ConfigError: a factor out of range or a start that is not a date.
    """
    problems = []
    if not vol_scale > 0 or not leverage_scale > 0:
        problems.append(
            f"vol_scale and leverage_scale must be positive ({vol_scale}, {leverage_scale})"
        )
    if not 0 <= crash_rate < 1:
        problems.append(f"crash_rate must lie in [0, 1), received {crash_rate}")
    try:
        first = pd.Timestamp(start, tz="UTC")
    except (TypeError, ValueError):
        problems.append(f"start={start!r} is not a date (expected YYYY-MM-DD)")
        first = pd.Timestamp("1970-01-01", tz="UTC")
    if problems:
        raise ConfigError("invalid shift_regime arguments: " + "; ".join(problems))
    tables = {raw.table: raw.frame for raw in read_files(Path(source))}
    rng = np.random.default_rng(seed)
    hourly = tables["ohlcv_hourly"]
    days = pd.date_range(first, hourly["ts"].max().floor("D"), freq="D")
    crash = {
        str(symbol): {d.strftime("%Y-%m-%d") for d in days[rng.random(len(days)) < crash_rate]}
        for symbol in sorted(hourly["symbol"].unique())
    }
    tables["ohlcv_hourly"] = _hourly(hourly, first, vol_scale, crash)
    tables["ohlcv_daily"] = _daily_from_hourly(tables["ohlcv_daily"], tables["ohlcv_hourly"], first)
    after = {name: frame["ts"] >= first for name, frame in tables.items()}
    for name in ("funding_rates_8h", "funding_rates_daily"):
        if name in tables:
            column = "funding_rate" if name == "funding_rates_8h" else "funding_rate_8h_equiv"
            frame = tables[name].copy()
            frame.loc[after[name], column] = (frame.loc[after[name], column] + funding_add).clip(
                -0.99, 0.99
            )
            tables[name] = frame
    if "open_interest_daily" in tables:
        frame = tables["open_interest_daily"].copy()
        close = tables["ohlcv_daily"].groupby(["symbol", "ts"])["close"].mean()
        keys = pd.MultiIndex.from_frame(frame[["symbol", "ts"]])
        new_close = close.reindex(keys).to_numpy()
        mask = after["open_interest_daily"].to_numpy() & np.isfinite(new_close)
        frame.loc[mask, "estimated_leverage_ratio"] *= leverage_scale
        frame.loc[mask, "open_interest_usd"] = (
            frame.loc[mask, "open_interest_base"] * new_close[mask]
        )
        tables["open_interest_daily"] = frame
    if "liquidations_daily" in tables:
        frame = tables["liquidations_daily"].copy()
        for column in ("long_liq_usd", "short_liq_usd", "long_liq_base", "short_liq_base"):
            frame.loc[after["liquidations_daily"], column] *= vol_scale
        tables["liquidations_daily"] = frame
    if "implied_vol_daily" in tables:
        frame = tables["implied_vol_daily"].copy()
        mask = after["implied_vol_daily"]
        frame.loc[mask, "iv_annualized_pct"] = (
            frame.loc[mask, "iv_annualized_pct"] * vol_scale
        ).clip(1.0, 500.0)
        tables["implied_vol_daily"] = frame
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        _parquet(frame, out / f"{name}.parquet")
    return out
