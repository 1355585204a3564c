"""Model specs: the shipped specs load; every invalid spec is rejected with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from downside.errors import ModelSpecError
from downside.models._fit import make_model
from downside.models._spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["drawdown", "support"])
def test_shipped_specs_load(name: str) -> None:
    spec = load_spec(name, REPO / "models")
    assert spec.name == name
    assert spec.registered_name == f"downside-{name}"
    assert spec.frame.horizons_days == (1.0, 3.0, 7.0, 14.0, 30.0)
    assert spec.frame.source.endswith(f"{name}.toml")


def test_spec_by_path() -> None:
    spec = load_spec(str(REPO / "models" / "drawdown.toml"), REPO / "models")
    assert spec.frame.thresholds == (0.05, 0.10, 0.15, 0.20, 0.30)


def test_all_problems_reported_with_lines() -> None:
    text = """name = "Bad Name"
target = "crash"
colour = "red"

[grid]
thresholds = [5, 10]
horizon = [1]

[walk_forward]
test_days = 0
"""
    with pytest.raises(ModelSpecError) as info:
        parse_spec(text, source="bad.toml")
    rendered = str(info.value)
    problems = {(p.rule, p.line) for p in info.value.problems}
    assert ("invalid_value", 1) in problems  # name
    assert ("invalid_value", 2) in problems  # target
    assert ("unknown_key", 3) in problems  # colour
    assert ("invalid_value", 6) in problems  # thresholds given in percent
    assert ("unknown_key", 7) in problems  # horizon
    assert ("invalid_value", 10) in problems  # test_days
    assert "nothing was written" in rendered
    assert "bad.toml:6" in rendered


def test_missing_spec_lists_known(tmp_path: Path) -> None:
    (tmp_path / "drawdown.toml").write_text('name = "drawdown"\ntarget = "drawdown"\n')
    with pytest.raises(ModelSpecError, match=r"known specs .*\['drawdown'\]"):
        load_spec("nope", tmp_path)


def test_family_list_must_be_names() -> None:
    with pytest.raises(ModelSpecError, match="expected a list of family names"):
        parse_spec('name = "x"\ntarget = "drawdown"\n[features]\nfamilies = [1]\n')


WEIGHTED = """name = "dd"
target = "drawdown"

[model]
base = "parkinson"
weight_half_life_days = {value}
"""


def test_half_life_is_optional_and_reaches_the_estimator() -> None:
    assert "weight_half_life_days" not in parse_spec(WEIGHTED.split("weight_")[0]).model_params
    assert make_model(parse_spec(WEIGHTED.split("weight_")[0])).weight_half_life_days is None
    spec = parse_spec(WEIGHTED.format(value="182.5"))
    assert spec.model_params["weight_half_life_days"] == 182.5
    assert make_model(spec).weight_half_life_days == 182.5


@pytest.mark.parametrize("value", ["0", "-30", '"year"', "true", "nan"])
def test_invalid_half_life_is_refused_with_its_line(value: str) -> None:
    with pytest.raises(ModelSpecError, match=r"weighted\.toml:6") as info:
        parse_spec(WEIGHTED.format(value=value), source="weighted.toml")
    [problem] = info.value.problems
    assert (problem.rule, problem.line) == ("invalid_value", 6)
    assert "model.weight_half_life_days: expected a positive number of days" in problem.detail
