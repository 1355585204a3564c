"""Ablation: the skill each driver family adds to the volatility base, out of sample.

For a spec, every variant is trained and scored on the same purged walk-forward folds
as :func:`downside.workflows.run_backtest` and scored by the joint surface score:

- ``volatility base``: the spec's base alone (no trees), the reference;
- ``all families``: every family of the feature repository (the spec's other settings,
  such as excluded features, kept);
- ``- family``: every family but one (leave one out);
- ``+ family``: that family's features alone on top of the base.

Skill is ``1 - S_variant / S_reference`` with a circular block-bootstrap interval over
days, against the volatility base and against the full model. This answers the question
users ask: do leverage, funding, ETF flows, rates or implied volatility tell anything
the volatility forecast does not?
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from downside.datasets import build_frame, select_features
from downside.features import FeatureStore
from downside.models import ModelSpec, folds, score_fold, test_rows
from downside.vocabulary import utc_day
from downside.workflows._scoring import fine_rows, joint_losses, skill_interval

BASE = "volatility base"
FULL = "all families"


@dataclass(frozen=True)
class AblationResult:
    """What :func:`run_ablation` measured.

    Attributes:
        spec: the spec ablated.
        table: one row per variant: ``variant, families, n_features, joint_score``, skill
            against the volatility base and against the full model with intervals.
        losses: joint losses per (symbol, asof, horizon) of every variant.
        level: coverage of the intervals.
    """

    spec: ModelSpec
    table: pd.DataFrame
    losses: pd.DataFrame
    level: float


def _variants(spec: ModelSpec, feature_store: FeatureStore) -> list[tuple[str, tuple[str, ...]]]:
    families = tuple(feature_store.family_names())
    out = [(FULL, tuple(families))]
    for family in families:
        out.append((f"- {family}", tuple(f for f in families if f != family)))
    for family in families:
        out.append((f"+ {family}", (family,)))
    return out


def _predictions(
    spec: ModelSpec,
    feature_store: FeatureStore,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    with_base: bool,
) -> tuple[pd.DataFrame, int]:
    """Out-of-sample rows of a spec's folds in ``[lo, hi]`` (the fine threshold grid for
    drawdowns) with ``p_model`` and, when asked, ``p_base`` (the base alone)."""
    data = build_frame(spec.frame, feature_store)
    window = list(
        folds(spec, data, start=f"{lo:%Y-%m-%d}", end=f"{hi + pd.Timedelta(days=1):%Y-%m-%d}")
    )
    parts = []
    for fold in window:
        score = score_fold(spec, data, fold, keep_model=True)
        assert score.model is not None
        test = test_rows(spec, data, fold)
        rows = test
        if spec.target == "drawdown":
            rows = fine_rows(spec, feature_store, test, data.feature_columns)
        cell = "threshold" if spec.target == "drawdown" else "level"
        part = rows[["symbol", "asof", cell, "horizon_days", "label"]].copy()
        matrix = score.model.to_matrix(rows[list(data.input_columns)])
        part["p_model"] = score.model.predict_proba(rows[list(data.input_columns)])[:, 1]
        if with_base:
            margin = score.model.base_margin(matrix)
            part["p_base"] = score.model.calibrator_.transform(margin)
        parts.append(part)
    return pd.concat(parts, ignore_index=True), len(data.feature_columns)


def run_ablation(
    spec: ModelSpec,
    feature_store: FeatureStore,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    on_variant: Callable[[str], None] | None = None,
) -> AblationResult:
    """Train and score every variant of ``spec`` over ``[start, end]``.

    Raises:
        InvalidTimeError: ``start`` or ``end`` is not a time.
        InsufficientHistoryError: no fold in the window.
        ModelSpecError: unknown features or families in the spec.
    """
    lo, hi = utc_day(start, "start"), utc_day(end, "end")
    losses: pd.DataFrame | None = None
    counts: dict[str, tuple[tuple[str, ...], int]] = {}
    for name, families in _variants(spec, feature_store):
        if on_variant is not None:
            on_variant(name)
        variant = replace(spec, frame=replace(spec.frame, families=families))
        select_features(variant.frame, feature_store)
        preds, n_features = _predictions(variant, feature_store, lo, hi, with_base=name == FULL)
        columns = {"p_model": name} | ({"p_base": BASE} if name == FULL else {})
        found = joint_losses(preds.rename(columns=columns), list(columns.values()))
        found = found.drop(columns=["n"])
        losses = (
            found if losses is None else losses.merge(found, on=["symbol", "asof", "horizon_days"])
        )
        counts[name] = (families, n_features)
        if name == FULL:
            counts[BASE] = ((), 0)
    assert losses is not None
    horizon = int(losses["horizon_days"].max())
    rows = []
    for name in [BASE, *[n for n in counts if n != BASE]]:
        row: dict[str, object] = {
            "variant": name,
            "families": ", ".join(counts[name][0]),
            "n_features": counts[name][1],
            "joint_score": float(losses[name].mean()),
        }
        for ref, tag in ((BASE, "base"), (FULL, "full")):
            est, low, high = skill_interval(
                losses, name, ref, block_days=horizon, n_boot=n_boot, level=level, seed=seed
            )
            row |= {f"skill_vs_{tag}": est, f"lower_vs_{tag}": low, f"upper_vs_{tag}": high}
        rows.append(row)
    return AblationResult(spec, pd.DataFrame.from_records(rows), losses, level)


def ablation_markdown(result: AblationResult, *, command: str | None = None) -> str:
    """The ablation table in Markdown."""

    def pct(v: float) -> str:
        return f"{100 * v:+.1f}%"

    lines = [
        f"# Ablation: `{result.spec.name}` ({result.spec.target})",
        "",
        "Joint surface score of every variant on the same purged walk-forward folds; skill "
        f"against the volatility base (no trees) and the full model, {result.level:.0%} "
        "block-bootstrap intervals over days.",
    ]
    if command:
        lines += ["", f"Reproduce: `{command}`"]
    lines += [
        "",
        "| variant | features | joint score | skill vs volatility base | skill vs all families |",
        "|---|---|---|---|---|",
    ]
    for r in result.table.to_dict("records"):
        lines.append(
            f"| {r['variant']} | {r['n_features']} | {r['joint_score']:.5f} | "
            f"{pct(r['skill_vs_base'])} [{pct(r['lower_vs_base'])}, {pct(r['upper_vs_base'])}] | "
            f"{pct(r['skill_vs_full'])} [{pct(r['lower_vs_full'])}, {pct(r['upper_vs_full'])}] |"
        )
    return "\n".join(lines) + "\n"


def write_ablation(
    result: AblationResult, out_dir: Path, *, command: str | None = None
) -> list[Path]:
    """Write ``ablation.md``, ``ablation.csv`` and ``ablation_losses.parquet``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "ablation.md"
    md.write_text(ablation_markdown(result, command=command), encoding="utf-8")
    csv = out_dir / "ablation.csv"
    result.table.to_csv(csv, index=False)
    losses = out_dir / "ablation_losses.parquet"
    result.losses.to_parquet(losses, index=False)
    return [md, csv, losses]
