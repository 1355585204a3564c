"""Volatility-model baselines scored in every backtest.

- :class:`EwmaFhsBaseline`: filtered historical simulation with RiskMetrics EWMA
  volatility (the simulation table of :class:`downside.models._volbase.EwmaFhs`).
- :class:`HarFirstPassage`: HAR on daily realized variance from hourly bars (Corsi
  2009; with downside semivariance share and a leverage term), one direct regression per
  horizon of the log mean realized variance over the next ``H`` days, turned into a GBM
  first-passage probability.
- :class:`GarchFhs`: GJR-GARCH(1,1) with skewed Student-t shocks fitted by ``arch`` per
  symbol, and first-passage probabilities by ``arch``'s filtered historical simulation
  (bootstrap of standardized residuals): the running minimum of simulated paths gives
  every threshold and horizon at once.

The implied-volatility GBM is :class:`downside.models.GBMFirstPassage` with
``vol="implied"``.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LinearRegression

from downside.errors import ModelInputError, NotFittedError, Problem
from downside.models._baselines import frame_kind
from downside.models._volbase import BGK_BETA, EwmaFhs, first_passage_probability

FloatArray = npt.NDArray[np.float64]


def barrier_of(X: pd.DataFrame) -> FloatArray:
    """Log barrier of drawdown rows (``ln(1 - threshold)``) or support rows
    (``ln(level / ref_close)``)."""
    if frame_kind(X) == "drawdown":
        out = np.log1p(-X["threshold"].to_numpy(dtype=np.float64))
    else:
        level = X["level"].to_numpy(dtype=np.float64)
        out = np.log(level / X["ref_close"].to_numpy(dtype=np.float64))
    return np.asarray(out, dtype=np.float64)


def _proba(p: FloatArray) -> FloatArray:
    return np.column_stack([1.0 - p, p])


class EwmaFhsBaseline(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Filtered historical simulation with EWMA volatility, fitted on the training
    rows' standardized daily returns (``std_ret_1d``, one per symbol and day).

    Args:
        paths: simulated paths.
        random_state: seed of the simulation.
    """

    def __init__(self, *, paths: int = 20_000, random_state: int = 0) -> None:
        self.paths = paths
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None, **fit_params: Any) -> Self:
        """Tabulate the running minimum from the distinct standardized returns of ``X``.

        Raises:
            ModelInputError: too few standardized returns.
        """
        pairs = X[["asof", "symbol", "std_ret_1d"]].drop_duplicates(["asof", "symbol"])
        horizon = float(X["horizon_days"].max())
        self.fhs_ = EwmaFhs.fit(
            pairs["std_ret_1d"].to_numpy(dtype=np.float64),
            horizon,
            paths=self.paths,
            seed=self.random_state,
        )
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return self

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        if not hasattr(self, "fhs_"):
            raise NotFittedError("EwmaFhsBaseline")
        b = barrier_of(X)
        s = X["sigma_daily"].to_numpy(dtype=np.float64)
        lows = frame_kind(X) == "drawdown"
        shifted = np.minimum(b + BGK_BETA * s, 0.0) if lows else b
        p = self.fhs_.probability(shifted, s, X["horizon_days"].to_numpy(dtype=np.float64))
        return _proba(np.where(b >= 0.0, 1.0, p))


class HarFirstPassage:
    """HAR volatility per horizon and its GBM first-passage probability.

    ``fit`` regresses, per horizon ``H``, the log mean daily realized variance over the
    next ``H`` days on the HAR inputs (least squares, scikit-learn); the volatility of a
    row is ``sqrt(exp(prediction + residual variance / 2))`` per day.

    Attributes:
        models_: horizon -> (regression, residual variance).
    """

    def __init__(self) -> None:
        self.models_: dict[float, tuple[LinearRegression, float]] = {}

    def fit(self, inputs: FloatArray, targets: FloatArray, horizons: Sequence[float]) -> Self:
        """Fit one regression per horizon on the rows where inputs and target are known.

        Args:
            inputs: ``(n, k)`` HAR inputs.
            targets: ``(n, len(horizons))`` log mean realized variance over each horizon.
            horizons: the horizons of the target columns.

        Raises:
            ModelInputError: a horizon with fewer than 100 complete rows.
        """
        ok_x = np.isfinite(inputs).all(axis=1)
        problems = []
        for j, h in enumerate(horizons):
            rows = ok_x & np.isfinite(targets[:, j])
            if rows.sum() < 100:
                problems.append(
                    Problem(
                        "har",
                        "too_few_rows",
                        int(rows.sum()),
                        f"horizon {h:g}: expected at least 100 days with hourly realized "
                        "variance before the fold; ingest hourly bars",
                    )
                )
                continue
            reg = LinearRegression().fit(inputs[rows], targets[rows, j])
            resid = targets[rows, j] - reg.predict(inputs[rows])
            self.models_[float(h)] = (reg, float(np.var(resid)))
        if problems:
            raise ModelInputError(problems)
        return self

    def sigma(self, inputs: FloatArray, horizon: FloatArray) -> FloatArray:
        """Daily volatility per row for its horizon; NaN where an input is missing."""
        out = np.full(len(inputs), np.nan)
        ok = np.isfinite(inputs).all(axis=1)
        for h, (reg, var) in self.models_.items():
            rows = ok & np.isclose(horizon, h)
            if rows.any():
                out[rows] = np.sqrt(np.exp(reg.predict(inputs[rows]) + 0.5 * var))
        return out

    def predict_proba(
        self, X: pd.DataFrame, inputs: FloatArray, fallback: FloatArray | None = None
    ) -> FloatArray:
        """``(n, 2)`` probabilities for frame rows ``X`` with their HAR ``inputs``; where
        the HAR volatility is missing (no hourly bars), ``fallback`` volatility (default
        the row's Parkinson volatility)."""
        if not self.models_:
            raise NotFittedError("HarFirstPassage")
        h = X["horizon_days"].to_numpy(dtype=np.float64)
        sigma = self.sigma(inputs, h)
        alt = X["sigma_parkinson"].to_numpy(dtype=np.float64) if fallback is None else fallback
        sigma = np.where(np.isfinite(sigma), sigma, alt)
        b = barrier_of(X)
        dt = 0.0 if frame_kind(X) == "drawdown" else 1.0
        p = first_passage_probability(b - BGK_BETA * sigma * np.sqrt(dt), sigma, h)
        return _proba(np.where(b >= 0.0, 1.0, p))


class GarchFhs:
    """GJR-GARCH(1,1) with skewed Student-t shocks per symbol, fitted by ``arch`` on the
    daily log returns known before ``until``; probabilities by ``arch``'s bootstrap
    forecasts (filtered historical simulation) from each as-of time.

    Args:
        simulations: simulated paths per forecast origin.
        random_state: seed of the simulations (each symbol draws from its own stream,
            seeded by this and the symbol).

    Attributes:
        params_: symbol -> fitted ``arch`` parameters.
        returns_: symbol -> the return series (percent) forecasts filter through.
    """

    def __init__(self, *, simulations: int = 1000, random_state: int = 0) -> None:
        self.simulations = simulations
        self.random_state = random_state
        self.params_: dict[str, pd.Series] = {}
        self.returns_: dict[str, pd.Series] = {}

    @staticmethod
    def _model(returns: pd.Series) -> Any:
        from arch import arch_model

        return arch_model(returns, mean="Zero", vol="GARCH", p=1, o=1, q=1, dist="skewt")

    def fit(self, returns: Mapping[str, pd.Series], until: pd.Timestamp) -> Self:
        """Fit per symbol on returns known before ``until`` (at least 250 of them)."""
        for symbol, series in returns.items():
            known = 100.0 * series[series.index < until]
            if len(known) < 250:
                continue
            with warnings.catch_warnings():
                # arch warns about convergence on some folds; the fit is still usable and
                # the baseline is only compared, never served
                warnings.simplefilter("ignore")
                self.params_[symbol] = self._model(known).fit(disp="off").params
            self.returns_[symbol] = 100.0 * series
        return self

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """``(n, 2)`` probabilities of frame rows (``symbol, asof``, barrier columns,
        ``horizon_days``); rows of symbols without a fit, or whose as-of time has no
        return in the series, are NaN."""
        out = np.full(len(X), np.nan)
        lows = frame_kind(X) == "drawdown"
        b = barrier_of(X)
        h = X["horizon_days"].to_numpy(dtype=np.float64)
        symbols = X["symbol"].to_numpy(dtype=object)
        asof = pd.DatetimeIndex(X["asof"])
        for symbol in pd.unique(symbols):
            params = self.params_.get(str(symbol))
            if params is None:
                continue
            # a stream per symbol: a symbol's forecasts do not depend on which other
            # symbols are asked for with it (or on which worker of a cluster)
            rng = np.random.RandomState([self.random_state, zlib.crc32(str(symbol).encode())])
            rows = np.flatnonzero(symbols == symbol)
            series = self.returns_[str(symbol)]
            origins = sorted(set(asof[rows]) & set(series.index))
            if not origins:
                continue
            steps = int(np.ceil(h[rows].max()))
            fixed = self._model(series[series.index <= origins[-1]]).fix(params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fc = fixed.forecast(
                    horizon=steps,
                    start=origins[0],
                    method="bootstrap",
                    simulations=self.simulations,
                    reindex=False,
                    random_state=rng,
                )
            dates = pd.DatetimeIndex(fc.simulations.index)
            position = {t: k for k, t in enumerate(dates)}
            paths = np.asarray(fc.simulations.values) / 100.0
            minima = np.minimum.accumulate(np.cumsum(paths, axis=2), axis=2)
            sd1 = np.sqrt(np.asarray(fc.variance.values)[:, 0]) / 100.0
            for i in rows.tolist():
                k = position.get(asof[i])
                if k is None:
                    continue
                day = min(max(round(h[i]), 1), steps) - 1
                barrier = min(b[i] + BGK_BETA * sd1[k], 0.0) if lows else b[i]
                out[i] = 1.0 if b[i] >= 0 else float(np.mean(minima[k, :, day] <= barrier))
        return _proba(out)
