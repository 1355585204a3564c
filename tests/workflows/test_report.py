"""`downside report`: an HTML page with its PNG figures, from the registered models."""

from __future__ import annotations

from pathlib import Path

from downside import api

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {
    "surface.png",
    "history.png",
    "drivers.png",
    "supports.png",
    "drivers_support.png",
    "reliability_drawdown.png",
    "reliability_support.png",
}


def test_report_writes_a_page_and_every_figure(trained_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = api.risk_report("BTC", out, asof="2025-02-01", history_days=120)
    assert {p.name for p in result.files} == {"index.html", *FIGURES}
    page = result.index.read_text(encoding="utf-8")
    for name in FIGURES:
        image = out / name
        assert image.read_bytes().startswith(PNG)
        assert image.stat().st_size > 5_000, name
        assert f'src="{name}"' in page
    assert "BTC as of 2025-02-01 00:00 UTC" in page
    assert "downside-drawdown v1" in page
    assert "&gt;= 10%" in page
