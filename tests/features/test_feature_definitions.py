"""Definition files: derived names are pinned, every validation rule reports file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from downside.errors import FeatureDefinitionError
from downside.features import REPO_FILE, FeatureDefinition, FeatureRepo, load_definitions, load_repo
from downside.store import DEFAULT_DAILY_VENUES, DEFAULT_HOURLY_VENUES
from downside.vocabulary import family_of

REPO_FEATURES = Path(__file__).resolve().parents[2] / "features"
FAMILY_NAMES = (
    "leverage",
    "funding",
    "etf_flows",
    "rates",
    "implied_vol",
    "technical",
    "drivers_vol",
)

EXPECTED_NAMES = [
    "drivers_vol.funding_rate_mean_1d_per_vol_30d",
    "drivers_vol.funding_rate_mean_7d_per_vol_30d",
    "drivers_vol.oi_log_change_1d_per_vol_30d",
    "drivers_vol.oi_log_change_7d_per_vol_30d",
    "drivers_vol.long_liq_sum_1d_to_oi",
    "drivers_vol.long_liq_sum_7d_to_oi",
    "drivers_vol.etf_flow_total_sum_5obs_per_dollar_volume_30d",
    "drivers_vol.etf_flow_total_sum_20obs_per_dollar_volume_30d",
    "etf_flows.etf_flow_total",
    "etf_flows.etf_flow_total_sum_5obs",
    "etf_flows.etf_flow_total_sum_20obs",
    "etf_flows.etf_flow_total_per_dollar_volume_30d",
    "etf_flows.etf_flow_total_sum_5obs_per_dollar_volume_30d",
    "etf_flows.etf_flow_total_negative_streak",
    "funding.funding_rate",
    "funding.funding_rate_mean_3d",
    "funding.funding_rate_mean_7d",
    "funding.funding_rate_mean_30d",
    "funding.funding_rate_cum_3d",
    "funding.funding_rate_cum_7d",
    "funding.funding_rate_cum_30d",
    "funding.funding_rate_zscore_90d",
    "funding.funding_rate_positive_share_7d",
    "funding.funding_rate_positive_share_30d",
    "funding.funding_rate_carry_annualized_7d",
    "implied_vol.dvol",
    "implied_vol.dvol_change_7d",
    "implied_vol.dvol_change_30d",
    "implied_vol.log_dvol_zscore_90d",
    "leverage.oi_change_1d",
    "leverage.oi_change_7d",
    "leverage.oi_change_30d",
    "leverage.oi_per_dollar_volume_30d",
    "leverage.log_oi_zscore_90d",
    "leverage.leverage_ratio",
    "leverage.leverage_ratio_change_7d",
    "leverage.leverage_ratio_zscore_90d",
    "leverage.long_liq",
    "leverage.short_liq",
    "leverage.long_liq_share_1d",
    "leverage.long_liq_share_7d",
    "leverage.long_liq_plus_short_liq_to_oi_1d",
    "leverage.long_liq_plus_short_liq_to_oi_7d",
    "leverage.log_long_liq_zscore_90d",
    "leverage.log_short_liq_zscore_90d",
    "rates.dff",
    "rates.dgs2",
    "rates.dgs10",
    "rates.dff_diff_5obs",
    "rates.dff_diff_20obs",
    "rates.dgs2_diff_5obs",
    "rates.dgs2_diff_20obs",
    "rates.dgs10_diff_5obs",
    "rates.dgs10_diff_20obs",
    "rates.dgs2_minus_dff",
    "rates.dgs10_minus_dgs2",
    "rates.jgb_2y_diff_5obs",
    "rates.jgb_2y_diff_20obs",
    "rates.dxy_close_change_5obs",
    "rates.dxy_close_change_20obs",
    "rates.vixcls",
    "rates.vixcls_diff_5obs",
    "rates.bamlh0a0hym2",
    "rates.bamlh0a0hym2_diff_20obs",
    "rates.stablecoin_total_exported_change_7d",
    "rates.stablecoin_total_exported_change_30d",
    "rates.stablecoin_usdt_change_30d",
    "rates.coinbase_premium_pct",
    "rates.coinbase_premium_pct_mean_7d",
    "technical.return_1d",
    "technical.return_3d",
    "technical.return_7d",
    "technical.return_30d",
    "technical.return_24h",
    "technical.rv_cc_7d",
    "technical.rv_cc_30d",
    "technical.rv_parkinson_30d",
    "technical.rv_garman_klass_30d",
    "technical.dist_ma_50d",
    "technical.dist_ma_200d",
    "technical.ma_cross_state_50d_200d",
    "technical.days_since_ma_cross_50d_200d",
    "technical.drawdown_from_high_30d",
    "technical.drawdown_from_high_90d",
    "technical.drawdown_from_high_365d",
    "technical.dist_low_30d_in_vol_30d",
    "technical.dist_low_90d_in_vol_30d",
    "technical.rsi_14d",
    "technical.log_volume_zscore_30d",
    "technical.failed_breakout_20d_5d",
    "technical.log_rv_1d",
    "technical.log_rv_7d",
    "technical.log_rv_30d",
    "technical.downside_share_7d",
    "technical.realized_skewness_7d",
    "technical.realized_kurtosis_7d",
    "technical.jump_share_7d",
]


def test_repository_definitions_derive_the_pinned_names() -> None:
    features = load_definitions(REPO_FEATURES)
    assert list(features.names) == EXPECTED_NAMES
    assert features.family_names == FAMILY_NAMES
    families = features.families()
    assert set(families.values()) == set(FAMILY_NAMES)
    assert all(family_of(name) == family for name, family in families.items())
    assert features["technical.drawdown_from_high_90d"].window == "90d"
    assert "leverage.oi_change_7d" in features
    assert features.sources["funding_rates_8h"] == ("binance", "bybit", "sim_perp")


def test_hash_is_stable_and_tracks_changes(tmp_path: Path) -> None:
    first = load_definitions(REPO_FEATURES)
    assert load_definitions(REPO_FEATURES).hash == first.hash
    for path in REPO_FEATURES.glob("*.toml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    technical = tmp_path / "technical.toml"
    technical.write_text(
        technical.read_text(encoding="utf-8").replace('window = "14d"', 'window = "21d"'),
        encoding="utf-8",
    )
    changed = load_definitions(tmp_path)
    assert changed.hash != first.hash
    assert "technical.rsi_21d" in changed


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip(), encoding="utf-8")
    if not (tmp_path / REPO_FILE).exists():
        shutil.copy(REPO_FEATURES / REPO_FILE, tmp_path / REPO_FILE)
    return path


def _problems(directory: Path) -> dict[tuple[str, int | None], str]:
    with pytest.raises(FeatureDefinitionError, match="invalid feature definitions") as info:
        load_definitions(directory)
    return {(p.rule, p.line): Path(p.source).name for p in info.value.problems}


def test_every_problem_is_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.toml",
        """
family = "technical"
colour = "blue"

[[feature]]
transform = "log_return"
inputs = ["ohlcv_daily.close"]
window = "7d"
ttl = "3d"
description = "ok"
# comments do not shift the reported lines

[[feature]]
transform = "no_such_transform"
inputs = ["ohlcv_daily.close"]
ttl = "3d"
description = "unknown transform"

[[feature]]
transform = "mean"
inputs = ["nope.close", "ohlcv_daily.vwap"]
window = "7days"
ttl = "0h"
description = "bad inputs, window and ttl"

[[feature]]
transform = "log_return"
inputs = ["ohlcv_daily.close"]
window = "7d"
ttl = "3d"
description = "duplicate of the first"

[[feature]]
transform = "ma_cross_state"
inputs = ["ohlcv_daily.close"]
window = "5d"
params = { fast = "50d", colour = 1 }
ttl = "3d"
description = "unexpected window, unknown and missing params"
""",
    )
    _write(
        tmp_path,
        "b.toml",
        """
family = "leverage"

[sources.ohlcv_daily]
venues = ["binance_spot"]

[[feature]]
transform = "level"
inputs = ["liquidations_daily.long_liq_usd"]
ttl = "3d"
description = "no venue preference declared for liquidations"

[[feature]]
transform = "level"
inputs = ["macro_rates_daily.value"]
ttl = "3d"
description = "missing selector"
""",
    )
    _write(tmp_path, "c.toml", 'family = "rates"\n[[feature]\n')
    found = _problems(tmp_path)
    expected = {
        ("unknown_key", 2): "a.toml",
        ("unknown_transform", 13): "a.toml",
        ("unknown_input", 20): "a.toml",
        ("wrong_input_count", 20): "a.toml",
        ("bad_window", 21): "a.toml",
        ("bad_ttl", 22): "a.toml",
        ("duplicate_name", 25): "a.toml",
        ("unexpected_window", 35): "a.toml",
        ("unknown_param", 36): "a.toml",
        ("missing_param", 36): "a.toml",
        ("unknown_source_table", 3): "b.toml",
        ("missing_sources", 6): "b.toml",
        ("unknown_input", 14): "b.toml",
        ("toml_syntax", 2): "c.toml",
    }
    assert found == expected


def test_unknown_family_and_wrong_input_count(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "x.toml",
        """
family = "sentiment"

[[feature]]
transform = "level"
inputs = ["ohlcv_daily.close"]
ttl = "3d"
description = "x"
""",
    )
    _write(
        tmp_path,
        "y.toml",
        """
family = "technical"

[[feature]]
transform = "share"
inputs = ["ohlcv_daily.close"]
window = "7d"
ttl = "3d"
description = "share needs two inputs"

[[feature]]
transform = "spread"
inputs = ["macro_rates_daily.value[series=DGS2]", "ohlcv_daily.close"]
ttl = "3d"
description = "global and per-symbol inputs mixed"
""",
    )
    found = _problems(tmp_path)
    assert found == {
        ("unknown_family", 1): "x.toml",
        ("wrong_input_count", 5): "y.toml",
        ("mixed_entities", 12): "y.toml",
    }


def test_conflicting_venue_preferences(tmp_path: Path) -> None:
    body = '\n[[feature]]\ntransform = "level"\ninputs = ["{i}"]\nttl = "3d"\ndescription = "d"\n'
    _write(
        tmp_path,
        "a.toml",
        'family = "leverage"\n[sources.open_interest_daily]\nvenues = ["x"]\n'
        + body.format(i="open_interest_daily.open_interest_usd"),
    )
    _write(
        tmp_path,
        "b.toml",
        'family = "funding"\n[sources.open_interest_daily]\nvenues = ["y"]\n'
        + body.format(i="open_interest_daily.estimated_leverage_ratio"),
    )
    assert _problems(tmp_path) == {("conflicting_sources", None): "b.toml"}


def test_definitions_are_frozen_keyword_only_and_validated_when_constructed() -> None:
    repo = load_repo(REPO_FEATURES / REPO_FILE)
    definition = FeatureDefinition(
        family="rates",
        transform="diff",
        inputs=("macro_rates_daily.value[series=DGS10]",),
        window="20obs",
        ttl="6d",
        description="10y change",
        repo=repo,
    )
    assert definition.name == "rates.dgs10_diff_20obs"
    with pytest.raises(AttributeError, match="cannot assign"):
        definition.window = "5obs"  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        FeatureDefinition("rates", "diff")  # type: ignore[misc, call-arg]
    with pytest.raises(FeatureDefinitionError, match="missing_window") as info:
        FeatureDefinition(
            family="rates",
            transform="diff",
            inputs=("macro_rates_daily.value[series=DGS10]",),
            ttl="6 days",
            description="",
            repo=repo,
        )
    rules = {p.rule for p in info.value.problems}
    assert rules == {"missing_window", "bad_ttl", "missing_description"}


def test_missing_folder_empty_folder_and_missing_repo_file(tmp_path: Path) -> None:
    with pytest.raises(FeatureDefinitionError, match="missing_folder"):
        load_definitions(tmp_path / "absent")
    assert _problems(tmp_path) == {
        ("missing_repo", None): REPO_FILE,
        ("no_definitions", None): tmp_path.name,
    }
    shutil.copy(REPO_FEATURES / REPO_FILE, tmp_path / REPO_FILE)
    assert _problems(tmp_path) == {("no_definitions", None): tmp_path.name}


# ---------------------------------------------------------------------------- repo.toml

REPO_TEXT = """
[families]
leverage = "leverage"
technical = "prices"

[tokens]
open_interest_daily.open_interest_usd = "oi"
ohlcv_daily.close = ""

[prices]
daily_venues = ["coinbase_spot"]
hourly_venues = ["binance_spot"]
"""
FAMILY_FILE = """
family = "technical"

[[feature]]
transform = "log_return"
inputs = ["ohlcv_daily.close"]
window = "7d"
ttl = "3d"
description = "weekly return"
"""


def test_repo_declares_families_in_order_tokens_and_price_venues(tmp_path: Path) -> None:
    repo = load_repo(REPO_FEATURES / REPO_FILE)
    assert repo.family_names == FAMILY_NAMES
    assert all(repo.families[f] for f in FAMILY_NAMES)
    assert repo.tokens["open_interest_daily.open_interest_usd"] == "oi"
    # the ingest report's spans (store defaults) describe the stitching the features use
    assert repo.daily_venues == DEFAULT_DAILY_VENUES
    assert repo.hourly_venues == DEFAULT_HOURLY_VENUES

    _write(tmp_path, REPO_FILE, REPO_TEXT)
    _write(tmp_path, "technical.toml", FAMILY_FILE)
    features = load_definitions(tmp_path)
    assert features.family_names == ("leverage", "technical")
    assert features.names == ("technical.return_7d",)
    assert features.daily_venues == ("coinbase_spot",)
    assert features.hourly_venues == ("binance_spot",)
    with pytest.raises(AttributeError, match="cannot assign"):
        repo.daily_venues = ("x",)  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        FeatureRepo({"x": "y"})  # type: ignore[misc, call-arg]


def test_tokens_name_inputs_with_and_without_selectors(tmp_path: Path) -> None:
    _write(
        tmp_path,
        REPO_FILE,
        REPO_TEXT.replace('technical = "prices"', 'technical = "prices"\nrates = "rates"')
        + '\n[tokens.macro_rates_daily]\nvalue = "yield_{sel}"\n',
    )
    _write(tmp_path, "technical.toml", FAMILY_FILE)
    _write(
        tmp_path,
        "rates.toml",
        """
family = "rates"

[[feature]]
transform = "level"
inputs = ["macro_rates_daily.value[series=DGS2]"]
ttl = "6d"
description = "token with {sel}"

[[feature]]
transform = "level"
inputs = ["stablecoin_supply_daily.circulating_usd[stablecoin=USDT]"]
ttl = "3d"
description = "no token: the column, then the selector's value"
""",
    )
    names = load_definitions(tmp_path).names
    assert names == ("rates.yield_dgs2", "rates.circulating_usd_usdt", "technical.return_7d")


def test_repo_problems_are_reported_with_file_and_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        REPO_FILE,
        """
colour = "blue"

[families]
leverage = "leverage"
Technical = "capital letters"
rates = ""

[tokens]
open_interest_daily.open_interest_usd = "oi"
open_interest_daily.open_interest_base = "oi"
"liquidations_daily.long_liq_usd" = "long_liq"
liquidations_daily.long_liq_usd = "again"
ohlcv_daily.vwap = "vwap"
ohlcv_daily.close = "Close {sel}"

[prices]
daily_venues = []
hourly_venues = ["binance_spot"]
weekly_venues = ["x"]
""",
    )
    _write(tmp_path, "technical.toml", FAMILY_FILE)
    found = _problems(tmp_path)
    assert found == {
        ("unknown_key", 1): REPO_FILE,
        ("bad_family", 5): REPO_FILE,
        ("bad_family", 6): REPO_FILE,
        ("duplicate_token", 10): REPO_FILE,
        ("duplicate_token", 11): REPO_FILE,
        ("unknown_token_input", 13): REPO_FILE,
        ("bad_token", 14): REPO_FILE,
        ("bad_venues", 17): REPO_FILE,
        ("unknown_key", 19): REPO_FILE,
    }


def test_each_feature_family_must_be_declared(tmp_path: Path) -> None:
    _write(tmp_path, REPO_FILE, REPO_TEXT)
    _write(tmp_path, "technical.toml", FAMILY_FILE)
    _write(tmp_path, "funding.toml", FAMILY_FILE.replace("technical", "funding"))
    assert _problems(tmp_path) == {("unknown_family", 1): "funding.toml"}
    with pytest.raises(FeatureDefinitionError, match="unknown_family") as info:
        FeatureDefinition(
            family="funding",
            transform="log_return",
            inputs=("ohlcv_daily.close",),
            window="7d",
            ttl="3d",
            description="weekly return",
            repo=load_repo(tmp_path / REPO_FILE),
        )
    assert "expected one of ['leverage', 'technical']" in str(info.value)


def test_repo_file_needs_families_and_both_venue_lists(tmp_path: Path) -> None:
    _write(tmp_path, REPO_FILE, "[families]\n\n[prices]\nhourly_venues = 'binance_spot'\n")
    _write(tmp_path, "technical.toml", FAMILY_FILE)
    with pytest.raises(FeatureDefinitionError) as info:
        load_definitions(tmp_path)
    found = {(p.rule, p.line, p.detail.split(":")[0]) for p in info.value.problems}
    assert found == {
        ("no_families", 1, "declare at least one family under [families]"),
        ("bad_venues", 3, "daily_venues"),
        ("bad_venues", 4, "hourly_venues"),
    }
