"""The promotion gate, both ways, through `downside models promote` and `models list`.

Real trained versions give the refusal: two trainings of one spec on the same data
score identically on the same fold, so the challenger is not better. Worse and better
challengers are then made deterministic by rewriting the challenger's fold-score tag, the
only input of the gate; a third real training and a forced promotion close the loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from downside.cli import app
from downside.cli._app import console
from downside.config import load_settings
from downside.errors import PromotionRefusedError
from downside.tracking import CHALLENGER, CHAMPION, fold_scores, list_versions, promote
from downside.tracking._registry import FOLDS_TAG

SpecFactory = Callable[..., Path]
REASON = "fold scores recomputed after a data fix"


def _run(*args: str) -> Result:
    # wide enough that rich tables do not wrap or truncate cells; the CLI's console reads
    # its width once, at import, so COLUMNS alone does not reach it under `make test`
    console.width = 250
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def _aliases(client: MlflowClient, model: str) -> dict[str, str]:
    # versions are str over REST and int from the SQL store
    return {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}


@pytest.mark.slow
def test_promotion_gate_moves_champion_only_for_a_better_challenger(
    home: Path, make_spec: SpecFactory
) -> None:
    spec = make_spec("promote")
    model = f"downside-{spec.stem}"
    for _ in range(2):
        trained = _run("train", str(spec), "--trials", "0")
        assert trained.exit_code == 0, trained.output
    settings = load_settings()
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    assert _aliases(client, model) == {CHAMPION: "1", CHALLENGER: "2"}

    # real versions: same spec, same data, same fold -> equal scores -> refused
    v1, v2 = fold_scores(client, model, "1"), fold_scores(client, model, "2")
    assert v1
    assert v1 == v2
    refused = _run("models", "promote", model)
    assert refused.exit_code == 1
    assert "refused to promote" in refused.output
    assert _aliases(client, model)[CHAMPION] == "1"

    # worse on the common folds -> refused, with the numbers on the exception
    client.set_model_version_tag(
        model, "2", FOLDS_TAG, json.dumps({k: v + 0.01 for k, v in v1.items()})
    )
    with pytest.raises(PromotionRefusedError, match="does not beat") as info:
        promote(client, model)
    assert info.value.challenger == pytest.approx(info.value.champion + 0.01)
    assert _run("models", "promote", model).exit_code == 1
    assert _aliases(client, model)[CHAMPION] == "1"

    # better on the folds both were scored on; a fold only the challenger has is ignored
    better = {**{k: v - 0.01 for k, v in v1.items()}, "2099-01-01/2099-03-01": 9.9}
    client.set_model_version_tag(model, "2", FOLDS_TAG, json.dumps(better))
    promoted = _run("models", "promote", model)
    assert promoted.exit_code == 0, promoted.output
    assert "champion is now v2 (was v1)" in promoted.output
    assert f"on {len(v1)} common folds" in promoted.output
    assert _aliases(client, model) == {CHAMPION: "2", CHALLENGER: "2"}
    assert "downside.forced_promotion_reason" not in client.get_model_version(model, "2").tags

    # a third real training is worse than the (improved) champion: refused, then forced
    trained = _run("train", str(spec), "--trials", "0")
    assert trained.exit_code == 0, trained.output
    assert _aliases(client, model) == {CHAMPION: "2", CHALLENGER: "3"}
    assert _run("models", "promote", model).exit_code == 1
    no_reason = _run("models", "promote", model, "--force")
    assert no_reason.exit_code == 2
    assert "--force needs --reason" in no_reason.output
    assert _aliases(client, model)[CHAMPION] == "2"
    forced = _run("models", "promote", model, "--force", "--reason", REASON)
    assert forced.exit_code == 0, forced.output
    assert f"forced: {REASON}" in forced.output
    assert _aliases(client, model) == {CHAMPION: "3", CHALLENGER: "3"}
    tags = client.get_model_version(model, "3").tags
    assert tags["downside.forced_promotion_reason"] == REASON

    listed = _run("models", "list", model)
    assert listed.exit_code == 0, listed.output
    table = {
        cells[1]: cells[2]
        for line in listed.output.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) > 2 and cells[0] == model
    }
    assert table == {"3": "challenger,champion", "2": "", "1": ""}
    rows = {r["version"]: r["aliases"] for r in list_versions(client, model)}
    assert rows == {3: "challenger,champion", 2: "", 1: ""}
    unknown = _run("models", "promote", "downside-nothing-here")
    assert unknown.exit_code == 1
    assert "no alias" in unknown.output
