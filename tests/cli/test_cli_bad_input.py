"""Bad input across commands: exit code, a message naming the argument and the expected
form, and never a traceback, on an 80-column terminal.

Exit 2: the arguments are wrong (a value, a date, a path, a name). Exit 1: the
arguments are fine but the state is not (nothing trained under that alias, no such
registered model); those cases say what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downside.cli import app

WINDOW = ["--start", "2023-01-01", "--end", "2023-03-31"]


@dataclass(frozen=True)
class Case:
    """One bad command line.

    ``{tmp}`` in an argument is this test's temporary folder and ``{home}`` its
    DOWNSIDE_HOME; ``trained``: run in a home with trained models (else an empty one).
    """

    args: tuple[str, ...]
    message: tuple[str, ...]
    code: int = 2
    trained: bool = False


def case(*args: str, says: str | tuple[str, ...], code: int = 2, trained: bool = False) -> Case:
    return Case(args, (says,) if isinstance(says, str) else says, code, trained)


DD = ("predict", "drawdown", "--symbols", "BTC")
SUP = ("predict", "support", "--symbols", "BTC")
REPORT = ("report", "--symbol", "BTC", "--out", "{tmp}/report")
EXPORT = ("features", "export", "--symbols", "BTC")
BT = ("backtest", "drawdown")
DATE = "expected a date or time such as 2024-01-01 or 2024-01-01T06:00Z (UTC when no zone is given)"

CASES = {
    # dates
    "asof-not-a-date": case(*DD, "--asof", "someday", says=f"--asof: {DATE}, got 'someday'"),
    "asof-from-month-13": case(
        *DD, "--asof-from", "2024-13-01", "--asof-to", "2024-12-10", says=f"--asof-from: {DATE}"
    ),
    "asof-to-before-from": case(
        *DD,
        "--asof-from",
        "2024-12-10",
        "--asof-to",
        "2024-12-01",
        says="--asof-to: expected a time at or after --asof-from 2024-12-10",
    ),
    "asof-from-alone": case(
        *DD, "--asof-from", "2024-12-01", says="--asof-to: expected with --asof-from"
    ),
    "asof-and-batch": case(
        *DD,
        "--asof",
        "2024-12-01",
        "--asof-from",
        "2024-12-01",
        "--asof-to",
        "2024-12-02",
        says="--asof: use --asof, or --asof-from with --asof-to",
    ),
    "export-bad-start": case(
        *EXPORT, "--start", "soon", "--end", "2024-03-10", says=f"--start: {DATE}, got 'soon'"
    ),
    "backtest-bad-end": case(
        *BT, "--start", "2023-01-01", "--end", "2023-02-30", "--out", "{tmp}/bt", says="--end:"
    ),
    "backtest-end-before-start": case(
        *BT,
        "--start",
        "2023-06-01",
        "--end",
        "2023-01-01",
        "--out",
        "{tmp}/bt",
        says="--end: expected a day at or after --start 2023-06-01",
    ),
    "update-since-feb-30": case("update", "--since", "2024-02-30", says=f"--since: {DATE}"),
    "report-bad-asof": case(*REPORT, "--asof", "2024-12-99", says=f"--asof: {DATE}"),
    # symbols and names
    "unknown-symbol": case(
        "predict",
        "drawdown",
        "--symbols",
        "DOGE",
        says="unknown symbol(s) ['DOGE']: the store has prices for ['BTC', 'ETH', 'SOL']",
        trained=True,
    ),
    "export-unknown-symbol": case(
        "features",
        "export",
        "--symbols",
        "BTC,DOGE",
        *WINDOW,
        says=("unknown_symbol (1): expected symbols with daily prices", "e.g. DOGE"),
        trained=True,
    ),
    "empty-symbol-list": case(
        "predict",
        "drawdown",
        "--symbols",
        " , ",
        says="--symbols: expected comma-separated symbols",
    ),
    "no-symbols": case(
        "predict", "drawdown", says="--symbols: expected comma-separated symbols such as BTC,ETH"
    ),
    "symbols-and-symbol": case(
        *SUP, "--symbol", "ETH", says="--symbols: pass --symbols once (--symbol is the same option)"
    ),
    "semicolon-symbols": case(
        "predict",
        "support",
        "--symbols",
        "BTC;ETH",
        says="--symbols: expected comma-separated symbols such as BTC,ETH",
    ),
    "report-two-symbols": case(
        "report",
        "--symbols",
        "BTC,ETH",
        "--out",
        "{tmp}/r",
        says="--symbol: expected one symbol (one report per symbol), got BTC, ETH",
    ),
    "unknown-spec": case("train", "nosuch", says=("missing_spec", "known specs in", "drawdown")),
    "ablation-bad-start": case(
        "ablation",
        "drawdown",
        "--start",
        "x",
        "--end",
        "2023-03-31",
        "--out",
        "{tmp}/ab",
        says=f"--start: {DATE}, got 'x'",
    ),
    "ablation-end-before-start": case(
        "ablation",
        "drawdown",
        "--start",
        "2023-06-01",
        "--end",
        "2023-01-01",
        "--out",
        "{tmp}/ab",
        says="--end: expected a day at or after --start",
    ),
    "ablation-unknown-spec": case(
        "ablation", "nosuch", *WINDOW, "--out", "{tmp}/ab", says="no spec file at"
    ),
    "backtest-unknown-spec": case(
        "backtest", "nosuch", *WINDOW, "--out", "{tmp}/bt", says="no spec file at"
    ),
    "backtest-no-spec": case(
        "backtest", *WINDOW, "--out", "{tmp}/bt", says="SPEC: expected a spec name or path first"
    ),
    "backtest-spec-twice": case(
        *BT, "--spec", "drawdown", *WINDOW, "--out", "{tmp}/bt", says="--spec: pass the spec once"
    ),
    "unknown-source": case(
        "update", "--sources", "kraken", says=("unknown source(s) ['kraken']", "binance_usdm")
    ),
    "empty-sources": case(
        "update", "--sources", ",", says="--sources: expected comma-separated source names"
    ),
    "export-freq": case(*EXPORT, *WINDOW, "--freq", "5m", says="--freq: expected 1d or 1h"),
    "promote-force-without-reason": case(
        "models",
        "promote",
        "downside-drawdown",
        "--force",
        says="--reason: --force needs --reason TEXT",
    ),
    # numbers, percent and fractions
    "thresholds-as-fractions": case(
        *DD,
        "--thresholds",
        "0.05,0.1",
        says="--thresholds: thresholds are in percent on the command line: 5 means 5%; "
        "got 0.05, 0.1 (for 5, 10%, pass 5, 10)",
    ),
    "thresholds-outside-grid": case(
        *DD,
        "--thresholds",
        "50",
        says="--thresholds: 50 outside the trained range 5 to 30 (percent: 5 means 5%)",
        trained=True,
    ),
    "thresholds-not-numbers": case(
        *DD, "--thresholds", "ten", says="--thresholds: expected comma-separated numbers (percent)"
    ),
    "thresholds-empty": case(
        *DD, "--thresholds", "", says="--thresholds: expected comma-separated"
    ),
    "thresholds-100": case(
        *DD, "--thresholds", "150", says="--thresholds: expected percentages below 100"
    ),
    "horizons-not-a-number": case(
        *DD, "--horizons", "7,x", says="--horizons: expected comma-separated numbers (days)"
    ),
    "horizons-negative": case(
        *DD, "--horizons", "-1", says="--horizons: expected numbers (days) above 0, got '-1'"
    ),
    "horizons-outside-grid": case(
        *DD,
        "--horizons",
        "0.5",
        says="horizons [0.5] outside the trained range [1, 30] (days)",
        trained=True,
    ),
    "level-above-price": case(
        *SUP, "--levels", "1e9", says="is not below the current price", trained=True
    ),
    "levels-not-numbers": case(*SUP, "--levels", "80k", says="--levels: expected comma-separated"),
    "report-threshold-fraction": case(
        *REPORT, "--threshold", "0.1", says="--threshold: thresholds are in percent"
    ),
    "report-horizon-zero": case(
        *REPORT, "--horizon", "0", says="--horizon: expected numbers (days) above 0"
    ),
    "trials-negative": case(
        "train", "drawdown", "--trials", "-1", says="--trials: expected a number >= 0"
    ),
    "workers-zero": case(
        "tune", "drawdown", "--workers", "0", says="--workers: expected a number >= 1"
    ),
    "n-boot-zero": case(
        *BT, *WINDOW, "--out", "{tmp}/bt", "--n-boot", "0", says="--n-boot: expected a number >= 1"
    ),
    "trials-not-an-integer": case(
        "train", "drawdown", "--trials", "many", says=("'--trials'", "valid integer")
    ),
    # output formats
    "format-xml": case(*DD, "--format", "xml", says=("'--format'", "'xml' is not one of")),
    "format-yaml-models": case("models", "list", "--format", "yaml", says="'--format'"),
    "unknown-option": case(*DD, "--out-file", "x.csv", says="No such option: --out-file"),
    # paths
    "out-suffix": case(
        *DD,
        "--out",
        "{tmp}/dir[x]/a.txt",
        says="--out: expected a file name ending in .parquet or .csv, got 'a.txt'",
    ),
    "out-exists": case(
        *DD, "--out", "{tmp}/exists.csv", says="exists.csv exists; pass --force to replace it"
    ),
    "out-is-a-folder": case(
        *DD, "--out", "{tmp}/[x].csv", says="[x].csv is a folder; expected a file path"
    ),
    "report-out-is-a-file": case(
        "report",
        "--symbol",
        "BTC",
        "--out",
        "{tmp}/exists.csv",
        says="is a file; expected a folder",
    ),
    "report-out-not-empty": case(
        "report",
        "--symbol",
        "BTC",
        "--out",
        "{tmp}/full[1]",
        says="folder {tmp}/full[1] is not empty; pass --force",
    ),
    "out-inside-store": case(
        *EXPORT, *WINDOW, "--out", "{home}/store/f.csv", says="is inside the store folder"
    ),
    "backtest-out-inside-store": case(
        *BT, *WINDOW, "--out", "{home}/store/bt", says="--out: {home}/store/bt is inside the store"
    ),
    "ingest-missing-folder-with-brackets": case(
        "ingest", "files", "{tmp}/nowhere[bold]", says="{tmp}/nowhere[bold]: missing_folder (1)"
    ),
    # the daily loop
    "forecast-update-and-ingest": case(
        "forecast", "--update", "--ingest", "{tmp}", says="--ingest: pass --update or --ingest DIR"
    ),
    "forecast-sources-without-update": case(
        "forecast", "--sources", "binance", says="--sources: expected with --update"
    ),
    "forecast-ingest-not-a-folder": case(
        "forecast",
        "--ingest",
        "{tmp}/exists.csv",
        says="--ingest: expected a folder of table files",
    ),
    "forecast-bad-now": case("forecast", "--now", "soon", says=f"--now: {DATE}, got 'soon'"),
    "forecast-out-is-a-file": case(
        "forecast", "--out", "{tmp}/exists.csv", says="--out: {tmp}/exists.csv is a file"
    ),
    "forecast-out-inside-store": case(
        "forecast", "--out", "{home}/store/reports", says="is inside the store folder"
    ),
    "forecast-bad-symbols": case(
        "forecast", "--symbols", "B$C", says="--symbols: expected comma-separated symbols"
    ),
    "evaluate-replay-bad-date": case(
        "evaluate", "--replay", "2024-01-01", "later", says=f"--replay: {DATE}, got 'later'"
    ),
    "evaluate-replay-backwards": case(
        "evaluate",
        "--replay",
        "2024-02-01",
        "2024-01-01",
        says="--replay: expected FROM TO with TO on or after FROM",
    ),
    "evaluate-replay-one-date": case(
        "evaluate", "--replay", "2024-01-01", says="'--replay' requires 2 arguments"
    ),
    "evaluate-bad-model": case(
        "evaluate", "--model", "both", says="--model: expected drawdown, support or all, got 'both'"
    ),
    "evaluate-version-without-replay": case(
        "evaluate", "--version", "3", says="--version: expected with --replay"
    ),
    "evaluate-bad-version": case(
        "evaluate",
        "--replay",
        "2024-01-01",
        "2024-01-02",
        "--version",
        "v3",
        says="--version: expected a version number such as 3, got 'v3'",
    ),
    "evaluate-few-replicates": case(
        "evaluate", "--n-boot", "1", says="--n-boot: expected a number >= 10, got 1"
    ),
    "evaluate-out-not-empty": case(
        "evaluate", "--out", "{tmp}/full[1]", says="--out: folder {tmp}/full[1] is not empty"
    ),
    "evaluate-replay-of-training-days": case(
        "evaluate",
        "--replay",
        "2024-01-01",
        "2024-01-31",
        "--model",
        "drawdown",
        "--no-log",
        says=(
            "cannot replay downside-drawdown v1 from 2024-01-01: it was trained on data known",
            "--replay FROM TO with FROM on or after that day",
        ),
        trained=True,
    ),
    "monitor-bad-now": case("monitor", "--now", "soon", says=f"--now: {DATE}, got 'soon'"),
    "shock-malformed": case(
        *DD, "--shock", "price=10", says="--shock: 'price=10': expected a relative price move"
    ),
    "shock-unknown-input": case(
        *DD,
        "--shock",
        "nofeature=q5",
        says=("unknown_input", "'nofeature' is not a feature", "--shock INPUT=VALUE"),
        trained=True,
    ),
    "scenario-unknown": case(*SUP, "--scenario", "moon", says="--scenario: no preset 'moon'"),
    "scenario-given-a-shock": case(
        *DD, "--scenario", "price-=10%", says="--scenario: expected a preset name"
    ),
    # the arguments are fine, the state is not: exit 1
    "unknown-alias": case(
        *DD, "--alias", "nosuch", says="has no model version", code=1, trained=True
    ),
    "unknown-model": case(
        "models", "list", "nosuch", says="no registered model 'nosuch'", code=1, trained=True
    ),
}


@pytest.mark.parametrize("bad", CASES.values(), ids=CASES.keys())
def test_bad_input_names_the_argument_without_a_traceback(
    bad: Case, runner: CliRunner, tmp_path: Path, isolated_env: Path, request: pytest.FixtureRequest
) -> None:
    home = request.getfixturevalue("trained_env") if bad.trained else isolated_env
    (tmp_path / "exists.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "[x].csv").mkdir()
    (tmp_path / "full[1]").mkdir()
    (tmp_path / "full[1]" / "keep.txt").write_text("mine", encoding="utf-8")
    args = [a.format(tmp=tmp_path, home=home) for a in bad.args]

    result = runner.invoke(app, args)

    shown = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == bad.code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    for part in bad.message:
        assert " ".join(part.format(tmp=tmp_path, home=home).split()) in shown, result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "full[1]" / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "report").exists()
    assert not (tmp_path / "bt").exists()


def test_the_table_covers_every_command_with_enough_cases() -> None:
    assert len(CASES) >= 30
    commands = {" ".join(a for a in c.args[:2] if not a.startswith("-")) for c in CASES.values()}
    for command in ("predict drawdown", "predict support", "report", "backtest drawdown"):
        assert command in commands
    for command in (
        "train",
        "tune",
        "update",
        "ingest",
        "features",
        "models",
        "ablation",
        "forecast",
        "evaluate",
        "monitor",
    ):
        assert any(c.split()[0] == command for c in commands), command
