"""Model registry: one registered model per spec, aliases instead of stages.

A new version gets alias ``challenger``; the first version of a model also becomes
``champion``. :func:`promote` moves ``champion`` only if the challenger's mean
walk-forward log loss beats the champion's on the folds both were scored on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from downside.errors import ModelNotFoundError, PromotionRefusedError, TrackingError

CHAMPION = "champion"
CHALLENGER = "challenger"
FOLDS_TAG = "downside.fold_log_loss"


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did."""

    model: str
    version: str
    previous: str | None
    challenger_log_loss: float
    champion_log_loss: float
    common_folds: int
    forced: bool
    reason: str | None


def _version_by_alias(client: MlflowClient, name: str, alias: str) -> str:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        raise ModelNotFoundError(
            f"registered model {name!r} has no alias {alias!r}; run `downside models list` "
            f"to see versions, or `downside train` to create one"
        ) from exc


def fold_scores(client: MlflowClient, name: str, version: str) -> dict[str, float]:
    """Walk-forward log loss per fold window recorded on a model version."""
    tags = client.get_model_version(name, version).tags
    raw = tags.get(FOLDS_TAG)
    if raw is None:
        raise TrackingError(
            f"{name} version {version} has no walk-forward scores (tag {FOLDS_TAG}); "
            "it was not registered by `downside train`"
        )
    return {k: float(v) for k, v in json.loads(raw).items()}


def set_aliases_for_new_version(client: MlflowClient, name: str, version: str) -> list[str]:
    """``challenger`` for the new version, plus ``champion`` if there is none yet."""
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    try:
        client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        client.set_registered_model_alias(name, CHAMPION, version)
        aliases.append(CHAMPION)
    return aliases


def promote(
    client: MlflowClient, name: str, *, force: bool = False, reason: str | None = None
) -> Promotion:
    """Move ``champion`` to the challenger if it is better on the same folds.

    Raises:
        ModelNotFoundError: the model or one of its aliases does not exist.
        PromotionRefusedError: the challenger is not better (lower mean log loss on the
            common folds), or the two share no fold; ``force`` with a ``reason`` overrides.
        TrackingError: ``force`` without a reason.
    """
    if force and not reason:
        raise TrackingError(
            "force=True needs a reason: it is recorded on the model version; pass reason=..."
        )
    challenger = _version_by_alias(client, name, CHALLENGER)
    champion = _version_by_alias(client, name, CHAMPION)
    ch_scores = fold_scores(client, name, challenger)
    cp_scores = fold_scores(client, name, champion)
    common = sorted(set(ch_scores) & set(cp_scores))
    ch = sum(ch_scores[k] for k in common) / len(common) if common else math.nan
    cp = sum(cp_scores[k] for k in common) / len(common) if common else math.nan
    better = bool(common) and ch < cp
    if challenger == champion:
        better = False
    if not better and not force:
        if not common:
            raise TrackingError(
                f"cannot compare {name} v{challenger} with v{champion}: they share no "
                "walk-forward fold (the data changed between trainings); retrain both on the "
                "same data or force the promotion with a recorded reason"
            )
        raise PromotionRefusedError(name, "mean fold log loss", ch, cp)
    client.set_registered_model_alias(name, CHAMPION, challenger)
    if force:
        client.set_model_version_tag(
            name, challenger, "downside.forced_promotion_reason", str(reason)
        )
    return Promotion(name, challenger, champion, ch, cp, len(common), force and not better, reason)


def list_versions(client: MlflowClient, name: str | None = None) -> list[dict[str, object]]:
    """Versions of downside's registered models with aliases and key metrics."""
    try:
        models = client.search_registered_models(
            filter_string=f"name = '{name}'" if name else "name LIKE 'downside-%'"
        )
    except MlflowException as exc:
        raise TrackingError(f"cannot read the model registry: {exc}") from exc
    rows: list[dict[str, object]] = []
    for model in models:
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for mv in client.search_model_versions(f"name = '{model.name}'"):
            tags = mv.tags or {}
            rows.append(
                {
                    "model": model.name,
                    "version": int(mv.version),
                    "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
                    "cv_log_loss": float(tags.get("downside.cv_log_loss", "nan")),
                    "cv_brier": float(tags.get("downside.cv_brier", "nan")),
                    "brier_skill_vs_vol": float(tags.get("downside.brier_skill_vs_vol", "nan")),
                    "created": mv.creation_timestamp,
                    "run_id": mv.run_id,
                }
            )
    if name and not rows:
        raise ModelNotFoundError(f"no registered model {name!r}; `downside models list` shows all")
    return sorted(rows, key=lambda r: (str(r["model"]), -int(str(r["version"]))))
