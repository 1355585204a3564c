"""The forecast ledger: answers turned into records, and records read back.

Every forecast ``downside forecast`` issues (and every day ``downside evaluate
--replay`` fills in) is appended to the store's ``forecast_ledger`` table (schema and
publication rule: :mod:`downside.store._tables`). A record is keyed by its as-of time,
symbol, model name and version and grid cell, so recording the same forecasts twice
changes nothing (:meth:`downside.store.Store.append` keeps the first record).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from downside.errors import EmptyStoreError
from downside.models import Predictor
from downside.store import LEDGER_TABLE, IngestReport, Store

ORIGINS: tuple[str, ...] = ("forecast", "replay")
"""Where a record comes from: issued by ``downside forecast``, or filled in by a replay."""

LEDGER_KEYS: tuple[str, ...] = ("asof", "symbol", "model", "model_version", "cell")
"""What identifies a record."""


@dataclass(frozen=True)
class LedgerModel:
    """A model whose forecasts are recorded.

    Attributes:
        predictor: the fitted model.
        name: registered model name, e.g. ``downside-drawdown``.
        version: registered version, e.g. ``3``.
    """

    predictor: Predictor
    name: str
    version: str

    @property
    def target(self) -> str:
        return self.predictor.spec.target

    def describe(self) -> str:
        return f"{self.name} v{self.version}"


def cell_id(cell: str, value: float, horizon_days: float) -> str:
    """The ledger's name of a grid cell: ``threshold=0.1,horizon_days=7.0``."""
    return f"{cell}={float(value)!r},horizon_days={float(horizon_days)!r}"


def ledger_rows(
    answer: pd.DataFrame,
    model: LedgerModel,
    *,
    data_version: str,
    origin: str,
) -> pd.DataFrame:
    """Ledger records (the raw ``forecast_ledger`` layout) of a predictor's answer.

    Args:
        answer: rows of :meth:`downside.models.Predictor.predict`.
        model: the model that answered.
        data_version: digest of the inputs (``FeatureStore.cache_key()``).
        origin: ``forecast`` or ``replay``.

    Raises:
        ValueError: an unknown origin.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, received {origin!r}")
    target = model.target
    cell = "threshold" if target == "drawdown" else "level"
    families = list(model.predictor.family_names)
    n = len(answer)
    values = answer[cell].to_numpy(dtype=np.float64)
    horizons = answer["horizon_days"].to_numpy(dtype=np.float64)
    points = answer[families].to_numpy(dtype=np.float64) if families else np.zeros((n, 0))
    nan = np.full(n, np.nan)
    return pd.DataFrame(
        {
            "ts": answer["asof"].array,
            "symbol": answer["symbol"].astype("str").to_numpy(),
            "model": model.name,
            "model_version": str(model.version),
            "cell": [cell_id(cell, v, h) for v, h in zip(values, horizons, strict=True)],
            "target": target,
            "threshold": values if cell == "threshold" else nan,
            "level": values if cell == "level" else nan,
            "horizon_days": horizons,
            "level_type": (
                answer["level_type"].astype("str").to_numpy() if cell == "level" else ""
            ),
            "ref_close": answer["ref_close"].to_numpy(dtype=np.float64),
            "probability": answer["probability"].to_numpy(dtype=np.float64),
            "baseline_probability": answer["baseline_probability"].to_numpy(dtype=np.float64),
            "p_reference": answer["p_reference"].to_numpy(dtype=np.float64),
            "contributions": [
                json.dumps({f: float(x) for f, x in zip(families, row, strict=True)})
                for row in points
            ],
            "leading_driver": answer["leading_driver"].astype("str").to_numpy(),
            "stale_features": answer["stale_features"].astype("str").to_numpy(),
            "data_version": data_version,
            "origin": origin,
        }
    ).astype({"ts": "datetime64[us, UTC]"})


def record(store: Store, rows: pd.DataFrame, *, origin: str) -> IngestReport:
    """Append records to the ledger: new keys are inserted, recorded ones left as they
    were first written (see :meth:`downside.store.Store.append`).

    Raises:
        SchemaError: invalid records; nothing written.
        StoreLockedError: another write held the lock.
    """
    return store.append(LEDGER_TABLE, rows, origin=origin)


def read_ledger(
    store: Store,
    *,
    models: Sequence[str] | None = None,
    available_by: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The ledger, one row per record, driver points in one column per family.

    Args:
        store: the store holding the ledger.
        models: keep these registered model names (None: all).
        available_by: keep records written by then.

    Returns:
        ``asof, issued_ts, symbol, model, model_version, target, threshold, level,
        horizon_days, level_type, ref_close, probability, baseline_probability,
        p_reference``, one column per family, ``leading_driver, stale_features,
        data_version, origin``; sorted by ``asof``, model, version, symbol and cell.
        Empty (with those columns, without family columns) when nothing is recorded.
    """
    try:
        raw = store.read(LEDGER_TABLE, available_by=available_by)
    except EmptyStoreError:
        raw = pd.DataFrame(
            {
                "event_ts": pd.Series([], dtype="datetime64[us, UTC]"),
                "available_ts": pd.Series([], dtype="datetime64[us, UTC]"),
                **{c: pd.Series([], dtype="str") for c in ("symbol", "model", "model_version")},
                "cell": pd.Series([], dtype="str"),
                **{c: pd.Series([], dtype="str") for c in ("target", "level_type")},
                **{
                    c: pd.Series([], dtype="float64")
                    for c in (
                        "threshold",
                        "level",
                        "horizon_days",
                        "ref_close",
                        "probability",
                        "baseline_probability",
                        "p_reference",
                    )
                },
                **{
                    c: pd.Series([], dtype="str")
                    for c in (
                        "contributions",
                        "leading_driver",
                        "stale_features",
                        "data_version",
                        "origin",
                    )
                },
            }
        )
    if models is not None:
        raw = raw[raw["model"].isin(list(models))]
    points = [json.loads(text) for text in raw["contributions"]]
    families: list[str] = list(dict.fromkeys(f for p in points for f in p))
    out = raw.rename(columns={"event_ts": "asof", "available_ts": "issued_ts"}).drop(
        columns=["contributions"]
    )
    for family in families:
        out[family] = np.array([p.get(family, np.nan) for p in points], dtype=np.float64)
    lead = [
        "asof",
        "issued_ts",
        "symbol",
        "model",
        "model_version",
        "target",
        "threshold",
        "level",
        "horizon_days",
        "level_type",
        "ref_close",
        "probability",
        "baseline_probability",
        "p_reference",
        *families,
        "leading_driver",
        "stale_features",
        "data_version",
        "origin",
        "cell",
    ]
    out = out[lead].sort_values(["asof", "model", "model_version", "symbol", "cell"], kind="stable")
    return out.reset_index(drop=True)


def count_by(ledger: pd.DataFrame) -> Mapping[str, int]:
    """Records per ``model vVERSION``."""
    if ledger.empty:
        return {}
    keys = ledger["model"].astype(str) + " v" + ledger["model_version"].astype(str)
    return {str(k): int(v) for k, v in keys.value_counts().sort_index().items()}
