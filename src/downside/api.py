"""The Python API: the same functions the CLI and notebooks call.

>>> from downside import Forecaster                     # doctest: +SKIP
>>> fc = Forecaster.load()                               # doctest: +SKIP
>>> fc.predict_drawdown(["BTC"])                         # doctest: +SKIP
>>> fc.scenario(["BTC"], ["price-=10%", "funding=q99"])  # doctest: +SKIP

The daily loop of a risk desk: :func:`forecast` (update, forecast, record in the ledger,
write the report), :func:`evaluate` (score the matured forecasts; ``replay=`` fills in
past days), :func:`monitor` (drift, freshness, calibration decay).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from downside.config import Settings, load_settings
from downside.datasets import (
    ScenarioPreset,
    Shock,
    check_flag,
    check_number,
    check_path,
    check_request,
    check_spec_name,
    check_symbol,
    check_symbols,
    load_scenarios,
)
from downside.errors import PredictionInputError, Problem, ScenarioError, TrackingError
from downside.features import FeatureStore
from downside.models import (
    ModelSpec,
    Predictor,
    ScenarioResult,
    TuningResult,
    close_study,
    load_spec,
    open_study,
    run_scenario,
    summarize,
)
from downside.sources import simulate_market
from downside.store import IngestReport, Store, UpdateReport
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
    DailyForecast,
    Evaluation,
    FitResult,
    LedgerModel,
    ModelInfo,
    MonitorLimits,
    MonitorReport,
    RiskReport,
    count_by,
    daily_forecast,
    evaluate_ledger,
    fit_spec,
    read_ledger,
    record,
    replay_days,
    replay_rows,
    run_ablation,
    run_backtest,
    write_ablation,
    write_backtest,
    write_track_record,
)
from downside.workflows import monitor as run_monitor
from downside.workflows import risk_report as run_risk_report

Progress = Callable[[str], None]


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else load_settings()


def ingest_files(
    directory: Path,
    *,
    allow_null_updates: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    settings: Settings | None = None,
) -> IngestReport:
    """Validate and ingest a folder of table files into the store (see `downside ingest files`).

    ``allow_null_updates`` lets a missing value (NaN) replace a stored value; by default
    such rows are refused (rule ``null_overwrites_value``) and nothing is written.
    ``progress(step, done, total)`` is called before each step (validating, then merging
    each table) and at the end.
    """
    check_flag("allow_null_updates", allow_null_updates)
    directory = check_path("directory", directory)
    return Store.from_settings(_settings(settings)).ingest_files(
        directory, allow_null_updates=allow_null_updates, progress=progress
    )


def _spec(spec: str | Path, settings: Settings, folds: int | None = None) -> ModelSpec:
    loaded = load_spec(spec, settings.resolved_model_dir)
    if folds is not None:
        loaded = dataclasses.replace(loaded, tuning_folds=folds)
    return loaded


def _check_fit_arguments(spec: Any, trials: Any, workers: Any, timeout_s: Any, folds: Any) -> None:
    """The arguments of :func:`fit` and :func:`train`, before any work.

    Raises:
        PredictionInputError: the first argument of the wrong type or range, named.
    """
    check_spec_name(spec)
    check_number("trials", trials, "a whole number >= 0, or None", low=0, whole=True, optional=True)
    check_number("workers", workers, "a whole number >= 1 (tuning processes)", low=1, whole=True)
    check_number("timeout_s", timeout_s, "seconds >= 0, or None", low=0, optional=True)
    check_number("folds", folds, "a whole number >= 1, or None", low=1, whole=True, optional=True)


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
        PredictionInputError: an argument of the wrong type or range.
        ModelSpecError: an invalid spec.
        InsufficientHistoryError: too little data for the spec's walk-forward.
    """
    _check_fit_arguments(spec, trials, workers, timeout_s, folds)
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

    Raises:
        PredictionInputError: an argument of the wrong type or range (``trials`` >= 0,
            ``workers`` >= 1, ``timeout_s`` >= 0, ``folds`` >= 1; None for the defaults).
        ModelSpecError: an invalid spec.
    """
    _check_fit_arguments(spec, trials, workers, timeout_s, folds)
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
        PredictionInputError: ``end`` before ``start``; a spec, symbols, ``n_boot`` or
            ``out`` of the wrong type (``n_boot`` a whole number >= 1).
    """
    spec = check_spec_name(spec)
    symbols = None if symbols is None else check_symbols(symbols)
    check_number("n_boot", n_boot, "a whole number >= 1 (bootstrap replicates)", low=1, whole=True)
    out = None if out is None else check_path("out", out)
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
            ModelIntegrityError: a model file differs from the SHA-256 recorded at
                registration (checked before any of the artifact's code runs).
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
        check_flag("allow_stale", allow_stale)
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
            PredictionInputError: unknown symbol, not one symbol, a level at or above the
                price, or a horizon outside the trained range.
            StaleDataError: inputs the model uses are older than their time-to-live.
        """
        check_symbol(symbol)
        check_flag("allow_stale", allow_stale)
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

    def scenario(
        self,
        symbols: Sequence[str] | str,
        shocks: str | Shock | Sequence[str | Shock],
        *,
        target: Literal["drawdown", "support"] = "drawdown",
        asof: Any = None,
        thresholds: Sequence[float] | None = None,
        horizons: Sequence[float] | None = None,
        levels: Sequence[float] | None = None,
        allow_stale: bool = False,
    ) -> ScenarioResult:
        """What if inputs were otherwise: each probability beside its base case.

        Args:
            symbols: one symbol or several.
            shocks: a preset name (``"leverage_flush"``, see :func:`scenario_presets`), a
                :class:`~downside.datasets.Shock`, a shock in text form
                (``"price-=10%"``, ``"implied_vol+=20"``, ``"funding=q99"``,
                ``"etf_flows.etf_flow_total_sum_20obs=q5"``), or a list of them,
                applied in order; an empty list answers the base case.
            target: ``drawdown`` (the surface) or ``support`` (support-break odds).
            asof, thresholds, horizons, levels, allow_stale: as in
                :meth:`predict_drawdown` and :meth:`predict_support_break`.

        Returns:
            The table (base probability, scenario probability, change, change of the
            reference and of each family's points, inputs moved outside their training
            range), the inputs moved, unused inputs and support levels the shock put
            above the price; see :class:`~downside.models.ScenarioResult`.

        Raises:
            ScenarioError: an unknown preset, input or malformed shock.
            PredictionInputError: no model of that target, or a bad request.
            StaleDataError: stale inputs (unless ``allow_stale``).
        """
        predictor = self.drawdown if target == "drawdown" else self.support
        if predictor is None:
            raise PredictionInputError(
                f"no {target} model loaded; pass {target}_uri to Forecaster.load"
            )
        if target == "support" and isinstance(symbols, list | tuple) and len(symbols) != 1:
            raise PredictionInputError("support scenarios take one symbol at a time")
        request = check_request(
            predictor.spec.frame,
            self.feature_store,
            symbols=symbols,
            asof=asof,
            thresholds=thresholds if target == "drawdown" else None,
            horizons=horizons,
            levels=levels if target == "support" else None,
        )
        return run_scenario(
            predictor,
            self.feature_store,
            request,
            resolve_shocks(shocks, settings=self.settings),
            allow_stale=allow_stale,
        )


def scenario_presets(*, settings: Settings | None = None) -> dict[str, ScenarioPreset]:
    """The scenario presets of the configured folder (``scenarios/presets.toml``).

    Raises:
        ScenarioError: an invalid presets file (every problem, with file and line).
    """
    return load_scenarios(_settings(settings).resolved_scenario_dir)


def resolve_shocks(
    shocks: str | Shock | Sequence[str | Shock], *, settings: Settings | None = None
) -> list[Shock]:
    """Shocks from preset names, shocks and shocks in text form (in order).

    Raises:
        ScenarioError: an unknown preset name or a malformed shock.
    """
    items: Sequence[str | Shock] = [shocks] if isinstance(shocks, str | Shock) else shocks
    presets: dict[str, ScenarioPreset] | None = None
    out: list[Shock] = []
    for item in items:
        if isinstance(item, Shock):
            out.append(item)
        elif isinstance(item, str) and "=" in item:
            out.append(Shock.parse(item))
        elif isinstance(item, str):
            if presets is None:
                presets = scenario_presets(settings=settings)
            if item not in presets:
                raise ScenarioError(
                    [
                        Problem(
                            "scenario",
                            "unknown_preset",
                            1,
                            f"no preset {item!r}; presets: {', '.join(sorted(presets))} (or a "
                            "shock such as price-=10%)",
                        )
                    ]
                )
            out.extend(presets[item].shocks)
        else:
            raise ScenarioError(
                [
                    Problem(
                        "scenario",
                        "invalid_shock",
                        1,
                        f"expected a preset name, a Shock or a shock text, received {item!r}",
                    )
                ]
            )
    return out


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
        PredictionInputError: threshold or horizon outside the trained range; not one
            symbol, ``out`` not a path, ``threshold``, ``horizon_days`` or
            ``history_days`` not one number in range, ``forecaster`` not a Forecaster.
        InsufficientHistoryError: too little history at the report time.
        ModelNotFoundError: no registered models (when ``forecaster`` is None).
    """
    check_symbol(symbol)
    out = check_path("out", out)
    check_number(
        "threshold",
        threshold,
        "one fraction in (0, 1] (0.1 means 10%)",
        low=0,
        high=1,
        low_open=True,
    )
    check_number("horizon_days", horizon_days, "one number of days > 0", low=0, low_open=True)
    check_number("history_days", history_days, "a whole number of days >= 1", low=1, whole=True)
    if forecaster is not None and not isinstance(forecaster, Forecaster):
        raise PredictionInputError(
            f"forecaster must be a Forecaster or None, received {type(forecaster).__name__}"
        )
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


# ---------------------------------------------------------------------------- daily loop


def _ledger_models(fc: Forecaster) -> dict[str, LedgerModel]:
    """The forecaster's models with their registered names and versions."""
    out: dict[str, LedgerModel] = {}
    for kind, predictor in (("drawdown", fc.drawdown), ("support", fc.support)):
        if predictor is None:
            continue
        source = fc.sources.get(kind)
        name = source.name if source is not None and source.name else predictor.spec.registered_name
        version = source.version if source is not None and source.version else "unregistered"
        out[kind] = LedgerModel(predictor, name, str(version))
    return out


def _limits(settings: Settings) -> MonitorLimits:
    return MonitorLimits(
        window_days=settings.monitor_window_days,
        psi_alert=settings.monitor_psi_alert,
        drift_quantile=settings.monitor_drift_quantile,
        min_outside_share=settings.monitor_min_outside_share,
        max_price_age_hours=settings.monitor_max_price_age_hours,
        max_source_age_hours=settings.monitor_max_source_age_hours,
        min_skill=settings.monitor_min_skill,
        max_ece=settings.monitor_max_ece,
        min_days=settings.monitor_min_days,
    )


@dataclass(frozen=True)
class ForecastRun:
    """What :func:`forecast` did.

    Attributes:
        daily: the forecasts, the ledger records written and the freshness of the inputs.
        reports: per symbol, the risk report's ``index.html`` (empty without ``out``).
        folder: the day's report folder (``out/YYYY-MM-DD``), None without ``out``.
        updated: what ``update`` fetched, if it ran.
        ingested: what ``ingest`` ingested, if given.
        seconds: wall time of the run.
    """

    daily: DailyForecast
    reports: dict[str, Path]
    folder: Path | None
    updated: UpdateReport | None
    ingested: IngestReport | None
    seconds: float


def _atomic_reports(
    fc: Forecaster, symbols: Sequence[str], folder: Path, asof: pd.Timestamp, history_days: int
) -> dict[str, Path]:
    """Each symbol's risk report under ``folder/<SYMBOL>/``, written into a temporary
    sibling folder and renamed into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        found = {}
        for symbol in symbols:
            report = risk_report(
                symbol, tmp / symbol, asof=asof, forecaster=fc, history_days=history_days
            )
            found[symbol] = folder / symbol / report.index.name
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
        return found
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def forecast(
    *,
    symbols: Sequence[str] | None = None,
    update: bool = False,
    sources: Sequence[str] | None = None,
    ingest: Path | None = None,
    out: Path | None = None,
    alias: str = "champion",
    now: Any = None,
    history_days: int = 365,
    forecaster: Forecaster | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> ForecastRun:
    """The daily job (see `downside forecast`): optionally refresh the store (``update``
    from live ``sources``, or ``ingest`` a folder of files), forecast the surface and the
    support-break odds of the universe at the latest as-of time with the ``alias``
    models, append them to the forecast ledger and, with ``out``, write each symbol's
    HTML risk report under ``out/YYYY-MM-DD/SYMBOL/``.

    A rerun the same day records nothing new and leaves an existing report folder as it
    is. Stale inputs do not stop the run: ``result.daily.stale`` says what is stale.

    Raises:
        ModelNotFoundError: no registered models under ``alias``.
        SourceError: an update source failed (nothing else ran).
        SchemaError: the ingested files are invalid.
        UnknownSymbolError, InsufficientHistoryError: the universe cannot be forecast.
    """
    started = time.perf_counter()
    s = _settings(settings)
    say = progress or (lambda _msg: None)
    store = Store.from_settings(s)
    updated = ingested = None
    if ingest is not None:
        say(f"ingesting {ingest}")
        ingested = store.ingest_files(ingest)
    if update:
        from downside.sources.live import make_connectors
        from downside.store import update as run_update

        say("updating live sources")
        updated = run_update(store, make_connectors(sources, settings=s), symbols=symbols)
    fc = forecaster if forecaster is not None else Forecaster.load(alias=alias, settings=s)
    say("forecasting and recording in the ledger")
    daily = daily_forecast(
        _ledger_models(fc),
        fc.feature_store,
        symbols=symbols,
        now=now,
        max_price_age_hours=s.monitor_max_price_age_hours,
        max_source_age_hours=s.monitor_max_source_age_hours,
    )
    reports: dict[str, Path] = {}
    folder = None
    if out is not None:
        folder = out / f"{daily.asof:%Y-%m-%d}"
        names = sorted({str(x) for a in daily.answers.values() for x in a["symbol"]})
        if folder.is_dir() and daily.recorded == 0:
            reports = {n: folder / n / "index.html" for n in names if (folder / n).is_dir()}
        else:
            say(f"writing the risk reports to {folder}")
            reports = _atomic_reports(fc, names, folder, daily.asof, history_days)
    return ForecastRun(daily, reports, folder, updated, ingested, time.perf_counter() - started)


@dataclass(frozen=True)
class EvaluationRun:
    """What :func:`evaluate` did.

    Attributes:
        evaluation: the scores (see :class:`downside.workflows.Evaluation`).
        records: ledger records per model version.
        replayed: per model version, ledger records a replay inserted (and how many were
            already there).
        files: the report files (empty without ``out``).
        run_id: the MLflow monitoring run (None when not logged).
        monitor: the monitoring checks, when asked for.
    """

    evaluation: Evaluation
    records: dict[str, int]
    replayed: dict[str, tuple[int, int]]
    files: list[Path]
    run_id: str | None
    monitor: MonitorReport | None = None


_KINDS: dict[str, tuple[str, ...]] = {
    "all": ("drawdown", "support"),
    "drawdown": ("drawdown",),
    "support": ("support",),
}


def _specs(settings: Settings, kinds: Sequence[str]) -> dict[str, ModelSpec]:
    return {kind: load_spec(kind, settings.resolved_model_dir) for kind in kinds}


def evaluate(
    *,
    replay: tuple[Any, Any] | None = None,
    model: Literal["all", "drawdown", "support"] = "all",
    version: str | None = None,
    alias: str = "champion",
    out: Path | None = None,
    n_boot: int = 500,
    log: bool = True,
    check: bool = False,
    now: Any = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> EvaluationRun:
    """Score every matured ledger forecast (see `downside evaluate`).

    Args:
        replay: ``(FROM, TO)``: first fill the ledger with what the ``alias`` model (or
            ``version``) would have said on each day from FROM to TO, strictly point in
            time (refused for a model trained on data of those days).
        model: which models: ``drawdown``, ``support`` or ``all``.
        version: a registered version to replay (default: the ``alias`` version).
        alias: registry alias of the replayed and monitored models.
        out: folder for the report (``index.html``, CSVs, figures).
        n_boot: bootstrap replicates per interval.
        log: log a monitoring run to MLflow.
        check: also run the monitoring checks (:func:`monitor`) and report them.
        now: the wall clock of the freshness checks (default: now).

    Raises:
        LookAheadError: a replay of days the model's training data reached.
        ModelNotFoundError: no such registered model, version or alias.
        InvalidTimeError: FROM or TO is not a time.
    """
    s = _settings(settings)
    say = progress or (lambda _msg: None)
    kinds = _KINDS[model]
    store = Store.from_settings(s)
    fs = FeatureStore.from_settings(s)
    specs: dict[str, ModelSpec] = {}
    replayed: dict[str, tuple[int, int]] = {}
    replay_text = None
    if replay is not None:
        from downside.tracking import training_data_end

        for kind in kinds:
            name = f"downside-{kind}"
            uri = f"models:/{name}/{version}" if version else f"models:/{name}@{alias}"
            source = resolve_model(uri, s)
            predictor = load_predictor(uri, s)
            specs[kind] = predictor.spec
            ledger_model = LedgerModel(predictor, str(source.name), str(source.version))
            days = replay_days(fs, predictor.spec.frame.symbols, replay[0], replay[1])
            say(f"replaying {ledger_model.describe()} over {len(days)} days")
            rows = replay_rows(ledger_model, fs, days, trained_until=training_data_end(source, s))
            report = record(store, rows, origin=f"replay {days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}")
            entry = report.table("forecast_ledger")
            replayed[ledger_model.describe()] = (entry.inserted, entry.unchanged)
        replay_text = f"{replay[0]}..{replay[1]}"
    ledger = read_ledger(store)
    ledger = ledger[ledger["target"].isin(kinds)].reset_index(drop=True)
    missing = [k for k in dict.fromkeys(ledger["target"]) if k not in specs]
    specs |= _specs(s, missing)
    say(f"scoring {len(ledger):,} ledger records")
    evaluation = evaluate_ledger(
        ledger,
        fs,
        specs,
        n_boot=n_boot,
        seed=s.seed,
        window_days=s.monitor_window_days,
    )
    checks = None
    if check:
        checks = monitor(alias=alias, evaluation=evaluation, now=now, settings=s)
    files: list[Path] = []
    records = dict(count_by(ledger))
    if out is not None:
        files = write_track_record(evaluation, out, monitor=checks, records=records)
    run_id = None
    if log:
        from downside.tracking import log_monitoring

        run_id = log_monitoring(
            evaluation, s, report=checks, folder=out, models=list(records), replayed=replay_text
        )
    return EvaluationRun(evaluation, records, replayed, files, run_id, checks)


def monitor(
    *,
    alias: str = "champion",
    evaluation: Evaluation | None = None,
    now: Any = None,
    forecaster: Forecaster | None = None,
    settings: Settings | None = None,
) -> MonitorReport:
    """Input drift, source staleness and calibration decay of the ``alias`` models
    (see `downside monitor`), with the limits of the ``monitor_*`` settings.

    Args:
        alias: registry alias of the models checked.
        evaluation: the track record (default: scored now from the ledger, with fewer
            bootstrap replicates).
        now: the wall clock of the freshness checks (default: now).
        forecaster: the models (default: loaded from the registry).

    Raises:
        ModelNotFoundError: no registered models under ``alias``.
    """
    s = _settings(settings)
    fc = forecaster if forecaster is not None else Forecaster.load(alias=alias, settings=s)
    models = _ledger_models(fc)
    if evaluation is None:
        store = fc.feature_store.store
        assert isinstance(store, Store)
        ledger = read_ledger(store, models=[m.name for m in models.values()])
        evaluation = evaluate_ledger(
            ledger,
            fc.feature_store,
            {k: m.predictor.spec for k, m in models.items()},
            n_boot=200,
            seed=s.seed,
            window_days=s.monitor_window_days,
        )
    return run_monitor(models, fc.feature_store, evaluation, now=now, limits=_limits(s))
