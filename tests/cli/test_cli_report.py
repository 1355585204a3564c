"""`downside report`: the page written atomically into a new or empty folder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from downside.cli import app

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_command(trained_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-report"
    run = CliRunner().invoke(
        app, ["report", "--symbol", "eth", "--out", str(out), "--history-days", "60"]
    )
    assert run.exit_code == 0, run.output
    # an 80-column terminal wraps a long path anywhere, even inside a name
    assert f"wrote{out / 'index.html'}" in "".join(run.stdout.split())
    assert (out / "index.html").is_file()
    assert (out / "surface.png").read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli-report", "downside", "home"]
    missing = CliRunner().invoke(app, ["report", "--symbol", "DOGE", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2
    assert "unknown symbol" in " ".join(missing.output.split())
    assert not (tmp_path / "x").exists()


def test_report_replaces_a_folder_only_with_force(trained_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "page"
    out.mkdir()
    (out / "old.txt").write_text("old", encoding="utf-8")
    args = ["report", "--symbol", "BTC", "--out", str(out), "--history-days", "30"]

    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert (out / "old.txt").is_file()

    forced = CliRunner().invoke(app, [*args, "--force", "--format", "json"])
    assert forced.exit_code == 0, forced.output
    document = json.loads(forced.stdout)
    assert document["index"] == str(out / "index.html")
    assert document["asof"] == "2025-07-01T00:00:00Z"
    assert all(Path(f).parent == out and Path(f).is_file() for f in document["files"])
    assert not (out / "old.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downside", "home", "page"]


def test_report_into_an_empty_folder(trained_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    run = CliRunner().invoke(
        app, ["report", "--symbol", "BTC", "--out", str(out), "--history-days", "30"]
    )
    assert run.exit_code == 0, run.output
    assert (out / "index.html").is_file()
