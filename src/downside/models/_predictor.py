"""A trained model with everything needed to answer questions at any as-of time.

The same object serves the Python API (:class:`downside.api.Forecaster`) and the MLflow
pyfunc, so both give identical answers.

Speed. After the first query a predictor keeps in memory, per feature-store cache key
(it includes the store version, so any ingest makes the next query reload): the
venue-stitched daily prices with their causal EWMA volatility, and the model's features
at every daily as-of time (00:00 UTC) of the last three years per symbol; once per
model it builds the grouped TreeSHAP tables of :mod:`downside.models._treeshap`. Other
as-of times read the feature store (which keeps its own tables in memory). A drawdown
query then needs no pandas merge: features and the reference close and volatility are
found by binary search and the (threshold, horizon) grid is stacked in NumPy, computed
exactly as :func:`downside.datasets.drawdown_frame` does (a test compares both).
Support queries go through :func:`downside.models.assemble` (level detection). The
probability is the model's own (its booster, base margin and calibrator); the driver
points are :func:`downside.models.shapley_by_family` of the TreeSHAP values.

Stale inputs. A feature the model splits on whose value at the as-of time is older
than its time-to-live (``FeatureStore.stale``) makes :meth:`Predictor.predict` raise
:class:`~downside.errors.StaleDataError` naming the features and their ages. With
``allow_stale=True`` the rows are returned instead, computed with those features
missing (as the feature store serves them: NaN, which the trees route like any missing
value), and the ``stale_features`` column lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.errors import PredictionInputError, StaleDataError
from downside.features import FeatureStore
from downside.models._baselines import GBMFirstPassage
from downside.models._explain import QUERY, shapley_by_family
from downside.models._pipeline import assemble, daily_prices
from downside.models._spec import FAMILIES, ModelSpec, parse_spec
from downside.models._surface import DrawdownSurface, SupportBreakModel
from downside.models._treeshap import GroupedTreeShap
from downside.targets import volatility

STATE_VERSION = 1
GROUPS: tuple[str, ...] = (QUERY, *FAMILIES)
"""Column groups of the explanations: always-on query columns, then the families."""

FloatArray = npt.NDArray[np.float64]

_DAILY_CACHE_DAYS = 3 * 365
"""Daily as-of times per symbol whose features a predictor keeps in memory (the most
recent ones; other times are read from the feature store)."""


@dataclass
class _Prices:
    """Daily reference data of one store version: per symbol, bar availability times
    (int64 µs), closes and the EWMA volatility known at each bar."""

    key: tuple[Any, ...]
    frame: pd.DataFrame
    series: dict[str, tuple[npt.NDArray[np.int64], FloatArray, FloatArray]]


@dataclass
class _DailyFeatures:
    """The model's features at every daily as-of time (00:00 UTC) of every symbol, for
    one feature-store cache key: per symbol the as-of times (int64 µs) and values."""

    key: str
    series: dict[str, tuple[npt.NDArray[np.int64], FloatArray]]


@dataclass
class _Runtime:
    """What a predictor computes once and keeps (not part of its state)."""

    explainer: GroupedTreeShap | None = None
    explainer_error: str | None = None
    prices: _Prices | None = None
    used: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None
    daily: _DailyFeatures | None = None


@dataclass(frozen=True)
class Predictor:
    """A fitted model, its spec and the column roles it was trained with."""

    spec: ModelSpec
    spec_text: str
    model: DrawdownSurface | SupportBreakModel
    input_columns: tuple[str, ...]
    families: Mapping[str, str]
    _runtime: _Runtime = field(default_factory=_Runtime, init=False, compare=False, repr=False)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state; the booster is kept in LightGBM's text format."""
        return {
            "version": STATE_VERSION,
            "spec_text": self.spec_text,
            "model": self.model.to_state(),
            "input_columns": list(self.input_columns),
            "families": dict(self.families),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Predictor:
        spec = parse_spec(state["spec_text"], source="<registered model>")
        model_cls = DrawdownSurface if spec.target == "drawdown" else SupportBreakModel
        return cls(
            spec=spec,
            spec_text=state["spec_text"],
            model=model_cls.from_state(state["model"]),
            input_columns=tuple(state["input_columns"]),
            families=dict(state["families"]),
        )

    # ------------------------------------------------------------------ checks

    def _check_range(self, name: str, values: Sequence[float], trained: Sequence[float]) -> None:
        lo, hi = min(trained), max(trained)
        bad = [v for v in values if not lo <= v <= hi]
        if bad:
            hint = " (thresholds are fractions: 0.1 means 10%)" if name == "thresholds" else ""
            raise PredictionInputError(
                f"{name} {bad} outside the trained range [{lo:g}, {hi:g}] of model "
                f"{self.spec.registered_name}{hint}; ask within the range or retrain with a "
                "wider grid"
            )

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Input columns read from the feature store (the rest are query columns)."""
        if self._runtime.features is None:
            self._runtime.features = tuple(c for c in self.input_columns if "." in c)
        return self._runtime.features

    def used_features(self) -> tuple[str, ...]:
        """Feature-store columns the trees split on: the ones whose staleness matters."""
        if self._runtime.used is None:
            counts = self.model.booster_.feature_importance(importance_type="split")
            split = {n for n, c in zip(self.model.feature_names_, counts, strict=True) if c > 0}
            self._runtime.used = tuple(c for c in self.feature_columns if c in split)
        return self._runtime.used

    # ------------------------------------------------------------------ caches

    def _features(self, feature_store: FeatureStore, keys: pd.DataFrame, key: str) -> FloatArray:
        """The model's features at each key, from the daily cache where the as-of time is
        a midnight it covers, else read from the feature store."""
        names = list(self.feature_columns)
        daily = self._runtime.daily
        if daily is None or daily.key != key:
            series = {}
            for symbol in feature_store.symbols():
                last = feature_store.latest_asof(symbol)
                times = pd.date_range(end=last, periods=_DAILY_CACHE_DAYS, freq="D", unit="us")
                grid = pd.DataFrame({"symbol": pd.array([symbol] * len(times), "str")})
                grid["asof"] = times
                frame = feature_store.get_features(grid, names)
                series[symbol] = (
                    np.asarray(times.asi8, dtype=np.int64),
                    frame.iloc[:, 2:].to_numpy(dtype=np.float64),
                )
            daily = self._runtime.daily = _DailyFeatures(key, series)
        asof = np.asarray(keys["asof"].to_numpy(dtype="datetime64[us]").view("int64"))
        symbols = keys["symbol"].to_numpy(dtype=object)
        out = np.empty((len(keys), len(names)), dtype=np.float64)
        todo = np.ones(len(keys), dtype=bool)
        for symbol in pd.unique(symbols):
            rows = np.flatnonzero(symbols == symbol)
            cached, values = daily.series[str(symbol)]
            pos = np.searchsorted(cached, asof[rows])
            hit = (pos < len(cached)) & (cached[np.minimum(pos, len(cached) - 1)] == asof[rows])
            out[rows[hit]] = values[pos[hit]]
            todo[rows[hit]] = False
        if todo.any():
            missing = keys.iloc[np.flatnonzero(todo)]
            out[todo] = (
                feature_store.get_features(missing, names).iloc[:, 2:].to_numpy(dtype=np.float64)
            )
        return out

    def _prices(self, feature_store: FeatureStore, version: str) -> _Prices:
        key = (version, feature_store.daily_venues)
        cached = self._runtime.prices
        if cached is not None and cached.key == key:
            return cached
        frame = daily_prices(feature_store, feature_store.symbols())
        frame = frame.sort_values(["symbol", "event_ts"], kind="stable").reset_index(drop=True)
        vol = volatility(frame)
        symbols = frame["symbol"].astype(str).to_numpy(dtype=object)
        available = np.asarray(frame["available_ts"].to_numpy(dtype="datetime64[us]").view("int64"))
        close = frame["close"].to_numpy(dtype=np.float64)
        sigma = vol["sigma_ewma"].to_numpy(dtype=np.float64)
        series = {}
        for symbol in pd.unique(symbols):
            rows = np.flatnonzero(symbols == symbol)
            series[str(symbol)] = (available[rows], close[rows], sigma[rows])
        self._runtime.prices = _Prices(key, frame, series)
        return self._runtime.prices

    def _explainer(self) -> GroupedTreeShap | None:
        runtime = self._runtime
        if runtime.explainer is None and runtime.explainer_error is None:
            names = self.model.feature_names_
            groups = [GROUPS.index(self._family(c)) for c in names]
            try:
                runtime.explainer = GroupedTreeShap(
                    self.model.booster_.dump_model(), groups, len(GROUPS)
                )
            except ValueError as exc:
                runtime.explainer_error = str(exc)
        return runtime.explainer

    def _family(self, column: str) -> str:
        if column in self.families:
            return self.families[column]
        return QUERY if column in self.model.always_on else "technical"

    # ------------------------------------------------------------------ predict

    def predict(
        self,
        feature_store: FeatureStore,
        spine: pd.DataFrame,
        *,
        thresholds: Sequence[float] | None = None,
        horizons_days: Sequence[float] | None = None,
        levels: pd.DataFrame | None = None,
        allow_stale: bool = False,
    ) -> pd.DataFrame:
        """Probabilities, the volatility baseline and family contributions.

        Args:
            feature_store: where features and prices are read, as of each spine time.
            spine: ``symbol, asof`` rows (UTC); duplicates are answered once.
            thresholds: drawdown fractions (drawdown models); default the trained grid.
            horizons_days: horizons; default the trained grid.
            levels: support models: ``symbol, asof, level`` rows; None = auto-detected.
            allow_stale: answer even where features the model uses are older than
                their time-to-live (they are treated as missing and listed in
                ``stale_features``) instead of raising.

        Returns:
            Sorted by ``asof``, ``symbol``, then the grid: ``asof, symbol, threshold``
            (drawdown) or ``level`` (support), ``horizon_days, probability,
            baseline_probability, p_reference``, the five family contributions in
            probability points (they sum to ``probability - p_reference``),
            ``leading_driver``, then ``level_type, distance_pct`` (support),
            ``ref_close, sigma_daily`` and ``stale_features`` (comma-separated names,
            empty when none).

        Raises:
            PredictionInputError: unknown symbol, a threshold or horizon outside the
                trained range, a support level at or above the price, or an as-of time
                with too little price history.
            StaleDataError: features the model uses are older than their TTL at an
                as-of time (unless ``allow_stale``).
        """
        known = set(feature_store.symbols())
        unknown = sorted(set(spine["symbol"]) - known)
        if unknown:
            raise PredictionInputError(
                f"unknown symbol(s) {unknown}: the store has prices for {sorted(known)}; "
                "ingest data for the symbol or pick one of these"
            )
        horizons = [float(h) for h in (horizons_days or self.spec.horizons_days)]
        self._check_range("horizons_days", horizons, self.spec.horizons_days)
        keys = pd.DataFrame(
            {
                "symbol": spine["symbol"].astype("str").array,
                "asof": spine["asof"].astype("datetime64[us, UTC]").array,
            }
        )
        if len(keys) > 1:
            keys = (
                keys.drop_duplicates()
                .sort_values(["asof", "symbol"], kind="stable")
                .reset_index(drop=True)
            )
        version = feature_store.cache_key()
        prices = self._prices(feature_store, version)
        ref_close, sigma = self._reference(prices, keys)
        values = self._features(feature_store, keys, version)
        stale = self._stale(feature_store, keys, values, allow_stale)
        if self.spec.target == "drawdown":
            grid = [float(t) for t in (thresholds or self.spec.thresholds)]
            self._check_range("thresholds", grid, self.spec.thresholds)
            rows, matrix, row_group = self._drawdown_rows(values, ref_close, sigma, grid, horizons)
            extra: tuple[str, ...] = ()
        else:
            rows, matrix, row_group = self._support_rows(feature_store, keys, levels, horizons)
            extra = ("level_type", "distance_pct")
        kind = "threshold" if self.spec.target == "drawdown" else "level"
        columns: dict[str, Any] = {
            "asof": keys["asof"].array.take(row_group),
            "symbol": keys["symbol"].array.take(row_group),
            kind: rows[kind],
            "horizon_days": rows["horizon_days"],
        }
        columns |= self._score(rows, matrix, row_group)
        for column in (*extra, "ref_close", "sigma_daily"):
            columns[column] = rows[column]
        columns["stale_features"] = (
            pd.array(stale[row_group], dtype="str")
            if stale.any()
            else pd.array(np.full(len(row_group), ""), dtype="str")
        )
        return pd.DataFrame(columns)

    def _reference(self, prices: _Prices, keys: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
        """Last close and EWMA volatility known at each key's as-of time."""
        asof = np.asarray(keys["asof"].to_numpy(dtype="datetime64[us]").view("int64"))
        ref = np.full(len(keys), np.nan)
        sig = np.full(len(keys), np.nan)
        problems: list[str] = []
        symbols = keys["symbol"].to_numpy(dtype=object)
        for symbol in pd.unique(symbols):
            rows = np.flatnonzero(symbols == symbol)
            avail, close, vol = prices.series[str(symbol)]
            j = np.searchsorted(avail, asof[rows], side="right") - 1
            ok = j >= 0
            ref[rows[ok]] = close[j[ok]]
            sig[rows[ok]] = vol[j[ok]]
            bad = rows[~(sig[rows] > 0)]
            if bad.size:
                first = pd.Timestamp(int(asof[bad[0]]), unit="us", tz="UTC")
                problems.append(
                    f"{symbol} at {first:%Y-%m-%d %H:%M} UTC"
                    + (f" (and {bad.size - 1} more)" if bad.size > 1 else "")
                )
        if problems:
            raise PredictionInputError(
                f"too little price history for {'; '.join(problems)}: a forecast needs the "
                "volatility of at least 20 daily bars known at the as-of time; ask for a "
                "later asof or ingest earlier bars"
            )
        return ref, sig

    def _stale(
        self,
        feature_store: FeatureStore,
        keys: pd.DataFrame,
        values: FloatArray,
        allow_stale: bool,
    ) -> npt.NDArray[np.object_]:
        """Comma-separated stale features per key, or raise :class:`StaleDataError`.

        A stale value is served as NaN, so only keys with a missing used feature are
        checked (a missing value may also never have been published, which is not stale).
        """
        used = list(self.used_features())
        out = np.full(len(keys), "", dtype=object)
        if not used:
            return out
        position = {n: j for j, n in enumerate(self.feature_columns)}
        missing = np.isnan(values[:, [position[n] for n in used]]).any(axis=1)
        candidates = np.flatnonzero(missing)
        if candidates.size == 0:
            return out
        checked = feature_store.stale(keys.iloc[candidates], used)[used].to_numpy(dtype=bool)
        flags = np.zeros((len(keys), len(used)), dtype=bool)
        flags[candidates] = checked
        hit = np.flatnonzero(flags.any(axis=1))
        if hit.size == 0:
            return out
        if not allow_stale:
            first = int(hit[0])
            names = [n for n, f in zip(used, flags[first], strict=True) if f]
            ages = feature_store.feature_ages(keys.iloc[[first]], names)
            row = keys.iloc[first]
            where = f"{row['asof']:%Y-%m-%d %H:%M} UTC for {row['symbol']}"
            if hit.size > 1:
                where += f" (and {hit.size - 1} more as-of row(s))"
            raise StaleDataError(where, {n: float(ages[n].iloc[0]) for n in names})
        for i in hit:
            out[i] = ",".join(n for n, f in zip(used, flags[i], strict=True) if f)
        return out

    def _drawdown_rows(
        self,
        values: FloatArray,
        ref_close: FloatArray,
        sigma: FloatArray,
        thresholds: Sequence[float],
        horizons: Sequence[float],
    ) -> tuple[dict[str, Any], FloatArray, npt.NDArray[np.int64]]:
        """The stacked (threshold, horizon) rows per key, built in NumPy.

        Columns are computed exactly as :func:`downside.datasets.drawdown_frame` does
        (``z_distance = ln(1 - threshold) / (sigma_daily * sqrt(horizon_days))``).
        """
        cells = len(thresholds) * len(horizons)
        row_group = np.repeat(np.arange(len(values)), cells)
        grid = np.asarray(thresholds, dtype=np.float64)
        threshold = np.tile(np.repeat(grid, len(horizons)), len(values))
        horizon = np.tile(np.asarray(horizons, dtype=np.float64), len(thresholds) * len(values))
        sig = sigma[row_group]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log1p(-threshold) / (sig * np.sqrt(horizon))
        query = {
            "threshold": threshold,
            "horizon_days": horizon,
            "sigma_daily": sig,
            "z_distance": z,
        }
        names = self.model.feature_names_
        matrix = np.empty((len(row_group), len(names)), dtype=np.float64)
        position = {n: j for j, n in enumerate(self.feature_columns)}
        for j, name in enumerate(names):
            if name in query:
                matrix[:, j] = query[name]
            else:
                matrix[:, j] = values[row_group, position[name]]
        rows = {**query, "ref_close": ref_close[row_group]}
        return rows, matrix, row_group

    def _support_rows(
        self,
        feature_store: FeatureStore,
        keys: pd.DataFrame,
        levels: pd.DataFrame | None,
        horizons: Sequence[float],
    ) -> tuple[dict[str, Any], FloatArray, npt.NDArray[np.int64]]:
        """Level rows (detected or given) stacked over horizons, via ``assemble``."""
        given = None
        if levels is not None:
            given = pd.DataFrame(
                {
                    "symbol": levels["symbol"].astype("str").to_numpy(),
                    "asof": levels["asof"].astype("datetime64[us, UTC]").to_numpy(),
                    "level": levels["level"].to_numpy(dtype=np.float64),
                }
            )
            given["asof"] = given["asof"].astype("datetime64[us, UTC]")
        data = assemble(
            self.spec, feature_store, spine=keys, levels=given, horizons_days=list(horizons)
        )
        frame = data.frame.sort_values(
            ["asof", "symbol", "level", "horizon_days"],
            ascending=[True, True, False, True],
            kind="stable",
        ).reset_index(drop=True)
        lookup = pd.MultiIndex.from_frame(keys[["symbol", "asof"]])
        row_group = lookup.get_indexer(pd.MultiIndex.from_frame(frame[["symbol", "asof"]]))
        matrix = self.model._predict_matrix(frame[list(self.input_columns)])
        rows: dict[str, Any] = {
            c: frame[c].to_numpy()
            for c in ("level", "horizon_days", "distance_pct", "ref_close", "sigma_daily")
        }
        rows["level_type"] = frame["level_type"].astype("str").array
        return rows, matrix, np.asarray(row_group, dtype=np.int64)

    def _score(
        self, rows: Mapping[str, Any], matrix: FloatArray, row_group: npt.NDArray[np.int64]
    ) -> dict[str, Any]:
        """Probability, baseline and family points for model-ordered input rows."""
        model = self.model
        names = model.feature_names_
        base = model._base_margin(matrix, names, model.base_coef_)
        raw = np.asarray(
            model.booster_.predict(matrix, raw_score=True, num_threads=model.n_jobs),
            dtype=np.float64,
        )
        probability = model.calibrator_.transform(raw + base)
        explainer = self._explainer()
        if explainer is not None:
            fixed = set(self.feature_columns)
            varying = [j for j, c in enumerate(names) if c not in fixed]
            sums = explainer(matrix, row_groups=row_group, varying=varying)
            contrib = pd.DataFrame(sums, columns=list(GROUPS))
            contrib["bias"] = explainer.expected_value + base
            families = {g: g for g in GROUPS}
        else:
            # trees too deep to tabulate: LightGBM's own TreeSHAP, as model.contributions()
            values = np.asarray(
                model.booster_.predict(matrix, pred_contrib=True, num_threads=model.n_jobs),
                dtype=np.float64,
            )
            values[:, -1] += base
            contrib = pd.DataFrame(values, columns=[*names, "bias"])
            families = {c: self._family(c) for c in names}
        points = shapley_by_family(contrib, model.calibrator_, families, always_on=())
        kind = "threshold" if self.spec.target == "drawdown" else "level"
        needed = ["horizon_days", "sigma_daily", kind] + (["ref_close"] if kind == "level" else [])
        inputs = pd.DataFrame({c: rows[c] for c in needed})
        baseline = GBMFirstPassage(vol="ewma").fit(inputs).predict_proba(inputs)[:, 1]
        family_points = points[list(FAMILIES)].to_numpy()
        out: dict[str, Any] = {
            "probability": probability,
            "baseline_probability": baseline,
            "p_reference": points["p_reference"].to_numpy(),
        }
        for k, family in enumerate(FAMILIES):
            out[family] = family_points[:, k]
        leading = np.asarray(FAMILIES, dtype=object)[np.abs(family_points).argmax(axis=1)]
        out["leading_driver"] = pd.array(leading, dtype="str")
        return out
