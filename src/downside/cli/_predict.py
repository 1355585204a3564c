"""`downside predict drawdown|support`: probabilities with the baseline and the driver
contributions; with ``--shock`` or ``--scenario``, what-if answers beside the base case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from downside.cli import _params
from downside.cli._app import (
    FORECASTS_PANEL,
    CliInputError,
    console,
    handle_errors,
    note,
    sub_app,
    warn,
)
from downside.cli._output import (
    FRAME_SUFFIXES,
    Col,
    ForceOption,
    Format,
    FormatOption,
    check_out_file,
    emit,
    show_table,
    write_frame,
)
from downside.cli._ready import require_registry
from downside.config import load_settings

if TYPE_CHECKING:
    import pandas as pd

    from downside.api import Forecaster
    from downside.datasets import Shock
    from downside.models import ScenarioResult

predict_app = sub_app("predict", "Probabilities of drawdowns and support breaks.", FORECASTS_PANEL)

FAMILY_SHORT = {
    "leverage": "lev",
    "funding": "fund",
    "etf_flows": "etf",
    "rates": "rates",
    "technical": "tech",
    "implied_vol": "ivol",
    "drivers_vol": "drv",
}
"""Short table headers of the driver families (other families keep their name)."""

MAX_SCREEN_KEYS = 3
"""Above this many (symbol, as-of) pairs the CLI shows one long table instead of grids."""

MAX_SCREEN_ROWS = 60
"""Rows shown on screen at most; --out or --format json|csv give all of them."""


def family_columns(frame: pd.DataFrame) -> list[str]:
    """The driver-family columns of an answer: those between ``p_reference`` and
    ``leading_driver`` (the model's families, in its order)."""
    names = list(frame.columns)
    return names[names.index("p_reference") + 1 : names.index("leading_driver")]


def short(family: str) -> str:
    return FAMILY_SHORT.get(family, family)


def legend(families: list[str]) -> Callable[[Sequence[str]], str]:
    """The caption that spells out the short headers of a drivers table (given the
    columns shown)."""
    named = ", ".join(f"{short(f)} = {f}" for f in families if short(f) != f)

    def caption(shown: Sequence[str]) -> str:
        parts = [
            "P: probability",
            "base: volatility-only baseline",
            "points each driver family adds" + (f" ({named})" if named else ""),
        ]
        if "lead" in shown:
            parts.append("lead: leading driver")
        return "; ".join(parts)

    return caption


def pct_label(fraction: object) -> str:
    return f"{100 * float(str(fraction)):g}%"


def days_label(days: object) -> str:
    return f"{float(str(days)):g}d"


def driver_cols(families: list[str], keys: list[Col]) -> list[Col]:
    """Columns of a drivers table: keys, P, baseline, one per family, leading driver."""
    return [
        *keys,
        Col("probability", "P", "pct"),
        Col("baseline_probability", "base", "pct"),
        *(Col(f, short(f), "pts") for f in families),
        Col("lead", "lead", optional=True),
    ]


def with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with display columns: ``X`` (threshold), ``H`` (horizon), ``lead``."""
    out = frame.copy()
    if "threshold" in out:
        out["X"] = [pct_label(x) for x in out["threshold"]]
    out["H"] = [days_label(h) for h in out["horizon_days"]]
    out["lead"] = [short(str(d)) for d in out["leading_driver"]]
    return out


def grid_table(part: pd.DataFrame, title: str) -> None:
    """P(drawdown) of one (symbol, as-of) as a threshold x horizon grid."""
    grid = part.pivot_table(index="threshold", columns="horizon_days", values="probability")
    table = grid.reset_index()
    table["drawdown"] = [f">= {pct_label(x)}" for x in grid.index]
    cols = [Col("drawdown", keep=True)]
    for h in grid.columns:
        table[days_label(h)] = grid[h].to_numpy()
        cols.append(Col(days_label(h), kind="pct"))
    show_table(table, cols, title)


def support_table(part: pd.DataFrame, caption: str | None = None) -> None:
    """P(support break) of one (symbol, as-of) as a level x horizon grid, highest level
    first, with each level's type and distance below the last close."""
    import pandas as pd

    price = float(part["ref_close"].iloc[0])
    grid = part.pivot_table(index="level", columns="horizon_days", values="probability")
    grid = grid.sort_index(ascending=False)
    types = part.drop_duplicates("level").set_index("level")["level_type"]
    table = pd.DataFrame(
        {
            "level": grid.index,
            "type": [str(types[v]) for v in grid.index],
            "below": [1 - v / price for v in grid.index],
        }
    )
    cols = [
        Col("level", kind="price", keep=True),
        Col("type", optional=True),
        Col("below", kind="pct"),
    ]
    for h in grid.columns:
        table[days_label(h)] = grid[h].to_numpy()
        cols.append(Col(days_label(h), kind="pct"))
    show_table(table, cols, "P(close below the level within H days)", caption=caption)


def heading(text: str) -> None:
    """A bold line above the tables of one symbol and as-of time."""
    console.print(Text(text, style="bold"))


def _time_kind(values: pd.Series) -> str:
    return "day" if all(t.hour == 0 and t.minute == 0 for t in values) else "time"


def stale_note(frame: pd.DataFrame) -> None:
    stale = sorted({n for v in frame["stale_features"] for n in str(v).split(",") if n})
    if stale:
        warn(f"stale inputs (older than their TTL, treated as missing): {', '.join(stale)}")


def _rows_note(frame: pd.DataFrame, shown: int) -> None:
    if len(frame) > shown:
        note(
            f"... {len(frame) - shown:,} more rows; all of them with --out FILE or "
            "--format json|csv"
        )


def load_forecaster(*, drawdown: bool, support: bool, alias: str) -> Forecaster:
    """The registered models under ``alias``, after checking a registry exists."""
    from downside import api

    settings = load_settings()
    require_registry(settings)
    return api.Forecaster.load(
        **({} if drawdown else {"drawdown_uri": None}),
        **({} if support else {"support_uri": None}),
        alias=alias,
        settings=settings,
    )


SymbolsOption = Annotated[
    str | None,
    typer.Option(
        "--symbols", help="Comma-separated symbols, e.g. BTC,ETH (required).", show_default=False
    ),
]
SymbolAlias = Annotated[
    str | None, typer.Option("--symbol", hidden=True, help="Same as --symbols.")
]


def symbols_of(
    given: str | None, alias: str | None, option: str = "--symbols", alias_name: str = "--symbol"
) -> list[str]:
    """The symbols of ``option`` or of its hidden alias.

    Raises:
        CliInputError: neither or both given, or not a list of symbols.
    """
    if given is not None and alias is not None:
        raise CliInputError(option, f"pass {option} once ({alias_name} is the same option)")
    text = given if given is not None else alias
    if text is None:
        raise CliInputError(option, "expected comma-separated symbols such as BTC,ETH")
    return _params.symbols(option, text)


OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Write every row to a .parquet or .csv file instead."),
]
AllowStaleOption = Annotated[
    bool, typer.Option("--allow-stale", help="Answer with stale inputs treated as missing.")
]
AliasOption = Annotated[str, typer.Option(help="Registry alias of the model.")]
ShockOption = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        help="What-if shock, repeatable: price-=10%, implied_vol+=20, volatility*=1.5, "
        "funding=q99, etf_flows.etf_flow_total_sum_20obs=q5:365d, leverage.oi_change_7d*=2.",
        show_default=False,
    ),
]
ScenarioOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scenario",
        help="What-if preset, repeatable (leverage_flush, hawkish_repricing, etf_outflows, "
        "... see scenarios/presets.toml).",
        show_default=False,
    ),
]


def what_if(shocks: list[str] | None, scenarios: list[str] | None) -> list[Shock] | None:
    """The shocks of ``--scenario`` presets then ``--shock`` texts, in order; None when
    neither was given.

    Raises:
        CliInputError: a malformed shock or an unknown preset, naming the option.
    """
    if not shocks and not scenarios:
        return None
    from downside import api
    from downside.datasets import Shock
    from downside.errors import ScenarioError

    out: list[Shock] = []
    for name in scenarios or []:
        if "=" in name:
            raise CliInputError(
                "--scenario",
                f"expected a preset name such as leverage_flush, got {name!r} "
                "(pass shocks with --shock)",
            )
        try:
            out += api.resolve_shocks(name, settings=load_settings())
        except ScenarioError as exc:
            raise CliInputError("--scenario", "; ".join(p.detail for p in exc.problems)) from None
    for text in shocks or []:
        try:
            out.append(Shock.parse(text, source="--shock"))
        except ScenarioError as exc:
            detail = "; ".join(p.detail for p in exc.problems)
            raise CliInputError(
                "--shock",
                f"{detail} (forms: price-=10%, implied_vol+=20, funding=q99, "
                "leverage.oi_change_7d*=2)",
            ) from None
    return out


def show_scenario(result: ScenarioResult, families: list[str], cell: str) -> None:
    """A what-if table per (symbol, as-of): base, scenario, change, points per family."""
    table = result.table.copy()
    if cell == "threshold":
        table["X"] = [pct_label(x) for x in table["threshold"]]
        key = Col("X", keep=True)
    else:
        key = Col("level", kind="price", keep=True)
    table["H"] = [days_label(h) for h in table["horizon_days"]]
    table["flag"] = ["*" if v else "" for v in table["outside_training"]]
    cols = [
        key,
        Col("H", keep=True),
        Col("base_probability", "base", "pct"),
        Col("probability", "what if", "pct"),
        Col("change", "change", "pts"),
        Col("reference", "vol", "pts"),
        *(Col(f, short(f), "pts") for f in families),
        Col("flag", "!", optional=True),
    ]
    described = "; ".join(s.describe() for s in result.shocks) or "no shock"
    for (name, at), part in table.groupby(["symbol", "asof"], sort=True):
        price = part["ref_close"].iloc[0]
        base = part["base_ref_close"].iloc[0]
        heading(
            f"{name} as of {at:%Y-%m-%d %H:%M} UTC, what if {described} "
            f"(last close {base:,.2f} -> {price:,.2f})"
        )
        show_table(
            part.head(MAX_SCREEN_ROWS),
            cols,
            "probability and its change in points",
            caption="vol: change with no driver family (volatility, distance, horizon); "
            "family columns: change of each family's points; !: an input moved outside its "
            "training range",
        )
    if result.unused:
        note(f"not inputs of this model (unchanged): {', '.join(result.unused)}")
    if len(result.dropped):
        note(
            f"{len(result.dropped)} support level(s) at or above the shocked price left out: "
            + ", ".join(f"{v:,.2f}" for v in result.dropped["level"].head(5))
        )
    if result.flagged:
        flagged = result.changes[result.changes["outside_training"]]
        warn(
            "shocked inputs outside their training range (the model extrapolates): "
            + ", ".join(sorted(set(flagged["column"])))
        )


def scenario_document(result: ScenarioResult) -> dict[str, object]:
    return {
        "shocks": [s.describe() for s in result.shocks],
        "rows": result.table,
        "changes": result.changes,
        "unused": list(result.unused),
        "dropped": result.dropped,
        "outside_training": result.flagged,
    }


@predict_app.command("drawdown")
@handle_errors
def predict_drawdown(
    symbols: SymbolsOption = None,
    asof: Annotated[str | None, typer.Option(help="As-of time (UTC); default latest.")] = None,
    asof_from: Annotated[
        str | None, typer.Option(help="Batch: first as-of date (UTC), one per day.")
    ] = None,
    asof_to: Annotated[str | None, typer.Option(help="Batch: last as-of date (UTC).")] = None,
    thresholds: Annotated[
        str | None, typer.Option(help="Drawdowns in percent, e.g. 5,10,20 (default: trained).")
    ] = None,
    horizons: Annotated[
        str | None, typer.Option(help="Horizons in days, e.g. 1,7,30 (default: trained).")
    ] = None,
    out: OutOption = None,
    force: ForceOption = False,
    allow_stale: AllowStaleOption = False,
    alias: AliasOption = "champion",
    fmt: FormatOption = Format.table,
    symbol: SymbolAlias = None,
    shock: ShockOption = None,
    scenario: ScenarioOption = None,
) -> None:
    """P(drawdown >= X% within H days), with the baseline and the driver contributions.

    With --shock or --scenario: each probability beside its base case, with the change
    and the points each family moves.
    """
    names = symbols_of(symbols, symbol)
    shocks = what_if(shock, scenario)
    when: object = _params.maybe_when("--asof", asof)
    if asof_from is not None or asof_to is not None:
        if asof is not None:
            raise CliInputError("--asof", "use --asof, or --asof-from with --asof-to")
        if asof_from is None:
            raise CliInputError("--asof-from", "expected with --asof-to (a batch)")
        if asof_to is None:
            raise CliInputError("--asof-to", "expected with --asof-from (a batch)")
        import pandas as pd

        first = _params.when("--asof-from", asof_from)
        last = _params.when("--asof-to", asof_to)
        if last < first:
            raise CliInputError(
                "--asof-to", f"expected a time at or after --asof-from {asof_from}, got {asof_to}"
            )
        when = pd.date_range(first, last, freq="D")
    fractions = _params.percents("--thresholds", thresholds) if thresholds is not None else None
    days = _params.numbers("--horizons", horizons, "days") if horizons is not None else None
    if out is not None:
        check_out_file("--out", out, force=force, suffixes=FRAME_SUFFIXES)
    fc = load_forecaster(drawdown=True, support=False, alias=alias)
    if fractions is not None and fc.drawdown is not None:
        _params.check_percent_range("--thresholds", fractions, fc.drawdown.spec.frame.thresholds)
    if shocks is not None:
        result = fc.scenario(
            names,
            shocks,
            asof=when,
            thresholds=fractions,
            horizons=days,
            allow_stale=allow_stale,
        )
        if out is not None:
            write_frame(result.table, out)
            return
        if emit(fmt, result.table, scenario_document(result)):
            return
        show_scenario(result, family_columns(result.base), "threshold")
        return
    frame = fc.predict_drawdown(
        names, asof=when, thresholds=fractions, horizons=days, allow_stale=allow_stale
    )
    stale_note(frame)
    if out is not None:
        write_frame(frame, out)
        return
    if emit(fmt, frame):
        return
    families = family_columns(frame)
    shown = with_labels(frame)
    keys = frame[["symbol", "asof"]].drop_duplicates()
    if len(keys) <= MAX_SCREEN_KEYS:
        for (name, at), part in shown.groupby(["symbol", "asof"], sort=True):
            heading(f"{name} as of {at:%Y-%m-%d %H:%M} UTC")
            grid_table(part, "P(drawdown within H days)")
            show_table(
                part.head(MAX_SCREEN_ROWS),
                driver_cols(families, [Col("X", keep=True), Col("H", keep=True)]),
                "drivers (probability points)",
                caption=legend(families),
            )
        _rows_note(frame, min(len(frame), MAX_SCREEN_ROWS * len(keys)))
        return
    top = shown.head(MAX_SCREEN_ROWS)
    keys_cols = [
        Col("asof", "as of", _time_kind(frame["asof"]), keep=True),
        Col("symbol", keep=True),
        Col("X", keep=True),
        Col("H", keep=True),
    ]
    show_table(top, driver_cols(families, keys_cols), "P(drawdown)", caption=legend(families))
    _rows_note(frame, len(top))


@predict_app.command("support")
@handle_errors
def predict_support(
    symbols: SymbolsOption = None,
    levels: Annotated[
        str | None, typer.Option(help="Price levels, e.g. 85000,80000; default detected.")
    ] = None,
    horizons: Annotated[
        str | None, typer.Option(help="Horizons in days, e.g. 7,14 (default: trained).")
    ] = None,
    asof: Annotated[str | None, typer.Option(help="As-of time (UTC); default latest.")] = None,
    out: OutOption = None,
    force: ForceOption = False,
    allow_stale: AllowStaleOption = False,
    alias: AliasOption = "champion",
    fmt: FormatOption = Format.table,
    symbol: SymbolAlias = None,
    shock: ShockOption = None,
    scenario: ScenarioOption = None,
) -> None:
    """P(a support level breaks within H days): a daily close below it.

    With --shock or --scenario: each probability beside its base case (the same levels;
    levels the shocked price falls to or below are left out).
    """
    names = symbols_of(symbols, symbol)
    shocks = what_if(shock, scenario)
    prices = _params.numbers("--levels", levels, "prices") if levels is not None else None
    days = _params.numbers("--horizons", horizons, "days") if horizons is not None else None
    when = _params.maybe_when("--asof", asof)
    if out is not None:
        check_out_file("--out", out, force=force, suffixes=FRAME_SUFFIXES)
    import pandas as pd

    fc = load_forecaster(drawdown=False, support=True, alias=alias)
    if shocks is not None:
        results = [
            fc.scenario(
                [name],
                shocks,
                target="support",
                asof=when,
                horizons=days,
                levels=prices,
                allow_stale=allow_stale,
            )
            for name in names
        ]
        rows = pd.concat([r.table for r in results], ignore_index=True)
        if out is not None:
            write_frame(rows, out)
            return
        if emit(fmt, rows, [scenario_document(r) for r in results]):
            return
        for r in results:
            show_scenario(r, family_columns(r.base), "level")
        return
    frame = pd.concat(
        [
            fc.predict_support_break(
                name, levels=prices, horizons=days, asof=when, allow_stale=allow_stale
            )
            for name in names
        ],
        ignore_index=True,
    )
    stale_note(frame)
    if out is not None:
        write_frame(frame, out)
        return
    if emit(fmt, frame):
        return
    families = family_columns(frame)
    for (name, at), part in with_labels(frame).groupby(["symbol", "asof"], sort=True):
        price = part["ref_close"].iloc[0]
        heading(f"{name} as of {at:%Y-%m-%d %H:%M} UTC, last close {price:,.2f}")
        support_table(part, caption="below: distance below the last close")
        show_table(
            part.head(MAX_SCREEN_ROWS),
            driver_cols(
                families,
                [
                    Col("level", kind="price", keep=True),
                    Col("level_type", "type", optional=True),
                    Col("H", keep=True),
                ],
            ),
            "drivers (probability points)",
            caption=legend(families),
        )
        _rows_note(part, min(len(part), MAX_SCREEN_ROWS))
