"""Model specs: one TOML file per model in the top-level ``models/`` folder.

A spec names the target, the grids, the features, the walk-forward settings, fixed
LightGBM parameters and the tuning budget. ``downside train`` and ``downside backtest``
take a spec by name (``drawdown``) or by path (``models/drawdown.toml``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from downside.datasets import FrameSpec
from downside.errors import ModelSpecError, Problem
from downside.models._distributed import DISTRIBUTED_BASES
from downside.models._surface import valid_half_life

_SECTIONS: dict[str, set[str]] = {
    "": {"name", "target", "description"},
    "data": {"symbols", "pool", "freq", "train_hours", "start", "end"},
    "grid": {"thresholds", "horizons_days"},
    "support": {"rule", "buffer", "max_levels"},
    "features": {"families", "include", "exclude"},
    "walk_forward": {"scheme", "test_days", "embargo_days", "min_train_days", "train_days"},
    "model": {
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "feature_fraction",
        "bagging_fraction",
        "bagging_freq",
        "lambda_l2",
        "min_gain_to_split",
        "calibration",
        "calibration_fraction",
        "base",
        "distributed",
        "weight_half_life_days",
    },
    "tuning": {"trials", "folds", "seed", "timeout_s"},
}


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A validated model spec.

    Attributes:
        name: spec name; the registered model is ``downside-<name>``.
        frame: the rows the model is trained on and answers from (``[data]``,
            ``[grid]``, ``[support]`` and ``[features]``).
        description: free text.
        scheme, test_days, embargo_days, min_train_days, train_days: walk-forward.
        model_params: fixed estimator parameters (``[model]``), among them
            ``weight_half_life_days``: recency weighting of the training rows (see
            :class:`~downside.models.BoostedSurface`; absent: rows weigh alike).
        distributed: ``[model] distributed = true``: on a Dask cluster, the final fit
            trains one booster across the workers with LightGBM's Dask estimator, from
            row partitions built on the workers (see :mod:`downside.models._distributed`;
            not bit-identical to the local booster). Without a cluster, or false, the
            final fit is the local one.
        trials, tuning_folds, tuning_seed, tuning_timeout_s: tuning budget.
        path: file the spec was read from, if any.
    """

    name: str
    frame: FrameSpec
    description: str = ""
    scheme: Literal["expanding", "sliding"] = "expanding"
    test_days: int = 90
    embargo_days: float = 1.0
    min_train_days: int = 540
    train_days: int | None = None
    model_params: Mapping[str, Any] = field(default_factory=dict)
    distributed: bool = False
    trials: int = 20
    tuning_folds: int = 4
    tuning_seed: int = 7
    tuning_timeout_s: float | None = None
    path: Path | None = None

    @property
    def target(self) -> Literal["drawdown", "support"]:
        return self.frame.target

    @property
    def registered_name(self) -> str:
        return f"downside-{self.name}"


def _line_of(text: str, section: str, key: str | None) -> int | None:
    lines = text.splitlines()
    start = 0
    if section:
        pattern = re.compile(rf"^\s*\[{re.escape(section)}\]\s*$")
        for i, line in enumerate(lines):
            if pattern.match(line):
                start = i
                break
        else:
            return None
        if key is None:
            return start + 1
    key_pattern = re.compile(rf"^\s*{re.escape(key or '')}\s*=")
    for i in range(start, len(lines)):
        if key is not None and key_pattern.match(lines[i]):
            return i + 1
    return None


def _check(
    problems: list[Problem], source: str, text: str, section: str, key: str, msg: str
) -> None:
    problems.append(
        Problem(
            source,
            "invalid_value",
            1,
            f"{section + '.' if section else ''}{key}: {msg}",
            line=_line_of(text, section, key),
        )
    )


def parse_spec(text: str, *, source: str = "<spec>", path: Path | None = None) -> ModelSpec:
    """Parse and validate a spec from TOML text.

    Raises:
        ModelSpecError: with every problem found (unknown sections or keys, wrong
            types, values out of range), each with its line where known.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelSpecError([Problem(source, "toml_syntax", 1, str(exc))]) from exc
    problems: list[Problem] = []
    values: dict[str, Any] = {"path": path}
    for key, value in data.items():
        if isinstance(value, dict):
            if key not in _SECTIONS:
                problems.append(
                    Problem(
                        source,
                        "unknown_section",
                        1,
                        f"[{key}]: expected one of {sorted(s for s in _SECTIONS if s)}",
                        line=_line_of(text, key, None),
                    )
                )
                continue
            for sub in value:
                if sub not in _SECTIONS[key]:
                    problems.append(
                        Problem(
                            source,
                            "unknown_key",
                            1,
                            f"{key}.{sub}: expected one of {sorted(_SECTIONS[key])}",
                            line=_line_of(text, key, sub),
                        )
                    )
        elif key not in _SECTIONS[""]:
            problems.append(
                Problem(
                    source,
                    "unknown_key",
                    1,
                    f"{key}: expected one of {sorted(_SECTIONS[''])} or a [section]",
                    line=_line_of(text, "", key),
                )
            )

    def section(name: str) -> dict[str, Any]:
        sec = data.get(name, {})
        return sec if isinstance(sec, dict) else {}

    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_\-]{0,40}", name):
        _check(problems, source, text, "", "name", f"expected a lowercase identifier, got {name!r}")
    target = data.get("target")
    if target not in ("drawdown", "support"):
        _check(
            problems,
            source,
            text,
            "",
            "target",
            f"expected 'drawdown' or 'support', got {target!r}",
        )
    values.update(name=name, description=str(data.get("description", "")))
    frame: dict[str, Any] = {"target": target, "source": source}

    d = section("data")
    symbols = d.get("symbols", ["BTC", "ETH"])
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        _check(
            problems,
            source,
            text,
            "data",
            "symbols",
            f"expected a list of symbols, got {symbols!r}",
        )
    else:
        frame["symbols"] = tuple(s.upper() for s in symbols)
    pool = d.get("pool", [])
    if not isinstance(pool, list) or not all(isinstance(s, str) for s in pool):
        _check(problems, source, text, "data", "pool", f"expected a list of symbols, got {pool!r}")
    else:
        frame["pool_symbols"] = tuple(s.upper() for s in pool)
    if d.get("freq", "1d") != "1d":
        _check(
            problems, source, text, "data", "freq", f"only '1d' is supported, got {d.get('freq')!r}"
        )
    if "train_hours" in d:
        hours = d["train_hours"]
        if not (
            isinstance(hours, list)
            and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 23 for h in hours)
            and 0 in hours
            and hours == sorted(set(hours))
        ):
            _check(
                problems,
                source,
                text,
                "data",
                "train_hours",
                "expected UTC hours of the day (integers 0 to 23), sorted, without repeats and "
                f"with 0 (the daily as-of time that is scored), e.g. [0, 6, 12, 18]; got {hours!r}",
            )
        elif hours != [0] and target == "support":
            _check(
                problems,
                source,
                text,
                "data",
                "train_hours",
                "intraday training rows are not supported for the support target (support "
                "levels are detected and break labels computed from daily bars, so an "
                "intraday row would repeat its midnight's levels and labels); use [0] or "
                "drop the key",
            )
        else:
            frame["train_hours"] = tuple(hours)
    for key in ("start", "end"):
        if key in d:
            frame[key] = str(d[key])

    g = section("grid")
    thresholds = g.get("thresholds", list(FrameSpec.thresholds))
    if not (
        isinstance(thresholds, list)
        and thresholds
        and all(isinstance(x, int | float) and 0 < x < 1 for x in thresholds)
    ):
        _check(
            problems,
            source,
            text,
            "grid",
            "thresholds",
            f"expected fractions in (0, 1) such as 0.1 for 10%, got {thresholds!r}",
        )
    else:
        frame["thresholds"] = tuple(sorted(float(x) for x in thresholds))
    horizons = g.get("horizons_days", list(FrameSpec.horizons_days))
    if not (
        isinstance(horizons, list)
        and horizons
        and all(isinstance(x, int | float) and 0 < x <= 365 for x in horizons)
    ):
        _check(
            problems,
            source,
            text,
            "grid",
            "horizons_days",
            f"expected days in (0, 365], got {horizons!r}",
        )
    else:
        frame["horizons_days"] = tuple(sorted(float(x) for x in horizons))

    s = section("support")
    if s.get("rule", "close") not in ("close", "low"):
        _check(
            problems,
            source,
            text,
            "support",
            "rule",
            f"expected 'close' or 'low', got {s.get('rule')!r}",
        )
    else:
        frame["break_rule"] = s.get("rule", "close")
    buffer = s.get("buffer", 0.0)
    if not isinstance(buffer, int | float) or not 0 <= buffer < 0.5:
        _check(
            problems,
            source,
            text,
            "support",
            "buffer",
            f"expected a fraction in [0, 0.5), got {buffer!r}",
        )
    else:
        frame["break_buffer"] = float(buffer)
    if "max_levels" in s:
        frame["max_levels"] = int(s["max_levels"])

    f = section("features")
    families = f.get("families")
    if families is not None:
        if not isinstance(families, list) or not all(isinstance(x, str) for x in families):
            _check(
                problems,
                source,
                text,
                "features",
                "families",
                f"expected a list of family names (omit it for every family), got {families!r}",
            )
        else:
            frame["families"] = tuple(families)
    frame["include"] = tuple(f.get("include", ()))
    frame["exclude"] = tuple(f.get("exclude", ()))

    w = section("walk_forward")
    if w.get("scheme", "expanding") not in ("expanding", "sliding"):
        _check(
            problems,
            source,
            text,
            "walk_forward",
            "scheme",
            f"expected 'expanding' or 'sliding', got {w.get('scheme')!r}",
        )
    else:
        values["scheme"] = w.get("scheme", "expanding")
    for key, lo in (("test_days", 1), ("min_train_days", 30), ("train_days", 30)):
        if key in w:
            if not isinstance(w[key], int) or w[key] < lo:
                _check(
                    problems,
                    source,
                    text,
                    "walk_forward",
                    key,
                    f"expected an integer >= {lo}, got {w[key]!r}",
                )
            else:
                values[key] = w[key]
    if "embargo_days" in w:
        values["embargo_days"] = float(w["embargo_days"])

    model = dict(section("model"))
    if not valid_half_life(model.get("weight_half_life_days")):
        _check(
            problems,
            source,
            text,
            "model",
            "weight_half_life_days",
            "expected a positive number of days (a row that many days older than the "
            "latest training as-of time weighs half as much; omit the key to weigh rows "
            f"alike), got {model['weight_half_life_days']!r}",
        )
    distributed = model.pop("distributed", False)
    if not isinstance(distributed, bool):
        _check(
            problems,
            source,
            text,
            "model",
            "distributed",
            f"expected true or false, got {distributed!r}",
        )
    elif distributed:
        needs = {"base": DISTRIBUTED_BASES, "calibration": ("none",)}
        for key, allowed in needs.items():
            if model.get(key, "none" if key == "base" else "auto") not in allowed:
                _check(
                    problems,
                    source,
                    text,
                    "model",
                    "distributed",
                    f"a distributed fit needs {key} in {list(allowed)} (computable per row "
                    f"partition), got {model.get(key)!r}",
                )
        if "weight_half_life_days" in model:
            _check(
                problems,
                source,
                text,
                "model",
                "weight_half_life_days",
                "a distributed fit weighs every row alike (recency weights need the latest "
                "as-of time of all partitions); drop weight_half_life_days or distributed",
            )
    values["model_params"] = model
    values["distributed"] = distributed is True
    t = section("tuning")
    for key, attr in (("trials", "trials"), ("folds", "tuning_folds"), ("seed", "tuning_seed")):
        if key in t:
            if not isinstance(t[key], int) or t[key] < 0:
                _check(
                    problems,
                    source,
                    text,
                    "tuning",
                    key,
                    f"expected an integer >= 0, got {t[key]!r}",
                )
            else:
                values[attr] = t[key]
    if "timeout_s" in t:
        values["tuning_timeout_s"] = float(t["timeout_s"])
    if problems:
        raise ModelSpecError(problems)
    return ModelSpec(frame=FrameSpec(**frame), **values)


def load_spec(spec: str | Path, model_dir: Path) -> ModelSpec:
    """Load a spec by name (``drawdown``) from ``model_dir`` or by path.

    Raises:
        ModelSpecError: the spec file does not exist or is invalid.
    """
    candidate = Path(spec)
    if candidate.suffix != ".toml" and not candidate.is_file():
        candidate = model_dir / f"{spec}.toml"
    if not candidate.is_file():
        known = sorted(p.stem for p in model_dir.glob("*.toml")) if model_dir.is_dir() else []
        raise ModelSpecError(
            [
                Problem(
                    str(spec),
                    "missing_spec",
                    1,
                    f"no spec file at {candidate}; known specs in {model_dir}: {known}",
                )
            ]
        )
    return parse_spec(candidate.read_text(encoding="utf-8"), source=str(candidate), path=candidate)
