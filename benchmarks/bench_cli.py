"""Benchmark of CLI startup: wall time of `downside --help`, `downside --version` and
`python -m downside --help` in fresh processes (run on demand, not a test).

    .venv/bin/python benchmarks/bench_cli.py [--runs 10] [--src DIR] [--drop-caches]

Every run starts a new interpreter, so nothing is imported yet; the operating system's
page cache may still hold the files from the previous run. With ``--drop-caches`` (root
only; it slows every other process on the machine for a moment) the page cache is
dropped before each run, which gives the first-run-after-boot time. ``--src`` puts
another checkout's ``src/`` first on ``PYTHONPATH`` (to time an older version with the
same interpreter and packages). Reports the median, minimum and maximum per command,
and which heavy modules the command imported; writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "mlflow", "sklearn", "lightgbm", "optuna", "downside.api")
PROBE = """
import runpy, sys
sys.argv = {argv!r}
try:
    if {as_module!r}:
        runpy.run_module("downside", run_name="__main__", alter_sys=True)
    else:
        from downside.cli import main
        main()
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
sys.stderr.write("\\nHEAVY=" + ",".join(heavy) + "\\n")
"""
"""Runs a command as its entry point does, then reports the heavy modules it loaded."""

COMMANDS = (
    "downside --help",
    "downside --version",
    "python -m downside --help",
    "downside predict drawdown --help",
)


def _script() -> list[str]:
    """The installed console script, or the interpreter running its entry point."""
    script = Path(sys.executable).parent / "downside"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from downside.cli import main; main()"]


def _argv(name: str) -> list[str]:
    if name.startswith("python -m downside"):
        return [sys.executable, "-m", "downside", *name.split()[3:]]
    return [*_script(), *name.split()[1:]]


def _drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="utf-8")


def _env(src: Path | None) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(src), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    return env


def _heavy_modules(name: str, env: dict[str, str]) -> list[str]:
    """Heavy modules the command imports (found in a separate, untimed process)."""
    words = name.split()
    as_module = name.startswith("python -m")
    args = words[3:] if as_module else words[1:]
    code = PROBE.format(argv=["downside", *args], as_module=as_module, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    line = next((x for x in out.stderr.splitlines() if x.startswith("HEAVY=")), "HEAVY=?")
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def measure(name: str, runs: int, env: dict[str, str], drop: bool) -> dict[str, Any]:
    """Wall time of ``runs`` fresh processes (None when the command fails: an older
    version may not have it)."""
    seconds = []
    for _ in range(runs):
        if drop:
            _drop_caches()
        started = time.perf_counter()
        done = subprocess.run(_argv(name), env=env, check=False, capture_output=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            return {"command": name, "runs": 0, "failed": done.returncode}
    return {
        "command": name,
        "runs": runs,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "seconds": seconds,
        "heavy_imports": _heavy_modules(name, env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per command")
    parser.add_argument("--src", type=Path, default=None, help="another checkout's src/")
    parser.add_argument(
        "--drop-caches", action="store_true", help="drop the page cache before each run (root)"
    )
    parser.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated")
    args = parser.parse_args()
    env = _env(args.src)
    load = os.getloadavg()
    rows = [
        measure(name.strip(), args.runs, env, args.drop_caches) for name in args.commands.split(",")
    ]
    print(
        f"load average before: {load[0]:.2f}; runs per command: {args.runs}; "
        f"page cache dropped: {args.drop_caches}; src: {args.src or ROOT / 'src'}"
    )
    print(f"{'command':40} {'median':>8} {'min':>8} {'max':>8}  heavy imports")
    for row in rows:
        if "failed" in row:
            print(f"{row['command']:40} failed with exit code {row['failed']}")
            continue
        heavy = ", ".join(row["heavy_imports"]) or "none"
        print(
            f"{row['command']:40} {row['median_s']:7.2f}s {row['min_s']:7.2f}s "
            f"{row['max_s']:7.2f}s  {heavy}"
        )
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"cli_{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"drop_caches": args.drop_caches, "src": str(args.src), "load": load, "rows": rows},
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
