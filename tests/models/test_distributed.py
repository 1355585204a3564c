"""The per-partition inputs of a distributed fit and what it refuses (the fit itself runs
on a real two-worker cluster in tests/workflows/test_dask_cluster.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from downside.errors import ModelSpecError
from downside.models import DrawdownSurface, SupportBreakModel, parse_spec
from downside.models._distributed import check_distributed, training_part

SPEC = """
name = "dd"
target = "drawdown"

[model]
{model}
"""


def test_a_partition_holds_the_tree_columns_labels_and_base_margin(
    drawdown_frame: pd.DataFrame, synth: type
) -> None:
    model = DrawdownSurface(**synth.FAST, base="none", calibration="none")
    part = training_part(model, drawdown_frame[synth.DRAWDOWN_INPUTS], drawdown_frame["label"])
    fitted = DrawdownSurface(**synth.FAST, base="none", calibration="none").fit(
        drawdown_frame[synth.DRAWDOWN_INPUTS], drawdown_frame["label"]
    )
    x = drawdown_frame[synth.DRAWDOWN_INPUTS]
    assert list(part.names) == fitted.feature_names_
    assert list(part.trees) == fitted.tree_features_
    np.testing.assert_array_equal(part.matrix, fitted.tree_matrix(fitted.to_matrix(x)))
    np.testing.assert_array_equal(part.init_score, fitted.base_margin(fitted.to_matrix(x)))
    np.testing.assert_array_equal(part.label, drawdown_frame["label"].to_numpy())
    assert part.summary()[:2] == (len(drawdown_frame), int(drawdown_frame["label"].sum()))


def test_category_levels_come_from_the_dtype_so_partitions_agree(
    support_frame: pd.DataFrame, synth: type
) -> None:
    model = SupportBreakModel(**synth.FAST, calibration="none")
    halves = np.array_split(np.arange(len(support_frame)), 2)
    parts = [
        training_part(
            model, support_frame.iloc[i][synth.SUPPORT_INPUTS], support_frame.iloc[i]["label"]
        )
        for i in halves
    ]
    assert parts[0].categories == parts[1].categories
    assert "level_type" in parts[0].categories


def test_only_what_one_partition_can_compute_is_distributed() -> None:
    model = DrawdownSurface(base="vol_logistic", calibration="auto", n_estimators=0)
    with pytest.raises(ModelSpecError, match="base") as caught:
        check_distributed(model)
    assert {p.source for p in caught.value.problems} == {
        "DrawdownSurface.base",
        "DrawdownSurface.calibration",
        "DrawdownSurface.n_estimators",
    }
    check_distributed(DrawdownSurface(base="parkinson", calibration="none"))
    with pytest.raises(ModelSpecError, match="weighs every row alike"):
        check_distributed(
            DrawdownSurface(base="parkinson", calibration="none", weight_half_life_days=365)
        )


def test_spec_key_distributed() -> None:
    spec = parse_spec(
        SPEC.format(model='base = "parkinson"\ncalibration = "none"\ndistributed = true')
    )
    assert spec.distributed
    assert "distributed" not in spec.model_params
    assert not parse_spec(SPEC.format(model="")).distributed
    with pytest.raises(ModelSpecError, match=r"model\.distributed: a distributed fit needs base"):
        parse_spec(
            SPEC.format(model='base = "vol_logistic"\ncalibration = "none"\ndistributed = true')
        )
    with pytest.raises(ModelSpecError, match="needs calibration"):
        parse_spec(SPEC.format(model='base = "parkinson"\ndistributed = true'))
    with pytest.raises(ModelSpecError, match="expected true or false"):
        parse_spec(SPEC.format(model='distributed = "yes"'))
    with pytest.raises(
        ModelSpecError, match=r"model\.weight_half_life_days: a distributed fit weighs every row"
    ):
        parse_spec(
            SPEC.format(
                model='base = "parkinson"\ncalibration = "none"\ndistributed = true\n'
                "weight_half_life_days = 365"
            )
        )
