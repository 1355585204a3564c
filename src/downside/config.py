"""Settings: defaults, then ``downside.toml``, then environment variables, then arguments.

This is the only module that reads the environment. Every variable is declared once in
:data:`ENV_VARS` with the setting it fills; its type comes from the annotation of that
:class:`Settings` field, and its limits from the field's metadata.

All state lives under ``home`` (``DOWNSIDE_HOME``, default ``./.downside``)::

    $DOWNSIDE_HOME/store/      point-in-time raw tables and feature cache (Parquet)
    $DOWNSIDE_HOME/mlflow.db   MLflow tracking and registry (SQLite)
    $DOWNSIDE_HOME/mlartifacts MLflow artifacts
    $DOWNSIDE_HOME/optuna.db   Optuna studies (SQLite)

``tracking_uri`` and ``optuna_storage`` accept any MLflow tracking URI or Optuna storage
URL (``postgresql+psycopg://user:pw@host/db`` for many tuning workers). Feature and
model definitions (and the what-if scenario presets) are the ones shipped with the
package unless ``feature_dir``, ``model_dir`` or ``scenario_dir`` name a folder of the
user's; the working directory is never searched. The ``monitor_*`` settings are the
limits of ``downside forecast`` (freshness) and ``downside monitor`` (drift, freshness,
calibration decay).

Environment variables (all optional): see :data:`ENV_VARS`, or the table in the README.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from downside.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent


class Secret(str):
    """A string that never shows itself in ``repr`` (API keys in settings and errors)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"


def bundled_dir(name: str) -> Path:
    """Definitions shipped with the package: ``features``, ``models`` or ``scenarios``.

    An installed wheel carries them in ``downside/_bundled/<name>``; an editable install
    of a checkout reads the checkout's top-level folder beside ``src/``.
    """
    packaged = _PACKAGE_DIR / "_bundled" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent.parent / name


def _limit(low: float | None = None, high: float | None = None, doc: str = "") -> dict[str, Any]:
    return {"low": low, "high": high, "doc": doc}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`; replace fields with
    :func:`dataclasses.replace`."""

    home: Path = field(
        default_factory=lambda: Path(".downside"), metadata=_limit(doc="state folder")
    )
    tracking_uri: str | None = field(default=None, metadata=_limit(doc="MLflow tracking URI"))
    registry_uri: str | None = field(default=None, metadata=_limit(doc="MLflow registry URI"))
    optuna_storage: str | None = field(default=None, metadata=_limit(doc="Optuna storage URL"))
    feature_dir: Path | None = field(
        default=None, metadata=_limit(doc="folder of feature definitions (default: bundled)")
    )
    model_dir: Path | None = field(
        default=None, metadata=_limit(doc="folder of model specs (default: bundled)")
    )
    scenario_dir: Path | None = field(
        default=None, metadata=_limit(doc="folder of what-if scenario presets (default: bundled)")
    )
    lock_timeout_s: float = field(
        default=600.0, metadata=_limit(0, doc="seconds an ingest waits for the store lock")
    )
    optuna_heartbeat_s: int = field(
        default=10, metadata=_limit(1, doc="seconds between heartbeats of a running trial")
    )
    optuna_grace_s: int = field(
        default=30,
        metadata=_limit(1, doc="seconds without heartbeat before a trial counts as dead"),
    )
    daily_venues: tuple[str, ...] | None = field(
        default=None,
        metadata=_limit(doc="venue preference of daily bars (default: the feature repo's)"),
    )
    hourly_venues: tuple[str, ...] | None = field(
        default=None,
        metadata=_limit(doc="venue preference of hourly bars (default: the feature repo's)"),
    )
    etf_flow_publication_hour_utc: int = field(
        default=12, metadata=_limit(0, 23, doc="UTC hour of D+1 when ETF flows of D are known")
    )
    seed: int = field(default=7, metadata=_limit(doc="seed of simulations and bootstraps"))
    cluster: str | None = field(
        default=None,
        metadata=_limit(
            doc="Dask scheduler (tcp://HOST:8786) for feature builds, backtest folds and "
            "final fits (default: this process)"
        ),
    )
    fred_api_key: Secret | None = field(
        default=None, repr=False, metadata=_limit(doc="FRED API key (else the keyless CSV)")
    )
    coinglass_api_key: Secret | None = field(
        default=None, repr=False, metadata=_limit(doc="CoinGlass API key")
    )
    store_jump_limit: float = field(
        default=10.0,
        metadata=_limit(
            1, doc="largest ratio of a bar's open, high or close to its neighbouring closes"
        ),
    )
    store_venue_jump_limit: float = field(
        default=1.5,
        metadata=_limit(1, doc="largest ratio of a close to the other venues' close at that bar"),
    )
    store_pause_before_switch_s: float = field(
        default=0.0,
        metadata=_limit(0, doc="test hook: seconds an ingest sleeps before its manifest switch"),
    )
    monitor_max_price_age_hours: float = field(
        default=36.0,
        metadata=_limit(1, doc="oldest acceptable price bar (forecast and monitor), hours"),
    )
    monitor_max_source_age_hours: float = field(
        default=120.0,
        metadata=_limit(1, doc="oldest acceptable value of the other sources, hours"),
    )
    monitor_window_days: int = field(
        default=30, metadata=_limit(7, 365, doc="recent window of drift and rolling scores, days")
    )
    monitor_psi_alert: float = field(
        default=0.25, metadata=_limit(0, doc="smallest population stability index that drifts")
    )
    monitor_drift_quantile: float = field(
        default=1.0,
        metadata=_limit(
            0.5, 1, doc="quantile of same-length training windows' PSI a recent PSI must exceed"
        ),
    )
    monitor_min_outside_share: float = field(
        default=0.05,
        metadata=_limit(
            0, 1, doc="share of recent values outside the training range a drifting input needs"
        ),
    )
    monitor_min_skill: float = field(
        default=0.0,
        metadata=_limit(
            -1, 1, doc="alert when the rolling skill's whole interval lies below this fraction"
        ),
    )
    monitor_max_ece: float = field(
        default=0.1, metadata=_limit(0, 1, doc="alert above this rolling calibration error")
    )
    monitor_min_days: int = field(
        default=20, metadata=_limit(1, doc="matured as-of days before calibration is judged")
    )

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def resolved_registry_uri(self) -> str:
        return self.registry_uri or self.resolved_tracking_uri

    @property
    def artifact_location(self) -> str:
        return (self.home / "mlartifacts").resolve().as_uri()

    @property
    def resolved_optuna_storage(self) -> str:
        return self.optuna_storage or f"sqlite:///{(self.home / 'optuna.db').resolve()}"

    @property
    def resolved_feature_dir(self) -> Path:
        return self.feature_dir or bundled_dir("features")

    @property
    def resolved_model_dir(self) -> Path:
        return self.model_dir or bundled_dir("models")

    @property
    def resolved_scenario_dir(self) -> Path:
        return self.scenario_dir or bundled_dir("scenarios")


@dataclass(frozen=True)
class EnvVar:
    """An environment variable and the setting it fills."""

    name: str
    setting: str

    @property
    def doc(self) -> str:
        return str(_FIELDS[self.setting].metadata.get("doc", ""))


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("DOWNSIDE_HOME", "home"),
    EnvVar("DOWNSIDE_TRACKING_URI", "tracking_uri"),
    EnvVar("DOWNSIDE_REGISTRY_URI", "registry_uri"),
    EnvVar("DOWNSIDE_OPTUNA_STORAGE", "optuna_storage"),
    EnvVar("DOWNSIDE_OPTUNA_HEARTBEAT", "optuna_heartbeat_s"),
    EnvVar("DOWNSIDE_OPTUNA_GRACE", "optuna_grace_s"),
    EnvVar("DOWNSIDE_FEATURE_DIR", "feature_dir"),
    EnvVar("DOWNSIDE_MODEL_DIR", "model_dir"),
    EnvVar("DOWNSIDE_SCENARIO_DIR", "scenario_dir"),
    EnvVar("DOWNSIDE_LOCK_TIMEOUT", "lock_timeout_s"),
    EnvVar("DOWNSIDE_DAILY_VENUES", "daily_venues"),
    EnvVar("DOWNSIDE_HOURLY_VENUES", "hourly_venues"),
    EnvVar("DOWNSIDE_SEED", "seed"),
    EnvVar("DOWNSIDE_CLUSTER", "cluster"),
    EnvVar("DOWNSIDE_STORE_JUMP_LIMIT", "store_jump_limit"),
    EnvVar("DOWNSIDE_STORE_VENUE_JUMP_LIMIT", "store_venue_jump_limit"),
    EnvVar("DOWNSIDE_STORE_PAUSE_BEFORE_SWITCH_S", "store_pause_before_switch_s"),
    EnvVar("DOWNSIDE_MONITOR_MAX_PRICE_AGE_HOURS", "monitor_max_price_age_hours"),
    EnvVar("DOWNSIDE_MONITOR_MAX_SOURCE_AGE_HOURS", "monitor_max_source_age_hours"),
    EnvVar("DOWNSIDE_MONITOR_WINDOW_DAYS", "monitor_window_days"),
    EnvVar("DOWNSIDE_MONITOR_PSI_ALERT", "monitor_psi_alert"),
    EnvVar("DOWNSIDE_MONITOR_DRIFT_QUANTILE", "monitor_drift_quantile"),
    EnvVar("DOWNSIDE_MONITOR_MIN_OUTSIDE_SHARE", "monitor_min_outside_share"),
    EnvVar("DOWNSIDE_MONITOR_MIN_SKILL", "monitor_min_skill"),
    EnvVar("DOWNSIDE_MONITOR_MAX_ECE", "monitor_max_ece"),
    EnvVar("DOWNSIDE_MONITOR_MIN_DAYS", "monitor_min_days"),
    EnvVar("FRED_API_KEY", "fred_api_key"),
    EnvVar("COINGLASS_API_KEY", "coinglass_api_key"),
)
"""Every environment variable downside reads (plus ``DOWNSIDE_CONFIG``, the path of the
settings file)."""

CONFIG_ENV = "DOWNSIDE_CONFIG"

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_TYPES: dict[str, Any] = typing.get_type_hints(Settings, localns={"Secret": Secret})


def _base_type(annotation: Any) -> Any:
    """``X`` of ``X | None``; other annotations unchanged."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _describe(annotation: Any) -> str:
    """The expected form of a setting, in words."""
    kind = _base_type(annotation)
    if typing.get_origin(kind) is tuple:
        return "comma-separated names"
    words = {Path: "a path", bool: "true or false", int: "an integer (int)", float: "a number"}
    return words.get(kind, "text")


def _parse(annotation: Any, raw: Any) -> Any:
    """``raw`` (text from a file or the environment, or a Python value) as ``annotation``."""
    kind = _base_type(annotation)
    if typing.get_origin(kind) is tuple:
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        values = tuple(str(v).strip() for v in items if str(v).strip())
        if not values:
            raise ValueError("expected at least one comma-separated name")
        return values
    if kind is Path:
        return Path(str(raw)).expanduser()
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in {"1", "0", "true", "false", "yes", "no"}:
            raise ValueError("expected true or false")
        return text in {"1", "true", "yes"}
    if kind is int:
        if isinstance(raw, float) and not raw.is_integer():
            raise ValueError("expected a whole number")
        return int(raw)
    if kind is float:
        return float(raw)
    if kind is Secret:
        return Secret(str(raw))
    return str(raw)


def _coerce(name: str, raw: Any, origin: str) -> Any:
    if name not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        raise ConfigError(
            f"unknown setting {name!r} in {origin}: expected one of {known}; remove or rename it"
        )
    meta = _FIELDS[name].metadata
    expected = _describe(_TYPES[name])
    shown = "***" if _base_type(_TYPES[name]) is Secret else repr(raw)
    try:
        value = _parse(_TYPES[name], raw)
        low, high = meta.get("low"), meta.get("high")
        if low is not None and value < low:
            raise ValueError(f"must be >= {low}")
        if high is not None and value > high:
            raise ValueError(f"must be <= {high}")
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid value for setting {name!r} in {origin}: received {shown} ({exc}); "
            f"expected {expected}"
        ) from exc
    return value


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve settings: defaults < settings file < environment < ``overrides``.

    The settings file is ``config_file``, else ``$DOWNSIDE_CONFIG``, else
    ``./downside.toml`` when it exists (a ``[downside]`` table or top-level keys).

    Raises:
        ConfigError: unknown setting, unparsable file or value of the wrong type.
    """
    env = os.environ if environ is None else environ
    path = config_file or Path(env.get(CONFIG_ENV, "downside.toml"))
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"cannot parse settings file {path}: {exc}") from exc
        table = data.get("downside", data)
        for key, raw in table.items():
            values[key] = _coerce(key, raw, str(path))
    elif config_file is not None or CONFIG_ENV in env:
        raise ConfigError(
            f"settings file {path} does not exist: expected a TOML file; fix {CONFIG_ENV} "
            "or create the file"
        )
    for var in ENV_VARS:
        if env.get(var.name):
            values[var.setting] = _coerce(
                var.setting, env[var.name], f"environment variable {var.name}"
            )
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _coerce(key, raw, "arguments")
    settings = Settings(**values)
    if settings.optuna_grace_s <= settings.optuna_heartbeat_s:
        raise ConfigError(
            f"optuna_grace_s={settings.optuna_grace_s} must exceed optuna_heartbeat_s="
            f"{settings.optuna_heartbeat_s}: otherwise live trials are declared dead; "
            "raise DOWNSIDE_OPTUNA_GRACE (a few heartbeats is typical)"
        )
    return settings
