"""A local HTTP server on 127.0.0.1 that answers like the providers, from fixture files.

Every provider lives under its own prefix (``/binance_usdm/fapi/v1/klines``, ...). Answers
come from the recorded responses in ``../shared/fixtures`` and the documentation-built ones
in ``tests/fixtures/documented``, filtered by the request's time parameters the way each
provider documents it. The server is the contract suite's
:class:`downside.testing.LocalServer`: ``server.mode`` switches every answer to a failure
(``malformed``, ``empty``, ``500``, ``429`` or ``timeout``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from downside.sources.live import HttpOptions, RetryPolicy
from downside.testing import Answer, LocalServer

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "documented"
COINGLASS_TEST_KEY = "cg-test-key-0123456789abcdef"
FRED_TEST_KEY = "abcdef0123456789abcdef0123456789"
NOW = pd.Timestamp("2024-03-01 12:00", tz="UTC")
DERIBIT_ANSWER_CAP = 10
"""Deribit answers are cut to their latest candles, with the earliest one as the
``continuation`` (the next request's ``end_timestamp``), so tests follow continuations."""


def documented(name: str) -> Any:
    return json.loads((DOCUMENTED / name).read_text())


def _json(obj: Any, status: int = 200) -> Answer:
    return status, "application/json", json.dumps(obj).encode(), {}


def _rows_between(
    rows: list[Any], lo: int | None, hi: int | None, key: Callable[[Any], int]
) -> list[Any]:
    return [r for r in rows if (lo is None or key(r) >= lo) and (hi is None or key(r) <= hi)]


def _int(q: Mapping[str, str], name: str) -> int | None:
    return int(q[name]) if name in q else None


def _archive_csv(path: str) -> str | None:
    """The documented CSV served at an archive path, if any."""
    parts = path.split("/")
    name = parts[-1]
    if "/futures/um/monthly/klines/" in path:
        return f"binance_vision_futures_um_monthly_klines_{name.replace('.zip', '.csv')}"
    if "/futures/um/daily/klines/" in path:
        return f"binance_vision_futures_um_daily_klines_{name.replace('.zip', '.csv')}"
    if "/spot/monthly/klines/" in path:
        return f"binance_vision_spot_monthly_klines_{name.replace('.zip', '.csv')}"
    if "/spot/daily/klines/" in path:
        return f"binance_vision_spot_daily_klines_{name.replace('.zip', '.csv')}"
    if "/futures/um/monthly/fundingRate/" in path:
        return f"binance_vision_futures_um_monthly_fundingRate_{name.replace('.zip', '.csv')}"
    if "/futures/um/daily/metrics/" in path:
        return f"binance_vision_futures_um_daily_metrics_{name.replace('.zip', '.csv')}"
    return None


def archive_zip(csv_name: str, member: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
        archive.writestr(info, (DOCUMENTED / csv_name).read_bytes())
    return buf.getvalue()


@dataclass
class Provider:
    """The fixture-backed provider endpoints."""

    shared: Path

    # ------------------------------------------------------------ binance REST
    def binance_klines(self, file: str, q: Mapping[str, str]) -> Answer:
        rows = documented(file)
        rows = _rows_between(rows, _int(q, "startTime"), _int(q, "endTime"), lambda r: r[0])
        return _json(rows[: int(q.get("limit", 500))])

    def answer(self, path: str, q: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        prefix, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        handler = getattr(self, f"_{prefix}", None)
        if handler is None:
            return 404, "text/plain", b"no such provider", {}
        result: Answer = handler(rest, q, headers)
        return result

    def _binance_usdm(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path == "/fapi/v1/klines":
            return self.binance_klines(
                f"binance_fapi_v1_klines_{q['symbol']}_{q['interval']}.json", q
            )
        if path == "/fapi/v1/fundingRate":
            rows = documented(f"binance_fapi_v1_fundingRate_{q['symbol']}.json")
            rows = _rows_between(
                rows, _int(q, "startTime"), _int(q, "endTime"), lambda r: r["fundingTime"]
            )
            return _json(rows[: int(q.get("limit", 100))])
        if path == "/futures/data/openInterestHist":
            rows = documented(
                f"binance_futures_data_openInterestHist_{q['symbol']}_{q['period']}.json"
            )
            rows = _rows_between(
                rows, _int(q, "startTime"), _int(q, "endTime"), lambda r: int(r["timestamp"])
            )
            return _json(rows[: int(q.get("limit", 30))])
        if path == "/fapi/v1/premiumIndex":
            body = (
                self.shared / "binance" / f"binance_fapi_v1_premiumIndex_{q['symbol']}.json"
            ).read_bytes()
            return 200, "application/json", body, {}
        if path == "/futures/data/globalLongShortAccountRatio":
            return _json(
                documented(
                    f"binance_futures_data_globalLongShortAccountRatio_{q['symbol']}_{q['period']}.json"
                )
            )
        if path == "/futures/data/takerlongshortRatio":
            return _json(
                documented(
                    f"binance_futures_data_takerlongshortRatio_{q['symbol']}_{q['period']}.json"
                )
            )
        return 404, "application/json", b'{"code":-1,"msg":"not found"}', {}

    def _binance_spot(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path == "/api/v3/klines":
            return self.binance_klines(
                f"binance_api_v3_klines_{q['symbol']}_{q['interval']}.json", q
            )
        return 404, "application/json", b'{"code":-1,"msg":"not found"}', {}

    def _binance_archive(self, path: str, _q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        checksum = path.endswith(".CHECKSUM")
        zip_path = path.removesuffix(".CHECKSUM")
        csv_name = _archive_csv(zip_path)
        if csv_name is None or not (DOCUMENTED / csv_name).is_file():
            return 404, "application/xml", b"<Error><Code>NoSuchKey</Code></Error>", {}
        name = zip_path.rsplit("/", 1)[-1]
        blob = archive_zip(csv_name, name.replace(".zip", ".csv"))
        if checksum:
            return 200, "text/plain", f"{hashlib.sha256(blob).hexdigest()}  {name}\n".encode(), {}
        return 200, "application/zip", blob, {}

    # ------------------------------------------------------------ FRED
    def _fred(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path != "/graph/fredgraph.csv":
            return 404, "text/plain", b"not found", {}
        files = {
            "DGS2": "fredgraph_DGS2_observation_date_header.csv",
            "DFEDTARU": "fredgraph_DFEDTARU_DFEDTARL_multi_series.csv",
        }
        text = (self.shared / "fred" / files[q["id"]]).read_text()
        rows = list(csv.reader(io.StringIO(text)))
        keep = [r for r in rows[1:] if q.get("cosd", "0000") <= r[0] <= q.get("coed", "9999")]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([rows[0], *keep])
        return 200, "text/csv", out.getvalue().encode(), {}

    def _fred_api(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if q.get("api_key") != FRED_TEST_KEY:
            body = {
                "error_code": 400,
                "error_message": "Bad Request.  The value for variable api_key is not registered.",
            }
            return _json(body, 400)
        recorded = json.loads(
            (self.shared / "fred" / "fred_api_series_observations_FEDFUNDS.json").read_text()
        )
        obs = [
            o
            for o in recorded["observations"]
            if q["observation_start"] <= o["date"] <= q["observation_end"]
        ]
        limit = int(q.get("limit", 100000))
        return _json({**recorded, "count": len(obs), "limit": limit, "observations": obs[:limit]})

    # ------------------------------------------------------------ Farside, DefiLlama, CoinGlass
    def _farside(self, path: str, _q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path == "/bitcoin-etf-flow-all-data/":
            return (
                200,
                "text/html",
                (DOCUMENTED / "farside_bitcoin_etf_flow_all_data.html").read_bytes(),
                {},
            )
        return 404, "text/html", b"<html>not found</html>", {}

    def _defillama(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path == "/stablecoins":
            body = (
                self.shared / "defillama" / "defillama_stablecoins_list_includePrices.json"
            ).read_bytes()
            return 200, "application/json", body, {}
        if path == "/stablecoincharts/all":
            suffix = f"_stablecoin_{q['stablecoin']}" if "stablecoin" in q else ""
            return _json(documented(f"defillama_stablecoincharts_all{suffix}.json"))
        return 404, "application/json", b"{}", {}

    def _coinglass(self, path: str, q: Mapping[str, str], h: Mapping[str, str]) -> Answer:
        if h.get("cg-api-key") != COINGLASS_TEST_KEY:
            return _json({"code": "401", "msg": "API key missing or invalid"})
        name = {
            "/api/futures/liquidation/aggregated-history": "liquidation",
            "/api/futures/open-interest/aggregated-history": "open_interest",
        }[path]
        body = documented(
            f"coinglass_v4_futures_{name}_aggregated_history_{q['symbol']}_{q['interval']}.json"
        )
        body["data"] = _rows_between(
            body["data"], _int(q, "start_time"), _int(q, "end_time"), lambda r: r["time"]
        )
        return _json(body)

    # ------------------------------------------------------------ Deribit (JSON-RPC)
    def _deribit(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path != "/public/get_volatility_index_data":
            error = {"code": -32601, "message": "Method not found"}
            return _json({"jsonrpc": "2.0", "error": error}, 400)
        if q.get("currency") != "BTC" or q.get("resolution") != "1D":
            error = {"code": -32602, "message": "Invalid params", "data": {"param": "currency"}}
            return _json({"jsonrpc": "2.0", "error": error}, 400)
        body = documented("deribit_public_get_volatility_index_data_BTC_1D.json")
        rows = _rows_between(
            body["result"]["data"],
            _int(q, "start_timestamp"),
            _int(q, "end_timestamp"),
            lambda r: r[0],
        )
        kept = rows[-DERIBIT_ANSWER_CAP:]
        cut = len(kept) < len(rows)
        body["result"] = {"data": kept, "continuation": kept[0][0] if cut else None}
        return _json(body)

    # ------------------------------------------------------------ Bybit, OKX (for ccxt)
    def _bybit(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        if path == "/v5/market/instruments-info":
            if q.get("category") == "linear":
                return _json(documented("bybit_v5_market_instruments_info_linear.json"))
            return _json(
                {
                    "retCode": 0,
                    "retMsg": "OK",
                    "result": {"category": q.get("category"), "list": []},
                }
            )
        if path == "/v5/market/kline":
            body = documented(f"bybit_v5_market_kline_linear_{q['symbol']}_{q['interval']}.json")
            rows = _rows_between(
                body["result"]["list"], _int(q, "start"), _int(q, "end"), lambda r: int(r[0])
            )
            body["result"]["list"] = rows[: int(q.get("limit", 200))]
            return _json(body)
        if path == "/v5/market/funding/history":
            body = documented(f"bybit_v5_market_funding_history_{q['symbol']}.json")
            rows = _rows_between(
                body["result"]["list"],
                _int(q, "startTime"),
                _int(q, "endTime"),
                lambda r: int(r["fundingRateTimestamp"]),
            )
            body["result"]["list"] = rows[: int(q.get("limit", 200))]
            return _json(body)
        if path == "/v5/market/open-interest":
            body = documented(
                f"bybit_v5_market_open_interest_{q['symbol']}_{q['intervalTime']}.json"
            )
            rows = _rows_between(
                body["result"]["list"],
                _int(q, "startTime"),
                _int(q, "endTime"),
                lambda r: int(r["timestamp"]),
            )
            body["result"]["list"] = rows[: int(q.get("limit", 50))]
            return _json(body)
        return _json({"retCode": 10001, "retMsg": f"unknown path {path}", "result": {}})

    def _okx(self, path: str, q: Mapping[str, str], _h: Mapping[str, str]) -> Answer:
        def window(
            rows: list[Any], lo_key: str, hi_key: str, ts: Callable[[Any], int]
        ) -> list[Any]:
            lo, hi = _int(q, lo_key), _int(q, hi_key)
            kept = [r for r in rows if (lo is None or ts(r) > lo) and (hi is None or ts(r) < hi)]
            return (
                kept[: int(q.get("limit", 100))]
                if lo is None
                else kept[-int(q.get("limit", 100)) :]
            )

        if path == "/api/v5/public/instruments":
            if q.get("instType") == "SWAP":
                return _json(documented("okx_api_v5_public_instruments_SWAP.json"))
            return _json({"code": "0", "msg": "", "data": []})
        if path in ("/api/v5/market/history-candles", "/api/v5/market/candles"):
            body = documented(f"okx_api_v5_market_history_candles_{q['instId']}_{q['bar']}.json")
            body["data"] = window(body["data"], "before", "after", lambda r: int(r[0]))
            return _json(body)
        if path == "/api/v5/public/funding-rate-history":
            body = documented(f"okx_api_v5_public_funding_rate_history_{q['instId']}.json")
            body["data"] = window(body["data"], "before", "after", lambda r: int(r["fundingTime"]))
            return _json(body)
        if path == "/api/v5/rubik/stat/contracts/open-interest-history":
            body = documented(
                f"okx_api_v5_rubik_stat_contracts_open_interest_history_{q['instId']}_{q['period']}.json"
            )
            body["data"] = window(body["data"], "begin", "end", lambda r: int(r[0]))
            return _json(body)
        return _json({"code": "51000", "msg": f"unknown path {path}", "data": []})


class FixtureServer(LocalServer):
    """The provider endpoints on 127.0.0.1 (each under its prefix), with the test keys."""

    coinglass_key = COINGLASS_TEST_KEY
    fred_key = FRED_TEST_KEY

    def __init__(self, shared: Path) -> None:
        super().__init__(Provider(shared).answer)


@pytest.fixture(scope="module")
def module_server(shared_fixtures: Path) -> Iterator[FixtureServer]:
    with FixtureServer(shared_fixtures) as srv:
        yield srv


@pytest.fixture
def server(module_server: FixtureServer) -> Iterator[FixtureServer]:
    """The module's fixture server, in mode ``ok`` at the start of every test."""
    module_server.mode = "ok"
    module_server.timeout_sleep_s = 0.6
    yield module_server
    module_server.mode = "ok"


@dataclass
class Sleeps:
    """Records requested sleeps instead of sleeping."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def options(sleeps: Sleeps) -> HttpOptions:
    """Fast options: short timeout, 3 attempts, recorded sleeps, a fixed clock."""
    return HttpOptions(
        timeout_s=0.25,
        retry=RetryPolicy(max_attempts=3, backoff_s=0.5),
        sleep=sleeps,
        now=lambda: NOW,
    )
