"""Family contributions: exact Shapley values over driver families, in probability points."""

from __future__ import annotations

import itertools
import time
from math import factorial
from typing import Any

import numpy as np
import pandas as pd
import pytest

from downside.errors import PredictionInputError
from downside.models import DrawdownSurface, family_contributions, shapley_by_family
from downside.vocabulary import family_of

FAMILIES = ["leverage", "funding", "etf_flows", "rates", "technical"]


def infer_families(columns: list[str]) -> dict[str, str]:
    return {c: family_of(c) for c in columns}


@pytest.fixture(scope="module")
def model(synth: Any, drawdown_frame: pd.DataFrame) -> DrawdownSurface:
    x = drawdown_frame[synth.DRAWDOWN_INPUTS]
    return DrawdownSurface(**synth.FAST).fit(
        x,
        drawdown_frame["label"],
        times=drawdown_frame["asof"],
        label_end=drawdown_frame["label_end"],
    )


def test_points_sum_to_model_minus_reference(
    synth: Any, model: DrawdownSurface, drawdown_frame: pd.DataFrame
) -> None:
    x = drawdown_frame[synth.DRAWDOWN_INPUTS]
    out = family_contributions(model, x, infer_families(synth.DRAWDOWN_INPUTS), FAMILIES)
    assert list(out.columns) == [*FAMILIES, "p_reference", "p_model"]
    assert out.index.equals(x.index)
    np.testing.assert_allclose(
        out[FAMILIES].sum(axis=1), out["p_model"] - out["p_reference"], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(out["p_model"], model.predict_proba(x)[:, 1], rtol=0, atol=1e-12)
    # the planted driver dominates the noise families
    mean_abs = out[FAMILIES].abs().mean()
    assert mean_abs["leverage"] > 5 * mean_abs[["funding", "etf_flows", "rates"]].max()


def test_matches_brute_force_shapley_over_permutations(
    synth: Any, model: DrawdownSurface, drawdown_frame: pd.DataFrame
) -> None:
    x = drawdown_frame[synth.DRAWDOWN_INPUTS].iloc[[5, 777, 4321]]
    families = infer_families(synth.DRAWDOWN_INPUTS)
    out = family_contributions(model, x, families, FAMILIES)
    contrib = model.contributions(x)
    for i in range(len(x)):
        row = contrib.iloc[i]
        always = row["bias"] + row["threshold"] + row["horizon_days"]
        sums = {f: sum(row[c] for c, g in families.items() if g == f) for f in FAMILIES}

        def value(
            players: frozenset[str], row_sums: dict[str, float] = sums, base: float = always
        ) -> float:
            margin = base + sum(row_sums[f] for f in players)
            return float(model.calibrator_.transform(np.array([margin]))[0])

        expected = dict.fromkeys(FAMILIES, 0.0)
        for order in itertools.permutations(FAMILIES):
            seen: frozenset[str] = frozenset()
            for f in order:
                expected[f] += (value(seen | {f}) - value(seen)) / factorial(len(FAMILIES))
                seen = seen | {f}
        for f in FAMILIES:
            assert out[f].iloc[i] == pytest.approx(expected[f], abs=1e-12)


def test_unmapped_columns_default_to_technical_and_query(
    synth: Any, model: DrawdownSurface, drawdown_frame: pd.DataFrame
) -> None:
    x = drawdown_frame[synth.DRAWDOWN_INPUTS].iloc[:200]
    explicit = family_contributions(model, x, infer_families(synth.DRAWDOWN_INPUTS), FAMILIES)
    only_features = {c: c.split(".")[0] for c in synth.FEATURES}
    implicit = family_contributions(model, x, only_features, FAMILIES)
    pd.testing.assert_frame_equal(explicit, implicit)


def test_ten_thousand_rows_of_shapley_arithmetic_well_under_a_second(
    synth: Any, model: DrawdownSurface
) -> None:
    x = synth.make_drawdown_frame(n_dates=250, seed=9)[synth.DRAWDOWN_INPUTS]
    assert len(x) == 10_000
    contrib = model.contributions(x)
    families = infer_families(synth.DRAWDOWN_INPUTS)
    start = time.perf_counter()
    out = shapley_by_family(contrib, model.calibrator_, families, FAMILIES)
    elapsed = time.perf_counter() - start
    # measured about 0.01 s; LightGBM's TreeSHAP (contributions) is the costly part
    assert elapsed < 0.25
    pd.testing.assert_frame_equal(out, family_contributions(model, x, families, FAMILIES))


def test_unknown_family_is_refused(
    synth: Any, model: DrawdownSurface, drawdown_frame: pd.DataFrame
) -> None:
    with pytest.raises(PredictionInputError, match=r"unknown driver families \['sentiment'\]"):
        family_contributions(
            model, drawdown_frame[synth.DRAWDOWN_INPUTS], {"z_distance": "sentiment"}, FAMILIES
        )
