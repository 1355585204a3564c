"""Transforms: small frozen objects, one causal computation each, named by their fields.

A transform's fields are its parameters (``window``, ``log``, ``fast``...); a definition
file names the class by its :attr:`Transform.key` (``transform = "pct_change"``) and
sets the fields with ``window = ...`` and ``params = {...}``. The derived part of a
feature name comes from the class's ``template``: ``{role}`` is the token of the input
in that role, ``{field}`` the field's label (a window's text, a number, a true flag as
its own name and a false flag as nothing); empty parts are dropped, so
``{close}_return_{window}`` on prices is ``return_7d``. A test pins these names.

:meth:`Transform.compute` receives one :class:`pandas.Series` per input role, indexed
by ``event_ts`` (sorted, unique, UTC) on the grid of the table the input comes from,
and returns a series on the grid of the first input. Every value at event ``t`` uses
only rows at or before ``t``: trailing windows, lags and recursions, never centred
windows, backward fills or full-sample statistics.

Window rules, shared by all transforms:

- a time window ``w`` (``7d``, ``24h``) covers rows with ``event_ts`` in ``(t - w, t]``
  and needs at least ``max(k, floor(w / freq) // 2)`` rows, where ``freq`` is the nominal
  spacing of the input's table and ``k`` is 1 (2 for standard deviations);
- an observation window ``n obs`` covers the last ``n`` rows and needs all of them;
- a lag by a time window ``w`` takes the last row at or before ``t - w`` that is no older
  than ``t - w - freq`` (one missing row is tolerated, a longer gap gives NaN);
- a lag by ``n obs`` takes the row ``n`` rows back.

Results are float64 with infinities replaced by NaN.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import numpy as np
import pandas as pd

from downside.features._windows import Window, parse_window

if TYPE_CHECKING:
    from pandas.api.typing import Rolling

ParamKind = Literal["window", "float", "int", "bool"]
ParamValue = Window | float | int | bool
Statistic = Literal["mean", "sum", "max"]
Issue = tuple[str, str, str]
"""A problem found while building a transform: (definition key, rule, detail)."""

_YEAR = pd.Timedelta(days=365)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KINDS: dict[str, ParamKind] = {"Window": "window", "float": "float", "int": "int", "bool": "bool"}


def _minimum(value: float) -> dict[str, float]:
    """Field metadata: the smallest allowed number (exclusive for floats, inclusive for ints)."""
    return {"minimum": value}


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One parameter of a transform, read from the transform's field.

    Attributes:
        kind: ``window``, ``float``, ``int`` or ``bool`` (the field's type).
        required: whether a definition must set it (the field has no default).
        default: the field's default (``None`` for required parameters).
        minimum: smallest allowed number (exclusive for floats, inclusive for ints).
    """

    kind: ParamKind
    required: bool = False
    default: ParamValue | None = None
    minimum: float | None = None

    @classmethod
    def of(cls, spec: Field[Any]) -> ParamSpec:
        """The parameter of a transform field."""
        return cls(
            kind=_KINDS[str(spec.type)],
            required=spec.default is MISSING,
            default=None if spec.default is MISSING else spec.default,
            minimum=spec.metadata.get("minimum"),
        )

    def parse(self, raw: object) -> ParamValue:
        """The value of a parameter as written in a definition file.

        Raises:
            ValueError: the value has the wrong type or is below the minimum; the message
                says what was expected.
        """
        if self.kind == "window":
            return parse_window(raw)
        if self.kind == "bool":
            if not isinstance(raw, bool):
                raise ValueError(f"expected true or false, received {raw!r}")
            return raw
        if self.kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise ValueError(f"expected an integer, received {raw!r}")
            if self.minimum is not None and raw < self.minimum:
                raise ValueError(f"expected an integer >= {self.minimum:g}, received {raw}")
            return raw
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"expected a number, received {raw!r}")
        if self.minimum is not None and float(raw) <= self.minimum:
            raise ValueError(f"expected a number > {self.minimum:g}, received {raw}")
        return float(raw)


def label(value: ParamValue, name: str) -> str:
    """A field as it appears in derived names: a window's text, a number, a true flag as
    its own ``name`` and a false flag as nothing."""
    if isinstance(value, Window):
        return value.label
    if isinstance(value, bool):
        return name if value else ""
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------- helpers


def _clean(values: pd.Series) -> pd.Series:
    out = values.astype("float64")
    return out.mask(np.isinf(out.to_numpy()))


def _on(series: pd.Series, grid: pd.Index) -> pd.Series:
    """``series`` on another input's grid: exact ``event_ts`` match, NaN where absent."""
    if series.index is grid or series.index.equals(grid):
        return pd.Series(series.to_numpy(), index=grid)
    return series.reindex(grid)


def _rolling(
    values: pd.Series, window: Window, freq: pd.Timedelta, min_count: int = 1
) -> Rolling[pd.Series]:
    if window.is_time:
        nominal = int(window.delta / freq)
        return values.rolling(window.delta, min_periods=max(min_count, nominal // 2))
    return values.rolling(window.count, min_periods=max(min_count, window.count))


_REDUCE: dict[Statistic, Callable[[Rolling[pd.Series]], pd.Series]] = {
    "mean": lambda rolling: rolling.mean(),
    "sum": lambda rolling: rolling.sum(),
    "max": lambda rolling: rolling.max(),
}


def _micros(index: pd.Index) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(index).as_unit("us").asi8)


def _lag(values: pd.Series, window: Window, freq: pd.Timedelta) -> pd.Series:
    if not window.is_time:
        return values.shift(window.count)
    ts = _micros(values.index)
    target = ts - window.delta.value // 1000
    pos = np.searchsorted(ts, target, side="right") - 1
    ok = pos >= 0
    ok[ok] = ts[pos[ok]] >= target[ok] - freq.value // 1000
    lagged = np.full(len(values), np.nan)
    lagged[ok] = values.to_numpy(dtype="float64")[pos[ok]]
    return pd.Series(lagged, index=values.index)


def _periods(window: Window, freq: pd.Timedelta) -> int:
    return window.count if not window.is_time else max(1, round(window.delta / freq))


def _step_log_returns(close: pd.Series, freq: pd.Timedelta) -> pd.Series:
    one = Window(1, "obs")
    if freq >= pd.Timedelta(hours=1) and freq % pd.Timedelta(hours=1) == pd.Timedelta(0):
        one = Window(int(freq / pd.Timedelta(hours=1)), "h")
    previous = _lag(close, one, freq)
    return _clean(pd.Series(np.log(close.to_numpy() / previous.to_numpy()), index=close.index))


def _mean_dollar_volume(
    close: pd.Series, volume: pd.Series, window: Window, freq: pd.Timedelta, grid: pd.Index
) -> pd.Series:
    dollars = close * _on(volume, close.index)
    average = _rolling(dollars, window, freq).mean()
    on_grid = _on(average, grid)
    return on_grid.mask(on_grid <= 0)


def _parkinson_variance(
    high: pd.Series, low: pd.Series, window: Window, freq: pd.Timedelta
) -> pd.Series:
    """Parkinson variance per step, ``mean_w(ln(H/L)^2) / (4 ln 2)``, on the bars' grid."""
    squared = pd.Series(np.log(high.to_numpy() / low.to_numpy()) ** 2, index=high.index)
    return _rolling(squared, window, freq).mean() / (4.0 * math.log(2.0))


def _daily_parkinson(
    high: pd.Series, low: pd.Series, window: Window, freq: pd.Timedelta, grid: pd.Index
) -> pd.Series:
    """Parkinson volatility per day over ``window`` on another input's ``grid`` (matched
    on ``event_ts``); NaN where it is not positive."""
    sigma = np.sqrt(_parkinson_variance(high, low, window, freq) * (pd.Timedelta(days=1) / freq))
    on_grid = _on(sigma, grid)
    return on_grid.mask(on_grid <= 0)


# ---------------------------------------------------------------------------- bases


@dataclass(frozen=True, kw_only=True)
class Transform(ABC):
    """A causal computation whose fields are its parameters.

    Subclasses declare, as class keywords, ``roles`` (input roles, in the order of a
    definition's ``inputs``; default ``("x",)``) and ``template`` (the derived name, see
    the module docstring), and implement :meth:`_values`. Their ``key``, the name in
    definition files, is derived from the class name (``PctChange`` is ``pct_change``).
    """

    key: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ("x",)
    template: ClassVar[str] = ""

    def __init_subclass__(
        cls, *, roles: tuple[str, ...] = (), template: str = "", **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.key = _CAMEL.sub("_", cls.__name__).lower()
        cls.roles = roles or cls.roles
        cls.template = template or cls.template

    @classmethod
    def params(cls) -> dict[str, ParamSpec]:
        """The parameters a definition may set under ``params``: every field but ``window``."""
        return {f.name: ParamSpec.of(f) for f in fields(cls) if f.name != "window"}

    @classmethod
    def windowed(cls) -> bool:
        """Whether a definition must give a ``window`` (else it must not)."""
        return any(f.name == "window" for f in fields(cls))

    def labels(self) -> dict[str, str]:
        """Each field as it appears in the derived name (see :func:`label`)."""
        return {f.name: label(getattr(self, f.name), f.name) for f in fields(self)}

    def name(self, tokens: Sequence[str]) -> str:
        """The derived part of a feature name: the template filled with the inputs'
        tokens (one per role) and the field labels, empty parts dropped.

        Raises:
            ValueError: not one token per role.
        """
        if len(tokens) != len(self.roles):
            raise ValueError(
                f"transform {self.key} takes one token per role {list(self.roles)}, "
                f"received {list(tokens)}"
            )
        text = self.template.format(
            **{**dict(zip(self.roles, tokens, strict=True)), **self.labels()}
        )
        return "_".join(part for part in text.split("_") if part)

    def compute(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        """The transform's values on the grid of the first input.

        Args:
            inputs: one series per role, indexed by sorted unique UTC ``event_ts``.
            freqs: the nominal spacing of each input's grid.

        Returns:
            float64 values, infinities replaced by NaN.
        """
        return _clean(self._values(inputs, freqs))

    @abstractmethod
    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        """The raw values (before the float64 and infinity clean-up)."""


@dataclass(frozen=True, kw_only=True)
class WindowTransform(Transform):
    """A transform over a trailing window.

    Attributes:
        window: the trailing window (``7d``, ``24h``, ``5obs``).
    """

    window: Window


class LagTransform(WindowTransform):
    """Compares each value with the value one ``window`` earlier."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x = inputs[0]
        return self._combine(x, _lag(x, self.window, freqs[0]))

    @abstractmethod
    def _combine(self, x: pd.Series, lagged: pd.Series) -> pd.Series:
        """The value from ``x_t`` and ``x_{t-w}``."""


class RollingTransform(WindowTransform):
    """One statistic (class keyword ``statistic``) of the prepared first input over the
    window, then finished with the input itself."""

    statistic: ClassVar[Statistic] = "mean"

    def __init_subclass__(cls, *, statistic: Statistic | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.statistic = statistic or cls.statistic

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x = inputs[0]
        rolled = _REDUCE[self.statistic](_rolling(self._prepare(x), self.window, freqs[0]))
        return self._finish(x, rolled)

    def _prepare(self, x: pd.Series) -> pd.Series:
        return x

    def _finish(self, x: pd.Series, rolled: pd.Series) -> pd.Series:
        return rolled


class RelativeTransform(RollingTransform, roles=("close",)):
    """``close_t / stat_w(close) - 1``."""

    def _finish(self, x: pd.Series, rolled: pd.Series) -> pd.Series:
        return x / rolled - 1.0


# ---------------------------------------------------------------------------- one input


class Level(Transform, template="{x}"):
    """The input value itself."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        return inputs[0]


class Diff(LagTransform, template="{x}_diff_{window}"):
    """``x_t - x_{t-w}`` (absolute change, in the input's unit)."""

    def _combine(self, x: pd.Series, lagged: pd.Series) -> pd.Series:
        return x - lagged


class PctChange(LagTransform, template="{x}_change_{window}"):
    """``x_t / x_{t-w} - 1`` (relative change, a fraction)."""

    def _combine(self, x: pd.Series, lagged: pd.Series) -> pd.Series:
        return x / lagged - 1.0


class LogReturn(LagTransform, template="{x}_return_{window}"):
    """``ln(x_t / x_{t-w})``."""

    def _combine(self, x: pd.Series, lagged: pd.Series) -> pd.Series:
        return pd.Series(np.log(x.to_numpy() / lagged.to_numpy()), index=x.index)


class Mean(RollingTransform, template="{x}_mean_{window}", statistic="mean"):
    """Trailing mean over the window."""


class Sum(RollingTransform, template="{x}_sum_{window}", statistic="sum"):
    """Trailing sum over the window."""


@dataclass(frozen=True, kw_only=True)
class Cumulative(Sum, template="{x}_cum_{window}"):
    """Trailing sum times ``settlements_per_obs``: total paid over the window.

    Attributes:
        settlements_per_obs: settlements each row stands for (3 for a daily mean of
            8-hourly funding).
    """

    settlements_per_obs: int = field(metadata=_minimum(1))

    def _finish(self, x: pd.Series, rolled: pd.Series) -> pd.Series:
        return rolled * float(self.settlements_per_obs)


@dataclass(frozen=True, kw_only=True)
class CarryAnnualized(Mean, template="{x}_carry_annualized_{window}"):
    """Trailing mean times ``periods_per_year``: an annualized rate.

    Attributes:
        periods_per_year: periods of the input's unit in a year (1095 for a rate per 8h).
    """

    periods_per_year: float = field(metadata=_minimum(0.0))

    def _finish(self, x: pd.Series, rolled: pd.Series) -> pd.Series:
        return rolled * self.periods_per_year


class PositiveShare(Mean, template="{x}_positive_share_{window}"):
    """Share of rows in the window with ``x > 0``."""

    def _prepare(self, x: pd.Series) -> pd.Series:
        return (x > 0).astype("float64").mask(x.isna())


@dataclass(frozen=True, kw_only=True)
class ZScore(WindowTransform, template="{log}_{x}_zscore_{window}"):
    """``(x_t - mean_w) / std_w`` over the trailing window including ``t`` (``log1p`` first
    when ``log``); NaN where the window's standard deviation is 0.

    Attributes:
        log: take ``log1p`` of the input first (named ``log_...``).
    """

    log: bool = False

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x = inputs[0].astype("float64")
        if self.log:
            x = pd.Series(np.log1p(x.to_numpy()), index=x.index)
        centre = _rolling(x, self.window, freqs[0], 2).mean()
        spread = _rolling(x, self.window, freqs[0], 2).std()
        return (x - centre) / spread.mask(spread <= 0)


class NegativeStreak(Transform, template="{x}_negative_streak"):
    """Number of consecutive rows up to ``t`` with ``x < 0`` (0 when ``x_t >= 0``)."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x = inputs[0]
        negative = (x < 0).to_numpy()
        runs = np.cumsum(~negative)
        streak = pd.Series(negative.astype("float64")).groupby(runs).cumsum().to_numpy()
        return pd.Series(streak, index=x.index).mask(x.isna())


# ---------------------------------------------------------------------------- several inputs


class Spread(Transform, roles=("a", "b"), template="{a}_minus_{b}"):
    """``a_t - b_t`` on the grid of ``a`` (``b`` matched on the same ``event_ts``)."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        a, b = inputs
        return a - _on(b, a.index)


class Share(WindowTransform, roles=("a", "b"), template="{a}_share_{window}"):
    """``sum_w(a) / (sum_w(a) + sum_w(b))``; NaN where both sums are 0."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        a, b = inputs[0], _on(inputs[1], inputs[0].index)
        sum_a = _rolling(a, self.window, freqs[0]).sum()
        total = sum_a + _rolling(b, self.window, freqs[0]).sum()
        return sum_a / total.mask(total == 0)


class SumTo(
    WindowTransform,
    roles=("a", "b", "denominator"),
    template="{a}_plus_{b}_to_{denominator}_{window}",
):
    """``sum_w(a + b) / denominator_t`` (denominator matched on the same ``event_ts``)."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        a, b, denominator = inputs
        grid = a.index
        total = _rolling(a + _on(b, grid), self.window, freqs[0]).sum()
        den = _on(denominator, grid)
        return total / den.mask(den <= 0)


@dataclass(frozen=True, kw_only=True)
class PerDollarVolume(
    WindowTransform,
    roles=("x", "close", "volume"),
    template="{x}_per_dollar_volume_{window}",
):
    """``x_t * scale / mean_w(close * volume_base)``: a level relative to the average daily
    dollar volume (computed on the price grid, matched on ``event_ts``).

    Attributes:
        scale: dollars per unit of ``x`` (``1e6`` for US$ millions).
    """

    scale: float = field(default=1.0, metadata=_minimum(0.0))

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x, close, volume = inputs
        numerator = self._numerator(x, freqs[0])
        average = _mean_dollar_volume(close, volume, self.window, freqs[1], x.index)
        return numerator * self.scale / average

    def _numerator(self, x: pd.Series, freq: pd.Timedelta) -> pd.Series:
        return x


@dataclass(frozen=True, kw_only=True)
class SumPerDollarVolume(
    PerDollarVolume,
    template="{x}_sum_{sum_window}_per_dollar_volume_{window}",
):
    """``sum_{sum_window}(x) * scale / mean_w(close * volume_base)``.

    Attributes:
        sum_window: the window ``x`` is summed over.
    """

    sum_window: Window

    def _numerator(self, x: pd.Series, freq: pd.Timedelta) -> pd.Series:
        return _rolling(x, self.sum_window, freq).sum()


@dataclass(frozen=True, kw_only=True)
class SumRatio(
    WindowTransform,
    roles=("x", "denominator"),
    template="{x}_sum_{window}_to_{denominator}",
):
    """``sum_w(x) * scale / denominator_t`` (denominator matched on the same ``event_ts``):
    a flow over the window as a share of a stock, such as long liquidations over open
    interest.

    Attributes:
        scale: factor applied to the ratio (1 keeps a fraction).
    """

    scale: float = field(default=1.0, metadata=_minimum(0.0))

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x, denominator = inputs
        den = _on(denominator, x.index)
        return _rolling(x, self.window, freqs[0]).sum() * self.scale / den.mask(den <= 0)


@dataclass(frozen=True, kw_only=True)
class _PerVolatility(WindowTransform, roles=("x", "high", "low")):
    """A driver in units of the Parkinson volatility of the daily bars: a numerator from
    ``x`` over ``window`` divided by ``sigma_day * sqrt(days)``, where ``sigma_day`` is the
    Parkinson volatility per day over ``vol_window`` (computed on the bars' grid, matched
    on ``event_ts``) and ``days`` the horizon the numerator spans.

    Attributes:
        vol_window: the window of the Parkinson volatility.
    """

    vol_window: Window

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        x, high, low = inputs
        sigma = _daily_parkinson(high, low, self.vol_window, freqs[1], x.index)
        return self._numerator(x, freqs[0]) / (sigma * math.sqrt(self._days(freqs[0])))

    @abstractmethod
    def _numerator(self, x: pd.Series, freq: pd.Timedelta) -> pd.Series:
        """The driver's value over ``window``."""

    def _days(self, freq: pd.Timedelta) -> float:
        return 1.0


@dataclass(frozen=True, kw_only=True)
class MeanPerVol(_PerVolatility, template="{x}_mean_{window}_per_vol_{vol_window}"):
    """``mean_w(x) * scale / sigma_day``: a rate (funding) against the daily volatility.

    Attributes:
        scale: periods of ``x`` per day (3 for a funding rate per 8h: the daily carry).
    """

    scale: float = field(default=1.0, metadata=_minimum(0.0))

    def _numerator(self, x: pd.Series, freq: pd.Timedelta) -> pd.Series:
        return _rolling(x, self.window, freq).mean() * self.scale


@dataclass(frozen=True, kw_only=True)
class LogChangePerVol(_PerVolatility, template="{x}_log_change_{window}_per_vol_{vol_window}"):
    """``ln(x_t / x_{t-w}) / (sigma_day * sqrt(w in days))``: a change (of open interest)
    in units of the volatility over the same span (lags as :class:`LogReturn`)."""

    def _numerator(self, x: pd.Series, freq: pd.Timedelta) -> pd.Series:
        lagged = _lag(x, self.window, freq)
        return pd.Series(np.log(x.to_numpy() / lagged.to_numpy()), index=x.index)

    def _days(self, freq: pd.Timedelta) -> float:
        span = self.window.delta if self.window.is_time else self.window.count * freq
        return span / pd.Timedelta(days=1)


# ---------------------------------------------------------------------------- prices


class RealizedVol(WindowTransform, roles=("close",), template="{close}_rv_cc_{window}"):
    """Close-to-close volatility: std of one-step log returns, annualized (365 days)."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        returns = _step_log_returns(inputs[0], freqs[0])
        std = _rolling(returns, self.window, freqs[0], 2).std()
        return std * math.sqrt(_YEAR / freqs[0])


class ParkinsonVol(
    WindowTransform,
    roles=("high", "low"),
    template="{high}_rv_parkinson_{window}",
):
    """Parkinson (high-low) volatility: ``sqrt(mean(ln(H/L)^2) / (4 ln 2))``, annualized."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        variance = _parkinson_variance(inputs[0], inputs[1], self.window, freqs[0])
        return cast("pd.Series", np.sqrt(variance * (_YEAR / freqs[0])))


class GarmanKlassVol(
    WindowTransform,
    roles=("open", "high", "low", "close"),
    template="{close}_rv_garman_klass_{window}",
):
    """Garman-Klass volatility: ``sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))``,
    annualized; a negative window mean gives 0."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        open_, high, low, close = (s.to_numpy(dtype="float64") for s in inputs)
        term = (
            0.5 * np.log(high / low) ** 2 - (2.0 * math.log(2.0) - 1.0) * np.log(close / open_) ** 2
        )
        variance = _rolling(pd.Series(term, index=inputs[0].index), self.window, freqs[0]).mean()
        return cast("pd.Series", np.sqrt(variance.clip(lower=0.0) * (_YEAR / freqs[0])))


@dataclass(frozen=True)
class _Moments:
    """The one-step log returns of a window and the window sums a statistic needs."""

    returns: pd.Series
    sums: Mapping[int, pd.Series]
    count: pd.Series
    freq: pd.Timedelta
    window: Window

    @property
    def variance(self) -> pd.Series:
        """The window's sum of squared returns, NaN where it is 0."""
        return self.sums[2].mask(self.sums[2] <= 0)

    def rolling_sum(self, values: pd.Series) -> pd.Series:
        return _rolling(values.mask(self.returns.isna()), self.window, self.freq, 2).sum()


class _IntradayMoments(WindowTransform, roles=("close",)):
    """Base of the realized moments of one-step log returns over a trailing window (of
    hourly bars, for daily risk). ``n`` is the number of returns in the window."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        returns = _step_log_returns(inputs[0], freqs[0])
        sums = {
            k: _rolling(returns.pow(k).mask(returns.isna()), self.window, freqs[0], 2).sum()
            for k in (1, 2, 3, 4)
        }
        count = _rolling(returns.notna().astype("float64"), self.window, freqs[0], 2).sum()
        return self._moment(_Moments(returns, sums, count.mask(count < 2), freqs[0], self.window))

    @abstractmethod
    def _moment(self, m: _Moments) -> pd.Series:
        """The statistic from the window's returns and sums."""


class LogRealizedVariance(_IntradayMoments, template="{close}_log_rv_{window}"):
    """``ln`` of the realized variance per day: the mean squared one-step log return
    over the window times the steps in a day (HAR's building block)."""

    def _moment(self, m: _Moments) -> pd.Series:
        variance = m.sums[2] / m.count * (pd.Timedelta(days=1) / m.freq)
        return pd.Series(np.log(variance.mask(variance <= 0).to_numpy()), index=variance.index)


class DownsideShare(_IntradayMoments, template="{close}_downside_share_{window}"):
    """Downside semivariance over realized variance: the share of the window's squared
    one-step returns that came from falling steps (0.5 for symmetric moves)."""

    def _moment(self, m: _Moments) -> pd.Series:
        return m.rolling_sum(m.returns.clip(upper=0.0).pow(2)) / m.variance


class RealizedSkewness(_IntradayMoments, template="{close}_realized_skewness_{window}"):
    """``sqrt(n) * sum(r^3) / sum(r^2)^1.5`` of the one-step log returns in the window
    (Amaya et al.'s realized skewness; negative when falls are sharper than rises)."""

    def _moment(self, m: _Moments) -> pd.Series:
        return m.count.pow(0.5) * m.sums[3] / m.variance.pow(1.5)


class RealizedKurtosis(_IntradayMoments, template="{close}_realized_kurtosis_{window}"):
    """``n * sum(r^4) / sum(r^2)^2`` of the one-step log returns in the window (3 for
    normal returns; large when a few steps carry the variance: jumps)."""

    def _moment(self, m: _Moments) -> pd.Series:
        return m.count * m.sums[4] / m.variance.pow(2)


class JumpShare(_IntradayMoments, template="{close}_jump_share_{window}"):
    """``max(RV - BV, 0) / RV``: the share of realized variance not explained by the
    bipower variation ``BV = pi/2 * sum |r_i| |r_{i-1}|`` (Barndorff-Nielsen and
    Shephard's jump component)."""

    def _moment(self, m: _Moments) -> pd.Series:
        absolute = m.returns.abs()
        bipower = (math.pi / 2.0) * m.rolling_sum(absolute * absolute.shift(1))
        return ((m.variance - bipower).clip(lower=0.0) / m.variance).clip(upper=1.0)


class MaDistance(RelativeTransform, template="{close}_dist_ma_{window}"):
    """``close / SMA_w(close) - 1`` (the mean is the default statistic)."""


class DrawdownFromHigh(
    RelativeTransform,
    template="{close}_drawdown_from_high_{window}",
    statistic="max",
):
    """``close / max_w(close) - 1`` (<= 0)."""


@dataclass(frozen=True, kw_only=True)
class MaCrossState(
    Transform,
    roles=("close",),
    template="{close}_ma_cross_state_{fast}_{slow}",
):
    """+1 while ``SMA_fast > SMA_slow`` (golden cross), -1 while below (death cross).

    Attributes:
        fast: window of the fast moving average.
        slow: window of the slow moving average.
    """

    fast: Window
    slow: Window

    def _state(self, close: pd.Series, freq: pd.Timedelta) -> pd.Series:
        fast = _rolling(close, self.fast, freq).mean()
        slow = _rolling(close, self.slow, freq).mean()
        state = pd.Series(np.sign((fast - slow).to_numpy()), index=close.index)
        return state.mask(fast.isna() | slow.isna())

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        return self._state(inputs[0], freqs[0])


class DaysSinceMaCross(MaCrossState, template="{close}_days_since_ma_cross_{fast}_{slow}"):
    """Days since the fast/slow moving-average state last changed; NaN before the first
    observed cross."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        state = self._state(inputs[0], freqs[0])
        previous = state.ffill().shift(1)
        changed = state.notna() & previous.notna() & (state != previous)
        times = pd.Series(_micros(state.index), index=state.index)
        start = times.where(changed).ffill()
        days = (times - start) / float(pd.Timedelta(days=1).value // 1000)
        return days.mask(state.isna())


@dataclass(frozen=True, kw_only=True)
class DistanceToLow(
    WindowTransform,
    roles=("close", "low"),
    template="{close}_dist_low_{window}_in_vol_{vol_window}",
):
    """``ln(close / min_w(low)) / sigma``: distance above the trailing low in units of the
    one-step volatility (std of one-step log returns over ``vol_window``).

    Attributes:
        vol_window: the window of the one-step volatility.
    """

    vol_window: Window

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        close, low = inputs[0], _on(inputs[1], inputs[0].index)
        lowest = _rolling(low, self.window, freqs[0]).min()
        returns = _step_log_returns(close, freqs[0])
        sigma = _rolling(returns, self.vol_window, freqs[0], 2).std()
        distance = np.log(close.to_numpy() / lowest.to_numpy())
        return pd.Series(distance, index=close.index) / sigma.mask(sigma <= 0)


class Rsi(WindowTransform, roles=("close",), template="{close}_rsi_{window}"):
    """Wilder's relative strength index (0..100) with ``n = w / freq`` periods: recursive
    averages of gains and losses with ``alpha = 1/n`` seeded by the first change, defined
    from the ``n``-th change on; 100 when there was no loss, 50 when there was no move."""

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        close = inputs[0]
        periods = _periods(self.window, freqs[0])
        change = close.diff()
        gains = change.clip(lower=0.0)
        losses = (-change).clip(lower=0.0)
        alpha = 1.0 / periods
        avg_gain = gains.ewm(alpha=alpha, adjust=False, min_periods=periods).mean()
        avg_loss = losses.ewm(alpha=alpha, adjust=False, min_periods=periods).mean()
        both_zero = (avg_gain == 0) & (avg_loss == 0)
        value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss.mask(avg_loss == 0))
        return value.mask((avg_loss == 0) & avg_gain.notna(), 100.0).mask(both_zero, 50.0)


@dataclass(frozen=True, kw_only=True)
class FailedBreakout(
    WindowTransform,
    roles=("high", "close"),
    template="{high}_failed_breakout_{lookback}_{window}",
):
    """1.0 when, within the last ``w``, the high broke above the ``lookback`` high that
    stood before that window, and the close is back below it; else 0.0.

    Attributes:
        lookback: the window of the prior high.
    """

    lookback: Window

    def _values(self, inputs: Sequence[pd.Series], freqs: Sequence[pd.Timedelta]) -> pd.Series:
        high, close = inputs[0], _on(inputs[1], inputs[0].index)
        rolling_high = _rolling(high, self.lookback, freqs[0]).max()
        prior = _lag(rolling_high, self.window, freqs[0])
        recent = _rolling(high, self.window, freqs[0]).max()
        flag = ((recent > prior) & (close < prior)).astype("float64")
        return flag.mask(prior.isna() | recent.isna())


# ---------------------------------------------------------------------------- registry

TRANSFORMS: Mapping[str, type[Transform]] = MappingProxyType(
    {
        cls.key: cls
        for cls in (
            Level,
            Diff,
            PctChange,
            LogReturn,
            Mean,
            Sum,
            Cumulative,
            CarryAnnualized,
            ZScore,
            PositiveShare,
            NegativeStreak,
            Spread,
            Share,
            SumTo,
            PerDollarVolume,
            SumPerDollarVolume,
            SumRatio,
            MeanPerVol,
            LogChangePerVol,
            RealizedVol,
            ParkinsonVol,
            GarmanKlassVol,
            LogRealizedVariance,
            DownsideShare,
            RealizedSkewness,
            RealizedKurtosis,
            JumpShare,
            MaDistance,
            MaCrossState,
            DaysSinceMaCross,
            DrawdownFromHigh,
            DistanceToLow,
            Rsi,
            FailedBreakout,
        )
    }
)
"""Every transform class by its :attr:`Transform.key`."""


def parse_transform(
    key: object, window: object, params: Mapping[str, object]
) -> tuple[Transform | None, list[Issue]]:
    """Build the transform a definition names from its ``window`` and ``params`` as
    written in the file.

    Returns:
        The transform (``None`` when there are problems) and every problem found, each as
        ``(definition key, rule, detail)``: ``unknown_transform``, ``missing_window``,
        ``unexpected_window``, ``bad_window``, ``unknown_param``, ``missing_param``,
        ``bad_param``.
    """
    cls = TRANSFORMS.get(key) if isinstance(key, str) else None
    if cls is None:
        detail = f"expected one of {sorted(TRANSFORMS)}, received {key!r}"
        return None, [("transform", "unknown_transform", detail)]
    problems: list[Issue] = []
    values: dict[str, ParamValue] = {}
    if not cls.windowed():
        if window is not None:
            detail = f"transform {cls.key} takes no window, received {window!r}; remove it"
            problems.append(("window", "unexpected_window", detail))
    elif window is None:
        detail = f"transform {cls.key} needs a window like '7d'"
        problems.append(("window", "missing_window", detail))
    else:
        try:
            values["window"] = parse_window(window)
        except ValueError as exc:
            problems.append(("window", "bad_window", str(exc)))
    specs = cls.params()
    for name in sorted(set(params) - set(specs)):
        detail = f"transform {cls.key} has no parameter {name!r}; known: {sorted(specs)}"
        problems.append(("params", "unknown_param", detail))
    for name, spec in specs.items():
        if name in params:
            try:
                values[name] = spec.parse(params[name])
            except ValueError as exc:
                problems.append(("params", "bad_param", f"{name}: {exc}"))
        elif spec.required:
            detail = f"transform {cls.key} needs parameter {name!r} ({spec.kind})"
            problems.append(("params", "missing_param", detail))
    if problems:
        return None, problems
    build: Callable[..., Transform] = cls
    return build(**values), []
