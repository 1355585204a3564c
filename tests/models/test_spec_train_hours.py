"""``[data] train_hours``: the UTC hours of the training as-of times, parsed and checked."""

from __future__ import annotations

import pytest

from downside.errors import ModelSpecError
from downside.models import parse_spec

SPEC = """name = "dd"
target = "{target}"

[data]
symbols = ["BTC"]
train_hours = {hours}
"""


def test_default_is_daily() -> None:
    assert parse_spec('name = "dd"\ntarget = "drawdown"\n').frame.train_hours == (0,)


def test_hours_reach_the_frame_spec() -> None:
    spec = parse_spec(SPEC.format(target="drawdown", hours="[0, 6, 12, 18]"))
    assert spec.frame.train_hours == (0, 6, 12, 18)
    assert parse_spec(SPEC.format(target="support", hours="[0]")).frame.train_hours == (0,)


@pytest.mark.parametrize(
    "hours",
    ["[6, 12]", "[0, 24]", "[0, -1]", "[0, 12, 6]", "[0, 6, 6]", "[0, 6.5]", "[true]", "6", "[]"],
)
def test_bad_hours_are_refused_with_their_line(hours: str) -> None:
    with pytest.raises(ModelSpecError, match=r"dd\.toml:6: .*train_hours: expected UTC hours"):
        parse_spec(SPEC.format(target="drawdown", hours=hours), source="dd.toml")


def test_support_target_refuses_intraday_hours() -> None:
    with pytest.raises(ModelSpecError, match="not supported for the support target"):
        parse_spec(SPEC.format(target="support", hours="[0, 12]"))
