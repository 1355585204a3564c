"""Settings: one place reads the environment, types come from the Settings annotations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from downside.config import ENV_VARS, Secret, Settings, bundled_dir, load_settings
from downside.errors import ConfigError


def test_every_env_var_fills_a_field_and_is_documented() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {v.setting for v in ENV_VARS} <= fields
    assert len({v.name for v in ENV_VARS}) == len(ENV_VARS)
    assert all(v.doc for v in ENV_VARS)


def test_values_are_typed_by_the_field_annotation(tmp_path: Path) -> None:
    env = {
        "DOWNSIDE_HOME": str(tmp_path / "h"),
        "DOWNSIDE_LOCK_TIMEOUT": "2.5",
        "DOWNSIDE_OPTUNA_HEARTBEAT": "3",
        "DOWNSIDE_OPTUNA_GRACE": "9",
        "DOWNSIDE_DAILY_VENUES": "a_spot, b_spot",
        "FRED_API_KEY": "k-123",
    }
    s = load_settings(environ=env, config_file=None)
    assert s.home == tmp_path / "h"
    assert s.lock_timeout_s == 2.5
    assert (s.optuna_heartbeat_s, s.optuna_grace_s) == (3, 9)
    assert s.daily_venues == ("a_spot", "b_spot")
    assert isinstance(s.fred_api_key, Secret)
    assert s.fred_api_key == "k-123"
    assert "k-123" not in repr(s)
    assert "k-123" not in repr(s.fred_api_key)


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "downside.toml"
    cfg.write_text("[downside]\nseed = 1\nlock_timeout_s = 5\netf_flow_publication_hour_utc = 14\n")
    s = load_settings({"seed": 3}, environ={"DOWNSIDE_LOCK_TIMEOUT": "6"}, config_file=cfg)
    assert (s.seed, s.lock_timeout_s, s.etf_flow_publication_hour_utc) == (3, 6.0, 14)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (
            {"DOWNSIDE_OPTUNA_HEARTBEAT": "soon"},
            "optuna_heartbeat_s.*received .soon.*expected an integer",
        ),
        ({"DOWNSIDE_LOCK_TIMEOUT": "-1"}, "lock_timeout_s.*must be >= 0"),
        ({"DOWNSIDE_DAILY_VENUES": " , "}, "daily_venues.*at least one"),
        ({"DOWNSIDE_OPTUNA_HEARTBEAT": "40"}, "must exceed optuna_heartbeat_s"),
    ],
)
def test_bad_environment_values_name_the_setting(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(environ=env)


def test_a_secret_is_never_echoed_in_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("fred_api_key = 12\nbogus = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        load_settings(environ={}, config_file=cfg)


def test_hour_limits_and_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"etf_flow_publication_hour_utc.*must be <= 23"):
        load_settings({"etf_flow_publication_hour_utc": 24}, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"DOWNSIDE_CONFIG": str(tmp_path / "nope.toml")})


def test_definitions_never_come_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.resolved_feature_dir == bundled_dir("features")
    assert s.resolved_feature_dir != tmp_path / "features"
    assert s.resolved_model_dir == bundled_dir("models")
    assert any(s.resolved_feature_dir.glob("*.toml"))
    mine = load_settings(environ={"DOWNSIDE_FEATURE_DIR": str(tmp_path / "features")})
    assert mine.resolved_feature_dir == tmp_path / "features"
