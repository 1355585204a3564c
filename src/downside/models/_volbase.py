"""Volatility bases: the probability a surface boosts from when ``base="combo"``.

The combination base is the equal-weight average of two first-passage probabilities
that need no fitted level (walk-forward evidence on 2022-2025 BTC and ETH: fitting a
volatility scale or an intercept to the training years' event rates lost 1-2% Brier to
the same forecasts unfitted, because the realized event rate of a quarter swings from
0.01 to 0.43 while volatility forecasts move far less; see docs/skill.md):

1. **Filtered historical simulation with EWMA volatility** (:class:`EwmaFhs`): daily
   log returns ``r_k = sigma_k e_k`` with ``e_k`` drawn from the training rows'
   standardized residuals (the last daily return in units of the EWMA volatility known
   before it) and the RiskMetrics recursion ``sigma_{k+1}^2 = lam sigma_k^2 + (1 - lam)
   r_k^2``. The recursion is homogeneous in the starting volatility, so the
   distribution of the running minimum of the log price over ``h`` days, in units of
   the next-day volatility, is one table per horizon, tabulated once at fit time (as
   quantiles) and looked up at prediction: fat tails and volatility clustering for the
   price of an interpolation.
2. **Implied-volatility GBM**: the closed-form first passage of a driftless GBM with the
   daily implied volatility (DVOL / 100 / sqrt(365)); where there is none (ETH before
   2023, other assets, stale values), the Parkinson range volatility.

Both are corrected for how labels are monitored (lows for drawdowns, daily closes for
support breaks; Broadie, Glasserman and Kou's shift).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr

from downside.errors import ModelInputError, Problem

FloatArray = npt.NDArray[np.float64]

BGK_BETA = 0.5826
"""Broadie-Glasserman-Kou constant: ``-zeta(1/2) / sqrt(2 * pi)``."""


def first_passage_probability(
    barrier: npt.ArrayLike,
    sigma: npt.ArrayLike,
    horizon: npt.ArrayLike,
    drift: float = 0.0,
) -> FloatArray:
    """P(min over [0, H] of ``drift * t + sigma * W_t`` <= ``barrier``), barrier < 0.

    The reflection principle gives, for the log price of a GBM with log drift ``nu``::

        P = Phi((b - nu H) / (s sqrt H)) + exp(2 nu b / s^2) Phi((b + nu H) / (s sqrt H))

    with ``s`` the daily volatility; it is ``2 Phi(b / (s sqrt H))`` for zero drift.
    Barriers at or above zero (already touched) give 1. Evaluated in log space so large
    drifts do not overflow.

    Args:
        barrier: log barrier ``b`` (``ln(1 - X)`` or ``ln(level / ref_close)``).
        sigma: volatility of the log price per day.
        horizon: horizon in days.
        drift: drift of the log price per day.

    Returns:
        The probabilities.
    """
    b = np.asarray(barrier, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    h = np.asarray(horizon, dtype=np.float64)
    scale = s * np.sqrt(h)
    first = log_ndtr((b - drift * h) / scale)
    second = 2.0 * drift * b / s**2 + log_ndtr((b + drift * h) / scale)
    p = np.exp(first) + np.exp(second)
    return np.asarray(np.where(b >= 0.0, 1.0, np.clip(p, 0.0, 1.0)), dtype=np.float64)


RISKMETRICS_LAMBDA = 0.94
"""EWMA decay per day, the same as the frames' ``sigma_daily``."""

QUANTILES = 401
"""Quantiles of the standardized running minimum kept per horizon."""

MIN_RESIDUALS = 250
"""Fewest standardized residuals a table is fitted from."""


@dataclass(frozen=True)
class EwmaFhs:
    """Tabulated filtered historical simulation of the running minimum of the log price.

    Attributes:
        quantiles: ``(horizons, QUANTILES)`` quantiles of the running minimum over
            ``h = 1..horizons`` days, in units of the next-day volatility.
        lam: the EWMA decay used in the simulation.
        n_residuals: standardized residuals the paths were drawn from.
    """

    quantiles: FloatArray
    lam: float
    n_residuals: int

    @classmethod
    def fit(
        cls,
        residuals: npt.ArrayLike,
        horizon_days: float,
        *,
        paths: int = 20_000,
        lam: float = RISKMETRICS_LAMBDA,
        seed: int = 0,
    ) -> EwmaFhs:
        """Simulate ``paths`` EWMA paths of ``ceil(horizon_days)`` days from the residuals.

        Raises:
            ModelInputError: fewer than :data:`MIN_RESIDUALS` finite residuals.
        """
        e = np.asarray(residuals, dtype=np.float64)
        e = e[np.isfinite(e)]
        if e.size < MIN_RESIDUALS:
            raise ModelInputError(
                [
                    Problem(
                        "X.std_ret_1d",
                        "too_few_residuals",
                        int(e.size),
                        f"the combination base needs at least {MIN_RESIDUALS} standardized "
                        "daily returns in the training rows to simulate paths; train on more "
                        "history or use base='vol_logistic'",
                    )
                ]
            )
        horizons = max(1, int(np.ceil(horizon_days)))
        rng = np.random.default_rng(seed)
        variance = np.ones(paths)
        level = np.zeros(paths)
        running = np.zeros(paths)
        minima = np.empty((horizons, paths))
        for day in range(horizons):
            shock = np.sqrt(variance) * rng.choice(e, size=paths, replace=True)
            level += shock
            running = np.minimum(running, level)
            minima[day] = running
            variance = lam * variance + (1.0 - lam) * shock**2
        grid = np.linspace(0.0, 1.0, QUANTILES)
        return cls(np.quantile(minima, grid, axis=1).T, lam, int(e.size))

    @property
    def max_horizon(self) -> int:
        return int(self.quantiles.shape[0])

    def probability(
        self, barrier: npt.ArrayLike, sigma: npt.ArrayLike, horizon: npt.ArrayLike
    ) -> FloatArray:
        """P(running minimum over ``horizon`` days <= ``barrier``), for a log barrier and
        the next-day volatility ``sigma``; horizons between whole days are interpolated
        linearly, horizons below a day use the one-day table, longer ones are capped at
        the table's last day (a model is only asked within its trained grid)."""
        b = np.asarray(barrier, dtype=np.float64)
        z = b / np.asarray(sigma, dtype=np.float64)
        h = np.clip(np.asarray(horizon, dtype=np.float64), 1.0, float(self.max_horizon))
        lower = np.floor(h).astype(np.int64)
        upper = np.minimum(lower + 1, self.max_horizon)
        weight = h - lower
        grid = np.linspace(0.0, 1.0, QUANTILES)
        zb, wb = np.broadcast_arrays(z, weight)
        lb, ub = np.broadcast_arrays(lower, upper)
        low = np.empty(zb.shape, dtype=np.float64)
        high = np.empty(zb.shape, dtype=np.float64)
        for bound, values in ((lb, low), (ub, high)):
            for day in np.unique(bound):
                rows = bound == day
                table = self.quantiles[day - 1]
                values[rows] = np.interp(zb[rows], table, grid, left=0.0, right=1.0)
        out = (1.0 - wb) * low + wb * high
        return np.asarray(np.where(b >= 0.0, 1.0, out), dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        return {
            "quantiles": self.quantiles.tolist(),
            "lam": self.lam,
            "n_residuals": self.n_residuals,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EwmaFhs:
        return cls(
            np.asarray(state["quantiles"], dtype=np.float64),
            float(state["lam"]),
            int(state["n_residuals"]),
        )


def implied_gbm_probability(
    barrier: npt.ArrayLike,
    sigma_implied: npt.ArrayLike,
    sigma_fallback: npt.ArrayLike,
    horizon: npt.ArrayLike,
    monitoring_dt_days: float,
) -> FloatArray:
    """GBM first passage with the implied volatility (the fallback where it is missing),
    the barrier shifted for monitoring at ``monitoring_dt_days`` (0: continuous lows)."""
    iv = np.asarray(sigma_implied, dtype=np.float64)
    sigma = np.where(np.isfinite(iv) & (iv > 0), iv, np.asarray(sigma_fallback, dtype=np.float64))
    b = np.asarray(barrier, dtype=np.float64)
    shifted = b - BGK_BETA * sigma * np.sqrt(monitoring_dt_days)
    return np.where(b >= 0.0, 1.0, first_passage_probability(shifted, sigma, horizon))


def combo_probability(
    fhs: EwmaFhs,
    barrier: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma_daily: npt.ArrayLike,
    sigma_parkinson: npt.ArrayLike,
    sigma_implied: npt.ArrayLike,
    *,
    lows: bool,
) -> FloatArray:
    """The combination base: mean of the EWMA-FHS and implied-volatility probabilities.

    Args:
        fhs: the fitted simulation table.
        barrier: log barrier (``ln(1 - threshold)`` or ``ln(level / ref_close)``).
        horizon: days.
        sigma_daily: next-day EWMA volatility (scales the table).
        sigma_parkinson: fallback volatility of the implied-volatility GBM.
        sigma_implied: daily implied volatility, NaN where there is none.
        lows: labels count intraday lows (drawdowns): the simulated daily closes get a
            barrier shifted toward the price by ``0.5826 sigma``; else daily closes
            (support breaks): the continuous GBM gets the barrier shifted away.
    """
    b = np.asarray(barrier, dtype=np.float64)
    s = np.asarray(sigma_daily, dtype=np.float64)
    fhs_barrier = b + BGK_BETA * s if lows else b
    p_fhs = fhs.probability(np.minimum(fhs_barrier, 0.0), s, horizon)
    p_fhs = np.where(b >= 0.0, 1.0, p_fhs)
    p_iv = implied_gbm_probability(b, sigma_implied, sigma_parkinson, horizon, 0.0 if lows else 1.0)
    return np.asarray(0.5 * (p_fhs + p_iv), dtype=np.float64)
