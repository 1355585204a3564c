"""Purged, embargoed walk-forward splits."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downside.datasets import Fold, WalkForward, purge_mask
from downside.errors import ConfigError, InvalidTimeError, SchemaError

DAY = pd.Timedelta(days=1)
US_DAY = 86_400_000_000


def _rows(days: int, horizons: tuple[float, ...] = (1.0, 7.0, 30.0)) -> tuple[pd.Series, pd.Series]:
    asof = pd.date_range("2020-01-01", periods=days, freq="D", tz="UTC", unit="us")
    stacked = pd.Series(np.repeat(asof, len(horizons)))
    label_end = stacked + pd.to_timedelta(np.tile(horizons, days), unit="D")
    return stacked, label_end


@st.composite
def _problems(draw: st.DrawFn) -> tuple[WalkForward, pd.Series, pd.Series]:
    n = draw(st.integers(min_value=1, max_value=120))
    hours = draw(st.lists(st.integers(0, 24 * 400), min_size=n, max_size=n))
    spans = draw(st.lists(st.integers(0, 24 * 40), min_size=n, max_size=n))
    base = pd.Timestamp("2021-01-01", tz="UTC").as_unit("us")
    asof = pd.Series(base + pd.to_timedelta(hours, unit="h")).dt.as_unit("us")
    label_end = asof + pd.to_timedelta(spans, unit="h")
    min_train = draw(st.integers(0, 120))
    scheme = draw(st.sampled_from(["expanding", "sliding"]))
    train = draw(st.integers(max(1, min_train), 200)) if scheme == "sliding" else None
    start = draw(st.none() | st.integers(0, 300).map(lambda d: base + d * DAY))
    wf = WalkForward(
        scheme=scheme,
        train_days=train,
        test_days=draw(st.integers(1, 60)),
        embargo_days=draw(st.floats(0, 10)),
        min_train_days=min_train,
        start=start,
    )
    return wf, asof, label_end


@settings(max_examples=150, deadline=None)
@given(_problems())
def test_training_labels_never_overlap_the_test_block(
    problem: tuple[WalkForward, pd.Series, pd.Series],
) -> None:
    wf, asof, label_end = problem
    folds = list(wf.split(asof, label_end))
    t = asof.to_numpy(dtype="datetime64[us]")
    e = label_end.to_numpy(dtype="datetime64[us]")
    for k, fold in enumerate(folds):
        assert fold.index == k
        assert fold.train_idx.size
        assert fold.test_idx.size
        assert not np.intersect1d(fold.train_idx, fold.test_idx).size
        start, end = fold.test_start.asm8, fold.test_end.asm8
        assert ((t[fold.test_idx] >= start) & (t[fold.test_idx] < end)).all()
        test_lo, test_hi = t[fold.test_idx].min(), e[fold.test_idx].max()
        train_t, train_e = t[fold.train_idx], e[fold.train_idx]
        assert ((train_e < test_lo) | (train_t > test_hi)).all()
        assert (train_e < start).all()
        if wf.train_days is not None:
            assert (train_t >= start - np.timedelta64(wf.train_days, "D")).all()
        assert fold.test_start >= asof.min() + wf.min_train_days * DAY
    for before, after in itertools.pairwise(folds):
        assert before.test_end <= after.test_start
        assert t[before.test_idx].max() < t[after.test_idx].min()


def test_expanding_folds_cover_blocks_and_purge_by_label_end() -> None:
    asof, label_end = _rows(500)
    wf = WalkForward(test_days=90, min_train_days=200, embargo_days=0.0)
    folds = list(wf.split(asof, label_end))
    assert [f.test_start.strftime("%Y-%m-%d") for f in folds] == [
        "2020-07-19",
        "2020-10-17",
        "2021-01-15",
        "2021-04-15",
    ]
    assert folds[-1].test_end == pd.Timestamp("2021-07-14", tz="UTC")
    first = folds[0]
    train_end = label_end.iloc[first.train_idx]
    assert (train_end < first.test_start).all()
    purged_30d = asof.iloc[first.train_idx][
        label_end.iloc[first.train_idx] - asof.iloc[first.train_idx] == 30 * DAY
    ]
    assert purged_30d.max() == first.test_start - 31 * DAY
    assert len(first.train_idx) == 200 * 3 - (1 + 7 + 30)
    assert len(first.test_idx) == 90 * 3
    assert all(len(a.train_idx) < len(b.train_idx) for a, b in itertools.pairwise(folds))


def test_sliding_window_and_start_end() -> None:
    asof, label_end = _rows(500)
    wf = WalkForward(
        scheme="sliding",
        train_days=120,
        test_days=30,
        min_train_days=100,
        start="2020-09-01",
        end=pd.Timestamp("2020-11-15", tz="UTC"),
    )
    folds = list(wf.split(asof, label_end))
    assert [(f.test_start.strftime("%m-%d"), f.test_end.strftime("%m-%d")) for f in folds] == [
        ("09-01", "10-01"),
        ("10-01", "10-31"),
        ("10-31", "11-15"),
    ]
    for fold in folds:
        train = asof.iloc[fold.train_idx]
        assert train.min() == fold.test_start - 120 * DAY
        assert (label_end.iloc[fold.train_idx] < fold.test_start).all()


def test_purge_mask_embargoes_rows_after_the_test_block() -> None:
    t = np.array([0, 5, 9, 10, 12, 20, 21, 22, 23, 30]) * US_DAY
    e = t + 2 * US_DAY
    allowed = purge_mask(
        t, e, test_start_us=10 * US_DAY, test_info_end_us=20 * US_DAY, embargo_us=2 * US_DAY
    )
    assert allowed.tolist() == [True, True, False, False, False, False, False, False, True, True]
    no_embargo = purge_mask(
        t, e, test_start_us=10 * US_DAY, test_info_end_us=20 * US_DAY, embargo_us=0
    )
    assert no_embargo.tolist() == [True, True, False, False, False, False, True, True, True, True]


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError, match=r"train_days=None.*test_days=0.*embargo_days=-1"):
        WalkForward(scheme="sliding", test_days=0, embargo_days=-1)
    with pytest.raises(ConfigError, match=r"train_days=100 \(only the sliding scheme"):
        WalkForward(train_days=100)
    with pytest.raises(
        ConfigError, match=r"train_days=30 \(expected an integer >= min_train_days = 365\)"
    ):
        WalkForward(scheme="sliding", train_days=30)
    with pytest.raises(ConfigError, match=r"end=.* is not after start="):
        WalkForward(start="2024-01-01", end="2023-01-01")
    with pytest.raises(InvalidTimeError, match="WalkForward start 'soon'"):
        WalkForward(start="soon")


def test_bad_times_raise_schema_error() -> None:
    asof, label_end = _rows(10)
    wf = WalkForward(min_train_days=1)
    with pytest.raises(SchemaError, match=r"(?s)not_utc_timestamps.*length_mismatch"):
        list(wf.split(asof.dt.tz_localize(None), label_end.iloc[:-1]))
    with pytest.raises(SchemaError, match=r"label_end_before_asof \(30\)"):
        list(wf.split(asof, asof - DAY))


def test_fold_repr_is_short() -> None:
    asof, label_end = _rows(40)
    fold = next(iter(WalkForward(min_train_days=35, test_days=5).split(asof, label_end)))
    assert isinstance(fold, Fold)
    assert "train_idx" not in repr(fold)
