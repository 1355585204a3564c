"""Transforms: small causal computations on one entity's inputs, each on its own event grid.

A transform receives one :class:`pandas.Series` per input role, indexed by ``event_ts``
(sorted, unique, UTC) on the grid of the table the input comes from, and returns a
series on the grid of the first input. Every value at event ``t`` uses only rows at or
before ``t``: trailing windows, lags and recursions, never centred windows, backward
fills or full-sample statistics.

Window rules, shared by all transforms:

- a time window ``w`` (``7d``, ``24h``) covers rows with ``event_ts`` in ``(t - w, t]``
  and needs at least ``max(k, floor(w / freq) // 2)`` rows, where ``freq`` is the nominal
  spacing of the input's table and ``k`` is 1 (2 for standard deviations);
- an observation window ``n obs`` covers the last ``n`` rows and needs all of them;
- a lag by a time window ``w`` takes the last row at or before ``t - w`` that is no older
  than ``t - w - freq`` (one missing row is tolerated, a longer gap gives NaN);
- a lag by ``n obs`` takes the row ``n`` rows back.

Results are float64 with infinities replaced by NaN. Each transform's derived name
comes from its ``template``: ``{role}`` is the input's token, ``{w}`` the window label,
``{param}`` a parameter's label (a true flag renders as its name, false as nothing);
empty parts are dropped (``{close}_return_{w}`` on prices is ``return_7d``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from downside.features._windows import Window

if TYPE_CHECKING:
    from pandas.api.typing import Rolling

ParamKind = Literal["window", "float", "int", "bool"]
ParamValue = Window | float | int | bool
WindowRule = Literal["required", "forbidden"]
ComputeFn = Callable[
    [Sequence[pd.Series], Window | None, Mapping[str, ParamValue], Sequence[pd.Timedelta]],
    pd.Series,
]

_YEAR = pd.Timedelta(days=365)


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One transform parameter.

    Attributes:
        kind: ``window``, ``float``, ``int`` or ``bool``.
        required: whether a definition must set it.
        default: value when not set (ignored for required parameters).
        minimum: smallest allowed number (exclusive for floats, inclusive for ints).
        description: one line for listings.
    """

    kind: ParamKind
    required: bool = False
    default: ParamValue | None = None
    minimum: float | None = None
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class TransformSpec:
    """What a transform needs and how its feature name is derived.

    Attributes:
        name: key used in definition files (``transform = "pct_change"``).
        roles: input roles, in the order of the definition's ``inputs``.
        window: whether the definition must (``required``) or must not (``forbidden``)
            give a ``window``.
        params: parameters by name.
        template: name template (see the module docstring).
        compute: the computation.
        description: one line for listings.
    """

    name: str
    roles: tuple[str, ...]
    window: WindowRule
    template: str
    compute: ComputeFn
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    description: str = ""


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


def _window(window: Window | None) -> Window:
    if window is None:
        raise ValueError("this transform needs a window; definitions are validated to give one")
    return window


def _param_window(params: Mapping[str, ParamValue], name: str) -> Window:
    value = params[name]
    if not isinstance(value, Window):
        raise TypeError(f"parameter {name} must be a Window, received {value!r}")
    return value


def _param_float(params: Mapping[str, ParamValue], name: str) -> float:
    value = params[name]
    if isinstance(value, Window):
        raise TypeError(f"parameter {name} must be a number, received {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- computations


def level(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """The input value itself."""
    return _clean(inputs[0])


def diff(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``x_t - x_{t-w}`` (absolute change, in the input's unit)."""
    x = inputs[0]
    return _clean(x - _lag(x, _window(window), freqs[0]))


def pct_change(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``x_t / x_{t-w} - 1`` (relative change, a fraction)."""
    x = inputs[0]
    return _clean(x / _lag(x, _window(window), freqs[0]) - 1.0)


def log_return(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``ln(x_t / x_{t-w})``."""
    x = inputs[0]
    lagged = _lag(x, _window(window), freqs[0])
    return _clean(pd.Series(np.log(x.to_numpy() / lagged.to_numpy()), index=x.index))


def mean(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Trailing mean over the window."""
    return _clean(_rolling(inputs[0], _window(window), freqs[0]).mean())


def rolling_sum(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Trailing sum over the window."""
    return _clean(_rolling(inputs[0], _window(window), freqs[0]).sum())


def cumulative(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Trailing sum times ``settlements_per_obs``: total paid over the window."""
    scale = _param_float(params, "settlements_per_obs")
    return _clean(_rolling(inputs[0], _window(window), freqs[0]).sum() * scale)


def carry_annualized(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Trailing mean times ``periods_per_year``: an annualized rate."""
    scale = _param_float(params, "periods_per_year")
    return _clean(_rolling(inputs[0], _window(window), freqs[0]).mean() * scale)


def zscore(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``(x_t - mean_w) / std_w`` over the trailing window including ``t`` (``log1p`` first
    when ``log``); NaN where the window's standard deviation is 0."""
    x = inputs[0].astype("float64")
    if params.get("log", False):
        x = pd.Series(np.log1p(x.to_numpy()), index=x.index)
    win = _window(window)
    centre = _rolling(x, win, freqs[0], 2).mean()
    spread = _rolling(x, win, freqs[0], 2).std()
    return _clean((x - centre) / spread.mask(spread <= 0))


def positive_share(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Share of rows in the window with ``x > 0``."""
    x = inputs[0]
    positive = (x > 0).astype("float64").mask(x.isna())
    return _clean(_rolling(positive, _window(window), freqs[0]).mean())


def negative_streak(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Number of consecutive rows up to ``t`` with ``x < 0`` (0 when ``x_t >= 0``)."""
    x = inputs[0]
    negative = (x < 0).to_numpy()
    runs = np.cumsum(~negative)
    streak = pd.Series(negative.astype("float64")).groupby(runs).cumsum().to_numpy()
    return _clean(pd.Series(streak, index=x.index).mask(x.isna()))


def spread(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``a_t - b_t`` on the grid of ``a`` (``b`` matched on the same ``event_ts``)."""
    a, b = inputs
    return _clean(a - _on(b, a.index))


def share(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``sum_w(a) / (sum_w(a) + sum_w(b))``; NaN where both sums are 0."""
    a, b = inputs[0], _on(inputs[1], inputs[0].index)
    win = _window(window)
    sum_a = _rolling(a, win, freqs[0]).sum()
    total = sum_a + _rolling(b, win, freqs[0]).sum()
    return _clean(sum_a / total.mask(total == 0))


def sum_to(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``sum_w(a + b) / denominator_t`` (denominator matched on the same ``event_ts``)."""
    a, b, denominator = inputs
    grid = a.index
    total = _rolling(a + _on(b, grid), _window(window), freqs[0]).sum()
    den = _on(denominator, grid)
    return _clean(total / den.mask(den <= 0))


def _mean_dollar_volume(
    close: pd.Series, volume: pd.Series, window: Window, freq: pd.Timedelta, grid: pd.Index
) -> pd.Series:
    dollars = close * _on(volume, close.index)
    average = _rolling(dollars, window, freq).mean()
    on_grid = _on(average, grid)
    return on_grid.mask(on_grid <= 0)


def per_dollar_volume(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``x_t * scale / mean_w(close * volume_base)``: a level relative to the average daily
    dollar volume (computed on the price grid, matched on ``event_ts``)."""
    x, close, volume = inputs
    scale = _param_float(params, "scale")
    average = _mean_dollar_volume(close, volume, _window(window), freqs[1], x.index)
    return _clean(x * scale / average)


def sum_per_dollar_volume(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``sum_{sum_window}(x) * scale / mean_w(close * volume_base)``."""
    x, close, volume = inputs
    scale = _param_float(params, "scale")
    total = _rolling(x, _param_window(params, "sum_window"), freqs[0]).sum()
    average = _mean_dollar_volume(close, volume, _window(window), freqs[1], x.index)
    return _clean(total * scale / average)


def realized_vol(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Close-to-close volatility: std of one-step log returns, annualized (365 days)."""
    returns = _step_log_returns(inputs[0], freqs[0])
    std = _rolling(returns, _window(window), freqs[0], 2).std()
    return _clean(std * math.sqrt(_YEAR / freqs[0]))


def parkinson_vol(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Parkinson (high-low) volatility: ``sqrt(mean(ln(H/L)^2) / (4 ln 2))``, annualized."""
    high, low = inputs
    squared = pd.Series(np.log(high.to_numpy() / low.to_numpy()) ** 2, index=high.index)
    variance = _rolling(squared, _window(window), freqs[0]).mean() / (4.0 * math.log(2.0))
    return _clean(np.sqrt(variance * (_YEAR / freqs[0])))


def garman_klass_vol(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Garman-Klass volatility: ``sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))``,
    annualized; a negative window mean gives 0."""
    open_, high, low, close = (s.to_numpy(dtype="float64") for s in inputs)
    term = 0.5 * np.log(high / low) ** 2 - (2.0 * math.log(2.0) - 1.0) * np.log(close / open_) ** 2
    variance = _rolling(pd.Series(term, index=inputs[0].index), _window(window), freqs[0]).mean()
    return _clean(np.sqrt(variance.clip(lower=0.0) * (_YEAR / freqs[0])))


def ma_distance(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``close / SMA_w(close) - 1``."""
    close = inputs[0]
    return _clean(close / _rolling(close, _window(window), freqs[0]).mean() - 1.0)


def _cross_state(
    close: pd.Series, params: Mapping[str, ParamValue], freq: pd.Timedelta
) -> pd.Series:
    fast = _rolling(close, _param_window(params, "fast"), freq).mean()
    slow = _rolling(close, _param_window(params, "slow"), freq).mean()
    state = pd.Series(np.sign((fast - slow).to_numpy()), index=close.index)
    return state.mask(fast.isna() | slow.isna())


def ma_cross_state(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """+1 while ``SMA_fast > SMA_slow`` (golden cross), -1 while below (death cross)."""
    return _clean(_cross_state(inputs[0], params, freqs[0]))


def days_since_ma_cross(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Days since the fast/slow moving-average state last changed; NaN before the first
    observed cross."""
    state = _cross_state(inputs[0], params, freqs[0])
    previous = state.ffill().shift(1)
    changed = state.notna() & previous.notna() & (state != previous)
    times = pd.Series(_micros(state.index), index=state.index)
    start = times.where(changed).ffill()
    days = (times - start) / float(pd.Timedelta(days=1).value // 1000)
    return _clean(days.mask(state.isna()))


def drawdown_from_high(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``close / max_w(close) - 1`` (<= 0)."""
    close = inputs[0]
    return _clean(close / _rolling(close, _window(window), freqs[0]).max() - 1.0)


def distance_to_low(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """``ln(close / min_w(low)) / sigma``: distance above the trailing low in units of the
    one-step volatility (std of one-step log returns over ``vol_window``)."""
    close, low = inputs[0], _on(inputs[1], inputs[0].index)
    lowest = _rolling(low, _window(window), freqs[0]).min()
    returns = _step_log_returns(close, freqs[0])
    sigma = _rolling(returns, _param_window(params, "vol_window"), freqs[0], 2).std()
    distance = np.log(close.to_numpy() / lowest.to_numpy())
    return _clean(pd.Series(distance, index=close.index) / sigma.mask(sigma <= 0))


def rsi(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """Wilder's relative strength index (0..100) with ``n = w / freq`` periods: recursive
    averages of gains and losses with ``alpha = 1/n`` seeded by the first change, defined
    from the ``n``-th change on; 100 when there was no loss, 50 when there was no move."""
    close = inputs[0]
    periods = _periods(_window(window), freqs[0])
    change = close.diff()
    gains = change.clip(lower=0.0)
    losses = (-change).clip(lower=0.0)
    alpha = 1.0 / periods
    avg_gain = gains.ewm(alpha=alpha, adjust=False, min_periods=periods).mean()
    avg_loss = losses.ewm(alpha=alpha, adjust=False, min_periods=periods).mean()
    both_zero = (avg_gain == 0) & (avg_loss == 0)
    value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss.mask(avg_loss == 0))
    value = value.mask((avg_loss == 0) & avg_gain.notna(), 100.0).mask(both_zero, 50.0)
    return _clean(value)


def failed_breakout(
    inputs: Sequence[pd.Series],
    window: Window | None,
    params: Mapping[str, ParamValue],
    freqs: Sequence[pd.Timedelta],
) -> pd.Series:
    """1.0 when, within the last ``w``, the high broke above the ``lookback`` high that
    stood before that window, and the close is back below it; else 0.0."""
    high, close = inputs[0], _on(inputs[1], inputs[0].index)
    win = _window(window)
    prior = _lag(_rolling(high, _param_window(params, "lookback"), freqs[0]).max(), win, freqs[0])
    recent = _rolling(high, win, freqs[0]).max()
    flag = ((recent > prior) & (close < prior)).astype("float64")
    return _clean(flag.mask(prior.isna() | recent.isna()))


# ---------------------------------------------------------------------------- registry

_W = ParamSpec(kind="window", required=True)


def _spec(
    name: str,
    roles: tuple[str, ...],
    window: WindowRule,
    template: str,
    compute: ComputeFn,
    params: Mapping[str, ParamSpec] | None = None,
) -> TransformSpec:
    doc = (compute.__doc__ or name).strip().splitlines()[0]
    return TransformSpec(
        name=name,
        roles=roles,
        window=window,
        template=template,
        compute=compute,
        params=dict(params or {}),
        description=doc,
    )


TRANSFORMS: dict[str, TransformSpec] = {
    spec.name: spec
    for spec in (
        _spec("level", ("x",), "forbidden", "{x}", level),
        _spec("diff", ("x",), "required", "{x}_diff_{w}", diff),
        _spec("pct_change", ("x",), "required", "{x}_change_{w}", pct_change),
        _spec("log_return", ("x",), "required", "{x}_return_{w}", log_return),
        _spec("mean", ("x",), "required", "{x}_mean_{w}", mean),
        _spec("sum", ("x",), "required", "{x}_sum_{w}", rolling_sum),
        _spec(
            "cumulative",
            ("x",),
            "required",
            "{x}_cum_{w}",
            cumulative,
            {"settlements_per_obs": ParamSpec(kind="int", required=True, minimum=1)},
        ),
        _spec(
            "carry_annualized",
            ("x",),
            "required",
            "{x}_carry_annualized_{w}",
            carry_annualized,
            {"periods_per_year": ParamSpec(kind="float", required=True, minimum=0.0)},
        ),
        _spec(
            "zscore",
            ("x",),
            "required",
            "{log}_{x}_zscore_{w}",
            zscore,
            {"log": ParamSpec(kind="bool", default=False)},
        ),
        _spec("positive_share", ("x",), "required", "{x}_positive_share_{w}", positive_share),
        _spec("negative_streak", ("x",), "forbidden", "{x}_negative_streak", negative_streak),
        _spec("spread", ("a", "b"), "forbidden", "{a}_minus_{b}", spread),
        _spec("share", ("a", "b"), "required", "{a}_share_{w}", share),
        _spec(
            "sum_to",
            ("a", "b", "denominator"),
            "required",
            "{a}_plus_{b}_to_{denominator}_{w}",
            sum_to,
        ),
        _spec(
            "per_dollar_volume",
            ("x", "close", "volume"),
            "required",
            "{x}_per_dollar_volume_{w}",
            per_dollar_volume,
            {"scale": ParamSpec(kind="float", default=1.0, minimum=0.0)},
        ),
        _spec(
            "sum_per_dollar_volume",
            ("x", "close", "volume"),
            "required",
            "{x}_sum_{sum_window}_per_dollar_volume_{w}",
            sum_per_dollar_volume,
            {"sum_window": _W, "scale": ParamSpec(kind="float", default=1.0, minimum=0.0)},
        ),
        _spec("realized_vol", ("close",), "required", "{close}_rv_cc_{w}", realized_vol),
        _spec(
            "parkinson_vol", ("high", "low"), "required", "{high}_rv_parkinson_{w}", parkinson_vol
        ),
        _spec(
            "garman_klass_vol",
            ("open", "high", "low", "close"),
            "required",
            "{close}_rv_garman_klass_{w}",
            garman_klass_vol,
        ),
        _spec("ma_distance", ("close",), "required", "{close}_dist_ma_{w}", ma_distance),
        _spec(
            "ma_cross_state",
            ("close",),
            "forbidden",
            "{close}_ma_cross_state_{fast}_{slow}",
            ma_cross_state,
            {"fast": _W, "slow": _W},
        ),
        _spec(
            "days_since_ma_cross",
            ("close",),
            "forbidden",
            "{close}_days_since_ma_cross_{fast}_{slow}",
            days_since_ma_cross,
            {"fast": _W, "slow": _W},
        ),
        _spec(
            "drawdown_from_high",
            ("close",),
            "required",
            "{close}_drawdown_from_high_{w}",
            drawdown_from_high,
        ),
        _spec(
            "distance_to_low",
            ("close", "low"),
            "required",
            "{close}_dist_low_{w}_in_vol_{vol_window}",
            distance_to_low,
            {"vol_window": _W},
        ),
        _spec("rsi", ("close",), "required", "{close}_rsi_{w}", rsi),
        _spec(
            "failed_breakout",
            ("high", "close"),
            "required",
            "{high}_failed_breakout_{lookback}_{w}",
            failed_breakout,
            {"lookback": _W},
        ),
    )
}
