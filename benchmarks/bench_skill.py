"""Every attempt of the forecast-skill work, backtested the same way (run on demand).

    .venv/bin/python benchmarks/bench_skill.py [--data ../shared/data] [--home DIR]
        [--start 2022-01-01] [--end 2025-06-30] [--n-boot 1000] [--only NAME,...]
        [--out docs/skill/attempts.md] [--backtests docs/backtest]

Ingests the data folder into a home (a temporary one unless ``--home`` is given), then
runs ``downside.workflows.run_backtest`` for the shipped specs (``models/*.toml``) and
every attempt (``models/attempts/*.toml``) over the same window and folds, and writes a
Markdown table, rewritten after every spec (an interrupted run keeps what it finished;
with ``--only``, the rows of the other specs already in the file are kept): per spec its
base, trees, pooled assets, the joint surface score, the skill against the best baseline
with the interval overall and per horizon, ECE, and the early-warning lift. The shipped
specs' full backtest folders (``summary.md``, tables, figures, as `downside backtest`
writes them) go to ``--backtests``. About five to nine minutes per drawdown spec and
three to five per support spec on two cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from downside.config import load_settings
from downside.features import FeatureStore
from downside.models import ModelSpec, load_spec
from downside.store import Store
from downside.workflows import BacktestResult, run_backtest, write_backtest

ROOT = Path(__file__).resolve().parents[1]


def _pct(value: float) -> str:
    return f"{100.0 * value:+.1f}%"


def _row(path: Path, spec: ModelSpec, result: BacktestResult, seconds: float) -> dict[str, str]:
    joint = result.joint
    model = joint[joint["model"] == "model"]
    overall = model[model["scope"] == "overall"].iloc[0]
    per_h = " / ".join(_pct(v) for v in model[model["scope"] == "horizon"]["skill"])
    metrics = result.metrics
    ece = metrics[(metrics["scope"] == "overall") & (metrics["model"] == "model")]["ece"]
    params = spec.model_params
    lift = result.warning.get("lift")
    return {
        "spec": f"`{path.relative_to(ROOT)}`",
        "base": str(params.get("base", "none")),
        "trees": str(params.get("n_estimators", 300)),
        "pooled": ", ".join(spec.frame.pool_symbols) or "-",
        "joint score": f"{overall['joint_score']:.5f}",
        "skill vs best baseline": (
            f"{_pct(overall['skill'])} [{_pct(overall['skill_lower'])}, "
            f"{_pct(overall['skill_upper'])}]"
        ),
        "per horizon": per_h,
        "best baseline": result.best_baseline,
        "ECE": f"{float(ece.iloc[0]):.3f}",
        "lift before >=15% drawdowns": "-" if lift is None else f"{lift:.2f}",
        "minutes": f"{seconds / 60:.1f}",
    }


HEADER = [
    "# Forecast-skill attempts",
    "",
    "Out-of-sample backtests, BTC and ETH, the same purged walk-forward folds for every "
    "spec. Joint surface score: mean Brier over thresholds 1% to 50% (drawdowns) or the "
    "detected levels (supports); skill against the best of the eight baselines with 90% "
    "block-bootstrap intervals over days; per-horizon skill at 1 / 3 / 7 / 14 / 30 days.",
    "",
]


def _read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a table this script wrote before (none if there is no file)."""
    if not path.is_file():
        return []
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("| ")]
    if not lines:
        return []
    columns = [c.strip() for c in lines[0].strip("|").split(" | ")]
    return [
        dict(zip(columns, [c.strip() for c in ln.strip("|").split(" | ")], strict=True))
        for ln in lines[1:]
    ]


def _write(path: Path, rows: list[dict[str, str]], window: str) -> None:
    columns = list(rows[0])
    lines = [
        *HEADER,
        f"As-of days {window}. Reproduce: `.venv/bin/python benchmarks/bench_skill.py`",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--home", type=Path)
    parser.add_argument("--start", default="2022-01-01")
    parser.add_argument("--end", default="2025-06-30")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--only", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "skill" / "attempts.md")
    parser.add_argument("--backtests", type=Path, default=ROOT / "docs" / "backtest")
    args = parser.parse_args()
    window = f"{args.start} to {args.end}"
    wanted = {n for n in args.only.split(",") if n}
    kept = _read_rows(args.out) if wanted else []
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        settings = load_settings({"home": home})
        Store.from_settings(settings).ingest_files(args.data)
        fs = FeatureStore.from_settings(settings)
        shipped = sorted((ROOT / "models").glob("*.toml"))
        paths = shipped + sorted((ROOT / "models" / "attempts").glob("*.toml"))
        rows: dict[str, dict[str, str]] = {row["spec"]: row for row in kept}
        for path in paths:
            spec = load_spec(path, ROOT / "models")
            if wanted and spec.name not in wanted:
                continue
            started = time.perf_counter()
            result = run_backtest(
                spec, fs, start=args.start, end=args.end, n_boot=args.n_boot, seed=settings.seed
            )
            row = _row(path, spec, result, time.perf_counter() - started)
            rows[row["spec"]] = row
            print(row, flush=True)
            if path in shipped:
                command = (
                    f"downside backtest {path.relative_to(ROOT)} --start {args.start} "
                    f"--end {args.end} --n-boot {args.n_boot}"
                )
                write_backtest(result, args.backtests / spec.name, command=command)
            order = {f"`{p.relative_to(ROOT)}`": i for i, p in enumerate(paths)}
            _write(args.out, sorted(rows.values(), key=lambda r: order.get(r["spec"], 99)), window)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
