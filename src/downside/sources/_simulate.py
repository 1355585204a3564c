"""The simulated market: seeded, deterministic raw files shaped exactly like the real ones.

:func:`simulate_market` writes the tidy Parquet layout of ``../shared/data`` (same file
names, columns, dtypes and calendars) for a market in which the causal story of real
crypto sell-offs is planted, so that models have something real to find and tests can
check that they find it. All times are UTC; ``d`` is a UTC day, ``h`` an hour.

Generative model
----------------
Macro block (exogenous, ``_sim_macro``)::

    hawk_d   ~ U(0.6, 1.4) with prob 0.025 on US business days, else 0   (Fed repricing)
    boj_d    ~ U(0.6, 1.2) with prob 0.008 on weekdays, else 0            (BoJ surprise)
    R_d      = R_{d-1} * exp(-1/10) + hawk_d + boj_d                      (rate pressure)
    DGS2     = anchor(0.2 -> 4.8 -> 3.8 %) + OU + decayed(0.2 * hawk, 120 d)
    DGS10    = 1.3 + 0.55 * DGS2 + OU;  DFF = quarter-point steps toward DGS2 every 45 d
    JGB_2Y   = anchor(-0.12 -> 0.75 %) + OU + decayed(0.05 * boj + 0.04 * hawk (40 %), 200 d)
    DXY      = exp(anchor(92 -> 110 -> 98) + OU + decayed(0.009 * hawk - 0.003 * boj, 40 d))
    VIX      = exp(log-OU around log 19, + 0.15 * hawk);  HY OAS = 3.3 + 0.07 (VIX - 19) + OU

Crypto block (``_sim_market``), per symbol ``s`` and day ``d``, state at 00:00 UTC::

    L_sd  = sigmoid(z_sd)                                        latent leverage in (0, 1)
    l_sd  = clip((L_sd - 0.5) / 0.15, -3, 3)                     standardised leverage
    E_sd  = max(0, -EW(ETF flow of s's asset)) / scale           ETF outflow pressure
                                                                 (0 before the ETF launch)
    F_sd  = 1.4 l_sd + 0.45 E_s,d-1 + 0.6 R_{d-1}                fragility (log hazard)
    lambda_sd = 0.008 * exp(F_sd),  P(shock) ~ 1 - exp(-lambda)  sell-off hazard

Drivers enter with a one-day lag, so they are visible (after publication lags) before
the shock they raise. Shocks are 70 % common (one uniform for all symbols) and 30 %
idiosyncratic. A shock at a random hour drops the price by ``U(3 %, 6 %) * k_s`` over
two hours (``k``: 1 BTC, 1.2 ETH, 1.4 SOL). The support is the higher of the 7-day
low (when below the price) and the price rounded down to a round step (1, 2 or 5 x
10^k, the largest such step not above 20 % of the price: 10,000 for BTC at 60k). If
the shock breaks the support, leveraged longs are forced out: a liquidation cascade adds
a decline of
``U(5 %, 10 %) * k_s * L / 0.6`` over 4-16 hours (front-loaded, may run into the next
day), long liquidations of ``min(0.3, 0.3 * decline * L / 0.6)`` of open interest,
then deleveraging (``z -= 0.8 + 6 * decline``: open interest falls) and funding cooling
(``cooling = 0.6 cooling + 1``, decaying by 0.6 a day).

Hourly log return (t-distributed noise with 5 d.o.f., unit variance)::

    r_sh = mu_sd / 24 + sigma_sd / sqrt(24) * (rho_s e_h + sqrt(1 - rho_s^2) e_sh) + jumps_sh
    mu_sd    = anchor slope + 0.02 * (anchor - log price) + S_d   (S: AR(1), phi 0.985, sd 0.3 %)
    sigma_sd = vol_s * sqrt(g_d) * exp(-0.2 max(l_sd, 0))        (calm when leveraged)
    g_{d+1}  = 0.05 + 0.10 min(u_d^2, 9) + 0.85 g_d,  u_d = mean_s(r_sd / (vol_s * calm_sd))

``vol`` is 1.9 % (BTC), 2.4 % (ETH), 3.5 % (SOL) a day and ``rho`` 0.92, 0.88, 0.75;
the anchors run through realistic levels (BTC 35k -> 60k -> 25k -> 105k, ETH 1.5k-4.2k,
SOL 20-230). Other symbols get generic constants (price about 100, vol 3.5 %).

End of day::

    trend_s = 0.9 trend_s + 0.1 r_sd
    z_s    += 0.03 (0.4 - z_s) + 8 trend_s + 0.06 (sqrt(.7) e + sqrt(.3) e_s) - deleveraging
    ETF flow (US trading days) = 0.6 prev + 0.4 mean + sd * e, where mean = base + k *
        trend (flows chase returns), or an outflow level during outflow streaks (enter
        with prob 0.03, leave with prob 0.12 per trading day)

So leverage builds in rallies, and a calm leveraged rally carries a high crash hazard
with low realised volatility; volatility clusters after crashes, when leverage is low.
For seed 7, cascades start on 1.6 % of symbol-days, 5.6 % in the top leverage quintile
and 0.1 % in the bottom one; 14-day volatility before those high-leverage crashes is
below its overall median.

Observable series (what the files hold)
---------------------------------------
* ``ohlcv_hourly`` / ``ohlcv_daily``: venue ``sim_spot``, pair ``<SYM>-USD``; the daily
  bars aggregate the hourly ones over UTC days; ``volume_quote`` is NaN (spot venue).
* ``funding_rates_8h``: venue ``sim_perp``, instrument ``<SYM>USDT-PERP``, settlements
  at 00/08/16 UTC; ``rate = 0.0001 + premium``, ``premium = 0.0003 (L - 0.4) / 0.15
  + 0.01 * (return of the previous 8 h) - 0.0004 * cooling + N(0, 0.00008)``, set to 0
  when within +-0.00015 (the exchange clamp), capped at +-0.003: hot and positive in
  leveraged rallies, negative after cascades. ``funding_rates_daily`` is the mean of
  each UTC day's three settlements.
* ``open_interest_daily``: venue ``sim_all_exchanges``; ``estimated_leverage_ratio =
  mean_s * exp(1.2 (L_end - 0.5) + AR(1) noise)`` (open interest / exchange reserve),
  ``open_interest_base = ratio * reserve``, ``open_interest_usd = base * close``.
* ``liquidations_daily``: venue ``sim_all_exchanges``; a background proportional to
  open interest (0.12 % longs, 0.10 % shorts, lognormal noise) that grows by 2.5x per
  sigma of the day's move against the side, plus the cascade's forced selling.
* ``etf_flows_daily``: BTC from 2024-01-11, ETH from 2024-07-23 (the real launches), on
  US trading days only; a few tickers and ``TOTAL``, their sum (US$ m).
* ``macro_rates_daily``: DFF (every day), DGS2, DGS10, VIXCLS, BAMLH0A0HYM2 (US business
  days, ``FRED``), JGB_2Y (weekdays), DXY_close (weekdays), units as in the real file.
* ``stablecoin_supply_daily``: USDT, USDC, TOTAL_EXPORTED, growing faster after rallies.
* ``coinbase_premium_daily``: simulated BTC and ETH only; follows the latest ETF flow,
  negative on cascade days.
* ``implied_vol_daily``: venue ``sim_options``, index ``DVOL``, source ``simulated``,
  every symbol and day. The value of day d (its close, known at d+1 00:00 UTC) is the
  volatility the market expects over the next 30 days as of the end of d, annualised,
  with a variance-risk premium and noise::

      g_bar = 1 + (g_{d+1} - 1) * (1 - 0.95^30) / (30 * 0.05)     mean E[g] over 30 days
      iv_sd = 100 * vol_s * calm_s,d+1 * sqrt(365 * g_bar) * 1.4 * exp(n_sd)
      n_sd  = 0.9 n_s,d-1 + 0.03 e_sd                              (log-AR(1) noise)

  So implied volatility jumps after cascades (``g`` rises) and sits low in calm
  leveraged rallies: like realised volatility, it does not see the crash hazard coming.

Random draws come from independent streams of ``numpy.random.SeedSequence(seed)``
(macro, crypto, table noise, implied-volatility noise): the same seed gives byte-identical
files, and the implied-volatility stream, spawned last, leaves every other table as it
was before that table existed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from downside.errors import ConfigError, InvalidNameError
from downside.sources._sim_macro import build_calendars, simulate_macro
from downside.sources._sim_market import (
    HOURS,
    MarketPaths,
    SymbolParams,
    simulate_crypto,
    universe,
)
from downside.sources._sim_tables import (
    derivatives_tables,
    etf_table,
    funding_tables,
    implied_vol_table,
    macro_table,
    ohlcv_tables,
    premium_table,
    stablecoin_table,
)

ETF_LAUNCH = ("2024-01-11", "2024-07-23")
"""First day of simulated BTC and ETH ETF flows (the real launch dates)."""
MIN_DAYS = 30
_SYMBOL_RULE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate_market` wrote, and the latent truth behind it.

    Attributes:
        out_dir: the folder the files were written to.
        files: paths of the files written, in table order.
        rows: rows per table (``{"ohlcv_hourly": 105192, ...}``).
        truth: one row per symbol and UTC day (``ts`` 00:00 UTC): ``leverage`` (latent,
            at the start of the day), ``fragility`` and its terms ``fragility_leverage``,
            ``fragility_etf``, ``fragility_rates`` (log hazard), ``hazard`` (daily
            intensity), ``shock`` (a sell-off shock hit that day), ``cascade`` (a
            liquidation cascade started that day), ``cascade_drop`` (its extra log
            decline), ``support`` (the level the shock was tested against, NaN otherwise).
    """

    out_dir: Path
    files: tuple[Path, ...]
    rows: Mapping[str, int]
    truth: pd.DataFrame


def _parse_day(value: str, name: str, problems: list[str]) -> pd.Timestamp | None:
    not_a_date = f"{name}={value!r} is not a date (expected YYYY-MM-DD)"
    try:
        parsed: object = pd.Timestamp(value)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, pd.Timestamp):
        problems.append(not_a_date)
        return None
    stamp = parsed
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if stamp != stamp.normalize():
        problems.append(f"{name}={value!r} is not midnight (expected a date YYYY-MM-DD)")
        return None
    return stamp.tz_localize("UTC").as_unit("us")


def _validate(
    start: str, end: str, symbols: Sequence[str]
) -> tuple[pd.DatetimeIndex, tuple[str, ...]]:
    problems: list[str] = []
    first = _parse_day(start, "start", problems)
    last = _parse_day(end, "end", problems)
    days = None
    if first is not None and last is not None:
        days = pd.date_range(first, last, freq="D", unit="us")
        if len(days) < MIN_DAYS:
            problems.append(
                f"the window {start}..{end} has {len(days)} day(s); "
                f"expected at least {MIN_DAYS} (end is inclusive, end after start)"
            )
    names = tuple(symbols)
    if isinstance(symbols, str) or not names:
        problems.append(f"symbols={symbols!r}: expected a non-empty sequence such as ('BTC',)")
    duplicates = sorted({s for s in names if names.count(s) > 1})
    if duplicates:
        problems.append(f"symbols repeat {duplicates}; list each symbol once")
    if problems or days is None:
        raise ConfigError(
            "invalid simulate_market arguments: " + "; ".join(problems) + "; fix and retry"
        )
    bad = [s for s in names if not isinstance(s, str) or not _SYMBOL_RULE.match(s)]
    if bad:
        raise InvalidNameError(
            "symbol",
            bad[0] if len(bad) == 1 else bad,
            "2-10 upper-case letters or digits starting with a letter (BTC, ETH, SOL)",
        )
    return days, names


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)
    os.replace(tmp, path)


def _truth(symbols: tuple[str, ...], days: pd.DatetimeIndex, market: MarketPaths) -> pd.DataFrame:
    n = len(days)
    parts = []
    for j, symbol in enumerate(symbols):
        f_lev = market.fragility_leverage[:, j]
        f_etf = market.fragility_etf[:, j]
        f_rates = market.fragility_rates[:, j]
        parts.append(
            pd.DataFrame(
                {
                    "ts": days,
                    "symbol": pd.Series([symbol] * n, dtype="str"),
                    "leverage": market.leverage[:, j],
                    "fragility": f_lev + f_etf + f_rates,
                    "fragility_leverage": f_lev,
                    "fragility_etf": f_etf,
                    "fragility_rates": f_rates,
                    "hazard": market.hazard[:, j],
                    "shock": market.shock[:, j],
                    "cascade": market.cascade[:, j],
                    "cascade_drop": market.cascade_drop[:, j],
                    "support": market.support[:, j],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def simulate_market(
    out_dir: Path,
    *,
    start: str = "2021-07-01",
    end: str = "2025-06-30",
    symbols: Sequence[str] = ("BTC", "ETH", "SOL"),
    seed: int = 7,
    params: Mapping[str, SymbolParams] | None = None,
) -> SimulationResult:
    """Simulate the market and write its raw tables to ``out_dir``.

    The generative model is described in this module's docstring. Files are named
    ``<table>.parquet`` after :data:`downside.sources.TABLES` and are written atomically;
    other files in ``out_dir`` are left alone.

    Args:
        out_dir: folder to write to (created if missing).
        start: first UTC day, ``YYYY-MM-DD``.
        end: last UTC day, inclusive (its hourly bars run to 23:00).
        symbols: base assets to simulate. BTC, ETH and SOL have realistic price levels
            and volatilities; other symbols get generic ones.
        seed: random seed; the same seed and arguments give byte-identical files.
        params: constants of symbols (see :func:`simulated_universe`); symbols it does
            not name keep their own (BTC, ETH, SOL) or the generic ones.

    Returns:
        The folder, the files written, rows per table and the latent truth.

    Raises:
        ConfigError: bad dates, a window shorter than 30 days, no or repeated symbols.
        InvalidNameError: a symbol unfit for a table key (``btc``, ``BTC/USD``).
        OSError: ``out_dir`` cannot be created or written.
    """
    days, names = _validate(start, end, symbols)
    calendars = build_calendars(days)
    macro_ss, market_ss, tables_ss, implied_vol_ss = np.random.SeedSequence(seed).spawn(4)
    macro = simulate_macro(calendars, np.random.default_rng(macro_ss))
    launch = tuple(
        int(np.clip((pd.Timestamp(day, tz="UTC") - days[0]).days, 0, len(days)))
        for day in ETF_LAUNCH
    )
    market = simulate_crypto(
        names,
        calendars,
        macro,
        (launch[0], launch[1]),
        np.random.default_rng(market_ss),
        params,
    )
    tables_rng = np.random.default_rng(tables_ss)
    hourly, daily = ohlcv_tables(names, calendars, market)
    daily_close = market.close[HOURS - 1 :: HOURS]
    funding_8h, funding_daily = funding_tables(names, calendars, market)
    open_interest, liquidations = derivatives_tables(names, calendars, market, daily_close)
    market_return = np.diff(np.log(daily_close), axis=0, prepend=np.log(market.open[:1])).mean(
        axis=1
    )
    tables = {
        "ohlcv_hourly": hourly,
        "ohlcv_daily": daily,
        "funding_rates_8h": funding_8h,
        "funding_rates_daily": funding_daily,
        "open_interest_daily": open_interest,
        "liquidations_daily": liquidations,
        "etf_flows_daily": etf_table(calendars, market, tables_rng),
        "macro_rates_daily": macro_table(calendars, macro),
        "stablecoin_supply_daily": stablecoin_table(calendars, market_return, tables_rng),
        "coinbase_premium_daily": premium_table(names, calendars, market, daily_close, tables_rng),
        "implied_vol_daily": implied_vol_table(
            names, calendars, market, np.random.default_rng(implied_vol_ss)
        ),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for table, frame in tables.items():
        path = out_dir / f"{table}.parquet"
        _write_parquet(frame, path)
        files.append(path)
    return SimulationResult(
        out_dir=out_dir,
        files=tuple(files),
        rows={table: len(frame) for table, frame in tables.items()},
        truth=_truth(names, days, market),
    )


def simulated_universe(n_assets: int, *, seed: int = 7) -> dict[str, SymbolParams]:
    """Symbols and constants of a simulated universe of ``n_assets`` perpetuals: BTC, ETH
    and SOL first, then ``ALT004``, ``ALT005``, ... with asset-specific price levels,
    volatilities, market correlations, shock sizes and leverage (drawn per asset from
    ``seed``, so smaller universes are prefixes of larger ones). Pass both to
    :func:`simulate_market`: ``simulate_market(out, symbols=list(u), params=u)``; moves
    stay correlated through the common hourly factor and the 70 % common sell-off shocks.

    Raises:
        ConfigError: ``n_assets`` below 1.
    """
    try:
        return universe(n_assets, seed=seed)
    except ValueError as exc:
        raise ConfigError(f"invalid universe: {exc}") from exc
