"""US spot-ETF flows from Farside Investors: the HTML tables and CSV exports of them.

Farside publishes one table per asset (``/bitcoin-etf-flow-all-data/``,
``/ethereum-etf-flow-all-data/``): a header row of fund tickers ending in ``Total``, then
one row per US trading day (``11 Jan 2024``) with net flows in US$ millions; outflows are
in parentheses (``(95.1)``), a ``-`` or empty cell means no figure, and summary rows
(``Total``, ``Average``, ``Maximum``, ``Minimum``) close the table. Farside has no API and
documents no format; this follows the published page layout. A CSV export of the same
table (``Date,IBIT,FBTC,...,Total``) is read by :func:`parse_farside_csv`.

Rows map to ``etf_flows_daily`` (``asset``, ``ticker``, ``net_flow_usd_m``; ``Total`` ->
ticker ``TOTAL``). Cells without a figure are left out and counted, never read as zero.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from downside.errors import PayloadError
from downside.sources.live._base import (
    TS_DTYPE,
    Connector,
    HttpConnector,
    Page,
    Series,
    check_symbol,
    check_table,
    drift,
    empty_table,
)
from downside.sources.live._http import HttpOptions

FARSIDE_URL = "https://farside.co.uk"
PAGES: dict[str, str] = {
    "BTC": "/bitcoin-etf-flow-all-data/",
    "ETH": "/ethereum-etf-flow-all-data/",
}
SUMMARY_ROWS = frozenset({"total", "average", "maximum", "minimum"})
NO_FIGURE = frozenset({"", "-", "\u2013", "\u2014", "n/a"})
_NUMBER = re.compile(r"^\(?-?[0-9][0-9,]*(\.[0-9]+)?\)?$")
DEFAULT_START = pd.Timestamp("2024-01-01", tz="UTC")


class _Tables(HTMLParser):
    """Collect the text of every cell of every ``<table>`` (nested markup flattened)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._depth = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.tables.append([])
        elif tag == "tr" and self._depth:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and self.tables:
                self.tables[-1].append(self._row)
            self._row = None
        elif tag == "table" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _flow(cell: str) -> float | None:
    text = cell.strip().replace("\u2212", "-")
    if text.lower() in NO_FIGURE:
        return None
    if not _NUMBER.match(text):
        raise ValueError(text)
    negative = text.startswith("(") and text.endswith(")")
    value = float(text.strip("()").replace(",", ""))
    return -value if negative else value


def _parse_day(text: str) -> pd.Timestamp | None:
    for fmt in ("%d %b %Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            return pd.Timestamp(pd.to_datetime(text.strip(), format=fmt, utc=True))
        except ValueError:
            continue
    return None


def flows_from_rows(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, asset: str, source: str
) -> tuple[pd.DataFrame, int]:
    """A Farside table (header of tickers, rows of date + flows) -> (rows, cells left out).

    Raises:
        PayloadError: no ``Total`` column, a row that is neither a date nor a summary
            row, or a cell that is neither a number nor empty.
    """
    tickers = [h.strip() for h in header[1:]]
    if not tickers or tickers[-1].lower() != "total":
        raise drift(
            source, f"Farside {asset} table header", "fund tickers ending with Total", list(header)
        )
    names = [("TOTAL" if t.lower() == "total" else check_symbol(t.upper())) for t in tickers]
    records: list[tuple[pd.Timestamp, str, float]] = []
    left_out = 0
    for row in rows:
        if not row or not row[0].strip():
            continue
        label = row[0].strip()
        if label.lower() in SUMMARY_ROWS:
            continue
        day = _parse_day(label)
        if day is None:
            raise drift(
                source,
                f"Farside {asset} table",
                "rows starting with a date such as 11 Jan 2024",
                list(row)[:4],
            )
        if len(row) != len(header):
            raise drift(source, f"Farside {asset} row {label}", f"{len(header)} cells", list(row))
        for name, cell in zip(names, row[1:], strict=True):
            try:
                value = _flow(cell)
            except ValueError as exc:
                raise drift(
                    source, f"Farside {asset} {label} {name}", "a number, (outflow) or -", cell
                ) from exc
            if value is None:
                left_out += 1
            else:
                records.append((day, name, value))
    if not records:
        return empty_table("etf_flows_daily"), left_out
    frame = pd.DataFrame(records, columns=["ts", "ticker", "net_flow_usd_m"])
    frame["ts"] = frame["ts"].astype(TS_DTYPE)
    frame.insert(1, "asset", asset)
    return frame, left_out


def parse_farside_html(
    text: str, *, asset: str, source: str = "farside"
) -> tuple[pd.DataFrame, int]:
    """A Farside ETF-flow page -> (``etf_flows_daily`` rows, cells without a figure).

    The flow table is the one whose header row ends in ``Total`` and that has date rows;
    rows above the ticker row (issuer names, fees) are skipped.

    Raises:
        PayloadError: no such table (the page changed, or a bot check answered instead).
    """
    parser = _Tables()
    parser.feed(text)
    parser.close()
    for table in parser.tables:
        for index, row in enumerate(table):
            if len(row) > 2 and row[-1].strip().lower() == "total" and not row[0].strip():
                body = table[index + 1 :]
                dated = [i for i, r in enumerate(body) if r and _parse_day(r[0]) is not None]
                if dated:
                    return flows_from_rows(row, body[dated[0] :], asset=asset, source=source)
    hint = (
        " (it looks like a bot check)"
        if "cloudflare" in text.lower() or "captcha" in text.lower()
        else ""
    )
    raise PayloadError(
        f"{source}: no ETF flow table found in the Farside {asset} page{hint}; expected a "
        "table whose header row lists fund tickers and ends with Total, followed by dated "
        "rows; download the table as CSV and use FarsideCsv instead",
        source=source,
    )


def parse_farside_csv(
    text: str, *, asset: str, source: str = "farside_csv"
) -> tuple[pd.DataFrame, int]:
    """A CSV export of a Farside table (``Date,IBIT,...,Total``) -> (rows, cells left out).

    Raises:
        PayloadError: no ``Date`` first column or no ``Total`` last column, or bad cells.
    """
    rows = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if not rows or rows[0][0].strip().lower() != "date":
        raise drift(
            source,
            f"Farside {asset} CSV header",
            "Date,<tickers>...,Total",
            rows[0] if rows else text[:80],
        )
    return flows_from_rows(rows[0], rows[1:], asset=asset, source=source)


class _FarsideBase(Connector):
    tables = ("etf_flows_daily",)
    assets: tuple[str, ...] = ("BTC", "ETH")

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        wanted = [s.upper() for s in symbols] if symbols else list(self.assets)
        return [
            Series(
                self.name,
                f"etf_flows:{asset}",
                "etf_flows_daily",
                {"asset": asset},
                pd.Timedelta(days=1),
                DEFAULT_START,
                {"asset": asset},
            )
            for asset in self.assets
            if asset in wanted
        ]

    def _page(
        self,
        series: Series,
        start: pd.Timestamp,
        end: pd.Timestamp,
        frame: pd.DataFrame,
        left_out: int,
    ) -> Page:
        mask = (frame["ts"] >= start) & (frame["ts"] < end)
        notes = []
        if left_out:
            notes.append(f"{left_out} cell(s) without a figure ('-' or empty) left out")
        return Page(
            series.id,
            start,
            None,
            {"etf_flows_daily": check_table(self.name, "etf_flows_daily", frame.loc[mask])},
            left_out,
            tuple(notes),
        )


class Farside(_FarsideBase, HttpConnector):
    """Farside's HTML tables (one request per asset).

    Args:
        options: HTTP options.
        base_url: the site root (tests point it at a local server).
    """

    name = "farside"
    default_url = FARSIDE_URL

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        asset = series.params["asset"]
        response = self.http.get(PAGES[asset])
        assert response is not None
        frame, left_out = parse_farside_html(response.text, asset=asset, source=self.name)
        yield self._page(series, start, end, frame, left_out)


class FarsideCsv(_FarsideBase):
    """CSV exports of the Farside tables, one file per asset.

    Args:
        files: asset (``BTC``, ``ETH``) -> path of its CSV export.
    """

    name = "farside_csv"

    def __init__(self, files: dict[str, Path], options: HttpOptions | None = None) -> None:
        super().__init__(options)
        self.files = {asset.upper(): Path(path) for asset, path in files.items()}
        self.assets = tuple(sorted(self.files))

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        asset = series.params["asset"]
        path = self.files[asset]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise PayloadError(
                f"{self.name}: cannot read the {asset} export {path}: {exc}; expected a CSV "
                "file (Date,<tickers>,Total); check the path",
                source=self.name,
            ) from exc
        frame, left_out = parse_farside_csv(text, asset=asset, source=self.name)
        yield self._page(series, start, end, frame, left_out)
