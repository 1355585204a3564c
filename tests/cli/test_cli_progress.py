"""Progress bars, notes and verbosity: what goes to stderr, and when."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downside.cli import _progress, app
from downside.models import TuningResult
from downside.sources import SimulationResult


@pytest.fixture
def bars_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draw progress bars although CliRunner's stderr is no terminal."""
    monkeypatch.setattr(_progress, "enabled", lambda: True)


def test_no_bars_without_a_terminal_and_steps_at_verbose(
    runner: CliRunner, market: SimulationResult
) -> None:
    plain = runner.invoke(app, ["ingest", "files", str(market.out_dir)])
    verbose = runner.invoke(app, ["-v", "ingest", "files", str(market.out_dir)])

    assert plain.exit_code == verbose.exit_code == 0, plain.output + verbose.output
    assert plain.stderr == ""
    shown = " ".join(verbose.stderr.split())
    assert f"info: downside.cli: reading {market.out_dir}" in shown
    assert "info: downside.cli: validating ohlcv_daily" in shown
    assert "info: downside.cli: merging ohlcv_daily" in shown
    assert "info: downside.store: ingest" in shown
    assert logging.getLogger("downside").level == logging.NOTSET  # put back afterwards
    assert logging.getLogger("downside").handlers == []


def test_bars_go_to_stderr_and_never_into_json(
    runner: CliRunner, market: SimulationResult, bars_on: None
) -> None:
    result = runner.invoke(app, ["ingest", "files", str(market.out_dir), "--format", "json"])

    assert result.exit_code == 0, result.output
    assert "ingested" in result.stderr
    assert json.loads(result.stdout)["changed"] is True


def test_ingest_bar_counts_validation_and_merge_per_table(
    runner: CliRunner, market: SimulationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, float, float | None]] = []
    update = _progress.Bar.update

    def spy(bar: _progress.Bar, **kwargs: object) -> None:
        update(bar, **kwargs)  # type: ignore[arg-type]
        seen.append((bar.description, bar.completed, bar.total))

    monkeypatch.setattr(_progress.Bar, "update", spy)
    assert runner.invoke(app, ["ingest", "files", str(market.out_dir)]).exit_code == 0
    tables = len(market.rows)
    steps = [s for s in seen if s[0].startswith(("validating ", "merging "))]
    assert [s[1] for s in steps] == list(range(2 * tables))
    assert {s[2] for s in steps} == {2 * tables}
    assert seen[-1][1] == seen[-1][2] == 2 * tables


def test_quiet_hides_bars_and_notes(
    runner: CliRunner, market: SimulationResult, tmp_path: Path, bars_on: None
) -> None:
    assert runner.invoke(app, ["ingest", "files", str(market.out_dir)]).exit_code == 0
    out = tmp_path / "f.csv"
    args = ["features", "export", "--symbols", "BTC", "--start", "2024-03-01"]
    args += ["--end", "2024-03-02", "--out", str(out)]

    loud = runner.invoke(app, args)
    quiet = runner.invoke(app, ["-q", *args, "--force"])

    assert loud.exit_code == quiet.exit_code == 0, loud.output + quiet.output
    assert "wrote 2 rows" in loud.stderr
    assert quiet.stderr == quiet.stdout == ""
    assert out.is_file()


def _result(finished: int, best: float = math.nan) -> TuningResult:
    return TuningResult("downside-x", {}, best, finished, 0, 0)


def test_trial_bar_follows_the_study(monkeypatch: pytest.MonkeyPatch, bars_on: None) -> None:
    monkeypatch.setattr(_progress, "POLL_S", 0.01)
    answers = iter([_result(1), _result(2, 0.5), _result(3, 0.4)])
    seen: list[int] = []

    def status() -> TuningResult:
        result = next(answers)
        seen.append(result.n_complete)
        return result

    bar = _progress.Bars(None).add("trials", total=3)
    with _progress.follow_trials(bar, status, budget=3):
        for _ in range(500):
            if bar.completed == 3:
                break
            time.sleep(0.01)

    assert seen == [1, 2, 3]
    assert bar.completed == 3
    assert bar.description == "trials, best 0.4000"


def test_tune_and_train_with_bars(
    trained_env: Path,
    trained_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bars_on: None,
) -> None:
    text = (trained_home.parent / "specs" / "support.toml").read_text(encoding="utf-8")
    assert "folds = 4" in text
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "support.toml").write_text(text.replace("folds = 4", "folds = 1"), encoding="utf-8")
    monkeypatch.setenv("DOWNSIDE_MODEL_DIR", str(specs))
    runner = CliRunner()

    tuned = runner.invoke(app, ["tune", "support", "--trials", "1", "--format", "json"])
    assert tuned.exit_code == 0, tuned.output
    study = json.loads(tuned.stdout)
    assert study["study_name"] == "downside-support"
    assert study["n_complete"] + study["n_pruned"] == 1
    assert "trials" in tuned.stderr

    trained = runner.invoke(app, ["train", "support", "--trials", "0"])
    assert trained.exit_code == 0, trained.output
    assert "registered downside-support v2" in trained.stderr
    assert "downside-support v2 (challenger)" in " ".join(trained.stdout.split())
    assert "…" not in trained.output
