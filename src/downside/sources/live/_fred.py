"""FRED: the keyless ``fredgraph.csv`` download and the keyed ``series/observations`` API.

Both give ``macro_rates_daily`` rows (``series``, ``source=FRED``, ``value``, ``unit``).
Missing values (an empty CSV field, or ``.`` in the legacy CSV and in the API) are left
out and counted in the page, as the shared data does. Units come from
:data:`FRED_UNITS` (left empty for other series).

- ``fredgraph.csv?id=DGS2&cosd=...&coed=...``: the header is ``observation_date,DGS2``
  (current) or ``DATE,DGS2`` (legacy); several ids give several value columns.
- ``fred/series/observations?series_id=DGS2&api_key=...&file_type=json``: paged with
  ``offset``/``limit``; an error answers ``{"error_code": 400, "error_message": ...}``.
  The key is the ``fred_api_key`` setting (``FRED_API_KEY``), passed in by
  :func:`downside.sources.live.make_connectors`, and is redacted from every URL, log line
  and error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from downside.sources.live._base import (
    TS_DTYPE,
    HttpConnector,
    Page,
    Series,
    check_symbol,
    check_table,
    drift,
    empty_table,
)
from downside.sources.live._http import HttpClient, HttpOptions

FREDGRAPH_URL = "https://fred.stlouisfed.org"
FRED_API_URL = "https://api.stlouisfed.org"
MISSING_MARKERS = frozenset({"", "."})
FRED_UNITS: dict[str, str] = {
    "DFF": "percent",
    "DGS3MO": "percent",
    "DGS2": "percent",
    "DGS10": "percent",
    "DGS30": "percent",
    "DFII10": "percent",
    "T10Y2Y": "percent_points",
    "SOFR": "percent",
    "BAMLH0A0HYM2": "percent",
    "VIXCLS": "index",
    "RRPONTSYD": "usd_billions",
    "DTWEXBGS": "index_jan2006_100",
    "DCOILWTICO": "usd_per_barrel",
    "USEPUINDXD": "index",
    "DFEDTARU": "percent",
    "DFEDTARL": "percent",
    "FEDFUNDS": "percent",
}
DEFAULT_SERIES = tuple(s for s in FRED_UNITS if s != "FEDFUNDS")
DEFAULT_START = pd.Timestamp("2015-01-01", tz="UTC")
API_PAGE = 100_000


def _macro_rows(
    dates: Sequence[str], values: Sequence[str], series: str, source: str
) -> tuple[pd.DataFrame, int]:
    """(rows, dropped): observations with a value; missing markers left out."""
    keep = [
        (d, v.strip())
        for d, v in zip(dates, values, strict=True)
        if v.strip() not in MISSING_MARKERS
    ]
    dropped = len(dates) - len(keep)
    if not keep:
        return empty_table("macro_rates_daily"), dropped
    raw = pd.DataFrame(keep, columns=["date", "value"])
    try:
        ts = pd.to_datetime(raw["date"], format="%Y-%m-%d", utc=True)
    except ValueError as exc:
        raise drift(source, f"FRED {series} dates", "YYYY-MM-DD", raw["date"][:3].tolist()) from exc
    value = pd.to_numeric(raw["value"], errors="coerce")
    bad = raw.loc[value.isna(), "value"]
    if len(bad):
        raise drift(
            source, f"FRED {series} values", "numbers or the missing marker '.'", bad[:3].tolist()
        )
    frame = pd.DataFrame(
        {
            "ts": ts.astype(TS_DTYPE),
            "series": series,
            "source": "FRED",
            "value": value.astype("float64"),
            "unit": FRED_UNITS.get(series),
        }
    )
    return frame, dropped


def parse_fredgraph_csv(text: str, *, source: str = "fred") -> dict[str, tuple[pd.DataFrame, int]]:
    """A ``fredgraph.csv`` download -> per series id: (``macro_rates_daily`` rows, dropped).

    Raises:
        PayloadError: empty, no date column (``observation_date`` or ``DATE``), no series
            column, ragged rows, bad dates or values.
    """
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise drift(source, "fredgraph.csv", "a header and rows", text[:80])
    header = [c.strip() for c in rows[0]]
    if header[0] not in ("observation_date", "DATE") or len(header) < 2:
        raise drift(
            source, "fredgraph.csv header", "observation_date,<ID>... or DATE,<ID>...", header
        )
    data = rows[1:]
    ragged = [row for row in data if len(row) != len(header)]
    if ragged:
        raise drift(source, "fredgraph.csv", f"rows of {len(header)} fields", ragged[:2])
    dates = [row[0] for row in data]
    out = {}
    for index, series in enumerate(header[1:], start=1):
        check_symbol(series)
        out[series] = _macro_rows(dates, [row[index] for row in data], series, source)
    return out


def parse_fred_observations(
    payload: Any, *, series: str, source: str = "fred"
) -> tuple[pd.DataFrame, int]:
    """A ``series/observations`` JSON answer -> (``macro_rates_daily`` rows, dropped).

    Raises:
        PayloadError: no ``observations`` array of ``{date, value}`` objects.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("observations"), list):
        raise drift(
            source, "FRED series/observations", "an object with an observations array", payload
        )
    obs = payload["observations"]
    bad = [o for o in obs if not isinstance(o, dict) or "date" not in o or "value" not in o]
    if bad:
        raise drift(source, "FRED observations", "objects with date and value", bad[:2])
    return _macro_rows(
        [str(o["date"]) for o in obs], [str(o["value"]) for o in obs], series, source
    )


class _Fred(HttpConnector):
    tables = ("macro_rates_daily",)

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        series: Sequence[str] = DEFAULT_SERIES,
        base_url: str | None = None,
    ) -> None:
        super().__init__(options, base_url=base_url)
        self.series_ids = tuple(check_symbol(s) for s in series)

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        return [
            Series(
                self.name,
                sid,
                "macro_rates_daily",
                {"series": sid},
                pd.Timedelta(days=1),
                DEFAULT_START,
                {"series_id": sid},
            )
            for sid in self.series_ids
        ]


class FredGraph(_Fred):
    """FRED's keyless CSV download, one request per series and range."""

    name = "fred"
    default_url = FREDGRAPH_URL

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        sid = series.params["series_id"]
        last_day = end - pd.Timedelta(days=1)
        response = self.http.get(
            "/graph/fredgraph.csv",
            {"id": sid, "cosd": f"{start:%Y-%m-%d}", "coed": f"{last_day:%Y-%m-%d}"},
        )
        assert response is not None
        if not response.text.strip():
            raise drift(
                self.name, f"fredgraph.csv?id={sid}", "a CSV with a header", "an empty body"
            )
        parsed = parse_fredgraph_csv(response.text, source=self.name)
        if sid not in parsed:
            raise drift(self.name, f"fredgraph.csv?id={sid}", f"a {sid} column", list(parsed))
        frame, dropped = parsed[sid]
        mask = (frame["ts"] >= start) & (frame["ts"] < end)
        outside = int((~mask).sum())
        notes = []
        if dropped:
            notes.append(f"{dropped} missing observation(s) ('.' or empty) left out")
        if outside:
            notes.append(f"{outside} row(s) outside the requested range left out")
        yield Page(
            series.id,
            start,
            None,
            {"macro_rates_daily": check_table(self.name, "macro_rates_daily", frame.loc[mask])},
            dropped + outside,
            tuple(notes),
        )


class FredApi(_Fred):
    """FRED's API (``series/observations``); needs an API key.

    Args:
        api_key: the key (the ``fred_api_key`` setting); never logged or shown.
    """

    name = "fred_api"
    default_url = FRED_API_URL

    def __init__(
        self,
        api_key: str,
        options: HttpOptions | None = None,
        *,
        series: Sequence[str] = DEFAULT_SERIES,
        base_url: str | None = None,
    ) -> None:
        super().__init__(options, series=series, base_url=base_url)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"FredApi(series={list(self.series_ids)}, api_key=***)"

    def new_client(self) -> HttpClient:
        """A client that redacts the key from URLs, logs and errors."""
        return HttpClient(self.name, self.url, self.options, secrets=[self._api_key])

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        sid = series.params["series_id"]
        cursor = start
        while cursor < end:
            payload = self.http.get_json(
                "/fred/series/observations",
                {
                    "series_id": sid,
                    "api_key": self._api_key,
                    "file_type": "json",
                    "observation_start": f"{cursor:%Y-%m-%d}",
                    "observation_end": f"{end - pd.Timedelta(days=1):%Y-%m-%d}",
                    "sort_order": "asc",
                    "limit": API_PAGE,
                },
            )
            frame, dropped = parse_fred_observations(payload, series=sid, source=self.name)
            observations = payload["observations"]
            count = payload.get("count")
            frame = frame.loc[(frame["ts"] >= cursor) & (frame["ts"] < end)]
            next_start = None
            if isinstance(count, int) and 0 < len(observations) < count:
                last = pd.Timestamp(str(observations[-1]["date"]), tz="UTC")
                following = last + pd.Timedelta(days=1)
                next_start = following if following < end else None
            notes = (f"{dropped} missing observation(s) ('.') left out",) if dropped else ()
            yield Page(
                series.id,
                cursor,
                next_start,
                {"macro_rates_daily": check_table(self.name, "macro_rates_daily", frame)},
                dropped,
                notes,
            )
            if next_start is None:
                return
            cursor = next_start
