"""`downside features list` and `downside features export` through typer's CliRunner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings
from downside.features import FeatureStore, load_definitions
from downside.sources import SimulationResult

FAMILIES = {"leverage", "funding", "etf_flows", "rates", "technical"}
WINDOW = ["--start", "2024-03-01T00:00Z", "--end", "2024-03-10T00:00Z"]


@pytest.fixture
def ingested(runner: CliRunner, market: SimulationResult) -> FeatureStore:
    """The simulated market ingested into this test's store, through the CLI."""
    result = runner.invoke(app, ["ingest", "files", str(market.out_dir)])
    assert result.exit_code == 0, result.output
    return FeatureStore.from_settings(load_settings())


def test_list_shows_every_definition_with_its_family(runner: CliRunner) -> None:
    definitions = load_definitions(load_settings().resolved_feature_dir)

    result = runner.invoke(app, ["features", "list", "--format", "json"])

    assert result.exit_code == 0, result.output
    listed = {row["name"]: row["family"] for row in json.loads(result.stdout)}
    assert listed == definitions.families()
    assert set(listed.values()) >= FAMILIES


def test_list_fits_80_columns_and_names_every_feature(runner: CliRunner) -> None:
    definitions = load_definitions(load_settings().resolved_feature_dir)

    result = runner.invoke(app, ["features", "list"])

    assert result.exit_code == 0, result.output
    assert f"{len(definitions)} features from" in " ".join(result.output.split())
    assert "…" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    first_cells = {line.split("│")[1].strip() for line in result.output.splitlines() if "│" in line}
    assert set(definitions.names) <= first_cells


def test_list_wide_terminal_shows_families_and_inputs(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    definitions = load_definitions(load_settings().resolved_feature_dir)

    result = runner.invoke(app, ["features", "list"])

    assert result.exit_code == 0, result.output
    listed = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] in definitions.names:
            listed[cells[0]] = cells[1]
    assert listed == definitions.families()
    assert "ohlcv_daily.close" in result.output


def _grid(start: str, end: str, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq=freq, tz="UTC").as_unit("us")


def test_export_daily_one_row_per_symbol_and_asof(
    runner: CliRunner, ingested: FeatureStore, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "features.parquet"

    result = runner.invoke(
        app,
        ["features", "export", "--symbols", "BTC, eth", *WINDOW, "--freq", "1d", "--out", str(out)],
    )

    assert result.exit_code == 0, result.output
    assert f"wrote 20 rows to {out}" in result.stderr
    assert result.stdout == ""
    frame = pd.read_parquet(out)
    names = list(ingested.definitions.names)
    assert list(frame.columns) == ["symbol", "asof", *names]
    days = _grid("2024-03-01", "2024-03-10", "D")
    assert frame["symbol"].tolist() == ["BTC"] * 10 + ["ETH"] * 10
    assert frame["asof"].tolist() == [*days, *days]
    assert not frame.duplicated(["symbol", "asof"]).any()
    assert (frame[names].dtypes == "float64").all()
    # the file holds what the feature store serves for the same spine
    expected = ingested.get_features(frame[["symbol", "asof"]])
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    # and it is not empty of information: prices, funding, leverage are known every day
    for name in ("technical.return_1d", "funding.funding_rate", "leverage.oi_change_1d"):
        assert frame[name].notna().all(), name


def test_export_hourly_to_csv(runner: CliRunner, ingested: FeatureStore, tmp_path: Path) -> None:
    out = tmp_path / "hourly.csv"
    args = ["--start", "2024-03-01T00:00Z", "--end", "2024-03-02T00:00Z"]

    result = runner.invoke(
        app,
        ["features", "export", "--symbols", "ETH,BTC", *args, "--freq", "1h", "--out", str(out)],
    )

    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    hours = _grid("2024-03-01 00:00", "2024-03-02 00:00", "h")
    assert len(hours) == 25
    assert list(frame.columns[:2]) == ["symbol", "asof"]
    assert frame["symbol"].tolist() == ["ETH"] * 25 + ["BTC"] * 25
    assert pd.to_datetime(frame["asof"], utc=True).tolist() == [*hours, *hours]
    # the hourly return changes within the day; the daily one only at 00:00
    eth = frame.loc[frame["symbol"] == "ETH"]
    assert eth["technical.return_24h"].nunique() > 20
    assert eth["technical.return_1d"].iloc[1:24].nunique() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "BTC", *WINDOW, "--freq", "5m"], "--freq: expected 1d or 1h, got '5m'"),
        (["--symbols", "BTC,DOGE", *WINDOW], "unknown_symbol (1)"),
        (
            ["--symbols", "BTC", "--start", "2024-03-05T00:00Z", "--end", "2024-03-01T00:00Z"],
            "empty_range (1): no 1d as-of time between",
        ),
        (["--symbols", "BTC", *WINDOW, "--out-file", "x"], "No such option: --out-file"),
        ([*WINDOW], "Missing option '--symbols'"),
    ],
    ids=["freq", "unknown-symbol", "end-before-start", "unknown-option", "no-symbols"],
)
def test_export_bad_arguments_exit_2(
    runner: CliRunner, ingested: FeatureStore, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "f.parquet"
    if "--out-file" not in args:
        args = [*args, "--out", str(out)]

    result = runner.invoke(app, ["features", "export", *args])

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert not out.exists()


def test_export_wrong_suffix_exits_2(
    runner: CliRunner, ingested: FeatureStore, tmp_path: Path
) -> None:
    out = tmp_path / "f.txt"
    result = runner.invoke(
        app, ["features", "export", "--symbols", "BTC", *WINDOW, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "--out: expected a file name ending in .parquet or .csv, got 'f.txt'" in " ".join(
        result.stderr.split()
    )
    assert not out.exists()


def test_export_before_any_ingest_says_what_to_do(
    runner: CliRunner, tmp_path: Path, isolated_env: Path
) -> None:
    out = tmp_path / "f.parquet"
    result = runner.invoke(
        app, ["features", "export", "--symbols", "BTC", *WINDOW, "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "nothing ingested yet: run `downside ingest files DIR`" in " ".join(
        result.stderr.split()
    )
    assert not out.exists()
    assert not isolated_env.exists()


def test_export_plain_dates_as_in_the_readme(
    runner: CliRunner, ingested: FeatureStore, tmp_path: Path
) -> None:
    out = tmp_path / "f.parquet"
    args = ["--symbols", "BTC,ETH", "--start", "2024-03-01", "--end", "2024-03-10"]
    result = runner.invoke(app, ["features", "export", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    asof = pd.read_parquet(out)["asof"]
    assert np.array_equal(asof.unique(), _grid("2024-03-01", "2024-03-10", "D"))


def test_export_unparseable_date_exits_2(
    runner: CliRunner, ingested: FeatureStore, tmp_path: Path
) -> None:
    args = ["--symbols", "BTC", "--start", "someday", "--end", "2024-03-10T00:00Z"]
    result = runner.invoke(app, ["features", "export", *args, "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 2, result.output
    assert "--start: expected a date or time such as 2024-01-01" in result.stderr
    assert "someday" in result.stderr


def test_export_prints_values_without_out(runner: CliRunner, ingested: FeatureStore) -> None:
    args = ["--symbols", "BTC,ETH", "--start", "2024-03-01", "--end", "2024-03-02"]
    names = list(ingested.definitions.names)

    screen = runner.invoke(app, ["features", "export", *args])
    as_json = runner.invoke(app, ["features", "export", *args, "--format", "json"])
    as_csv = runner.invoke(app, ["features", "export", *args, "--format", "csv"])

    assert screen.exit_code == 0, screen.output
    assert "BTC 2024-03-01" in screen.stdout
    assert "more (symbol, as-of) rows" in " ".join(screen.stderr.split())
    assert "…" not in screen.output
    rows = json.loads(as_json.stdout)
    assert [(r["symbol"], r["asof"]) for r in rows] == [
        ("BTC", "2024-03-01T00:00:00Z"),
        ("BTC", "2024-03-02T00:00:00Z"),
        ("ETH", "2024-03-01T00:00:00Z"),
        ("ETH", "2024-03-02T00:00:00Z"),
    ]
    assert list(rows[0]) == ["symbol", "asof", *names]
    frame = pd.read_csv(io.StringIO(as_csv.stdout))
    assert frame["asof"].tolist() == [r["asof"] for r in rows]
    assert as_csv.stderr == as_json.stderr == ""
