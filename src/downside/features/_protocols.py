"""What the feature layer needs from a store (``downside.store.Store`` satisfies it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd


class StoreReader(Protocol):
    """Read side of the point-in-time store."""

    @property
    def root(self) -> Path:
        """Folder of the store; the feature cache lives in ``root / "features"``."""
        ...

    @property
    def version(self) -> str:
        """Changes whenever stored data changes."""
        ...

    def read(
        self,
        table: str,
        *,
        symbols: Sequence[str] | None = None,
        available_by: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table``: ``event_ts, available_ts``, keys, values."""
        ...

    def prices(
        self,
        freq: Literal["1d", "1h"],
        venues: Sequence[str],
        symbols: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Venue-stitched bars: ``symbol, event_ts, available_ts, open, high, low, close,
        volume_base, venue``."""
        ...
