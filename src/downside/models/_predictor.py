"""A trained model with everything needed to answer questions at any as-of time.

The same object serves the Python API (:class:`downside.api.Forecaster`), the risk
report and the MLflow pyfunc, so all give identical answers. A request is checked by
:func:`downside.datasets.check_request` and its rows are built by
:func:`downside.datasets.build_frame`, exactly as the training rows were (the builder
caches prices, volatility and daily features per store version, so a query takes
milliseconds). The probability is the model's own (booster, base margin, calibrator);
the driver points are :func:`downside.models.shapley_by_family` of the TreeSHAP values,
tabulated once per model by :mod:`downside.models._treeshap`.

What-if questions. :meth:`Predictor.predict` takes a ``transform`` of the built rows,
applied before they are scored: :class:`downside.datasets.ShockTransform` moves inputs
there (the one place shocks are applied), so a scenario is answered on exactly the road
of the base forecast, and a transform that changes nothing gives it exactly.

Stale inputs. A feature the model splits on whose value at the as-of time is older
than its time-to-live (``FeatureStore.stale``) makes :meth:`Predictor.predict` raise
:class:`~downside.errors.StaleDataError` naming the features and their ages. With
``allow_stale=True`` the rows are returned instead, computed with those features
missing (as the feature store serves them: NaN, which the trees route like any missing
value), and the ``stale_features`` column lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets import Frame, Request, build_frame, check_request
from downside.errors import StaleDataError
from downside.features import FeatureStore
from downside.models._baselines import GBMFirstPassage
from downside.models._explain import shapley_by_family
from downside.models._profile import InputProfile
from downside.models._spec import ModelSpec, parse_spec
from downside.models._surface import DrawdownSurface, SupportBreakModel
from downside.models._treeshap import GroupedTreeShap
from downside.vocabulary import QUERY, family_of, is_feature

STATE_VERSION = 2
LEGACY_FAMILY_NAMES: tuple[str, ...] = ("leverage", "funding", "etf_flows", "rates", "technical")
"""Family order of version-1 states, which did not record it."""

FloatArray = npt.NDArray[np.float64]

FrameTransform = Callable[[Frame], Frame]
"""Changes the rows of a request after they are built and before they are scored."""


@dataclass
class _Runtime:
    """What a predictor computes once and keeps (not part of its state)."""

    explainer: GroupedTreeShap | None = None
    explainer_error: str | None = None
    used: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Predictor:
    """A fitted model, its spec and the column roles it was trained with.

    Attributes:
        spec: the model spec (its ``frame`` says how rows are built).
        spec_text: the spec file's text, kept in the state.
        model: the fitted estimator.
        input_columns: model inputs, in training order.
        families: driver family of every input column.
        family_names: the driver families, in output order.
        profile: range and deciles of every numeric input in training (None for models
            saved before profiles were kept).
    """

    spec: ModelSpec
    spec_text: str
    model: DrawdownSurface | SupportBreakModel
    input_columns: tuple[str, ...]
    families: Mapping[str, str]
    family_names: tuple[str, ...] = LEGACY_FAMILY_NAMES
    profile: InputProfile | None = field(default=None, compare=False, repr=False)
    _runtime: _Runtime = field(default_factory=_Runtime, init=False, compare=False, repr=False)

    @classmethod
    def from_frame(
        cls,
        spec: ModelSpec,
        spec_text: str,
        model: DrawdownSurface | SupportBreakModel,
        data: Frame,
    ) -> Predictor:
        """A predictor for a model fitted on ``data``'s input columns (its labelled rows
        give the input profile)."""
        return cls(
            spec,
            spec_text,
            model,
            data.input_columns,
            data.families,
            data.family_names,
            InputProfile.of_frame(data),
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state; the booster is kept in LightGBM's text format."""
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "spec_text": self.spec_text,
            "model": self.model.to_state(),
            "input_columns": list(self.input_columns),
            "families": dict(self.families),
            "family_names": list(self.family_names),
        }
        if self.profile is not None:
            state["profile"] = self.profile.to_state()
        return state

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
            family_names=tuple(state.get("family_names", LEGACY_FAMILY_NAMES)),
            profile=InputProfile.from_state(state["profile"]) if "profile" in state else None,
        )

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Input columns read from the feature store (the rest are query columns)."""
        return tuple(c for c in self.input_columns if is_feature(c))

    def used_features(self) -> tuple[str, ...]:
        """Feature-store columns the trees split on: the ones whose staleness matters."""
        if self._runtime.used is None and self.model.booster_ is None:
            self._runtime.used = ()
        if self._runtime.used is None:
            assert self.model.booster_ is not None
            counts = self.model.booster_.feature_importance(importance_type="split")
            split = {n for n, c in zip(self.model.tree_features_, counts, strict=True) if c > 0}
            self._runtime.used = tuple(c for c in self.feature_columns if c in split)
        return self._runtime.used

    @property
    def groups(self) -> tuple[str, ...]:
        """Column groups of the explanations: the always-on query columns, then the
        families."""
        return (QUERY, *self.family_names)

    def _family(self, column: str) -> str:
        return self.families.get(column) or family_of(column, self.model.always_on)

    def _explainer(self) -> GroupedTreeShap | None:
        runtime = self._runtime
        if self.model.booster_ is None:
            return None
        if runtime.explainer is None and runtime.explainer_error is None:
            groups = [self.groups.index(self._family(c)) for c in self.model.tree_features_]
            try:
                runtime.explainer = GroupedTreeShap(
                    self.model.booster_.dump_model(), groups, len(self.groups)
                )
            except ValueError as exc:
                runtime.explainer_error = str(exc)
        return runtime.explainer

    # ------------------------------------------------------------------ predict

    def answer(
        self,
        feature_store: FeatureStore,
        *,
        symbols: Any = None,
        asof: Any = None,
        thresholds: Any = None,
        horizons: Any = None,
        levels: Any = None,
        rows: pd.DataFrame | None = None,
        allow_stale: bool = False,
        transform: FrameTransform | None = None,
    ) -> pd.DataFrame:
        """Check a request (:func:`downside.datasets.check_request`) and answer it
        (``transform``: see :meth:`predict`).

        Raises:
            UnknownSymbolError, InvalidTimeError, PredictionInputError: a bad request.
            InsufficientHistoryError: too little price history at an as-of time.
            StaleDataError: see :meth:`predict`.
        """
        request = check_request(
            self.spec.frame,
            feature_store,
            symbols=symbols,
            asof=asof,
            thresholds=thresholds,
            horizons=horizons,
            levels=levels,
            rows=rows,
        )
        return self.predict(feature_store, request, allow_stale=allow_stale, transform=transform)

    def frame(self, feature_store: FeatureStore, request: Request) -> Frame:
        """The model's rows for a checked request, built as in training (no labels)."""
        return build_frame(
            self.spec.frame,
            feature_store,
            asof=request.spine,
            thresholds=request.thresholds,
            horizons_days=request.horizons,
            levels=request.levels,
            features=self.feature_columns,
            labels=False,
        )

    def predict(
        self,
        feature_store: FeatureStore,
        request: Request,
        *,
        allow_stale: bool = False,
        transform: FrameTransform | None = None,
    ) -> pd.DataFrame:
        """Probabilities, the volatility baseline and family contributions.

        Args:
            feature_store: where features and prices are read, as of each spine time.
            request: a checked request (:func:`downside.datasets.check_request`).
            allow_stale: answer even where features the model uses are older than
                their time-to-live (they are treated as missing and listed in
                ``stale_features``) instead of raising.
            transform: changes the built rows before they are scored (what-if shocks,
                :class:`downside.datasets.ShockTransform`); it may drop rows, never add
                keys. None scores the rows as built.

        Returns:
            Sorted by ``asof``, ``symbol``, then the grid: ``asof, symbol, threshold``
            (drawdown) or ``level`` (support), ``horizon_days, probability,
            baseline_probability, p_reference``, the family contributions in
            probability points (they sum to ``probability - p_reference``),
            ``leading_driver``, then ``level_type, distance_pct`` (support),
            ``ref_close, sigma_daily`` and ``stale_features`` (comma-separated names,
            empty when none).

        Raises:
            InsufficientHistoryError: too little price history at an as-of time.
            PredictionInputError: a support level at or above the price.
            StaleDataError: features the model uses are older than their TTL at an
                as-of time (unless ``allow_stale``).
        """
        data = self.frame(feature_store, request)
        if transform is not None:
            data = transform(data)
        stale = self._stale(feature_store, data, allow_stale)
        row_key = data.row_key
        cell = self.spec.frame.cell_column
        columns = data.columns
        out: dict[str, Any] = {
            "asof": columns["asof"],
            "symbol": columns["symbol"],
            cell: columns[cell],
            "horizon_days": columns["horizon_days"],
        }
        out |= self._score(columns, row_key)
        extra = ("level_type", "distance_pct") if cell == "level" else ()
        for column in (*extra, "ref_close", "sigma_daily"):
            out[column] = columns[column]
        out["stale_features"] = (
            pd.array(stale[row_key], dtype="str")
            if stale.any()
            else pd.array(np.full(len(row_key), ""), dtype="str")
        )
        answer = pd.DataFrame(out)
        if request.cells is not None:
            on = list(request.cells.columns)
            answer = answer.merge(request.cells, on=on, how="inner").reset_index(drop=True)
        return answer

    def _stale(
        self, feature_store: FeatureStore, data: Frame, allow_stale: bool
    ) -> npt.NDArray[np.object_]:
        """Comma-separated stale features per key, or raise :class:`StaleDataError`.

        A stale value is served as NaN, so only keys with a missing used feature are
        checked (a missing value may also never have been published, which is not stale).
        """
        keys = data.keys
        used = list(self.used_features())
        out = np.full(len(keys), "", dtype=object)
        if not used:
            return out
        position = {n: j for j, n in enumerate(data.feature_columns)}
        missing = np.isnan(data.key_features[:, [position[n] for n in used]]).any(axis=1)
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

    def _score(self, columns: Mapping[str, Any], row_key: npt.NDArray[np.int64]) -> dict[str, Any]:
        """Probability, baseline and family points of the frame rows."""
        model = self.model
        matrix = model.to_matrix(columns)
        base = model.base_margin(matrix)
        probability = model.calibrator_.transform(model.tree_margin(matrix) + base)
        explainer = self._explainer()
        trees = model.tree_matrix(matrix)
        if explainer is not None:
            fixed = set(self.feature_columns)
            varying = [j for j, c in enumerate(model.tree_features_) if c not in fixed]
            sums = explainer(trees, row_groups=row_key, varying=varying)
            contrib = pd.DataFrame(sums, columns=list(self.groups))
            contrib["bias"] = explainer.expected_value + base
            families = {g: g for g in self.groups}
        else:
            # no trees, or trees too deep to tabulate: LightGBM's own TreeSHAP, as
            # model.contributions()
            values = (
                np.zeros((len(trees), len(model.tree_features_) + 1), dtype=np.float64)
                if model.booster_ is None
                else np.asarray(
                    model.booster_.predict(trees, pred_contrib=True, num_threads=model.n_jobs),
                    dtype=np.float64,
                )
            )
            values[:, -1] += base
            contrib = pd.DataFrame(values, columns=[*model.tree_features_, "bias"])
            families = {c: self._family(c) for c in model.tree_features_}
        points = shapley_by_family(
            contrib, model.calibrator_, families, self.family_names, always_on=()
        )
        cell = self.spec.frame.cell_column
        needed = ["horizon_days", "sigma_daily", cell] + (["ref_close"] if cell == "level" else [])
        inputs = pd.DataFrame({c: columns[c] for c in needed})
        baseline = GBMFirstPassage(vol="ewma").fit(inputs).predict_proba(inputs)[:, 1]
        family_points = points[list(self.family_names)].to_numpy()
        out: dict[str, Any] = {
            "probability": probability,
            "baseline_probability": baseline,
            "p_reference": points["p_reference"].to_numpy(),
        }
        for k, family in enumerate(self.family_names):
            out[family] = family_points[:, k]
        leading = np.asarray(self.family_names, dtype=object)[np.abs(family_points).argmax(axis=1)]
        out["leading_driver"] = pd.array(leading, dtype="str")
        return out
