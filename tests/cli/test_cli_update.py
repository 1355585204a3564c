"""`downside update` through typer's CliRunner against respx-mocked endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import respx
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings
from downside.store import Store

DOCUMENTED = Path(__file__).resolve().parents[1] / "fixtures" / "documented"


def _spot(request: httpx.Request) -> httpx.Response:
    q = request.url.params
    rows = json.loads(
        (DOCUMENTED / f"binance_api_v3_klines_BTCUSDT_{q['interval']}.json").read_text()
    )
    kept = [r for r in rows if int(q["startTime"]) <= r[0] <= int(q["endTime"])]
    return httpx.Response(200, json=kept[: int(q["limit"])])


def test_update_prints_a_summary_and_fills_the_store(shared_fixtures: Path) -> None:
    fred_csv = (shared_fixtures / "fred" / "fredgraph_DGS2_observation_date_header.csv").read_text()
    runner = CliRunner()
    args = [
        "update",
        "--sources",
        "binance_spot,fred",
        "--symbols",
        "BTC",
        "--since",
        "2021-02-12",
        "--until",
        "2024-02-10",
    ]
    with respx.mock as mock:
        mock.get("https://api.binance.com/api/v3/klines").mock(side_effect=_spot)
        fred = mock.get("https://fred.stlouisfed.org/graph/fredgraph.csv").mock(
            side_effect=lambda request: httpx.Response(
                200, text=fred_csv.replace(",DGS2\n", f",{request.url.params['id']}\n", 1)
            )
        )
        result = runner.invoke(app, [*args], env={"FRED_API_KEY": ""})
    assert result.exit_code == 0, result.output
    assert "binance_spot" in result.output
    assert "klines_1d:BTC" in result.output
    assert "DGS2" in result.output
    assert "194" in result.output
    assert fred.call_count == 16  # one request per default FRED series
    store = Store.from_settings(load_settings())
    assert len(store.read("ohlcv_daily")) == 40
    assert len(store.read("ohlcv_hourly")) == 48
    macro = store.read("macro_rates_daily")
    assert len(macro) == 16 * 194  # the recorded DGS2 values served under each series id
    assert "DFF" in result.output


def test_update_failure_exits_1_and_hides_the_key() -> None:
    key = "5555aaaa5555aaaa5555aaaa5555aaaa"
    runner = CliRunner()
    with respx.mock as mock:
        mock.get("https://api.stlouisfed.org/fred/series/observations").mock(
            return_value=httpx.Response(
                400,
                json={
                    "error_code": 400,
                    "error_message": (
                        "Bad Request.  The value for variable api_key is not registered."
                    ),
                },
            )
        )
        result = runner.invoke(
            app, ["update", "--sources", "fred", "--since", "2024-01-01"], env={"FRED_API_KEY": key}
        )
    assert result.exit_code == 1
    assert "failed" in result.output
    assert "not registered" in result.output
    assert key not in result.output
    assert "api_key=***" in result.output


def test_update_rejects_unknown_sources_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["update", "--sources", "kraken"])
    assert result.exit_code == 2
    assert "unknown source(s) ['kraken']" in result.output


def test_update_until_before_since_is_up_to_date() -> None:
    with respx.mock:
        result = CliRunner().invoke(
            app,
            [
                "update",
                "--sources",
                "binance_spot",
                "--since",
                "2024-02-01",
                "--until",
                "2024-01-01",
            ],
        )
    assert result.exit_code == 0, result.output
    assert "up_to_date" in result.output


ARGS = ["update", "--sources", "binance_spot", "--symbols", "BTC"]
ARGS += ["--since", "2021-02-12", "--until", "2024-02-10"]


def _once_rate_limited() -> object:
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"msg": "slow down"})
        return _spot(request)

    return answer


def test_retry_waits_show_with_verbose_only() -> None:
    runs = {}
    for name, args in (("plain", ARGS), ("verbose", ["-v", *ARGS])):
        with respx.mock as mock:
            mock.get("https://api.binance.com/api/v3/klines").mock(side_effect=_once_rate_limited())
            runs[name] = CliRunner().invoke(app, args)
        assert runs[name].exit_code == 0, runs[name].output
    assert "waiting" not in runs["plain"].stderr
    shown = " ".join(runs["verbose"].stderr.split())
    assert "info: downside.sources.live: binance_spot: HTTP 429 rate limited; waiting 0.0 s" in (
        shown
    )


def test_update_json_is_the_report_only() -> None:
    with respx.mock as mock:
        mock.get("https://api.binance.com/api/v3/klines").mock(side_effect=_spot)
        result = CliRunner().invoke(app, [*ARGS, "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["inserted"] == sum(s["inserted"] for s in document["series"])
    daily = next(s for s in document["series"] if s["series"] == "binance_spot/klines_1d:BTC")
    assert daily["status"] == "updated"
    assert daily["last_event_ts"].endswith("T00:00:00Z")
    assert daily["start"] == "2021-02-12T00:00:00Z"
