"""The connector contract: what every live source implements, method by method.

A connector turns one provider's API into pages of canonical raw tables
(:data:`downside.sources.TABLES`). It knows nothing of the store: the update in
:mod:`downside.store` asks each connector for its :class:`Series`, reads the last stored
time of each, and ingests the :class:`Page` objects that :meth:`Connector.fetch` yields.

Pagination is by time. Every page says where it started (``cursor``) and where the next
request starts (``next_start``), so an interrupted update can resume after the last page
it committed without fetching or writing that page again.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import numpy as np
import pandas as pd

from downside.errors import InvalidNameError, PayloadError
from downside.sources._schema import TABLES
from downside.sources.live._http import HttpClient, HttpOptions

TS_DTYPE: Final = "datetime64[us, UTC]"


@dataclass(frozen=True)
class Series:
    """One series a connector can fetch incrementally.

    Attributes:
        connector: name of the connector that fetches it.
        name: name unique within the connector (``klines_1d:BTC``, ``DGS2``).
        table: canonical table its rows go to.
        keys: values of the table's key columns that select exactly this series' rows
            (``{"symbol": "BTC", "venue": "binance_usdm_perp"}``); the update reads the
            last stored time of these rows.
        step: spacing of its timestamps; the next update starts at the last stored
            time plus ``step``.
        start: where a first update starts when the store has none of its rows and no
            ``since`` was given.
        params: connector-specific request parameters (pair, interval, series id).
        snapshot: the source serves only the current value (``since`` is not applied).
    """

    connector: str
    name: str
    table: str
    keys: Mapping[str, str]
    step: pd.Timedelta
    start: pd.Timestamp
    params: Mapping[str, str] = field(default_factory=dict)
    snapshot: bool = False

    @property
    def id(self) -> str:
        """``connector/name``: the series' key in checkpoints and reports."""
        return f"{self.connector}/{self.name}"


@dataclass(frozen=True)
class Page:
    """One response turned into canonical tables.

    Attributes:
        series: id of the series it belongs to.
        cursor: where the request of this page started (its identity in checkpoints).
        next_start: where the next page's request starts; ``None`` when this was the
            last page of the range.
        tables: canonical table name -> frame with ``ts``, keys and value columns.
        dropped: rows of the response left out, with the reasons in ``notes``
            (missing-value markers, bars still forming, rows outside the range).
        notes: short explanations of anything dropped or assumed.
    """

    series: str
    cursor: pd.Timestamp
    next_start: pd.Timestamp | None
    tables: Mapping[str, pd.DataFrame]
    dropped: int = 0
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Rows over all tables."""
        return sum(len(frame) for frame in self.tables.values())


class Connector(abc.ABC):
    """A live source that fetches canonical raw tables.

    Subclasses set :attr:`name` and :attr:`tables` and implement :meth:`series` and
    :meth:`fetch`. ``__init__`` only stores its arguments; nothing is requested before
    :meth:`fetch`. API keys are passed in by the caller (taken from
    :class:`~downside.config.Settings` by :func:`downside.sources.live.make_connectors`),
    never read from files or the environment, and never appear in logs or error messages.
    """

    name: ClassVar[str]
    """Short name, the one :func:`downside.sources.live.make_connectors` knows it by."""

    tables: ClassVar[tuple[str, ...]]
    """Canonical tables its pages can hold."""

    def __init__(self, options: HttpOptions | None = None) -> None:
        self.options = options if options is not None else HttpOptions()

    @abc.abstractmethod
    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        """The series a default update fetches.

        Args:
            symbols: base assets (``BTC``, ``ETH``) to fetch; ``None`` for the
                connector's defaults. Sources without symbols (FRED) ignore it.

        Returns:
            The series, in the order an update fetches them.

        Raises:
            InvalidNameError: a symbol is unfit for a table key.
        """

    @abc.abstractmethod
    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        """Pages of ``series`` with event times in ``[start, end)``, oldest first.

        Only complete values are returned (a bar still forming is left out). Each page
        is validated against the canonical schema of its table before it is yielded,
        so a page is either whole and valid or an exception.

        Args:
            series: one of :meth:`series` (or built the same way).
            start: first event time wanted (tz-aware UTC).
            end: event times before this (tz-aware UTC).

        Yields:
            Pages whose ``cursor`` is ``start`` for the first one and the previous
            page's ``next_start`` after that.

        Raises:
            RateLimitedError: the source kept rate-limiting after retries.
            SourceTimeoutError: the source did not answer after retries.
            RequestRejectedError: the source refused the request (bad symbol or key).
            PayloadError: a response did not have the documented shape (malformed,
                empty body, schema drift).
            SourceError: any other failure of the source after retries.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most connectors hold nothing
        """Release connections."""


class HttpConnector(Connector):
    """A connector that sends its requests to one HTTP root through one client.

    The :class:`HttpClient` is created on first use (so ``__init__`` still requests
    nothing) and released by :meth:`close`. Subclasses set :attr:`default_url` and
    override :meth:`new_client` when the client needs headers, secrets to redact or a
    request-weight budget.

    Args:
        options: timeouts, retry policy, sleep and clock.
        base_url: root URL replacing :attr:`default_url` (a local server in tests, a
            proxy in production).
    """

    default_url: ClassVar[str]
    """The provider's root URL."""

    def __init__(self, options: HttpOptions | None = None, *, base_url: str | None = None) -> None:
        super().__init__(options)
        self.url = base_url or self.default_url
        self._http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        """The client, created by :meth:`new_client` on first use."""
        if self._http is None:
            self._http = self.new_client()
        return self._http

    def new_client(self) -> HttpClient:
        """A client for :attr:`url` with the connector's options.

        Override to pass headers, secrets or a weight budget to :class:`HttpClient`.
        """
        return HttpClient(self.name, self.url, self.options)

    def close(self) -> None:
        """Close the client's connections; the next request opens a new client."""
        if self._http is not None:
            self._http.close()
            self._http = None


# ---------------------------------------------------------------------------- helpers


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def check_symbol(symbol: str) -> str:
    """``symbol`` if it can be a table key (the store's name rule).

    Raises:
        InvalidNameError: it cannot.
    """
    if not _NAME_RE.fullmatch(symbol):
        raise InvalidNameError("symbol", symbol, "letters, digits, '_', '.' or '-' (BTC, ETH)")
    return symbol


def base_symbol(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC``; ``btc`` -> ``BTC``."""
    upper = symbol.upper()
    for quote in ("USDT", "USDC", "BUSD", "USD"):
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)]
    return upper


def ms(ts: pd.Timestamp) -> int:
    """Unix milliseconds of a tz-aware timestamp."""
    return int(pd.Timestamp(ts).value // 1_000_000)


def from_ms(values: Any) -> pd.Series:
    """Unix milliseconds (numbers or digit strings) -> ``datetime64[us, UTC]``."""
    numeric = pd.to_numeric(pd.Series(values), errors="raise").astype("int64")
    return pd.Series(pd.to_datetime(numeric, unit="ms", utc=True)).astype(TS_DTYPE)


def utc(value: str | pd.Timestamp) -> pd.Timestamp:
    """A tz-aware UTC timestamp from text or a timestamp (naive means UTC)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def drift(source: str, what: str, expected: str, received: object) -> PayloadError:
    """A :class:`PayloadError` for a response whose shape changed."""
    shown = repr(received)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return PayloadError(
        f"{source}: {what}: expected {expected}, received {shown}; the source's format may "
        "have changed: nothing from this response was written; report it with the "
        "response, or pin an older downside",
        source=source,
    )


def numeric_column(source: str, what: str, values: pd.Series) -> pd.Series:
    """``values`` as float64, raising :class:`PayloadError` on non-numeric cells."""
    out = pd.to_numeric(values, errors="coerce")
    bad = values[out.isna() & values.notna()]
    if len(bad):
        raise drift(source, what, "numbers", list(bad.head(3)))
    return out.astype("float64")


def check_table(source: str, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the columns of ``table`` in order; raises on missing ones."""
    spec = TABLES[table]
    missing = [c for c in spec.all_columns if c not in frame.columns]
    if missing:
        raise drift(source, f"building {table}", f"columns {list(spec.all_columns)}", missing)
    out = frame.loc[:, list(spec.all_columns)].reset_index(drop=True)
    out["ts"] = out["ts"].astype(TS_DTYPE)
    for column, kind in spec.columns.items():
        if kind == "float":
            out[column] = out[column].astype("float64")
        elif kind == "int":
            out[column] = out[column].astype("Int64")
    dupes = out.duplicated(subset=list(spec.key_columns), keep=False)
    if dupes.any():
        examples = out.loc[dupes, list(spec.key_columns)].head(3).astype(str).to_numpy().tolist()
        raise drift(source, f"building {table}", "one row per key", examples)
    return out.sort_values(list(spec.key_columns), kind="stable", ignore_index=True)


def empty_table(table: str) -> pd.DataFrame:
    """A zero-row frame with the columns of ``table``."""
    spec = TABLES[table]
    data: dict[str, pd.Series] = {"ts": pd.Series([], dtype=TS_DTYPE)}
    for key in spec.keys:
        data[key] = pd.Series([], dtype="str")
    for column, kind in spec.columns.items():
        dtype = {"float": "float64", "int": "Int64", "str": "str"}[kind]
        data[column] = pd.Series([], dtype=dtype)
    return pd.DataFrame(data)


def in_range(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Mask of rows with ``start <= ts < end``."""
    ts = frame["ts"]
    return np.asarray(((ts >= start) & (ts < end)).to_numpy(dtype=bool))
