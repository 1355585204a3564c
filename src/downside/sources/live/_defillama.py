"""Stablecoin supply from DefiLlama (``stablecoins.llama.fi``, no key).

- ``/stablecoins?includePrices=true``: the list of pegged assets with their current
  ``circulating`` supply per peg type; used to resolve a symbol (``USDT``) to DefiLlama's
  id (the largest asset of that symbol) and readable as a snapshot with
  :func:`parse_stablecoin_list`.
- ``/stablecoincharts/all?stablecoin=<id>`` (or without ``stablecoin`` for the sum of
  all): daily history ``[{"date": "<unix seconds>", "totalCirculatingUSD": {"peggedUSD":
  ...}, ...}]``.

Rows map to ``stablecoin_supply_daily`` (``stablecoin``, ``circulating_usd`` = the sum of
``totalCirculatingUSD`` over peg types). ``TOTAL`` is the sum over all stablecoins
DefiLlama tracks (the shared data's ``TOTAL_EXPORTED`` is a different, 200-id sum). The
running day is left out (its value is still moving).
"""

from __future__ import annotations

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
from downside.sources.live._http import HttpOptions

DEFILLAMA_URL = "https://stablecoins.llama.fi"
DEFAULT_COINS = ("USDT", "USDC", "TOTAL")
DEFAULT_START = pd.Timestamp("2017-11-01", tz="UTC")


def parse_stablecoin_list(
    payload: Any, *, day: pd.Timestamp, source: str = "defillama"
) -> pd.DataFrame:
    """The ``/stablecoins`` list -> ``stablecoin_supply_daily`` rows stamped ``day``.

    Only USD-pegged assets are kept (their ``circulating.peggedUSD`` is in US dollars); a
    symbol listed more than once keeps its largest asset. Use it for a snapshot taken on
    ``day`` (its value is the supply at the time of the request).

    Raises:
        PayloadError: no ``peggedAssets`` array of objects with ``symbol``, ``pegType``
            and ``circulating``.
    """
    assets = payload.get("peggedAssets") if isinstance(payload, dict) else None
    if not isinstance(assets, list):
        raise drift(source, "stablecoins list", "an object with a peggedAssets array", payload)
    bad = [
        a
        for a in assets
        if not isinstance(a, dict) or not {"symbol", "pegType", "circulating"} <= set(a)
    ]
    if bad:
        raise drift(
            source, "stablecoins list", "assets with symbol, pegType and circulating", bad[:1]
        )
    rows: dict[str, float] = {}
    for asset in assets:
        if asset["pegType"] != "peggedUSD":
            continue
        value = (asset.get("circulating") or {}).get("peggedUSD")
        if value is None:
            continue
        symbol = check_symbol(str(asset["symbol"]).upper())
        rows[symbol] = max(float(value), rows.get(symbol, float("-inf")))
    if not rows:
        return empty_table("stablecoin_supply_daily")
    return pd.DataFrame(
        {
            "ts": pd.Series([day.normalize()] * len(rows)).astype(TS_DTYPE),
            "stablecoin": list(rows),
            "circulating_usd": list(rows.values()),
        }
    )


def stablecoin_ids(payload: Any, *, source: str = "defillama") -> dict[str, str]:
    """Symbol -> DefiLlama id, the largest asset (by current supply) per symbol.

    Raises:
        PayloadError: the list does not have the documented shape.
    """
    assets = payload.get("peggedAssets") if isinstance(payload, dict) else None
    if not isinstance(assets, list) or any(
        not isinstance(a, dict) or "id" not in a or "symbol" not in a for a in assets
    ):
        raise drift(
            source,
            "stablecoins list",
            "a peggedAssets array of objects with id and symbol",
            payload,
        )
    best: dict[str, tuple[float, str]] = {}
    for asset in assets:
        circulating = asset.get("circulating") or {}
        size = sum(float(v) for v in circulating.values() if isinstance(v, int | float))
        symbol = str(asset["symbol"]).upper()
        if symbol not in best or size > best[symbol][0]:
            best[symbol] = (size, str(asset["id"]))
    return {symbol: ident for symbol, (_, ident) in best.items()}


def parse_stablecoin_chart(
    payload: Any, *, stablecoin: str, source: str = "defillama"
) -> pd.DataFrame:
    """``/stablecoincharts/all`` -> ``stablecoin_supply_daily`` rows.

    Raises:
        PayloadError: not an array of ``{date, totalCirculatingUSD}`` objects, or dates
            not at 00:00 UTC.
    """
    if not isinstance(payload, list):
        raise drift(source, "stablecoincharts", "a JSON array of daily points", payload)
    bad = [
        p
        for p in payload
        if not isinstance(p, dict)
        or "date" not in p
        or not isinstance(p.get("totalCirculatingUSD"), dict)
    ]
    if bad:
        raise drift(source, "stablecoincharts", "points with date and totalCirculatingUSD", bad[:2])
    if not payload:
        return empty_table("stablecoin_supply_daily")
    try:
        seconds = pd.Series([int(p["date"]) for p in payload], dtype="int64")
        values = [sum(float(v) for v in p["totalCirculatingUSD"].values()) for p in payload]
    except (TypeError, ValueError) as exc:
        raise drift(
            source, "stablecoincharts", "unix-second dates and numeric supplies", payload[:1]
        ) from exc
    ts = pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype(TS_DTYPE)
    off = ts != ts.dt.normalize()
    if off.any():
        raise drift(source, "stablecoincharts dates", "00:00 UTC days", list(ts[off][:2]))
    return pd.DataFrame({"ts": ts, "stablecoin": stablecoin, "circulating_usd": values})


class DefiLlamaStablecoins(HttpConnector):
    """Daily stablecoin supply from DefiLlama.

    Args:
        coins: symbols to fetch, ``TOTAL`` for the sum of all.
    """

    name = "defillama"
    tables = ("stablecoin_supply_daily",)
    default_url = DEFILLAMA_URL

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        coins: Sequence[str] = DEFAULT_COINS,
        base_url: str | None = None,
    ) -> None:
        super().__init__(options, base_url=base_url)
        self.coins = tuple(check_symbol(c.upper()) for c in coins)
        self._ids: dict[str, str] | None = None

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        return [
            Series(
                self.name,
                f"supply:{coin}",
                "stablecoin_supply_daily",
                {"stablecoin": coin},
                pd.Timedelta(days=1),
                DEFAULT_START,
                {"coin": coin},
            )
            for coin in self.coins
        ]

    def _id(self, coin: str) -> str:
        if self._ids is None:
            self._ids = stablecoin_ids(
                self.http.get_json("/stablecoins", {"includePrices": "true"}), source=self.name
            )
        if coin not in self._ids:
            raise drift(
                self.name,
                "stablecoins list",
                f"an asset with symbol {coin}",
                sorted(self._ids)[:20],
            )
        return self._ids[coin]

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        coin = series.params["coin"]
        params = {} if coin == "TOTAL" else {"stablecoin": self._id(coin)}
        payload = self.http.get_json("/stablecoincharts/all", params)
        frame = parse_stablecoin_chart(payload, stablecoin=coin, source=self.name)
        today = self.options.now().normalize()
        running = frame["ts"] >= today
        mask = (frame["ts"] >= start) & (frame["ts"] < end) & ~running
        notes = ("the running day is left out",) if running.any() else ()
        yield Page(
            series.id,
            start,
            None,
            {
                "stablecoin_supply_daily": check_table(
                    self.name, "stablecoin_supply_daily", frame.loc[mask]
                )
            },
            int(running.sum()),
            notes,
        )
