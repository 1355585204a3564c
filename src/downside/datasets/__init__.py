"""datasets layer: training frames and purged, embargoed walk-forward splits."""

from downside.datasets._frames import (
    DRAWDOWN_COLUMNS,
    FEATURE_NAME,
    LABEL_COLUMNS,
    SUPPORT_COLUMNS,
    drawdown_frame,
    labelled,
    support_frame,
)
from downside.datasets._walkforward import Fold, WalkForward, purge_mask

__all__ = [
    "DRAWDOWN_COLUMNS",
    "FEATURE_NAME",
    "LABEL_COLUMNS",
    "SUPPORT_COLUMNS",
    "Fold",
    "WalkForward",
    "drawdown_frame",
    "labelled",
    "purge_mask",
    "support_frame",
]
