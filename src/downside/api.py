"""The Python API: the same functions the CLI and notebooks call.

>>> from downside import Forecaster                     # doctest: +SKIP
>>> fc = Forecaster.load()                               # doctest: +SKIP
>>> fc.predict_drawdown(["BTC"])                         # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from downside.config import Settings, load_settings
from downside.errors import PredictionInputError, TrackingError
from downside.features import FeatureStore
from downside.models import (
    ModelSpec,
    Predictor,
    TuningResult,
    close_study,
    load_spec,
    open_study,
    summarize,
)
from downside.sources import simulate_market
from downside.store import IngestReport, Store
from downside.tracking import (
    ModelSource,
    TrainResult,
    load_predictor,
    resolve_model,
    run_artifact,
    train_spec,
    tune_spec,
)
from downside.vocabulary import utc
from downside.workflows import (
    AblationResult,
    BacktestResult,
    FitResult,
    ModelInfo,
    RiskReport,
    fit_spec,
    run_ablation,
    run_backtest,
    write_ablation,
    write_backtest,
)
from downside.workflows import risk_report as run_risk_report

Progress = Callable[[str], None]


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else load_settings()


def ingest_files(directory: Path, *, settings: Settings | None = None) -> IngestReport:
    """Validate and ingest a folder of table files into the store (see `downside ingest files`)."""
    return Store.from_settings(_settings(settings)).ingest_files(directory)


def _spec(spec: str | Path, settings: Settings, folds: int | None = None) -> ModelSpec:
    loaded = load_spec(spec, settings.resolved_model_dir)
    if folds is not None:
        loaded = dataclasses.replace(loaded, tuning_folds=folds)
    return loaded


def fit(
    spec: str | Path,
    *,
    trials: int | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    folds: int | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Tune, score and fit the model of a spec without MLflow: the result's ``predictor``
    answers at once (``Forecaster(drawdown=result.predictor, ...)``). Tuning uses the
    configured Optuna storage; nothing is logged or registered.

    Raises:
        ModelSpecError: an invalid spec.
        InsufficientHistoryError: too little data for the spec's walk-forward.
    """
    s = _settings(settings)
    return fit_spec(
        _spec(spec, s, folds),
        FeatureStore.from_settings(s),
        s,
        trials=trials,
        workers=workers,
        timeout_s=timeout_s,
        progress=progress,
    )


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
    return train_spec(
        _spec(spec, s, folds),
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


def tuning_status(spec: str | Path, *, settings: Settings | None = None) -> TuningResult:
    """The spec's Optuna study as it stands: trial counts and the best trial so far.

    Creates the (empty) study if it does not exist yet. Safe to call from another thread
    or process while :func:`tune` or :func:`train` runs, e.g. to follow their progress.

    Raises:
        ModelSpecError: an invalid spec.
    """
    s = _settings(settings)
    study = open_study(
        load_spec(spec, s.resolved_model_dir),
        s.resolved_optuna_storage,
        heartbeat_interval=s.optuna_heartbeat_s,
        grace_period=s.optuna_grace_s,
    )
    try:
        return summarize(study)
    finally:
        close_study(study)


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
        InvalidTimeError: ``start`` or ``end`` is not a time.
        UnknownSymbolError: a symbol without prices.
        InsufficientHistoryError: no fold in the window.
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


def ablation(
    spec: str | Path,
    *,
    start: str,
    end: str,
    out: Path | None = None,
    n_boot: int = 1000,
    settings: Settings | None = None,
    command: str | None = None,
    on_variant: Callable[[str], None] | None = None,
) -> AblationResult:
    """Leave-one-family-out and family-alone variants of a spec, scored out of sample
    (see `downside ablation` and :func:`downside.workflows.run_ablation`); with ``out``,
    writes ``ablation.md``, ``ablation.csv`` and the losses there.

    Raises:
        ModelSpecError: an invalid spec.
        InvalidTimeError: ``start`` or ``end`` is not a time.
        InsufficientHistoryError: no fold in the window.
    """
    s = _settings(settings)
    result = run_ablation(
        load_spec(spec, s.resolved_model_dir),
        FeatureStore.from_settings(s),
        start=start,
        end=end,
        n_boot=n_boot,
        seed=s.seed,
        on_variant=on_variant,
    )
    if out is not None:
        write_ablation(result, out, command=command)
    return result


@dataclass
class Forecaster:
    """Answers "how likely is a 10% drop this week?" and "how likely does BTC lose 85,000?".

    Load registered models with :meth:`load`; features are read from the configured
    point-in-time store as of each requested time. After the first query, prices,
    volatility and features stay in memory until the store's version changes (an
    ingest), so further queries take milliseconds.

    Every answer row carries ``probability``, ``baseline_probability`` (a volatility-only
    first-passage model), ``p_reference`` (the model with no driver family switched on)
    and the points each driver family (``leverage, funding, etf_flows, rates,
    technical``) adds: exact Shapley values of the families, from LightGBM's TreeSHAP
    values summed per family and mapped through the calibrated link, so they sum to
    ``probability - p_reference``.

    Stale inputs: if a feature the model uses is older than its time-to-live at an as-of
    time, predictions raise :class:`~downside.errors.StaleDataError` naming the
    features and their ages in hours; pass ``allow_stale=True`` to get the rows anyway,
    computed with those features missing and listed in ``stale_features``.
    """

    drawdown: Predictor | None
    support: Predictor | None
    feature_store: FeatureStore
    sources: dict[str, ModelSource] = field(default_factory=dict)
    settings: Settings | None = None

    @classmethod
    def load(
        cls,
        drawdown_uri: str | None = "models:/downside-drawdown@{alias}",
        support_uri: str | None = "models:/downside-support@{alias}",
        *,
        alias: str = "champion",
        settings: Settings | None = None,
    ) -> Forecaster:
        """Load the champion models (or other aliases or URIs) from the configured registry.

        Args:
            drawdown_uri: MLflow URI of the drawdown model; ``{alias}`` is replaced by
                ``alias``; None loads no drawdown model.
            support_uri: the same for the support model.
            alias: registry alias, e.g. ``champion`` or ``challenger``.
            settings: default :func:`downside.config.load_settings`.

        Raises:
            ModelNotFoundError: a URI names no registered model version.
        """
        s = _settings(settings)
        predictors: dict[str, Predictor | None] = {}
        sources: dict[str, ModelSource] = {}
        for kind, uri in (("drawdown", drawdown_uri), ("support", support_uri)):
            if uri is None:
                predictors[kind] = None
                continue
            resolved = uri.replace("{alias}", alias)
            sources[kind] = resolve_model(resolved, s)
            predictors[kind] = load_predictor(resolved, s)
        return cls(
            drawdown=predictors["drawdown"],
            support=predictors["support"],
            feature_store=FeatureStore.from_settings(s),
            sources=sources,
            settings=s,
        )

    def predict_drawdown(
        self,
        symbols: Sequence[str] | str,
        asof: Any = None,
        thresholds: Sequence[float] | None = None,
        horizons: Sequence[float] | None = None,
        *,
        allow_stale: bool = False,
    ) -> pd.DataFrame:
        """P(price falls at least ``threshold`` below the last close within ``horizon``).

        Args:
            symbols: one symbol or several.
            asof: None for each symbol's latest known time; a time; or a batch (list,
                tuple, ``DatetimeIndex``, e.g. ``pd.date_range(...)``).
            thresholds: fractions (0.1 = 10%); default the trained grid.
            horizons: days; default the trained grid.
            allow_stale: answer even with stale inputs (see the class docstring).

        Returns:
            One row per (asof, symbol, threshold, horizon_days), sorted so: ``asof,
            symbol, threshold, horizon_days, probability, baseline_probability,
            p_reference``, the family points, ``leading_driver, ref_close,
            sigma_daily, stale_features``.

        Raises:
            PredictionInputError: unknown symbol, a threshold or horizon outside the
                trained range, an unreadable as-of time, or too little price history.
            StaleDataError: inputs the model uses are older than their time-to-live.
        """
        if self.drawdown is None:
            raise PredictionInputError(
                "no drawdown model loaded; pass drawdown_uri to Forecaster.load"
            )
        return self.drawdown.answer(
            self.feature_store,
            symbols=symbols,
            asof=asof,
            thresholds=thresholds,
            horizons=horizons,
            allow_stale=allow_stale,
        )

    def predict_support_break(
        self,
        symbol: str,
        levels: Sequence[float] | None = None,
        horizons: Sequence[float] | None = None,
        asof: Any = None,
        *,
        allow_stale: bool = False,
    ) -> pd.DataFrame:
        """P(``symbol`` closes below each level within each horizon).

        Args:
            symbol: e.g. ``"BTC"``.
            levels: price levels below the current price; None = auto-detected supports
                (swing lows, N-day lows, moving averages, volume nodes, round numbers).
            horizons: days; default the trained grid.
            asof: None for the latest known time, a time, or a batch of times.
            allow_stale: answer even with stale inputs (see the class docstring).

        Returns:
            ``asof, symbol, level, horizon_days, probability, baseline_probability,
            p_reference``, the family points, ``leading_driver, level_type,
            distance_pct, ref_close, sigma_daily, stale_features``; nearest level first.

        Raises:
            PredictionInputError: unknown symbol, a level at or above the price, or a
                horizon outside the trained range.
            StaleDataError: inputs the model uses are older than their time-to-live.
        """
        if self.support is None:
            raise PredictionInputError(
                "no support model loaded; pass support_uri to Forecaster.load"
            )
        return self.support.answer(
            self.feature_store,
            symbols=symbol,
            asof=asof,
            horizons=horizons,
            levels=levels,
            allow_stale=allow_stale,
        )


def _model_info(kind: str, source: ModelSource, settings: Settings, out: Path) -> ModelInfo:
    """What the registry knows about a model in use, for the report."""
    trained_until = None
    target = out / ".data_fingerprint.json"
    try:
        fingerprint = json.loads(
            run_artifact(source, "data_fingerprint.json", target, settings).read_text()
        )
        last = fingerprint.get("ohlcv_daily", {}).get("last_available_ts")
        trained_until = utc(last) if last else None
    except (TrackingError, ValueError):
        trained_until = None
    finally:
        target.unlink(missing_ok=True)
    try:
        png = run_artifact(
            source, "plots/reliability.png", out / f"reliability_{kind}.png", settings
        )
    except TrackingError as exc:
        return ModelInfo(source.describe(), trained_until, None, str(exc))
    return ModelInfo(source.describe(), trained_until, png)


def risk_report(
    symbol: str,
    out: Path,
    *,
    asof: Any = None,
    threshold: float = 0.10,
    horizon_days: float = 7.0,
    history_days: int = 365,
    forecaster: Forecaster | None = None,
    settings: Settings | None = None,
) -> RiskReport:
    """Write an HTML risk report with PNG figures for one symbol (see `downside report`
    and :func:`downside.workflows.risk_report`), with the reliability diagrams that the
    models' training runs logged.

    Raises:
        UnknownSymbolError: unknown symbol.
        PredictionInputError: threshold or horizon outside the trained range.
        InsufficientHistoryError: too little history at the report time.
        ModelNotFoundError: no registered models (when ``forecaster`` is None).
    """
    s = _settings(settings)
    fc = forecaster if forecaster is not None else Forecaster.load(settings=s)
    out.mkdir(parents=True, exist_ok=True)
    models = {kind: _model_info(kind, src, s, out) for kind, src in fc.sources.items()}
    return run_risk_report(
        symbol,
        out,
        drawdown=fc.drawdown,
        support=fc.support,
        feature_store=fc.feature_store,
        asof=asof,
        threshold=threshold,
        horizon_days=horizon_days,
        history_days=history_days,
        models=models,
    )


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
    symbols = list(fc.drawdown.spec.frame.symbols) if fc.drawdown else ["BTC"]
    symbol = symbols[0]
    surface = fc.predict_drawdown(symbols)
    supports = fc.predict_support_break(symbol)
    return QuickstartResult(
        results["drawdown"], results["support"], surface, supports, surface["asof"].max()
    )
