"""What-if shocks: the text form, the presets file, and what a shock does to built rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.config import bundled_dir, load_settings
from downside.datasets import (
    Frame,
    FrameSpec,
    Shock,
    ShockTransform,
    apply_shock,
    build_frame,
    load_scenarios,
)
from downside.errors import ScenarioError
from downside.features import FeatureStore
from downside.sources import simulate_market
from downside.store import Store
from downside.targets import RISKMETRICS_LAMBDA

ASOF = pd.Timestamp("2023-11-15", tz="UTC")


@pytest.fixture(scope="module")
def feature_store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    base = tmp_path_factory.mktemp("shocks")
    sim = simulate_market(base / "market", start="2023-01-01", end="2023-12-31", symbols=("BTC",))
    settings = load_settings({"home": base / "home"})
    Store.from_settings(settings).ingest_files(sim.out_dir)
    return FeatureStore.from_settings(settings).build()


def _frame(fs: FeatureStore, target: str = "drawdown") -> Frame:
    spec = FrameSpec(target=target, symbols=("BTC",))
    return build_frame(spec, fs, asof=[ASOF], symbols=["BTC"], labels=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("price-=10%", Shock(input="price", move=-0.10)),
        ("price=-10%", Shock(input="price", move=-0.10)),
        ("price+=5%", Shock(input="price", move=0.05)),
        ("price*=0.9", Shock(input="price", scale=0.9)),
        ("implied_vol+=20", Shock(input="implied_vol", add=20.0)),
        ("volatility*=1.5", Shock(input="volatility", scale=1.5)),
        ("funding=q99", Shock(input="funding", quantile=0.99)),
        (
            "etf_flows.etf_flow_total_sum_20obs=q5:365d",
            Shock(input="etf_flows.etf_flow_total_sum_20obs", quantile=0.05, window_days=365.0),
        ),
        ("funding.funding_rate=0.0005", Shock(input="funding.funding_rate", value=0.0005)),
        ("leverage.oi_change_7d-=0.2", Shock(input="leverage.oi_change_7d", add=-0.2)),
        ("leverage.oi_change_7d*=2", Shock(input="leverage.oi_change_7d", scale=2.0)),
    ],
)
def test_text_forms(text: str, expected: Shock) -> None:
    assert Shock.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("price=10", "relative price move"),
        ("price+=x%", "relative price move"),
        ("funding", "cannot read"),
        ("funding=", "cannot read"),
        ("funding=abc", "a number"),
        ("funding=q150", "quantile must lie in"),
        ("volatility=q50", "volatility takes value or add or scale"),
        ("price-=150%", "move must be above -1"),
        ("volatility*=-1", "scale must be positive"),
    ],
)
def test_malformed_text_is_refused(text: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        Shock.parse(text)


def test_one_operation_exactly() -> None:
    with pytest.raises(ScenarioError, match="exactly one of"):
        Shock(input="funding", value=1.0, add=2.0)
    with pytest.raises(ScenarioError, match="move applies to price only"):
        Shock(input="funding", move=0.1)
    assert Shock(input="funding", quantile=0.99).describe() == "funding at its 99th percentile"
    assert Shock(input="price", move=-0.1).describe() == "price -10%"


def test_bundled_presets_load() -> None:
    presets = load_scenarios(bundled_dir("scenarios"))
    assert {"leverage_flush", "hawkish_repricing", "etf_outflows"} <= set(presets)
    flush = presets["leverage_flush"]
    assert any(s.input == "price" and s.move == pytest.approx(-0.12) for s in flush.shocks)
    assert all(s.source.startswith(str(bundled_dir("scenarios"))) for s in flush.shocks)


def test_preset_problems_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "presets.toml").write_text(
        "[good]\n"
        'description = "fine"\n'
        'shocks = [{ input = "price", move = -0.1 }]\n'
        "\n"
        "[bad]\n"
        'description = "broken"\n'
        "colour = 3\n"
        "shocks = [\n"
        '    { input = "funding", quantile = 0.99, extra = 1 },\n'
        '    { input = "funding", value = 1, add = 2 },\n'
        "]\n"
        "[Bad-Name]\n"
        'description = "x"\n'
        'shocks = [{ input = "price", move = -0.1 }]\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(tmp_path)
    problems = {(p.rule, p.line) for p in caught.value.problems}
    assert ("unknown_key", 7) in problems  # colour
    assert ("unknown_key", 9) in problems  # extra
    assert ("invalid_shock", 10) in problems  # two operations
    assert ("invalid_name", 12) in problems
    assert all(p.source == str(tmp_path / "presets.toml") for p in caught.value.problems)


def test_preset_syntax_error_has_a_line(tmp_path: Path) -> None:
    (tmp_path / "presets.toml").write_text("[a]\ndescription = \n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="toml_syntax") as caught:
        load_scenarios(tmp_path)
    assert caught.value.problems[0].line == 2
    with pytest.raises(ScenarioError, match="missing_file"):
        load_scenarios(tmp_path / "nowhere")


def test_no_shock_returns_the_same_frame(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store)
    transform = ShockTransform([], feature_store)
    assert transform(frame) is frame


def test_unknown_input_is_refused(feature_store: FeatureStore) -> None:
    with pytest.raises(ScenarioError, match=r"'funding\.nope' is not a feature"):
        ShockTransform([Shock(input="funding.nope", value=1.0)], feature_store)


def test_price_shock_moves_everything_derived_from_the_close(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store)
    shocked, effect = apply_shock(frame, Shock(input="price", move=-0.10), feature_store)
    base, new = frame.columns, shocked.columns
    np.testing.assert_allclose(new["ref_close"], 0.9 * np.asarray(base["ref_close"]))
    r = math.log(0.9)
    sigma = np.asarray(base["sigma_daily"])
    expected = np.sqrt(RISKMETRICS_LAMBDA * sigma**2 + (1 - RISKMETRICS_LAMBDA) * r * r)
    np.testing.assert_allclose(new["sigma_daily"], expected)
    horizon = np.asarray(base["horizon_days"])
    z = np.log1p(-np.asarray(base["threshold"])) / (expected * np.sqrt(horizon))
    np.testing.assert_allclose(new["z_distance"], z)
    names = list(frame.feature_columns)
    j = names.index("technical.return_7d")
    assert shocked.key_features[0, j] == pytest.approx(frame.key_features[0, j] + r)
    assert new["technical.return_7d"][0] == pytest.approx(base["technical.return_7d"][0] + r)
    assert set(effect.changes["column"]) >= {"ref_close", "sigma_daily", "technical.return_7d"}
    # the frame given is left as it was
    assert frame.columns["ref_close"][0] == base["ref_close"][0]


def test_held_price_shock_changes_only_the_reference(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store)
    shock = Shock(input="price", move=-0.10, volatility="hold", derived="hold")
    shocked, effect = apply_shock(frame, shock, feature_store)
    assert set(effect.changes["column"]) == {"ref_close"}
    np.testing.assert_array_equal(shocked.key_features, frame.key_features)
    np.testing.assert_array_equal(shocked.columns["z_distance"], frame.columns["z_distance"])


def test_support_levels_follow_the_price(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store, "support")
    shocked, effect = apply_shock(
        frame, Shock(input="price", move=-0.05, volatility="hold"), feature_store
    )
    ref = float(frame.columns["ref_close"][0]) * 0.95
    levels = np.asarray(shocked.columns["level"])
    assert (levels < ref).all()
    dropped = np.asarray(frame.columns["level"])
    assert len(effect.dropped) == int((dropped >= ref).sum())
    np.testing.assert_allclose(shocked.columns["distance_pct"], (ref - levels) / ref)
    sigma = np.asarray(shocked.columns["sigma_daily"])
    np.testing.assert_allclose(shocked.columns["distance_vol"], np.log(ref / levels) / sigma)
    assert len(shocked.row_key) == len(levels)


def test_quantile_uses_only_history_known_at_the_asof(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store)
    name = "funding.funding_rate"
    shocked, _ = apply_shock(frame, Shock(input=name, quantile=0.99), feature_store)
    days = pd.date_range(pd.Timestamp("2023-01-01", tz="UTC"), ASOF, freq="D", unit="us")
    spine = pd.DataFrame({"symbol": pd.array(["BTC"] * len(days), dtype="str"), "asof": days})
    history = feature_store.get_features(spine, [name])[name].dropna().to_numpy()
    j = list(frame.feature_columns).index(name)
    assert shocked.key_features[0, j] == pytest.approx(np.quantile(history, 0.99))
    windowed, _ = apply_shock(
        frame,
        Shock(input=name, quantile=0.5, window_days=30),
        feature_store,
    )
    recent = history[-30:]
    assert windowed.key_features[0, j] == pytest.approx(np.quantile(recent, 0.5))


def test_family_shock_moves_every_feature_of_the_family(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store)
    shocked, effect = apply_shock(frame, Shock(input="funding", scale=2.0), feature_store)
    names = list(frame.feature_columns)
    funding = [j for j, n in enumerate(names) if n.startswith("funding.")]
    others = [j for j, n in enumerate(names) if not n.startswith("funding.")]
    np.testing.assert_allclose(
        shocked.key_features[:, funding], 2.0 * frame.key_features[:, funding]
    )
    np.testing.assert_array_equal(shocked.key_features[:, others], frame.key_features[:, others])
    assert effect.unused == ()


def test_volatility_and_implied_shocks(feature_store: FeatureStore) -> None:
    frame = _frame(feature_store)
    shocked, _ = apply_shock(frame, Shock(input="volatility", add=20.0), feature_store)
    step = 0.20 / math.sqrt(365.0)
    np.testing.assert_allclose(
        shocked.columns["sigma_daily"], np.asarray(frame.columns["sigma_daily"]) + step
    )
    implied, _ = apply_shock(frame, Shock(input="implied_vol", add=20.0), feature_store)
    before = np.asarray(frame.columns["sigma_implied"])
    np.testing.assert_allclose(implied.columns["sigma_implied"], before + step)
    np.testing.assert_array_equal(implied.columns["sigma_daily"], frame.columns["sigma_daily"])
