"""A simulated universe of many perpetuals: asset-specific constants, correlated moves,
the default market unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import ConfigError
from downside.sources import simulate_market, simulated_universe
from downside.store import Store


def test_universe_names_and_prefix_property() -> None:
    small, large = simulated_universe(10), simulated_universe(40)
    assert list(small)[:3] == ["BTC", "ETH", "SOL"]
    assert list(small)[3:5] == ["ALT004", "ALT005"]
    assert len(large) == 40
    assert all(large[name] == params for name, params in small.items())
    vols = {p.daily_vol for p in large.values()}
    leverage = {p.leverage_mean_z for p in list(large.values())[3:]}
    assert len(vols) == 40
    assert len(leverage) == 37
    with pytest.raises(ConfigError, match="at least 1 asset"):
        simulated_universe(0)


def test_universe_simulates_correlated_moves_and_ingests(tmp_path: Path) -> None:
    names = simulated_universe(8)
    sim = simulate_market(
        tmp_path / "market", start="2024-01-01", end="2024-06-30", symbols=list(names), params=names
    )
    Store(tmp_path / "store").ingest_files(sim.out_dir)
    daily = pd.read_parquet(sim.out_dir / "ohlcv_daily.parquet")
    close = daily.pivot_table(index="ts", columns="symbol", values="close")
    returns = np.log(close).diff().dropna()
    corr = returns.corr().to_numpy()[np.triu_indices(8, 1)]
    assert corr.mean() > 0.3
    assert set(daily["symbol"]) == set(names)


def test_default_market_is_unchanged_by_the_universe_parameters(tmp_path: Path) -> None:
    """The default (BTC, ETH, SOL) market of a seed is the same with and without the
    universe's constants for those three symbols."""
    plain = simulate_market(tmp_path / "plain", start="2024-01-01", end="2024-03-31")
    three = simulated_universe(3)
    given = simulate_market(
        tmp_path / "given", start="2024-01-01", end="2024-03-31", symbols=list(three), params=three
    )
    for a, b in zip(plain.files, given.files, strict=True):
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
