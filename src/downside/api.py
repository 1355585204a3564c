"""The Python API: the same functions the CLI and notebooks call.

>>> from downside import Forecaster                     # doctest: +SKIP
>>> fc = Forecaster.load()                               # doctest: +SKIP
>>> fc.predict_drawdown(["BTC"])                         # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from downside.config import Settings, load_settings
from downside.errors import PredictionInputError
from downside.features import FeatureStore
from downside.models import (
    BacktestResult,
    Predictor,
    TuningResult,
    load_spec,
    run_backtest,
    write_backtest,
)
from downside.sources import simulate_market
from downside.store import IngestReport, Store
from downside.tracking import TrainResult, load_predictor, train_spec, tune_spec

Progress = Callable[[str], None]


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else load_settings()


def ingest_files(directory: Path, *, settings: Settings | None = None) -> IngestReport:
    """Validate and ingest a folder of table files into the store (see `downside ingest files`)."""
    return Store.from_settings(_settings(settings)).ingest_files(directory)


def train(
    spec: str | Path,
    *,
    trials: int | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    folds: int | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Tune, fit, log and register the model of a spec (see `downside train`).

    ``folds`` overrides the spec's number of walk-forward folds used for tuning and scoring.
    """
    s = _settings(settings)
    loaded = load_spec(spec, s.resolved_model_dir)
    if folds is not None:
        loaded = dataclasses.replace(loaded, tuning_folds=folds)
    return train_spec(
        loaded,
        s,
        trials=trials,
        workers=workers,
        timeout_s=timeout_s,
        progress=progress,
    )


def tune(
    spec: str | Path,
    *,
    trials: int,
    workers: int = 1,
    timeout_s: float | None = None,
    settings: Settings | None = None,
) -> TuningResult:
    """Run (or join, or resume) the spec's Optuna study (see `downside tune`)."""
    s = _settings(settings)
    return tune_spec(
        load_spec(spec, s.resolved_model_dir),
        s,
        trials=trials,
        workers=workers,
        timeout_s=timeout_s,
    )


def backtest(
    spec: str | Path,
    *,
    start: str,
    end: str,
    symbols: Sequence[str] | None = None,
    out: Path | None = None,
    n_boot: int = 1000,
    settings: Settings | None = None,
    command: str | None = None,
    on_fold: Callable[[Any], None] | None = None,
) -> BacktestResult:
    """Out-of-sample backtest of a spec against the baselines (see `downside backtest`).

    Scores the spec's model and every baseline on the purged walk-forward folds whose
    test windows lie in ``[start, end]``; with ``out``, writes metrics (CSV, JSON), PNG
    plots and ``summary.md`` there.

    Raises:
        ModelSpecError: an invalid spec.
        EmptyStoreError: no prices or no fold in the window.
        PredictionInputError: ``end`` before ``start``.
    """
    s = _settings(settings)
    result = run_backtest(
        load_spec(spec, s.resolved_model_dir),
        FeatureStore.from_settings(s),
        start=start,
        end=end,
        symbols=symbols,
        n_boot=n_boot,
        seed=s.seed,
        on_fold=on_fold,
    )
    if out is not None:
        write_backtest(result, out, command=command)
    return result


def _as_utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass
class Forecaster:
    """Answers "how likely is a 10% drop this week?" and "how likely does BTC lose 85,000?".

    Load registered models with :meth:`load`; features are read from the configured
    point-in-time store as of each requested time.
    """

    drawdown: Predictor | None
    support: Predictor | None
    feature_store: FeatureStore

    @classmethod
    def load(
        cls,
        drawdown_uri: str | None = "models:/downside-drawdown@champion",
        support_uri: str | None = "models:/downside-support@champion",
        *,
        settings: Settings | None = None,
    ) -> Forecaster:
        """Load the champion models (or any model URIs) from the configured registry.

        Raises:
            ModelNotFoundError: a URI names no registered model version.
        """
        s = _settings(settings)
        return cls(
            drawdown=load_predictor(drawdown_uri, s) if drawdown_uri else None,
            support=load_predictor(support_uri, s) if support_uri else None,
            feature_store=FeatureStore.from_settings(s),
        )

    def _spine(self, symbols: Sequence[str], asof: Any) -> pd.DataFrame:
        rows = []
        for symbol in (s.upper() for s in symbols):
            if symbol not in self.feature_store.symbols():
                raise PredictionInputError(
                    f"unknown symbol {symbol!r}: the store has prices for "
                    f"{sorted(self.feature_store.symbols())}; ingest its data or pick one of these"
                )
            if asof is None:
                times = [self.feature_store.latest_asof(symbol)]
            elif isinstance(asof, pd.DatetimeIndex | list | tuple):
                times = [_as_utc(a) for a in asof]
            else:
                times = [_as_utc(asof)]
            rows += [(symbol, t) for t in times]
        spine = pd.DataFrame(rows, columns=["symbol", "asof"])
        spine["asof"] = spine["asof"].astype("datetime64[us, UTC]")
        return spine

    def predict_drawdown(
        self,
        symbols: Sequence[str] | str,
        asof: Any = None,
        thresholds: Sequence[float] | None = None,
        horizons: Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """P(price falls at least ``threshold`` below the last close within ``horizon``).

        Args:
            symbols: one symbol or several.
            asof: None for the latest known time; a time; or a list/DatetimeIndex for a batch.
            thresholds: fractions (0.1 = 10%); default the trained grid.
            horizons: days; default the trained grid.

        Returns:
            One row per (asof, symbol, threshold, horizon_days): ``probability``,
            ``baseline_probability`` (volatility first-passage), ``p_reference`` and the
            driver-family contributions in probability points.

        Raises:
            PredictionInputError: unknown symbol or a threshold/horizon outside the trained range.
        """
        if self.drawdown is None:
            raise PredictionInputError(
                "no drawdown model loaded; pass drawdown_uri to Forecaster.load"
            )
        syms = [symbols] if isinstance(symbols, str) else list(symbols)
        return self.drawdown.predict(
            self.feature_store,
            self._spine(syms, asof),
            thresholds=thresholds,
            horizons_days=horizons,
        )

    def predict_support_break(
        self,
        symbol: str,
        levels: Sequence[float] | None = None,
        horizons: Sequence[float] | None = None,
        asof: Any = None,
    ) -> pd.DataFrame:
        """P(``symbol`` breaks below each level within each horizon).

        Args:
            symbol: e.g. ``"BTC"``.
            levels: price levels below the current price; None = auto-detected supports.
            horizons: days; default the trained grid.
            asof: None for the latest known time, or a time.

        Raises:
            PredictionInputError: unknown symbol, a level at or above the price, or a
                horizon outside the trained range.
        """
        if self.support is None:
            raise PredictionInputError(
                "no support model loaded; pass support_uri to Forecaster.load"
            )
        spine = self._spine([symbol], asof)
        rows = None
        if levels is not None:
            rows = pd.DataFrame(
                [(s, a, float(lv)) for s, a in spine.itertuples(index=False) for lv in levels],
                columns=["symbol", "asof", "level"],
            )
        return self.support.predict(self.feature_store, spine, horizons_days=horizons, levels=rows)


@dataclass(frozen=True)
class QuickstartResult:
    """What `downside quickstart` produced."""

    drawdown: TrainResult
    support: TrainResult
    surface: pd.DataFrame
    supports: pd.DataFrame
    asof: pd.Timestamp


def quickstart(
    *,
    settings: Settings | None = None,
    trials: int = 2,
    folds: int = 2,
    progress: Progress | None = None,
) -> QuickstartResult:
    """Simulate a market, ingest it, build features, tune and train both models, register
    them, and forecast the latest as-of time. No network, no server."""
    s = _settings(settings)
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory() as tmp:
        say("simulating a market (BTC, ETH, SOL: bars, funding, OI, liquidations, flows, rates)")
        sim = simulate_market(Path(tmp) / "market", seed=s.seed)
        say("ingesting into the point-in-time store")
        Store.from_settings(s).ingest_files(sim.out_dir)
    say("building point-in-time features")
    FeatureStore.from_settings(s).build()
    results = {}
    for name in ("drawdown", "support"):
        say(f"training {name} model")
        results[name] = train(name, trials=trials, folds=folds, settings=s, progress=say)
    fc = Forecaster.load(settings=s)
    symbol = fc.drawdown.spec.symbols[0] if fc.drawdown else "BTC"
    surface = fc.predict_drawdown(list(fc.drawdown.spec.symbols) if fc.drawdown else [symbol])
    supports = fc.predict_support_break(symbol)
    return QuickstartResult(
        results["drawdown"], results["support"], surface, supports, surface["asof"].max()
    )
