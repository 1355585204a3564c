"""downside: point-in-time forecasts of crypto downside risk.

P(drawdown of at least X% within H days), P(support level breaks within H days), and
why: each probability explained by driver family (leverage, funding, ETF flows, rates,
technical).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
