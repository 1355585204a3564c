"""Purged and embargoed walk-forward splits over rows with label intervals.

Every row carries the interval its label looks at, ``[asof, label_end]``. A test block
covers the rows with ``test_start <= asof < test_end``; its information interval runs
from ``test_start`` to the latest ``label_end`` of its rows (at least ``test_end``).

* **Purge**: a training row whose label interval overlaps that information interval is
  dropped; for rows before the block this means every row with ``label_end >=
  test_start`` (its label would see test-period prices).
* **Embargo**: a training row whose ``asof`` lies within ``embargo_days`` after the
  information interval is dropped too (its features may still reflect test-period
  prices). The walk-forward schemes only train before the block, so this matters to
  callers that use :func:`purge_mask` with training rows after the test block.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from downside.errors import ConfigError, Problem, SchemaError
from downside.vocabulary import US_PER_DAY, utc
from downside.vocabulary import to_us as ts_us


@dataclass(frozen=True)
class TrainRule:
    """Which rows may train the model of one test block, as a rule on a row's as-of and
    label end times alone (times in µs since the epoch): so rows held apart, e.g. one
    partition of symbols per worker, select their own training rows exactly as
    :meth:`WalkForward.split` selects them from all rows.

    Attributes:
        test_start_us: first as-of time of the test block.
        info_end_us: end of the block's information interval (see :func:`purge_mask`).
        embargo_us: embargo after the information interval.
        train_from_us: first as-of time of the training window (sliding scheme), or
            None (expanding).
    """

    test_start_us: int
    info_end_us: int
    embargo_us: int
    train_from_us: int | None = None

    def mask(self, asof_us: np.ndarray, label_end_us: np.ndarray) -> np.ndarray:
        """Rows before the block, in the training window, not purged nor embargoed."""
        window: np.ndarray = asof_us < self.test_start_us
        if self.train_from_us is not None:
            window &= asof_us >= self.train_from_us
        allowed: np.ndarray = window & purge_mask(
            asof_us,
            label_end_us,
            test_start_us=self.test_start_us,
            test_info_end_us=self.info_end_us,
            embargo_us=self.embargo_us,
        )
        return allowed


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold.

    Attributes:
        index: position of the fold, from 0 in time order.
        train_idx: positional indices of the training rows (sorted).
        test_idx: positional indices of the test rows (sorted).
        test_start: first as-of time of the test block (inclusive).
        test_end: end of the test block (exclusive).
        rule: the rule that selected ``train_idx`` (applies to any rows).
    """

    index: int
    train_idx: np.ndarray = field(repr=False)
    test_idx: np.ndarray = field(repr=False)
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    rule: TrainRule | None = field(default=None, repr=False)


def purge_mask(
    asof_us: np.ndarray,
    label_end_us: np.ndarray,
    *,
    test_start_us: int,
    test_info_end_us: int,
    embargo_us: int,
) -> np.ndarray:
    """Rows that may train a model scored on a test block (times in µs since the epoch).

    Args:
        asof_us: as-of time of every row.
        label_end_us: label end time of every row.
        test_start_us: first as-of time of the test block.
        test_info_end_us: end of the test block's information interval (the latest
            ``label_end`` of its rows, and at least the block's end).
        embargo_us: embargo after the information interval.

    Returns:
        Boolean mask: True where the row lies outside the test block, its label interval
        does not overlap ``[test_start, test_info_end]`` and it is not embargoed.
    """
    overlaps = (asof_us <= test_info_end_us) & (label_end_us >= test_start_us)
    embargoed = (asof_us > test_info_end_us) & (asof_us <= test_info_end_us + embargo_us)
    return ~(overlaps | embargoed)


def _timestamp(value: str | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    return None if value is None else utc(value, f"WalkForward {name}")


@dataclass(frozen=True, kw_only=True)
class WalkForward:
    """Walk-forward splitter with purging and embargo.

    Test blocks of ``test_days`` follow each other from ``start`` (default: the first
    as-of time plus ``min_train_days``) up to ``end`` (exclusive; default: after the
    last as-of time); the model is refit once per block. ``expanding`` trains on every
    earlier row, ``sliding`` on rows with ``asof`` in the last ``train_days`` before the
    block. Training rows are purged and embargoed as described in the module docstring.

    Attributes:
        scheme: ``"expanding"`` or ``"sliding"``.
        train_days: length of the sliding training window (sliding only).
        test_days: length of each test block, i.e. refit every ``test_days``.
        embargo_days: embargo after a test block's information interval.
        min_train_days: history needed before the first test block.
        start: earliest start of the first test block (naive values are UTC).
        end: end of the last test block, exclusive.

    Raises:
        ConfigError: invalid settings (all problems listed).
        InvalidTimeError: ``start`` or ``end`` is not a time.
    """

    scheme: Literal["expanding", "sliding"] = "expanding"
    train_days: int | None = None
    test_days: int = 90
    embargo_days: float = 1.0
    min_train_days: int = 365
    start: pd.Timestamp | str | None = None
    end: pd.Timestamp | str | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.scheme not in ("expanding", "sliding"):
            problems.append(f"scheme={self.scheme!r} (expected 'expanding' or 'sliding')")
        if self.scheme == "sliding" and self.train_days is None:
            problems.append("train_days=None (the sliding scheme needs a window length)")
        if self.scheme == "expanding" and self.train_days is not None:
            problems.append(
                f"train_days={self.train_days} (only the sliding scheme has a training "
                "window; drop it or use scheme='sliding')"
            )
        floor = self.min_train_days if isinstance(self.min_train_days, int) else 0
        if self.train_days is not None and (
            not isinstance(self.train_days, int) or self.train_days < max(1, floor)
        ):
            problems.append(
                f"train_days={self.train_days!r} (expected an integer >= min_train_days "
                f"= {self.min_train_days})"
            )
        if not isinstance(self.test_days, int) or self.test_days < 1:
            problems.append(f"test_days={self.test_days!r} (expected an integer >= 1)")
        if not isinstance(self.min_train_days, int) or self.min_train_days < 0:
            problems.append(f"min_train_days={self.min_train_days!r} (expected an integer >= 0)")
        embargo = self.embargo_days
        if not (isinstance(embargo, int | float) and math.isfinite(embargo) and embargo >= 0):
            problems.append(f"embargo_days={embargo!r} (expected a number of days >= 0)")
        if problems:
            raise ConfigError(f"invalid WalkForward settings: {'; '.join(problems)}")
        start = _timestamp(self.start, "start")
        end = _timestamp(self.end, "end")
        if start is not None and end is not None and end <= start:
            raise ConfigError(
                f"invalid WalkForward settings: end={end} is not after start={start}; "
                "pass an end later than the start"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def _times(self, asof: pd.Series, label_end: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        problems: list[Problem] = []
        series = {"asof": asof, "label_end": label_end}
        for name, values in series.items():
            if not isinstance(values.dtype, pd.DatetimeTZDtype):
                problems.append(
                    Problem(
                        name,
                        "not_utc_timestamps",
                        len(values),
                        f"expected timezone-aware UTC datetimes, received dtype {values.dtype}",
                    )
                )
            elif values.isna().any():
                problems.append(
                    Problem(name, "missing_timestamps", int(values.isna().sum()), "NaT values")
                )
        if len(asof) != len(label_end):
            problems.append(
                Problem(
                    "label_end",
                    "length_mismatch",
                    abs(len(asof) - len(label_end)),
                    f"asof has {len(asof)} rows, label_end {len(label_end)}; pass the "
                    "columns of one frame",
                )
            )
        if problems:
            raise SchemaError(problems)
        t, e = ts_us(asof), ts_us(label_end)
        early = e < t
        if early.any():
            raise SchemaError(
                [
                    Problem(
                        "label_end",
                        "label_end_before_asof",
                        int(early.sum()),
                        "every label must end at or after its as-of time",
                    )
                ]
            )
        return t, e

    def split(self, asof: pd.Series, label_end: pd.Series) -> Iterator[Fold]:
        """Yield the folds in time order.

        Blocks without test rows, or without training rows left after purging, are
        skipped. Test rows whose label is NaN should be excluded by the caller (pass the
        labelled rows only).

        Args:
            asof: as-of time of every row (UTC).
            label_end: end of every row's label interval (UTC).

        Yields:
            :class:`Fold` objects with positional indices into the given rows.

        Raises:
            SchemaError: non-UTC or missing times, different lengths, or a label that
                ends before its as-of time.
        """
        t, e = self._times(asof, label_end)
        if t.size == 0:
            return
        day = US_PER_DAY
        first = int(t.min()) + self.min_train_days * day
        if isinstance(self.start, pd.Timestamp):
            first = max(first, int(self.start.asm8.view("int64")))
        last = int(t.max())
        end = int(self.end.asm8.view("int64")) if isinstance(self.end, pd.Timestamp) else None
        embargo = round(self.embargo_days * day)
        index = 0
        block = first
        while block <= last and (end is None or block < end):
            block_end = (
                block + self.test_days * day
                if end is None
                else min(block + self.test_days * day, end)
            )
            in_test = (t >= block) & (t < block_end)
            test_idx = np.flatnonzero(in_test)
            if test_idx.size:
                rule = TrainRule(
                    test_start_us=block,
                    info_end_us=max(block_end, int(e[test_idx].max())),
                    embargo_us=embargo,
                    train_from_us=(
                        None if self.train_days is None else block - self.train_days * day
                    ),
                )
                train_idx = np.flatnonzero(rule.mask(t, e))
                if train_idx.size:
                    yield Fold(
                        index=index,
                        train_idx=train_idx,
                        test_idx=test_idx,
                        test_start=pd.Timestamp(block, unit="us", tz="UTC").as_unit("us"),
                        test_end=pd.Timestamp(block_end, unit="us", tz="UTC").as_unit("us"),
                        rule=rule,
                    )
                    index += 1
            block = block_end
