"""The connector contract suite: the checks every live connector passes.

Like optuna's ``optuna/testing/pytest_storages.py``, the suite is a test class. Subclass
:class:`ConnectorContract` in a test module, list your :class:`ConnectorCase` objects and
provide a ``server`` fixture (a :class:`LocalServer` that answers like your provider,
from recorded or documented responses); pytest runs every check on every case::

    import pytest
    from downside.testing import ConnectorCase, ConnectorContract, LocalServer

    def answer(path, query, headers):
        body = RECORDED[path]  # your provider's responses, filtered by the query
        return 200, "application/json", body, {}

    @pytest.fixture(scope="module")
    def server():
        with LocalServer(answer) as server:
            yield server

    class TestMyConnector(ConnectorContract):
        cases = [
            ConnectorCase(
                "mine-daily",
                lambda server, options: Mine(options, base_url=server.base("mine")),
                series="prices:BTC",
                start=pd.Timestamp("2024-01-01", tz="UTC"),
                end=pd.Timestamp("2024-02-01", tz="UTC"),
                rows=31,
            ),
        ]

The checks, per case:

1. the connector's series are well formed: unique ids, canonical tables and keys, a
   positive step, a tz-aware start;
2. the pages of ``[start, end)`` chain (``cursor``, ``next_start``), hold only the
   canonical tables with the series' keys and rows in range, ingest into a real
   :class:`~downside.store.Store` and hold ``rows`` rows in all;
3. fetching twice gives the same pages, and resuming at any page's ``next_start`` gives
   the pages that followed it;
4. for the first HTTP case of each connector (cases whose ids share the text before the
   first ``-``), every failure of :data:`FAILURE_MODES` raises the matching error after
   the retries, names the connector, says what was expected, and a connector built on
   :class:`~downside.sources.live.HttpConnector` waits the ``Retry-After`` of an HTTP 429.

Connectors get fast options: a 0.25 s timeout, three attempts, sleeps recorded instead of
slept, and a fixed clock (:data:`CONTRACT_NOW` unless the case sets ``now``). pytest is
imported only inside the checks; the suite needs it to run.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from downside.errors import (
    PayloadError,
    RateLimitedError,
    RequestRejectedError,
    SourceError,
    SourceTimeoutError,
)
from downside.sources import TABLES
from downside.sources.live import (
    Connector,
    HttpConnector,
    HttpOptions,
    Page,
    RetryPolicy,
    Series,
)
from downside.store import Store

if TYPE_CHECKING:
    import pytest

Answer = tuple[int, str, bytes, Mapping[str, str]]
"""One answer of a :class:`LocalServer`: status, content type, body, extra headers."""

AnswerFunction = Callable[[str, Mapping[str, str], Mapping[str, str]], Answer]
"""Answers a GET from its path, its query (last value per name) and its headers (lower
case names)."""

CONTRACT_NOW: Final = pd.Timestamp("2024-03-01 12:00", tz="UTC")
"""The connectors' clock, unless a case sets its own."""

FAILURE_MODES: Final[Mapping[str, type[SourceError]]] = {
    "malformed": PayloadError,
    "empty": PayloadError,
    "500": SourceError,
    "429": RateLimitedError,
    "timeout": SourceTimeoutError,
}
"""Failure mode of :class:`LocalServer` -> the error a connector must raise for it."""


class LocalServer:
    """An HTTP server on 127.0.0.1 that answers GET requests, or fails on demand.

    Use it as a context manager: the server runs in a thread between ``__enter__`` and
    ``__exit__``.

    Args:
        answer: answers every request while :attr:`mode` is ``ok``.

    Attributes:
        mode: ``ok``, or a failure mode of :data:`FAILURE_MODES` that every request then
            meets: ``malformed`` (JSON of the wrong shape), ``empty`` (an empty body),
            ``500``, ``429`` (with ``Retry-After: 1``) or ``timeout`` (the answer comes
            :attr:`timeout_sleep_s` late).
        timeout_sleep_s: delay of answers in mode ``timeout``.
    """

    def __init__(self, answer: AnswerFunction) -> None:
        self.answer = answer
        self.mode = "ok"
        self.timeout_sleep_s = 0.6
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, ctype, body, extra = server._answer(parts.path, query, headers)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def base(self, prefix: str) -> str:
        """The root URL of one provider served under ``/<prefix>``."""
        return f"{self.url}/{prefix}"

    def _answer(self, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        mode = self.mode
        if mode == "malformed":
            return 200, "application/json", b'{"unexpected": "shape"}', {}
        if mode == "empty":
            return 200, "application/json", b"", {}
        if mode == "500":
            return 500, "text/plain", b"Internal Server Error", {}
        if mode == "429":
            return 429, "text/plain", b"Too Many Requests", {"Retry-After": "1"}
        if mode == "timeout":
            time.sleep(self.timeout_sleep_s)
        return self.answer(path, query, headers)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass(frozen=True)
class ConnectorCase:
    """One connector, one of its series, a range, and the rows the responses hold.

    Attributes:
        id: test id; cases of one connector share the text before the first ``-``.
        make: builds the connector, pointed at the server, with the given options.
        series: name of one of the connector's series for symbol ``BTC``.
        start, end: the range fetched (tz-aware UTC).
        rows: rows the pages hold in all.
        now: the connectors' clock (default :data:`CONTRACT_NOW`).
        http: whether the connector uses the server (failures are tested on it).
    """

    id: str
    make: Callable[[LocalServer, HttpOptions], Connector]
    series: str
    start: pd.Timestamp
    end: pd.Timestamp
    rows: int
    now: pd.Timestamp | None = None
    http: bool = True


@dataclass
class _Sleeps:
    """Records requested sleeps instead of sleeping."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _failure_cases(cases: Sequence[ConnectorCase]) -> list[ConnectorCase]:
    """The first HTTP case of each connector (cases sharing the id's first part)."""
    first: dict[str, ConnectorCase] = {}
    for case in cases:
        if case.http:
            first.setdefault(case.id.split("-")[0], case)
    return list(first.values())


def _options(case: ConnectorCase, sleeps: _Sleeps) -> HttpOptions:
    now = case.now if case.now is not None else CONTRACT_NOW
    return HttpOptions(
        timeout_s=0.25,
        retry=RetryPolicy(max_attempts=3, backoff_s=0.5),
        sleep=sleeps,
        now=lambda: now,
    )


def _series(connector: Connector, name: str) -> Series:
    named = {s.name: s for s in connector.series(["BTC"])}
    assert name in named, f"no series {name!r} for BTC; the connector has {sorted(named)}"
    return named[name]


def _pages(
    connector: Connector, series: Series, start: pd.Timestamp, end: pd.Timestamp
) -> list[Page]:
    return list(connector.fetch(series, start, end))


def _same_pages(got: Sequence[Page], expected: Sequence[Page]) -> None:
    assert [(p.cursor, p.next_start) for p in got] == [(p.cursor, p.next_start) for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert list(a.tables) == list(b.tables)
        for table in a.tables:
            pd.testing.assert_frame_equal(a.tables[table], b.tables[table])


class ConnectorContract:
    """The contract suite as a pytest test class; subclass it (see the module docstring).

    The subclass sets :attr:`cases` and provides a ``server`` fixture yielding a running
    :class:`LocalServer` in mode ``ok``.
    """

    cases: ClassVar[Sequence[ConnectorCase]] = ()
    """The cases every check runs on."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize the checks over :attr:`cases` (and the failure modes)."""
        if "case" not in metafunc.fixturenames:
            return
        failing = "failure" in metafunc.fixturenames
        cases = _failure_cases(self.cases) if failing else list(self.cases)
        metafunc.parametrize("case", cases, ids=[case.id for case in cases])
        if failing:
            metafunc.parametrize("failure", list(FAILURE_MODES))

    def test_series_are_well_formed(self, case: ConnectorCase, server: LocalServer) -> None:
        connector = case.make(server, _options(case, _Sleeps()))
        all_series = connector.series(["BTC"])
        assert len({s.id for s in all_series}) == len(all_series), "series ids repeat"
        for series in all_series:
            assert series.connector == connector.name
            assert series.table in connector.tables
            assert set(series.keys) <= set(TABLES[series.table].keys)
            assert series.step > pd.Timedelta(0)
            assert series.start.tzinfo is not None
        _series(connector, case.series)
        connector.close()

    def test_pages_chain_hold_canonical_rows_and_ingest(
        self, case: ConnectorCase, server: LocalServer, tmp_path: Path
    ) -> None:
        connector = case.make(server, _options(case, _Sleeps()))
        series = _series(connector, case.series)
        pages = _pages(connector, series, case.start, case.end)
        connector.close()
        assert pages, "expected at least one page"
        assert pages[0].cursor == case.start
        for before, after in itertools.pairwise(pages):
            assert before.next_start == after.cursor
        assert pages[-1].next_start is None
        store = Store(tmp_path / "store", lock_timeout_s=5)
        rows = 0
        for page in pages:
            assert page.series == series.id
            for table, frame in page.tables.items():
                assert table in connector.tables
                assert list(frame.columns) == list(TABLES[table].all_columns)
                assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
                if not series.snapshot:
                    assert frame["ts"].between(case.start, case.end, inclusive="left").all()
                for key, value in series.keys.items():
                    assert (frame[key] == value).all(), key
                rows += len(frame)
            if page.rows:
                assert store.ingest(page.tables, origin=page.series).updated == 0
        assert rows == case.rows
        assert len(store.read(series.table)) == case.rows

    def test_fetching_twice_and_resuming_give_the_same_pages(
        self, case: ConnectorCase, server: LocalServer
    ) -> None:
        connector = case.make(server, _options(case, _Sleeps()))
        series = _series(connector, case.series)
        first = _pages(connector, series, case.start, case.end)
        _same_pages(_pages(connector, series, case.start, case.end), first)
        for k, page in enumerate(first[:-1]):
            assert page.next_start is not None
            _same_pages(_pages(connector, series, page.next_start, case.end), first[k + 1 :])
        connector.close()

    def test_source_failures_raise_the_matching_error(
        self, case: ConnectorCase, failure: str, server: LocalServer
    ) -> None:
        import pytest

        sleeps = _Sleeps()
        options = dataclasses.replace(
            _options(case, sleeps), timeout_s=0.1, retry=RetryPolicy(max_attempts=2)
        )
        connector = case.make(server, options)
        series = _series(connector, case.series)
        slow = server.timeout_sleep_s
        server.mode, server.timeout_sleep_s = failure, 0.3
        try:
            with pytest.raises(FAILURE_MODES[failure]) as caught:
                _pages(connector, series, case.start, case.end)
        finally:
            server.mode, server.timeout_sleep_s = "ok", slow
            connector.close()
        error = caught.value
        if failure == "500":
            wrong = RateLimitedError | SourceTimeoutError | PayloadError | RequestRejectedError
            assert not isinstance(error, wrong), type(error)
        if failure in ("500", "429", "timeout"):
            assert error.attempts == options.retry.max_attempts
            assert len(sleeps.calls) == options.retry.max_attempts - 1
        assert error.source == connector.name
        assert "expected" in str(error)
        if failure == "429" and isinstance(connector, HttpConnector):
            assert isinstance(error, RateLimitedError)
            assert sleeps.calls == [1.0]
            assert error.retry_after_s == 1.0


__all__ = [
    "CONTRACT_NOW",
    "FAILURE_MODES",
    "Answer",
    "AnswerFunction",
    "ConnectorCase",
    "ConnectorContract",
    "LocalServer",
]
