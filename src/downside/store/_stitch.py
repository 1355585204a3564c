"""Venue stitching: one continuous OHLCV series per symbol from several venues."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PRICE_COLUMNS = (
    "symbol",
    "event_ts",
    "available_ts",
    "open",
    "high",
    "low",
    "close",
    "volume_base",
    "venue",
)
SPAN_COLUMNS = ("symbol", "venue", "first_ts", "last_ts", "bars")


def stitch(bars: pd.DataFrame, venues: Sequence[str]) -> pd.DataFrame:
    """For each (symbol, bar time) keep the bar of the first venue in ``venues`` that has it.

    Args:
        bars: stored ``ohlcv_daily`` or ``ohlcv_hourly`` rows.
        venues: venue preference, best first; other venues are not used.

    Returns:
        Columns :data:`PRICE_COLUMNS`, sorted by symbol then ``event_ts``.
    """
    rank = {venue: i for i, venue in enumerate(dict.fromkeys(venues))}
    used = bars.loc[bars["venue"].isin(list(rank)), list(PRICE_COLUMNS)]
    venue_rank = pd.Categorical(used["venue"], categories=list(rank)).codes.astype("int64")
    symbol_codes = pd.factorize(used["symbol"], sort=True)[0]
    event = np.asarray(pd.DatetimeIndex(used["event_ts"]).as_unit("us").asi8)
    order = np.lexsort((venue_rank, event, symbol_codes))
    ranked = used.iloc[order]
    code, when = symbol_codes[order], event[order]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = (code[1:] != code[:-1]) | (when[1:] != when[:-1])
    return ranked.loc[first, list(PRICE_COLUMNS)].reset_index(drop=True)


def spans(stitched: pd.DataFrame) -> pd.DataFrame:
    """Maximal runs of consecutive bars served by one venue, per symbol.

    A run continues across times where no venue had a bar; it ends when another venue
    serves the next bar of the symbol.

    Args:
        stitched: output of :func:`stitch`.

    Returns:
        Columns :data:`SPAN_COLUMNS` (``bars`` is ``int64``), sorted by symbol then
        ``first_ts``.
    """
    if stitched.empty:
        return pd.DataFrame(
            {
                "symbol": pd.Series(dtype="str"),
                "venue": pd.Series(dtype="str"),
                "first_ts": pd.Series(dtype="datetime64[us, UTC]"),
                "last_ts": pd.Series(dtype="datetime64[us, UTC]"),
                "bars": pd.Series(dtype="int64"),
            }
        )
    symbol = stitched["symbol"].to_numpy()
    venue = stitched["venue"].to_numpy()
    starts = np.ones(len(stitched), dtype=bool)
    starts[1:] = (symbol[1:] != symbol[:-1]) | (venue[1:] != venue[:-1])
    run = pd.Series(np.cumsum(starts), index=stitched.index)
    grouped = stitched.groupby(run, sort=True)
    out = pd.DataFrame(
        {
            "symbol": grouped["symbol"].first(),
            "venue": grouped["venue"].first(),
            "first_ts": grouped["event_ts"].min(),
            "last_ts": grouped["event_ts"].max(),
            "bars": grouped["event_ts"].size().astype("int64"),
        }
    )
    return out.reset_index(drop=True)
