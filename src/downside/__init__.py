"""downside: point-in-time forecasts of crypto downside risk.

P(drawdown of at least X% within H days), P(support level breaks within H days), and
why: each probability explained by driver family (leverage, funding, ETF flows, rates,
technical).

``import downside`` stays light (no pandas, MLflow or LightGBM): the public names of
:mod:`downside.api` are imported on first use::

    from downside import Forecaster
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from downside.api import Forecaster

__version__ = "0.1.0"
__all__ = ["Forecaster", "__version__"]

_LAZY = {"Forecaster": "downside.api"}
"""Public names imported from their module on first access."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'downside' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
