"""Simulated macro block: calendars, rates, dollar, volatility and the hawkish-shock pressure.

Part of :func:`downside.sources.simulate_market`; the generative model is documented in
:mod:`downside.sources._simulate`. Everything here is exogenous to the crypto market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.tseries.holiday import USFederalHolidayCalendar

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

HAWK_PROBABILITY = 0.025
"""Daily probability of a hawkish repricing on a US business day."""
BOJ_PROBABILITY = 0.008
"""Daily probability of a Bank of Japan surprise on a Tokyo business day."""
RATE_PRESSURE_DECAY_DAYS = 10.0
"""e-folding time, in days, of the rate pressure left by one shock."""


@dataclass(frozen=True)
class Calendars:
    """Day masks over the simulated calendar days.

    Attributes:
        days: every UTC calendar day of the window (00:00 UTC, ``datetime64[us, UTC]``).
        us_business: weekdays that are not US federal holidays (FRED, ETF trading days).
        weekdays: Monday to Friday (Tokyo business days, DXY bars).
    """

    days: pd.DatetimeIndex
    us_business: BoolArray
    weekdays: BoolArray


@dataclass(frozen=True)
class MacroPaths:
    """Daily latent and observable macro series (one value per calendar day).

    Attributes:
        dff, dgs2, dgs10, vix, hy_oas, jgb2, dxy: the observable levels (percent or index).
        hawk: size of the hawkish shock on each day (0 on most days).
        rate_pressure: exponentially decaying sum of past shocks, the rates driver of
            crypto fragility (dimensionless, 0 when calm, about 1 after one shock).
    """

    dff: FloatArray
    dgs2: FloatArray
    dgs10: FloatArray
    vix: FloatArray
    hy_oas: FloatArray
    jgb2: FloatArray
    dxy: FloatArray
    hawk: FloatArray
    rate_pressure: FloatArray


def build_calendars(days: pd.DatetimeIndex) -> Calendars:
    """Business-day masks for ``days``.

    Raises:
        ValueError: never for a valid daily UTC index; pandas raises if ``days`` is naive.
    """
    naive = days.tz_convert("UTC").tz_localize(None)
    holidays = USFederalHolidayCalendar().holidays(naive.min(), naive.max())
    weekdays = np.asarray(naive.day_of_week < 5)
    us_business = weekdays & ~np.asarray(naive.isin(holidays))
    return Calendars(days=days, us_business=us_business, weekdays=weekdays)


def anchor_path(n: int, knots: tuple[float, ...], *, log: bool) -> FloatArray:
    """Piecewise-linear path through ``knots`` spaced evenly over ``n`` days.

    With ``log`` the interpolation is in log space (prices); the result is then the log.

    Raises:
        ValueError: never for ``n >= 1`` and at least two knots.
    """
    grid = np.linspace(0.0, 1.0, len(knots))
    values = np.log(np.asarray(knots, dtype=np.float64)) if log else np.asarray(knots)
    return np.interp(np.linspace(0.0, 1.0, n), grid, values).astype(np.float64)


def _ou(rng: np.random.Generator, n: int, kappa: float, sigma: float) -> FloatArray:
    """Ornstein-Uhlenbeck deviation from 0 with daily reversion ``kappa``, step sd ``sigma``."""
    eps = rng.standard_normal(n) * sigma
    out = np.empty(n, dtype=np.float64)
    level = 0.0
    for i in range(n):
        level = (1.0 - kappa) * level + eps[i]
        out[i] = level
    return out


def _decayed(impulses: FloatArray, decay_days: float) -> FloatArray:
    """Running sum of impulses, each decaying with e-folding time ``decay_days``."""
    keep = float(np.exp(-1.0 / decay_days))
    out = np.empty_like(impulses)
    level = 0.0
    for i, impulse in enumerate(impulses):
        level = level * keep + impulse
        out[i] = level
    return out


def simulate_macro(calendars: Calendars, rng: np.random.Generator) -> MacroPaths:
    """Draw the macro block for every calendar day.

    Raises:
        ValueError: never for valid calendars; numpy raises on an empty window.
    """
    n = len(calendars.days)
    hawk_draw = rng.random(n) < HAWK_PROBABILITY
    hawk = np.where(hawk_draw & calendars.us_business, rng.uniform(0.6, 1.4, n), 0.0)
    boj_draw = rng.random(n) < BOJ_PROBABILITY
    boj = np.where(boj_draw & calendars.weekdays, rng.uniform(0.6, 1.2, n), 0.0)
    jgb_follow = rng.random(n) < 0.4
    rate_pressure = _decayed(hawk + boj, RATE_PRESSURE_DECAY_DAYS)

    dgs2 = (
        anchor_path(n, (0.2, 0.7, 3.5, 4.8, 4.6, 3.8), log=False)
        + _ou(rng, n, 0.02, 0.035)
        + _decayed(0.2 * hawk, 120.0)
    )
    dgs2 = np.maximum(dgs2, 0.05)
    dgs10 = 1.3 + 0.55 * dgs2 + _ou(rng, n, 0.02, 0.03)

    fomc = np.zeros(n, dtype=bool)
    fomc[::45] = True
    smooth = pd.Series(dgs2).rolling(20, min_periods=1).mean().to_numpy()
    target = np.maximum(np.floor((smooth - 0.1) / 0.25) * 0.25, 0.0) + 0.08
    dff = pd.Series(np.where(fomc, target, np.nan)).ffill().to_numpy()

    log_vix = np.empty(n, dtype=np.float64)
    level = np.log(19.0)
    vix_eps = rng.standard_normal(n) * 0.07
    for i in range(n):
        level = level + 0.06 * (np.log(19.0) - level) + vix_eps[i] + 0.15 * hawk[i]
        log_vix[i] = level
    vix = np.exp(log_vix).astype(np.float64)
    hy_oas = 3.3 + 0.07 * (vix - 19.0) + _ou(rng, n, 0.05, 0.02)

    jgb_impulse = 0.05 * boj + np.where(jgb_follow, 0.04 * hawk, 0.0)
    jgb2 = (
        anchor_path(n, (-0.12, -0.05, 0.05, 0.75), log=False)
        + _ou(rng, n, 0.05, 0.004)
        + _decayed(jgb_impulse, 200.0)
    )
    dxy = np.exp(
        anchor_path(n, (92.0, 110.0, 101.0, 106.0, 98.0), log=True)
        + _ou(rng, n, 0.03, 0.004)
        + _decayed(0.009 * hawk - 0.003 * boj, 40.0)
    ).astype(np.float64)
    return MacroPaths(
        dff=np.round(dff, 2),
        dgs2=np.round(dgs2, 2),
        dgs10=np.round(dgs10, 2),
        vix=np.round(vix, 2),
        hy_oas=np.round(hy_oas, 2),
        jgb2=np.round(jgb2, 3),
        dxy=np.round(dxy, 3),
        hawk=hawk,
        rate_pressure=rate_pressure,
    )
