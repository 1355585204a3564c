"""``daily_forecast``: the job a risk desk runs every morning, and how fresh its inputs are.

At the latest as-of time the store can answer for every symbol of the universe (the
first midnight after the newest daily bar of the slowest symbol is known), each model
answers the whole grid (surface; detected supports with their break odds), and the
answers are appended to the forecast ledger. Rerunning the same day finds every record
already there and changes nothing.

Stale inputs do not stop the job (a desk wants the number, with a warning); they are
reported, and the caller (the CLI) turns them into a non-zero exit:

- the as-of time itself is old: the newest daily bar was known more than
  ``max_price_age_hours`` before ``now`` (no update ran);
- a source table a model reads has not published for longer than its limit
  (``max_price_age_hours`` for price bars, ``max_source_age_hours`` for the others:
  ETF flows and FRED series skip weekends and holidays);
- features the model uses are older than their time-to-live at the as-of time (the
  forecast treats them as missing and lists them in ``stale_features``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from downside.features import FeatureStore
from downside.store import Store
from downside.vocabulary import utc, utc_now
from downside.workflows._ledger import LedgerModel, ledger_rows, record

PRICE_TABLES: tuple[str, ...] = ("ohlcv_daily", "ohlcv_hourly")
_TABLE = re.compile(r"^\s*([a-z0-9_]+)\.")


def source_tables(feature_store: FeatureStore, features: Iterable[str]) -> list[str]:
    """The raw tables the named features are computed from (and the daily bars)."""
    wanted = set(features)
    tables = {"ohlcv_daily"}
    for definition in feature_store.definitions:
        if definition.name not in wanted:
            continue
        for text in definition.inputs:
            for part in str(text).split("|"):
                found = _TABLE.match(part)
                if found:
                    tables.add(found.group(1))
    return sorted(tables)


def source_ages(
    store: Store,
    tables: Sequence[str],
    now: pd.Timestamp,
    *,
    max_price_age_hours: float,
    max_source_age_hours: float,
) -> pd.DataFrame:
    """How long ago each table last published, against its limit.

    Returns:
        ``table, last_available_ts, age_hours, limit_hours, stale`` (a table never
        ingested is stale, with no time).
    """
    fingerprint = store.fingerprint()
    rows: list[tuple[str, pd.Timestamp | None, float, float, bool]] = []
    for table in tables:
        entry = fingerprint.get(table)
        limit = max_price_age_hours if table in PRICE_TABLES else max_source_age_hours
        if entry is None:
            rows.append((table, None, float("nan"), limit, True))
            continue
        last = utc(entry["last_available_ts"])
        age = (now - last) / pd.Timedelta(hours=1)
        rows.append((table, last, age, limit, bool(age > limit)))
    frame = pd.DataFrame(
        rows, columns=["table", "last_available_ts", "age_hours", "limit_hours", "stale"]
    )
    frame["last_available_ts"] = pd.to_datetime(frame["last_available_ts"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    return frame


@dataclass(frozen=True)
class DailyForecast:
    """What :func:`daily_forecast` did.

    Attributes:
        asof: the as-of time forecast.
        answers: per model target (``drawdown``, ``support``) the predictor's rows.
        recorded: ledger records written now.
        already: records that were already in the ledger (a rerun).
        sources: the age of every source table the models read (:func:`source_ages`).
        stale: why the inputs are stale, one sentence each (empty when fresh).
        data_version: digest of the inputs (written on every record).
        models: the models that answered, by target.
    """

    asof: pd.Timestamp
    answers: Mapping[str, pd.DataFrame]
    recorded: int
    already: int
    sources: pd.DataFrame
    stale: tuple[str, ...]
    data_version: str
    models: Mapping[str, LedgerModel] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        """Whether no input was stale."""
        return not self.stale


def universe(models: Mapping[str, LedgerModel]) -> list[str]:
    """The symbols the models are scored on, in spec order, without repeats."""
    return list(dict.fromkeys(s for m in models.values() for s in m.predictor.spec.frame.symbols))


def daily_forecast(
    models: Mapping[str, LedgerModel],
    feature_store: FeatureStore,
    *,
    symbols: Sequence[str] | None = None,
    now: pd.Timestamp | None = None,
    max_price_age_hours: float = 36.0,
    max_source_age_hours: float = 120.0,
) -> DailyForecast:
    """Forecast the universe at the latest as-of time and record it in the ledger.

    Args:
        models: the models by target (``drawdown``, ``support``).
        feature_store: point-in-time features over the store that holds the ledger.
        symbols: the universe (default: the models' symbols).
        now: the wall clock for the freshness checks (default: now).
        max_price_age_hours: oldest acceptable daily or hourly bar.
        max_source_age_hours: oldest acceptable value of the other sources.

    Returns:
        The answers, the records written and the freshness of the inputs.

    Raises:
        UnknownSymbolError: a symbol without prices.
        InsufficientHistoryError: too little history at the as-of time.
        SchemaError, StoreLockedError: the ledger could not be written.
    """
    clock = utc(now) if now is not None else utc_now()
    names = [s.strip().upper() for s in symbols] if symbols else universe(models)
    asof = min(feature_store.latest_asof(s) for s in names)
    data_version = feature_store.cache_key()
    answers: dict[str, pd.DataFrame] = {}
    frames = []
    used: set[str] = set()
    for target, model in models.items():
        answer = model.predictor.answer(feature_store, symbols=names, asof=asof, allow_stale=True)
        answers[target] = answer
        frames.append(ledger_rows(answer, model, data_version=data_version, origin="forecast"))
        used |= set(model.predictor.used_features())
    store = feature_store.store
    assert isinstance(store, Store)
    rows = pd.concat(frames, ignore_index=True)
    report = record(store, rows, origin=f"forecast {asof:%Y-%m-%d}")
    entry = report.table("forecast_ledger")
    ages = source_ages(
        store,
        source_tables(feature_store, used),
        clock,
        max_price_age_hours=max_price_age_hours,
        max_source_age_hours=max_source_age_hours,
    )
    stale: list[str] = []
    asof_age = (clock - asof) / pd.Timedelta(hours=1)
    if asof_age > max_price_age_hours:
        stale.append(
            f"the latest as-of time is {asof:%Y-%m-%d %H:%M} UTC, {asof_age:.0f} hours before "
            f"now (limit {max_price_age_hours:g} h): the newest daily bar is old; run "
            "`downside update` or ingest newer files"
        )
    for table, age, limit in ages.loc[
        ages["stale"], ["table", "age_hours", "limit_hours"]
    ].itertuples(index=False):
        when = (
            "never ingested"
            if np.isnan(age)
            else f"last published {age:.0f} hours ago (limit {limit:g} h)"
        )
        stale.append(f"source {table}: {when}")
    features = sorted(
        {n for a in answers.values() for v in a["stale_features"] for n in str(v).split(",") if n}
    )
    if features:
        stale.append(
            f"inputs older than their time-to-live at {asof:%Y-%m-%d}, treated as missing: "
            + ", ".join(features)
        )
    return DailyForecast(
        asof=asof,
        answers=answers,
        recorded=entry.inserted,
        already=entry.unchanged,
        sources=ages,
        stale=tuple(stale),
        data_version=data_version,
        models=dict(models),
    )
