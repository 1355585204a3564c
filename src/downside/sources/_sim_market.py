"""Simulated crypto market: leverage, ETF flows, sell-off shocks and liquidation cascades.

Part of :func:`downside.sources.simulate_market`; the generative model and every
parameter below are documented in :mod:`downside.sources._simulate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from downside.sources._sim_macro import Calendars, FloatArray, MacroPaths, anchor_path

BoolArray = NDArray[np.bool_]

HOURS = 24
SUPPORT_LOOKBACK_DAYS = 7
ROUND_STEP_FRACTION = 0.2
ANCHOR_REVERSION = 0.02
SENTIMENT_PERSISTENCE = 0.985
SENTIMENT_SD = 0.003
GARCH_ALPHA = 0.10
GARCH_BETA = 0.85
GARCH_SHOCK_CAP = 9.0
CALM_COEF = 0.2
LEVERAGE_REVERSION = 0.03
LEVERAGE_MEAN_Z = 0.4
LEVERAGE_TREND_COEF = 8.0
LEVERAGE_NOISE_SD = 0.06
LEVERAGE_COMMON_SHARE = 0.7
LEVERAGE_SCALE = 0.15
BASE_HAZARD = 0.008
BETA_LEVERAGE = 1.4
BETA_ETF = 0.45
BETA_RATES = 0.6
SHOCK_COMMON_SHARE = 0.7
SHOCK_DROP = (0.03, 0.06)
CASCADE_DROP = (0.05, 0.10)
CASCADE_HOURS = (4, 16)
CASCADE_LIQ_COEF = 0.3
CASCADE_LIQ_CAP = 0.3
LEVERAGE_REFERENCE = 0.6
LIQ_LONG_BASE = 0.0012
LIQ_SHORT_BASE = 0.001
LIQ_MOVE_COEF = 2.5
LIQ_NOISE_SD = 0.5
DELEVER_BASE = 0.8
DELEVER_PER_DROP = 6.0
OI_LEVERAGE_COEF = 1.2
FUNDING_BASE = 0.0001
FUNDING_NEUTRAL_LEVERAGE = 0.4
FUNDING_LEVERAGE_COEF = 0.0003
FUNDING_RETURN_COEF = 0.01
FUNDING_COOLING = 0.0004
FUNDING_NOISE_SD = 0.00008
FUNDING_CLAMP_BAND = 0.00015
FUNDING_CAP = 0.003


@dataclass(frozen=True)
class SymbolParams:
    """Per-symbol constants of the simulated market.

    Attributes:
        knots: anchor prices (USD) spaced evenly over the window; log-price reverts to
            the log-linear path through them.
        daily_vol: baseline daily volatility of log returns (fraction).
        market_corr: loading of hourly noise on the common market factor.
        shock_scale: multiplier of shock and cascade sizes.
        decimals: price rounding (the tick).
        hourly_volume: typical hourly volume in base units.
        reserve: coins held on exchanges at the start and end of the window.
        leverage_ratio_mean: typical open interest / exchange reserve.
        etf_asset: whose ETF flows weigh on this symbol (``None``: the mean of both).
        leverage_mean_z: level the latent leverage log-odds revert to (asset-specific
            leverage appetite; 0.4 for every named symbol).
        leverage_beta: loading of standardised leverage on the log hazard (how much a
            leveraged rally raises this asset's crash risk; 1.4 for every named symbol).
    """

    knots: tuple[float, ...]
    daily_vol: float
    market_corr: float
    shock_scale: float
    decimals: int
    hourly_volume: float
    reserve: tuple[float, float]
    leverage_ratio_mean: float
    etf_asset: str | None
    leverage_mean_z: float = LEVERAGE_MEAN_Z
    leverage_beta: float = BETA_LEVERAGE


SYMBOL_PARAMS: dict[str, SymbolParams] = {
    "BTC": SymbolParams(
        (35_000.0, 60_000.0, 25_000.0, 30_000.0, 62_000.0, 95_000.0, 105_000.0),
        0.019,
        0.92,
        1.0,
        2,
        900.0,
        (2.4e6, 2.0e6),
        0.17,
        "BTC",
    ),
    "ETH": SymbolParams(
        (2_200.0, 4_200.0, 1_500.0, 1_800.0, 3_500.0, 3_300.0, 2_500.0),
        0.024,
        0.88,
        1.2,
        2,
        12_000.0,
        (2.0e7, 1.6e7),
        0.2,
        "ETH",
    ),
    "SOL": SymbolParams(
        (35.0, 200.0, 20.0, 25.0, 150.0, 230.0, 150.0),
        0.035,
        0.75,
        1.4,
        3,
        90_000.0,
        (6.0e7, 4.0e7),
        0.3,
        None,
    ),
}
DEFAULT_PARAMS = SymbolParams(
    (100.0, 180.0, 60.0, 80.0, 140.0, 170.0, 150.0),
    0.035,
    0.7,
    1.4,
    4,
    50_000.0,
    (5.0e7, 4.0e7),
    0.25,
    None,
)

ETF_ASSETS = ("BTC", "ETH")
ETF_BASE_FLOW = np.array([120.0, 20.0])
ETF_TREND_COEF = np.array([60_000.0, 15_000.0])
ETF_OUTFLOW_MEAN = np.array([-350.0, -90.0])
ETF_FLOW_SD = np.array([180.0, 45.0])
ETF_PRESSURE_SCALE = np.array([150.0, 40.0])
ETF_ENTER_OUTFLOW = 0.03
ETF_LEAVE_OUTFLOW = 0.12


@dataclass(frozen=True)
class MarketPaths:
    """Everything the crypto simulation produces, as arrays (hour or day x symbol).

    Attributes:
        open, high, low, close, volume: hourly bars, shape (hours, symbols).
        leverage: latent leverage in (0, 1) at the start of each day, (days, symbols).
        fragility_leverage, fragility_etf, fragility_rates: the three terms of log hazard.
        hazard: daily sell-off intensity, ``p(shock) = 1 - exp(-hazard)``.
        shock, cascade: a sell-off shock hit / a cascade started that day.
        cascade_drop: extra log decline of the cascade that started that day.
        support: the support level the shock was tested against (NaN without a shock).
        open_interest_base, leverage_ratio: end-of-day open interest (base units) and
            open interest / exchange reserve.
        long_liq_usd, short_liq_usd: liquidations per UTC day.
        funding: funding rate per settlement, shape (days, 3, symbols) for 00/08/16 UTC.
        etf_flow: latent ETF net flow per day (US$ m), shape (days, 2), NaN when not
            reported (before launch or not a US trading day).
        garch_next: the volatility factor ``g`` of the next day, set at the end of each
            day, shape (days,).
        calm_next: the calm factor ``exp(-0.2 max(l, 0))`` of the next day (from the
            end-of-day leverage), shape (days, symbols); the next day's volatility is
            ``vol_s * sqrt(garch_next) * calm_next``.
        constants: the constants of each symbol (tick, volatility, ...), in order.
    """

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    leverage: FloatArray
    fragility_leverage: FloatArray
    fragility_etf: FloatArray
    fragility_rates: FloatArray
    hazard: FloatArray
    shock: BoolArray
    cascade: BoolArray
    cascade_drop: FloatArray
    support: FloatArray
    open_interest_base: FloatArray
    leverage_ratio: FloatArray
    long_liq_usd: FloatArray
    short_liq_usd: FloatArray
    funding: FloatArray
    etf_flow: FloatArray
    garch_next: FloatArray
    calm_next: FloatArray
    constants: tuple[SymbolParams, ...] = ()


UNIVERSE_PREFIX = "ALT"
"""Names of the generated assets of a universe: ``ALT004``, ``ALT005``, ..."""


def params_for(symbol: str, params: Mapping[str, SymbolParams] | None = None) -> SymbolParams:
    """Constants for ``symbol``: from ``params`` when it names the symbol, else the named
    symbols' own, else a default.

    Raises:
        KeyError: never; unknown symbols fall back to :data:`DEFAULT_PARAMS`.
    """
    if params is not None and symbol in params:
        return params[symbol]
    return SYMBOL_PARAMS.get(symbol, DEFAULT_PARAMS)


def universe(n_assets: int, *, seed: int = 7) -> dict[str, SymbolParams]:
    """Constants of a simulated universe of ``n_assets`` perpetuals.

    The first assets are BTC, ETH and SOL with their own constants; the others
    (``ALT004``, ...) get asset-specific constants drawn from a generator seeded by
    ``(seed, asset number)``, so asset ``k`` is the same in every universe that holds it
    (a 10-asset universe is the first 10 of the 200-asset one). Drawn per asset: price
    level ``10^U(-2, 3)`` US$ along the generic anchor path with log-normal knot
    jitter (sd 0.3); daily volatility ``U(3 %, 7 %)``; market correlation
    ``U(0.45, 0.85)``; shock size ``U(1.2, 2.2)``; open interest / reserve
    ``U(0.15, 0.45)``; leverage level ``U(0, 0.8)`` (log-odds) and hazard loading
    ``U(1.0, 1.8)``; about US$ 5 m traded per hour; a tick of about 1e-5 of the price.

    Raises:
        ValueError: ``n_assets`` below 1.
    """
    if n_assets < 1:
        raise ValueError(f"n_assets={n_assets}: expected at least 1 asset")
    named = list(SYMBOL_PARAMS)[:n_assets]
    out = {symbol: SYMBOL_PARAMS[symbol] for symbol in named}
    for k in range(len(named) + 1, n_assets + 1):
        rng = np.random.default_rng([seed, k])
        level = 10.0 ** rng.uniform(-2.0, 3.0)
        jitter = np.exp(rng.normal(0.0, 0.3, len(DEFAULT_PARAMS.knots)))
        knots = tuple(float(v) for v in np.asarray(DEFAULT_PARAMS.knots) / 100.0 * level * jitter)
        reserve = 2e9 / level * rng.uniform(0.5, 2.0)
        out[f"{UNIVERSE_PREFIX}{k:03d}"] = SymbolParams(
            knots=knots,
            daily_vol=float(rng.uniform(0.03, 0.07)),
            market_corr=float(rng.uniform(0.45, 0.85)),
            shock_scale=float(rng.uniform(1.2, 2.2)),
            decimals=int(np.clip(5 - np.floor(np.log10(min(knots))), 2, 8)),
            hourly_volume=float(5e6 / level),
            reserve=(reserve, reserve * float(rng.uniform(0.6, 1.2))),
            leverage_ratio_mean=float(rng.uniform(0.15, 0.45)),
            etf_asset=None,
            leverage_mean_z=float(rng.uniform(0.0, 0.8)),
            leverage_beta=float(rng.uniform(1.0, 1.8)),
        )
    return out


def _round_below(price: FloatArray) -> FloatArray:
    """The nearest round number below ``price``: a multiple of 1, 2 or 5 x 10^k.

    The step is the largest such number not above ``ROUND_STEP_FRACTION`` of the price.
    """
    raw = price * ROUND_STEP_FRACTION
    power = 10.0 ** np.floor(np.log10(raw))
    mantissa = raw / power
    step = power * np.where(mantissa >= 5.0, 5.0, np.where(mantissa >= 2.0, 2.0, 1.0))
    return np.asarray(np.floor(price / step) * step, dtype=np.float64)


def _student(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Student-t(5) noise scaled to unit variance (fat-tailed hourly returns)."""
    draws = rng.standard_t(5.0, size=shape)
    return np.asarray(draws * (3.0 / 5.0) ** 0.5, dtype=np.float64)


def simulate_crypto(
    symbols: tuple[str, ...],
    calendars: Calendars,
    macro: MacroPaths,
    etf_launch: tuple[int, int],
    rng: np.random.Generator,
    params: Mapping[str, SymbolParams] | None = None,
) -> MarketPaths:
    """Run the day-by-day simulation of the crypto market.

    Args:
        symbols: simulated base assets.
        calendars: the window and its business-day masks.
        macro: the exogenous macro block (its rate pressure raises fragility).
        etf_launch: index of the first day of BTC and ETH ETF flows (may exceed the window).
        rng: the random generator; draws happen in a fixed order.
        params: constants per symbol (see :func:`params_for`).

    Raises:
        ValueError: never for valid inputs; numpy raises on an empty window.
    """
    n_days = len(calendars.days)
    n_sym = len(symbols)
    n_hours = n_days * HOURS
    constants = [params_for(s, params) for s in symbols]
    vol = np.array([p.daily_vol for p in constants])
    corr = np.array([p.market_corr for p in constants])
    scale = np.array([p.shock_scale for p in constants])
    log_anchor = np.stack([anchor_path(n_days + 1, p.knots, log=True) for p in constants], axis=1)
    reserve = np.stack([np.linspace(p.reserve[0], p.reserve[1], n_days) for p in constants], axis=1)
    lr_mean = np.array([p.leverage_ratio_mean for p in constants])
    hourly_volume = np.array([p.hourly_volume for p in constants])
    etf_index = [ETF_ASSETS.index(p.etf_asset) if p.etf_asset else -1 for p in constants]

    lev_mean_z = np.array([p.leverage_mean_z for p in constants])
    beta_leverage = np.array([p.leverage_beta for p in constants])

    # All random draws up front, in a fixed order: same seed, same market.
    eps_common = _student(rng, (n_days, HOURS))
    eps_idio = _student(rng, (n_days, HOURS, n_sym))
    excursion = np.abs(rng.standard_normal((n_days, HOURS, n_sym, 2)))
    volume_noise = rng.standard_normal((n_days, HOURS, n_sym))
    sentiment_eps = rng.standard_normal(n_days)
    lev_eps_common = rng.standard_normal(n_days)
    lev_eps_idio = rng.standard_normal((n_days, n_sym))
    shock_u_common = rng.random(n_days)
    shock_u_idio = rng.random((n_days, n_sym))
    shock_hour = rng.integers(0, HOURS - 2, n_days)
    shock_size = rng.uniform(*SHOCK_DROP, (n_days, n_sym))
    cascade_size = rng.uniform(*CASCADE_DROP, (n_days, n_sym))
    cascade_hours = rng.integers(CASCADE_HOURS[0], CASCADE_HOURS[1] + 1, (n_days, n_sym))
    oi_eps = rng.standard_normal((n_days, n_sym))
    funding_eps = rng.standard_normal((n_days, 3, n_sym))
    liq_eps = rng.standard_normal((n_days, 2, n_sym))
    etf_eps = rng.standard_normal((n_days, 2))
    etf_regime_u = rng.random((n_days, 2))

    log_close = np.empty((n_hours, n_sym))
    log_open = np.empty((n_hours, n_sym))
    hour_sigma = np.empty((n_hours, n_sym))
    jump = np.zeros((n_hours + 2 * HOURS * 2, n_sym))
    cascade_liq_frac = np.zeros((n_days + 4, n_sym))
    cascade_jump = np.zeros((n_hours + 2 * HOURS * 2, n_sym))

    out_leverage = np.empty((n_days, n_sym))
    out_f_lev = np.empty((n_days, n_sym))
    out_f_etf = np.empty((n_days, n_sym))
    out_f_rates = np.empty((n_days, n_sym))
    out_hazard = np.empty((n_days, n_sym))
    out_shock = np.zeros((n_days, n_sym), dtype=bool)
    out_cascade = np.zeros((n_days, n_sym), dtype=bool)
    out_cascade_drop = np.zeros((n_days, n_sym))
    out_support = np.full((n_days, n_sym), np.nan)
    out_oi_base = np.empty((n_days, n_sym))
    out_lr = np.empty((n_days, n_sym))
    out_long = np.empty((n_days, n_sym))
    out_short = np.empty((n_days, n_sym))
    out_funding = np.empty((n_days, 3, n_sym))
    out_etf = np.full((n_days, 2), np.nan)
    out_garch_next = np.empty(n_days)
    out_calm_next = np.empty((n_days, n_sym))
    daily_low = np.empty((n_days, n_sym))

    x = log_anchor[0].copy()
    sentiment = 0.0
    garch = 1.0
    trend = np.zeros(n_sym)
    lev_z = lev_mean_z.copy()
    cooling = np.zeros(n_sym)
    oi_noise = np.zeros(n_sym)
    etf_level = np.zeros(2)
    etf_ew = np.zeros(2)
    etf_out = np.zeros(2, dtype=bool)
    etf_pressure = np.zeros(2)
    prev_tail_return = np.zeros(n_sym)
    prev_oi_usd = lr_mean * reserve[0] * np.exp(x)

    for d in range(n_days):
        t0 = d * HOURS
        leverage = 1.0 / (1.0 + np.exp(-lev_z))
        lev_std = np.clip((leverage - 0.5) / LEVERAGE_SCALE, -3.0, 3.0)
        pressure = np.array([etf_pressure[i] if i >= 0 else etf_pressure.mean() for i in etf_index])
        rate_pressure = macro.rate_pressure[d - 1] if d > 0 else 0.0
        f_lev = beta_leverage * lev_std
        f_etf = BETA_ETF * pressure
        f_rates = np.full(n_sym, BETA_RATES * rate_pressure)
        hazard = BASE_HAZARD * np.exp(f_lev + f_etf + f_rates)
        p_shock = 1.0 - np.exp(-hazard)
        shock = (shock_u_common[d] < SHOCK_COMMON_SHARE * p_shock) | (
            shock_u_idio[d] < (1.0 - SHOCK_COMMON_SHARE) * p_shock
        )

        calm = np.exp(-CALM_COEF * np.maximum(lev_std, 0.0))
        sigma_d = vol * np.sqrt(garch) * calm
        sigma_h = sigma_d / np.sqrt(HOURS)
        drift = (
            (log_anchor[d + 1] - log_anchor[d]) + ANCHOR_REVERSION * (log_anchor[d] - x) + sentiment
        )
        noise = corr * eps_common[d][:, None] + np.sqrt(1.0 - corr**2) * eps_idio[d]
        base = drift / HOURS + sigma_h * noise
        h0 = int(shock_hour[d])
        drop = np.where(shock, shock_size[d] * scale, 0.0)
        jump[t0 + h0] -= drop / 2.0
        jump[t0 + h0 + 1] -= drop / 2.0
        path = x + np.cumsum(base + jump[t0 : t0 + HOURS], axis=0)
        pre_shock = np.exp(path[h0 - 1] if h0 > 0 else x)
        lookback = daily_low[max(0, d - SUPPORT_LOOKBACK_DAYS) : d]
        recent_low = lookback.min(axis=0) if len(lookback) else np.zeros(n_sym)
        recent_low = np.where(recent_low < pre_shock, recent_low, 0.0)
        support = np.maximum(recent_low, _round_below(pre_shock))
        broken = shock & (np.exp(path[h0:].min(axis=0)) < support)
        extra = np.where(broken, cascade_size[d] * scale * leverage / LEVERAGE_REFERENCE, 0.0)
        liq_frac = np.minimum(
            CASCADE_LIQ_CAP, CASCADE_LIQ_COEF * extra * leverage / LEVERAGE_REFERENCE
        )
        for s in np.flatnonzero(broken):
            k = int(cascade_hours[d, s])
            weights = 0.75 ** np.arange(k)
            weights /= weights.sum()
            start = t0 + h0 + 2
            cascade_jump[start : start + k, s] -= extra[s] * weights
            hours = np.arange(start, start + k) // HOURS
            np.add.at(cascade_liq_frac[:, s], hours, liq_frac[s] * weights)
        jump[t0 : t0 + HOURS * 3] += cascade_jump[t0 : t0 + HOURS * 3]
        cascade_jump[t0 : t0 + HOURS * 3] = 0.0
        returns = base + jump[t0 : t0 + HOURS]
        path = x + np.cumsum(returns, axis=0)
        log_open[t0] = x
        log_open[t0 + 1 : t0 + HOURS] = path[:-1]
        log_close[t0 : t0 + HOURS] = path
        hour_sigma[t0 : t0 + HOURS] = sigma_h + np.abs(jump[t0 : t0 + HOURS]) * 0.5
        lows = np.minimum(log_open[t0 : t0 + HOURS], path) - (
            excursion[d, :, :, 1] * hour_sigma[t0 : t0 + HOURS] * 0.6
        )
        daily_low[d] = np.exp(lows.min(axis=0))
        day_return = path[-1] - x
        jump_today = jump[t0 : t0 + HOURS].sum(axis=0)
        cascade_today = cascade_liq_frac[d] > 0.0

        out_leverage[d] = leverage
        out_f_lev[d] = f_lev
        out_f_etf[d] = f_etf
        out_f_rates[d] = f_rates
        out_hazard[d] = hazard
        out_shock[d] = shock
        out_cascade[d] = broken
        out_cascade_drop[d] = extra
        out_support[d] = np.where(shock, support, np.nan)

        # Funding at 00:00 uses yesterday's last 8 h; 08:00 and 16:00 use today's.
        tail_returns = np.stack([prev_tail_return, path[7] - x, path[15] - path[7]], axis=0)
        premium = (
            FUNDING_LEVERAGE_COEF * (leverage - FUNDING_NEUTRAL_LEVERAGE) / LEVERAGE_SCALE
            + FUNDING_RETURN_COEF * tail_returns
            - FUNDING_COOLING * cooling
            + FUNDING_NOISE_SD * funding_eps[d]
        )
        premium = np.where(np.abs(premium) < FUNDING_CLAMP_BAND, 0.0, premium)
        out_funding[d] = np.clip(FUNDING_BASE + premium, -FUNDING_CAP, FUNDING_CAP)
        prev_tail_return = path[-1] - path[15]

        # Liquidations: a return-driven background plus the cascade's forced selling.
        diffusive = day_return - np.minimum(jump_today, 0.0) * cascade_today
        move = diffusive / sigma_d
        long_bg = (
            LIQ_LONG_BASE
            * np.exp(LIQ_NOISE_SD * liq_eps[d, 0])
            * (1.0 + LIQ_MOVE_COEF * np.maximum(-move, 0.0))
        )
        short_bg = (
            LIQ_SHORT_BASE
            * np.exp(LIQ_NOISE_SD * liq_eps[d, 1])
            * (1.0 + LIQ_MOVE_COEF * np.maximum(move, 0.0))
        )
        out_long[d] = prev_oi_usd * (long_bg + cascade_liq_frac[d])
        out_short[d] = prev_oi_usd * short_bg

        # End of day: volatility, trend, leverage, open interest, ETF flows.
        standardized = float(np.mean(day_return / (vol * calm)))
        garch = (
            (1.0 - GARCH_ALPHA - GARCH_BETA)
            + GARCH_ALPHA * min(standardized**2, GARCH_SHOCK_CAP)
            + GARCH_BETA * garch
        )
        trend = 0.9 * trend + 0.1 * day_return
        delever = np.where(broken, DELEVER_BASE + DELEVER_PER_DROP * extra, 0.0)
        lev_noise = LEVERAGE_NOISE_SD * (
            np.sqrt(LEVERAGE_COMMON_SHARE) * lev_eps_common[d]
            + np.sqrt(1.0 - LEVERAGE_COMMON_SHARE) * lev_eps_idio[d]
        )
        lev_z = (
            lev_z
            + LEVERAGE_REVERSION * (lev_mean_z - lev_z)
            + LEVERAGE_TREND_COEF * trend
            + lev_noise
            - delever
        )
        cooling = 0.6 * cooling + broken
        oi_noise = 0.95 * oi_noise + 0.025 * oi_eps[d]
        end_leverage = 1.0 / (1.0 + np.exp(-lev_z))
        end_lev_std = np.clip((end_leverage - 0.5) / LEVERAGE_SCALE, -3.0, 3.0)
        out_garch_next[d] = garch
        out_calm_next[d] = np.exp(-CALM_COEF * np.maximum(end_lev_std, 0.0))
        out_lr[d] = lr_mean * np.exp(OI_LEVERAGE_COEF * (end_leverage - 0.5) + oi_noise)
        out_oi_base[d] = out_lr[d] * reserve[d]
        prev_oi_usd = out_oi_base[d] * np.exp(path[-1])
        sentiment = (
            SENTIMENT_PERSISTENCE * sentiment
            + SENTIMENT_SD * np.sqrt(1.0 - SENTIMENT_PERSISTENCE**2) * sentiment_eps[d]
        )
        x = path[-1]

        if calendars.us_business[d]:
            market_trend = float(trend.mean())
            asset_trend = np.array(
                [trend[symbols.index(a)] if a in symbols else market_trend for a in ETF_ASSETS]
            )
            enter = ~etf_out & (etf_regime_u[d] < ETF_ENTER_OUTFLOW)
            leave = etf_out & (etf_regime_u[d] < ETF_LEAVE_OUTFLOW)
            etf_out = (etf_out | enter) & ~leave
            mean = np.where(etf_out, ETF_OUTFLOW_MEAN, ETF_BASE_FLOW + ETF_TREND_COEF * asset_trend)
            etf_level = 0.6 * etf_level + 0.4 * mean + ETF_FLOW_SD * etf_eps[d]
            launched = np.array([d >= etf_launch[0], d >= etf_launch[1]])
            etf_ew = np.where(launched, 0.7 * etf_ew + 0.3 * etf_level, 0.0)
            etf_pressure = np.maximum(-etf_ew, 0.0) / ETF_PRESSURE_SCALE
            out_etf[d] = np.where(launched, etf_level, np.nan)

    lows_all = np.minimum(log_open, log_close) - (
        excursion[..., 1].reshape(n_hours, n_sym) * hour_sigma * 0.6
    )
    highs_all = np.maximum(log_open, log_close) + (
        excursion[..., 0].reshape(n_hours, n_sym) * hour_sigma * 0.6
    )
    hour_move = np.abs(log_close - log_open) / (vol / np.sqrt(HOURS))
    volume = (
        hourly_volume
        * np.exp(0.35 * volume_noise.reshape(n_hours, n_sym))
        * (1.0 + 0.8 * hour_move)
    )
    return MarketPaths(
        open=np.exp(log_open),
        high=np.exp(highs_all),
        low=np.exp(lows_all),
        close=np.exp(log_close),
        volume=volume,
        leverage=out_leverage,
        fragility_leverage=out_f_lev,
        fragility_etf=out_f_etf,
        fragility_rates=out_f_rates,
        hazard=out_hazard,
        shock=out_shock,
        cascade=out_cascade,
        cascade_drop=out_cascade_drop,
        support=out_support,
        open_interest_base=out_oi_base,
        leverage_ratio=out_lr,
        long_liq_usd=out_long,
        short_liq_usd=out_short,
        funding=out_funding,
        etf_flow=out_etf,
        garch_next=out_garch_next,
        calm_next=out_calm_next,
        constants=tuple(constants),
    )
