"""Every baseline of a backtest, fitted per walk-forward fold on what was known before
its test window.

=================  ====================================================================
name               forecast
=================  ====================================================================
climatology        trailing base rate per cell (strictly causal)
gbm_ewma           GBM first passage, RiskMetrics EWMA volatility
gbm_parkinson      GBM first passage, EWMA of the Parkinson range volatility
gbm_implied        GBM first passage, Deribit DVOL implied volatility (Parkinson where
                   there is none)
vol_logistic       logistic on the volatility-scaled distance and the horizon
ewma_fhs           filtered historical simulation with EWMA volatility
har                HAR on hourly realized variance (downside share, leverage term), GBM
garch_fhs          GJR-GARCH(1,1) skewed-t (arch), filtered historical simulation
=================  ====================================================================

The HAR baseline needs hourly bars (without them its rows fall back to Parkinson
volatility); GARCH needs 250 daily returns before the fold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets._history import (
    DailyRealized,
    daily_log_returns,
    har_inputs,
    har_targets,
    realized_variance,
)
from downside.errors import ModelInputError
from downside.features import FeatureStore
from downside.models import Climatology, GBMFirstPassage, ModelSpec, VolLogistic, daily_rows
from downside.models._volmodels import EwmaFhsBaseline, GarchFhs, HarFirstPassage
from downside.vocabulary import to_us

FloatArray = npt.NDArray[np.float64]

BASELINE_NAMES: tuple[str, ...] = (
    "climatology",
    "gbm_ewma",
    "gbm_parkinson",
    "gbm_implied",
    "vol_logistic",
    "ewma_fhs",
    "har",
    "garch_fhs",
)


@dataclass
class VolatilityHistory:
    """What the time-series baselines read: daily realized variance from hourly bars and
    daily log returns, per symbol (computed once per backtest)."""

    realized: dict[str, DailyRealized]
    returns: dict[str, pd.Series]

    @classmethod
    def of(
        cls, feature_store: FeatureStore, symbols: Sequence[str] | None = None
    ) -> VolatilityHistory:
        """The history of ``symbols`` (None: every symbol)."""
        return cls(
            realized_variance(feature_store, symbols), daily_log_returns(feature_store, symbols)
        )


@dataclass
class FoldBaselines:
    """The baselines of one fold.

    Args:
        spec: the model spec (its horizons are the HAR regressions').
        history: realized variance and returns.
    """

    spec: ModelSpec
    history: VolatilityHistory
    fitted: dict[str, object] = field(default_factory=dict)
    fine_climatology: Climatology | None = None

    def fit(
        self, train: pd.DataFrame, test_start: pd.Timestamp, *, per_symbol: bool = True
    ) -> FoldBaselines:
        """Fit on the fold's training rows (labels ended before ``test_start``) at daily
        as-of times: intraday rows (``[data] train_hours``) train only the model, so the
        baselines are those of the daily spec (:func:`~downside.models.daily_rows`).

        With ``per_symbol=False`` the baselines fitted on each symbol's own history
        (HAR and GJR-GARCH, see :meth:`fit_har` and :meth:`fit_garch`) are left out."""
        train = daily_rows(self.spec, train)
        y = train["label"].to_numpy()
        self.fitted = {
            "climatology": Climatology().fit(train, y),
            "gbm_ewma": GBMFirstPassage(vol="ewma").fit(train, y),
            "gbm_parkinson": GBMFirstPassage(vol="parkinson").fit(train, y),
            "gbm_implied": GBMFirstPassage(vol="implied").fit(train, y),
            "vol_logistic": VolLogistic().fit(train, y),
        }
        with contextlib.suppress(ModelInputError):  # too few returns: no such baseline
            self.fitted["ewma_fhs"] = EwmaFhsBaseline().fit(train)
        if per_symbol:
            keys = train[["symbol", "asof"]].drop_duplicates().reset_index(drop=True)
            self.fit_har(*self.har_rows(keys, test_start))
            self.fit_garch(test_start)
        return self

    def fit_garch(self, test_start: pd.Timestamp) -> None:
        """Fit GJR-GARCH per symbol of the history on its returns known before
        ``test_start``."""
        self.fitted["garch_fhs"] = GarchFhs().fit(self.history.returns, test_start)

    def har_rows(
        self, keys: pd.DataFrame, test_start: pd.Timestamp
    ) -> tuple[FloatArray, FloatArray]:
        """The HAR regression's inputs and targets at training ``keys`` (``symbol,
        asof``), targets whose days reach ``test_start`` removed (NaN)."""
        horizons = list(self.spec.frame.horizons_days)
        targets = har_targets(self.history.realized, keys, horizons)
        ends = to_us(keys["asof"])[:, None] + (np.asarray(horizons) * 86_400e6).astype(np.int64)
        targets[ends >= to_us(pd.Series([test_start]))[0]] = np.nan
        return har_inputs(self.history.realized, keys), targets

    def fit_har(self, inputs: FloatArray, targets: FloatArray) -> None:
        """Fit the HAR baseline on :meth:`har_rows` (none without hourly history)."""
        with contextlib.suppress(ModelInputError):  # no hourly history: no such baseline
            self.fitted["har"] = HarFirstPassage().fit(
                inputs, targets, list(self.spec.frame.horizons_days)
            )

    def fit_fine_climatology(self, rows: pd.DataFrame) -> None:
        """Climatology for fine-grid rows, from fine-grid training rows."""
        self.fine_climatology = Climatology().fit(rows, rows["label"].to_numpy())

    def predict(self, rows: pd.DataFrame, *, fine: bool = False) -> dict[str, FloatArray]:
        """Probability of every fitted baseline on ``rows`` (frame rows)."""
        out: dict[str, FloatArray] = {}
        for name in BASELINE_NAMES:
            model = self.fitted.get(name)
            if name == "climatology" and fine and self.fine_climatology is not None:
                model = self.fine_climatology
            if model is None:
                continue
            if isinstance(model, HarFirstPassage):
                inputs = har_inputs(self.history.realized, rows[["symbol", "asof"]])
                out[name] = model.predict_proba(rows, inputs)[:, 1]
            else:
                out[name] = np.asarray(model.predict_proba(rows)[:, 1], dtype=np.float64)  # type: ignore[attr-defined]
        return out
