"""Sources: readers of raw tables in the canonical schema (files, simulator, live).

Live connectors (Binance, ccxt exchanges, FRED, Farside, DefiLlama, CoinGlass) are in
:mod:`downside.sources.live`. :func:`shift_regime` gives a simulated market a seeded
regime change (for monitoring tests and demonstrations).
"""

from downside.sources._files import RawFile, read_files
from downside.sources._regime import shift_regime
from downside.sources._schema import TABLES, TableSpec
from downside.sources._simulate import SimulationResult, simulate_market, simulated_universe

__all__ = [
    "TABLES",
    "RawFile",
    "SimulationResult",
    "TableSpec",
    "read_files",
    "shift_regime",
    "simulate_market",
    "simulated_universe",
]
