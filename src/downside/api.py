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

import numpy as np
import pandas as pd

from downside.config import Settings, load_settings
from downside.errors import PredictionInputError, TrackingError
from downside.evaluation import (
    ReportSection,
    contribution_bars,
    drawdown_history,
    realized_drawdown,
    support_chart,
    surface_heatmap,
    write_html_report,
)
from downside.features import FeatureStore
from downside.models import (
    FAMILIES,
    BacktestResult,
    Predictor,
    TuningResult,
    load_spec,
    run_backtest,
    write_backtest,
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


_HISTORY_WARMUP = pd.Timedelta(days=30)
"""History a report skips after a symbol's first bar (the volatility needs 20 bars)."""


def _as_utc(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise PredictionInputError(
            f"cannot read as-of time {value!r}: expected a time such as '2024-12-09' or "
            "'2024-12-09T00:00Z' (UTC when no zone is given)"
        ) from exc
    if pd.isna(ts):
        raise PredictionInputError(f"as-of time {value!r} is missing (NaT)")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _is_batch(asof: Any) -> bool:
    return isinstance(asof, pd.DatetimeIndex | pd.Series | list | tuple) or (
        hasattr(asof, "__array__") and getattr(asof, "ndim", 0) == 1
    )


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

    def _spine(self, symbols: Sequence[str], asof: Any) -> pd.DataFrame:
        known = self.feature_store.symbols()
        names = [s.strip().upper() for s in symbols]
        unknown = [s for s in names if s not in known]
        if unknown or not names:
            raise PredictionInputError(
                f"unknown symbol(s) {unknown or names}: the store has prices for {known}; "
                "ingest their data or pick some of these"
            )
        rows = []
        for symbol in dict.fromkeys(names):
            if asof is None:
                times = [self.feature_store.latest_asof(symbol)]
            elif _is_batch(asof):
                times = [_as_utc(a) for a in asof]
            else:
                times = [_as_utc(asof)]
            rows += [(symbol, t) for t in times]
        if not rows:
            raise PredictionInputError("no as-of times given: pass None, a time or a list")
        return pd.DataFrame(
            {
                "symbol": pd.array([r[0] for r in rows], dtype="str"),
                "asof": pd.DatetimeIndex([r[1] for r in rows]).as_unit("us"),
            }
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
        syms = [symbols] if isinstance(symbols, str) else list(symbols)
        return self.drawdown.predict(
            self.feature_store,
            self._spine(syms, asof),
            thresholds=thresholds,
            horizons_days=horizons,
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
        spine = self._spine([symbol], asof)
        rows = None
        if levels is not None:
            rows = pd.DataFrame(
                [(s, a, float(lv)) for s, a in spine.itertuples(index=False) for lv in levels],
                columns=["symbol", "asof", "level"],
            )
            rows["asof"] = rows["asof"].astype("datetime64[us, UTC]")
        return self.support.predict(
            self.feature_store,
            spine,
            horizons_days=horizons,
            levels=rows,
            allow_stale=allow_stale,
        )


@dataclass(frozen=True)
class RiskReport:
    """What :func:`risk_report` wrote."""

    index: Path
    files: list[Path]
    asof: pd.Timestamp
    stale_features: list[str]


def _percent_grid(surface: pd.DataFrame) -> pd.DataFrame:
    grid = surface.pivot_table(index="threshold", columns="horizon_days", values="probability")
    table = pd.DataFrame({"drawdown": [f">= {100 * t:g}%" for t in grid.index]})
    for h in grid.columns:
        table[f"{h:g}d"] = [f"{100 * p:.1f}%" for p in grid[h]]
    return table


def _training_end(source: ModelSource | None, settings: Settings, out: Path) -> pd.Timestamp | None:
    """Last available time of the daily bars the model's training run saw, if known."""
    if source is None:
        return None
    target = out / ".data_fingerprint.json"
    try:
        fingerprint = json.loads(
            run_artifact(source, "data_fingerprint.json", target, settings).read_text()
        )
    except (TrackingError, ValueError):
        return None
    finally:
        target.unlink(missing_ok=True)
    last = fingerprint.get("ohlcv_daily", {}).get("last_available_ts")
    return _as_utc(last) if last else None


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
    """Write an HTML risk report with PNG figures for one symbol (see `downside report`).

    The page shows the P(drawdown) surface as a heatmap, the history of P(drawdown >=
    ``threshold`` within ``horizon_days``) against the drawdowns that followed, the
    support levels with their break probabilities on a price chart, the driver-family
    contributions, and the reliability diagram logged when each model in use was
    trained (out-of-sample, purged walk-forward folds). Stale inputs do not stop the
    report: they are listed at the top.

    Args:
        symbol: e.g. ``"BTC"``.
        out: output folder (created; existing files of the same names are replaced).
        asof: the report time; None for the latest known time.
        threshold: drawdown threshold of the history and contributions (fraction).
        horizon_days: horizon of the history, the support chart and contributions.
        history_days: days of history shown.
        forecaster: models to use; default :meth:`Forecaster.load` with ``settings``.
        settings: default :func:`downside.config.load_settings`.

    Raises:
        PredictionInputError: unknown symbol, threshold or horizon outside the trained
            range, or too little history.
        ModelNotFoundError: no registered models (when ``forecaster`` is None).
    """
    s = _settings(settings)
    fc = forecaster if forecaster is not None else Forecaster.load(settings=s)
    fs = fc.feature_store
    sym = symbol.strip().upper()
    when = fc._spine([sym], asof)["asof"].iloc[0]
    out.mkdir(parents=True, exist_ok=True)
    prices = fs.store.prices("1d", fs.daily_venues, [sym])
    prices = prices[prices["available_ts"] <= when].reset_index(drop=True)
    sections: list[ReportSection] = []
    stale: set[str] = set()
    files: list[Path] = []
    when_text = f"{when:%Y-%m-%d %H:%M} UTC"

    if fc.drawdown is not None:
        surface = fc.predict_drawdown(sym, asof=when, allow_stale=True)
        stale |= {n for v in surface["stale_features"] for n in v.split(",") if n}
        files.append(
            surface_heatmap(
                surface, out / "surface.png", title=f"{sym}: P(drawdown) as of {when_text}"
            )
        )
        sections.append(
            ReportSection(
                "Probability surface",
                "Probability that the price falls at least X below the last close within H days.",
                files[-1],
                _percent_grid(surface),
            )
        )
        first = prices["available_ts"].min().ceil("D") + _HISTORY_WARMUP
        start = max(first, when - pd.Timedelta(days=history_days))
        times = pd.date_range(start.ceil("D"), when, freq="D", unit="us")
        history = fc.predict_drawdown(
            sym, asof=times, thresholds=[threshold], horizons=[horizon_days], allow_stale=True
        )
        history["realized_drawdown"] = realized_drawdown(
            prices, history["asof"], horizon_days
        ).to_numpy()
        trained_until = _training_end(fc.sources.get("drawdown"), s, out)
        files.append(
            drawdown_history(
                history,
                out / "history.png",
                threshold=threshold,
                horizon_days=horizon_days,
                title=f"{sym}: forecast vs realized",
                trained_until=trained_until,
            )
        )
        hits = int((history["realized_drawdown"] <= -threshold).sum())
        known = int(history["realized_drawdown"].notna().sum())
        sections.append(
            ReportSection(
                f"P(drawdown >= {100 * threshold:g}% within {horizon_days:g} days) over time",
                f"{known} as-of days with a known outcome, {hits} followed by such a drawdown; "
                f"mean forecast {100 * history['probability'].mean():.1f}%. Forecasts use only "
                "data known at each day"
                + (
                    f"; the model was trained on data up to {trained_until:%Y-%m-%d}, so "
                    "points before that date are in-sample fits, not forecasts."
                    if trained_until is not None
                    else "."
                ),
                files[-1],
            )
        )
        rows = surface[np.isclose(surface["threshold"], threshold)].copy()
        rows["label"] = [f"P(>= {100 * threshold:g}% in {h:g}d)" for h in rows["horizon_days"]]
        files.append(
            contribution_bars(
                rows,
                out / "drivers.png",
                label="label",
                families=FAMILIES,
                title=f"{sym}: what moves P(drawdown) as of {when_text}",
            )
        )
        sections.append(
            ReportSection(
                "Driver contributions",
                "Probability points each driver family adds to the reference probability "
                "(the model with no family switched on); exact Shapley values of the "
                "families, from LightGBM's TreeSHAP values.",
                files[-1],
            )
        )

    if fc.support is not None:
        supports = fc.predict_support_break(sym, asof=when, allow_stale=True)
        stale |= {n for v in supports["stale_features"] for n in v.split(",") if n}
        recent = prices[prices["event_ts"] >= when - pd.Timedelta(days=180)]
        files.append(
            support_chart(
                recent,
                supports,
                out / "supports.png",
                horizon_days=horizon_days,
                title=f"{sym}: supports as of {when_text}",
            )
        )
        at_h = supports[np.isclose(supports["horizon_days"], horizon_days)].copy()
        table = pd.DataFrame(
            {
                "level": [f"{v:,.2f}" for v in at_h["level"]],
                "type": at_h["level_type"].astype(str),
                "below price": [f"{100 * v:.1f}%" for v in at_h["distance_pct"]],
                f"P(break in {horizon_days:g}d)": [f"{100 * p:.1f}%" for p in at_h["probability"]],
                "baseline": [f"{100 * p:.1f}%" for p in at_h["baseline_probability"]],
                "leading driver": at_h["leading_driver"].astype(str),
            }
        )
        sections.append(
            ReportSection(
                "Support levels",
                "Auto-detected supports below the last close and the probability of a daily "
                f"close below each within {horizon_days:g} days.",
                files[-1],
                table,
            )
        )
        if not at_h.empty:
            at_h["label"] = [
                f"{v:,.0f} {t}" for v, t in zip(at_h["level"], at_h["level_type"], strict=True)
            ]
            files.append(
                contribution_bars(
                    at_h,
                    out / "drivers_support.png",
                    label="label",
                    families=FAMILIES,
                    title=f"{sym}: what moves P(break within {horizon_days:g}d)",
                )
            )
            sections.append(ReportSection("Driver contributions to support breaks", "", files[-1]))

    for kind, source in fc.sources.items():
        target = out / f"reliability_{kind}.png"
        try:
            files.append(run_artifact(source, "plots/reliability.png", target, s))
        except TrackingError as exc:
            sections.append(ReportSection(f"Reliability of the {kind} model", str(exc)))
            continue
        sections.append(
            ReportSection(
                f"Reliability of the {kind} model",
                f"{source.describe()}: out-of-sample forecasts on the purged walk-forward "
                "folds of its training run against observed frequencies (dashed: perfect "
                "calibration), with the baselines.",
                files[-1],
            )
        )
    models = ", ".join(src.describe() for src in fc.sources.values()) or "models given in code"
    intro = f"{sym} as of {when_text}. Models: {models}."
    if stale:
        intro += (
            f" Stale inputs (older than their time-to-live, treated as missing): "
            f"{', '.join(sorted(stale))}."
        )
    index = write_html_report(out, f"downside risk report: {sym}", intro, sections)
    return RiskReport(index, [index, *files], when, sorted(stale))


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
