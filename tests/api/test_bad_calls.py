"""Bad Python API calls fail up front with the documented exception and a message naming
the argument and the form it expects, never a raw TypeError, AttributeError or
KeyError, and before any work starts (a backtest or a training would take minutes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from downside import api
from downside.api import Forecaster
from downside.errors import (
    DownsideError,
    InvalidTimeError,
    ModelSpecError,
    PredictionInputError,
)

Call = Callable[[Forecaster, Path], Any]
NAN = float("nan")
WINDOW = {"start": "2024-01-01", "end": "2024-06-30"}


def drawdown(**kwargs: Any) -> Call:
    return lambda fc, _: fc.predict_drawdown(**{"symbols": "BTC", **kwargs})


def support(**kwargs: Any) -> Call:
    return lambda fc, _: fc.predict_support_break(**{"symbol": "BTC", **kwargs})


def report(**kwargs: Any) -> Call:
    return lambda fc, tmp: api.risk_report(
        **{"symbol": "BTC", "out": tmp / "report", "forecaster": fc, **kwargs}
    )


def backtest(**kwargs: Any) -> Call:
    return lambda _, tmp: api.backtest(**{"spec": "drawdown", **WINDOW, **kwargs})


def train(**kwargs: Any) -> Call:
    return lambda _, tmp: api.train(**{"spec": "drawdown", "trials": 0, "folds": 1, **kwargs})


FRACTIONS = r"thresholds must be finite numbers in \(0, 1\] \(fractions: 0.1 means 10%\)"
LEVELS = r"levels must be finite numbers in \(0, inf\] \(prices\)"
ONE_SYMBOL = r"symbol must be one symbol such as 'BTC' \(a string\)"
SPEC = r"spec must be a spec name such as 'drawdown' or the path of a .toml spec file"

CASES: list[tuple[str, Call, type[DownsideError], str]] = [
    # Forecaster.predict_drawdown
    ("symbols None", drawdown(symbols=None), PredictionInputError, r"no symbols given: pass a"),
    ("symbols a number", drawdown(symbols=5), PredictionInputError, r"symbols must be a symbol"),
    ("symbols empty", drawdown(symbols=[]), PredictionInputError, r"no symbol given in symbols"),
    ("symbols [None]", drawdown(symbols=[None]), PredictionInputError, "symbols must be a symbol"),
    ("symbols a dict", drawdown(symbols={"BTC": 1}), PredictionInputError, "symbols must be a"),
    (
        "thresholds text",
        drawdown(thresholds="0.1"),
        PredictionInputError,
        r"thresholds must be a number or a list of numbers \(fractions",
    ),
    ("thresholds empty", drawdown(thresholds=[]), PredictionInputError, "no thresholds given"),
    ("thresholds NaN", drawdown(thresholds=[NAN]), PredictionInputError, FRACTIONS),
    ("thresholds [None]", drawdown(thresholds=[None]), PredictionInputError, FRACTIONS),
    ("thresholds in percent", drawdown(thresholds=10), PredictionInputError, FRACTIONS),
    ("thresholds a bool", drawdown(thresholds=True), PredictionInputError, FRACTIONS),
    (
        "horizons text",
        drawdown(horizons="7"),
        PredictionInputError,
        r"horizons must be a number or a list of numbers \(days\)",
    ),
    (
        "horizons a Timedelta",
        drawdown(horizons=[pd.Timedelta(days=7)]),
        PredictionInputError,
        r"horizons must be finite numbers in \(0, 365\] \(days\)",
    ),
    (
        "horizons infinite",
        drawdown(horizons=[float("inf")]),
        PredictionInputError,
        r"horizons must be finite numbers",
    ),
    ("asof text", drawdown(asof="yesterday-ish"), InvalidTimeError, r"cannot read as-of time"),
    ("asof empty", drawdown(asof=[]), PredictionInputError, r"no as-of times given"),
    ("asof [None]", drawdown(asof=[None]), InvalidTimeError, r"as-of time None .*expected a"),
    ("asof NaT", drawdown(asof=pd.NaT), InvalidTimeError, r"as-of time NaT .*expected a date"),
    ("asof a dict", drawdown(asof={"a": 1}), InvalidTimeError, r"cannot read as-of time"),
    (
        "allow_stale text",
        drawdown(allow_stale="yes"),
        PredictionInputError,
        r"allow_stale must be True or False, received 'yes'",
    ),
    # Forecaster.predict_support_break
    ("symbol a list", support(symbol=["BTC", "ETH"]), PredictionInputError, ONE_SYMBOL),
    ("symbol None", support(symbol=None), PredictionInputError, ONE_SYMBOL),
    (
        "levels text",
        support(levels="50000"),
        PredictionInputError,
        r"levels must be a number or a list of numbers \(prices\)",
    ),
    ("levels empty", support(levels=[]), PredictionInputError, r"no levels given"),
    ("levels NaN", support(levels=[NAN]), PredictionInputError, LEVELS),
    ("levels negative", support(levels=[-5.0]), PredictionInputError, LEVELS),
    ("support horizons empty", support(horizons=[]), PredictionInputError, "no horizons given"),
    (
        "support allow_stale 1",
        support(allow_stale=1),
        PredictionInputError,
        r"allow_stale must be True or False",
    ),
    # api.risk_report
    ("report symbol None", report(symbol=None), PredictionInputError, ONE_SYMBOL),
    ("report symbol a list", report(symbol=["BTC"]), PredictionInputError, ONE_SYMBOL),
    ("report out None", report(out=None), PredictionInputError, r"out must be a path"),
    ("report out a number", report(out=3), PredictionInputError, r"out must be a path \(a"),
    (
        "report threshold text",
        report(threshold="0.1"),
        PredictionInputError,
        r"threshold must be one fraction in \(0, 1\] \(0.1 means 10%\), received '0.1'",
    ),
    ("report threshold NaN", report(threshold=NAN), PredictionInputError, r"threshold must be"),
    ("report threshold a list", report(threshold=[0.1]), PredictionInputError, r"one fraction"),
    (
        "report horizon None",
        report(horizon_days=None),
        PredictionInputError,
        r"horizon_days must be one number of days > 0, received None",
    ),
    (
        "report history negative",
        report(history_days=-1),
        PredictionInputError,
        r"history_days must be a whole number of days >= 1",
    ),
    (
        "report history text",
        report(history_days="365"),
        PredictionInputError,
        r"history_days must be a whole number",
    ),
    (
        "report forecaster text",
        report(forecaster="fc"),
        PredictionInputError,
        r"forecaster must be a Forecaster or None, received str",
    ),
    # api.backtest
    ("backtest spec None", backtest(spec=None), PredictionInputError, SPEC),
    ("backtest spec a number", backtest(spec=3), PredictionInputError, SPEC),
    ("backtest start None", backtest(start=None), InvalidTimeError, r"cannot read start None"),
    ("backtest start text", backtest(start="soon"), InvalidTimeError, r"start 'soon' as a time"),
    ("backtest symbols empty", backtest(symbols=[]), PredictionInputError, r"no symbol given"),
    (
        "backtest symbols numbers",
        backtest(symbols=[1, 2]),
        PredictionInputError,
        r"symbols must be a symbol such as 'BTC' or a list of them",
    ),
    (
        "backtest n_boot negative",
        backtest(n_boot=-1),
        PredictionInputError,
        r"n_boot must be a whole number >= 1 \(bootstrap replicates\), received -1",
    ),
    ("backtest n_boot text", backtest(n_boot="100"), PredictionInputError, r"n_boot must be"),
    ("backtest n_boot a fraction", backtest(n_boot=2.5), PredictionInputError, r"n_boot must"),
    ("backtest out a number", backtest(out=5), PredictionInputError, r"out must be a path"),
    # api.train
    ("train spec None", train(spec=None), PredictionInputError, SPEC),
    ("train spec a list", train(spec=["drawdown"]), PredictionInputError, SPEC),
    (
        "train trials negative",
        train(trials=-1),
        PredictionInputError,
        r"trials must be a whole number >= 0, or None, received -1",
    ),
    ("train trials text", train(trials="2"), PredictionInputError, r"trials must be a whole"),
    (
        "train workers zero",
        train(workers=0),
        PredictionInputError,
        r"workers must be a whole number >= 1 \(tuning processes\)",
    ),
    ("train folds zero", train(folds=0), PredictionInputError, r"folds must be a whole number"),
    (
        "train timeout negative",
        train(timeout_s=-1),
        PredictionInputError,
        r"timeout_s must be seconds >= 0, or None",
    ),
    ("train unknown spec", train(spec="nosuchspec"), ModelSpecError, r"no spec file at"),
]
"""(case, call, documented exception, message): each message names the argument and the
form it expects."""


@pytest.fixture(scope="module")
def module_home(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the trained home for the whole table (no call here writes to it)."""
    import shutil

    home = tmp_path_factory.mktemp("bad-calls") / "downside"
    shutil.copytree(trained_home, home)
    return home


@pytest.fixture
def fc(module_home: Path, monkeypatch: pytest.MonkeyPatch) -> Forecaster:
    monkeypatch.setenv("DOWNSIDE_HOME", str(module_home))
    return Forecaster.load()


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("call", "error", "match"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_call(
    fc: Forecaster, tmp_path: Path, call: Call, error: type[DownsideError], match: str
) -> None:
    started = time.monotonic()
    with pytest.raises(DownsideError) as caught:
        call(fc, tmp_path)
    assert isinstance(caught.value, error), f"{type(caught.value).__name__}: {caught.value}"
    caught.match(match)
    assert time.monotonic() - started < 10, "the call worked before failing"
