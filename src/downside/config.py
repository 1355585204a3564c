"""Settings: defaults, then ``downside.toml`` in the working directory, then ``DOWNSIDE_*``.

All state lives under ``home`` (``DOWNSIDE_HOME``, default ``./.downside``)::

    $DOWNSIDE_HOME/store/      point-in-time raw tables and feature cache (Parquet)
    $DOWNSIDE_HOME/mlflow.db   MLflow tracking and registry (SQLite)
    $DOWNSIDE_HOME/mlartifacts MLflow artifacts
    $DOWNSIDE_HOME/optuna.db   Optuna studies (SQLite)

``tracking_uri`` and ``optuna_storage`` accept any MLflow tracking URI or Optuna storage
URL (``postgresql+psycopg://user:pw@host/db`` for many tuning workers).

Environment variables (all optional):

=============================  ===========================================
``DOWNSIDE_HOME``              state folder
``DOWNSIDE_TRACKING_URI``      MLflow tracking URI (default: SQLite in home)
``DOWNSIDE_REGISTRY_URI``      MLflow registry URI (default: tracking URI)
``DOWNSIDE_OPTUNA_STORAGE``    Optuna storage URL (default: SQLite in home)
``DOWNSIDE_OPTUNA_HEARTBEAT``  seconds between heartbeats of a running trial (10)
``DOWNSIDE_OPTUNA_GRACE``      seconds without heartbeat before a trial counts
                               as dead, is marked FAIL and re-queued (30)
``DOWNSIDE_FEATURE_DIR``       folder of feature definitions
``DOWNSIDE_MODEL_DIR``         folder of model specs
``DOWNSIDE_LOCK_TIMEOUT``      seconds an ingest waits for the store lock
``DOWNSIDE_CONFIG``            path of the settings file (default ./downside.toml)
=============================  ===========================================
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from downside.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent

DEFAULT_DAILY_VENUES: tuple[str, ...] = (
    "coinbase_spot",
    "binance_spot",
    "binance_usdm_perp",
    "cryptoquant_spot_all_exchanges",
    "sim_spot",
)
DEFAULT_HOURLY_VENUES: tuple[str, ...] = (
    "binance_spot",
    "binance_usdm_perp",
    "glassnode_market_price",
    "sim_spot",
)


def _bundled_or_repo(name: str) -> Path:
    """Definitions folder: ``./<name>`` when run from a checkout, else the packaged copy."""
    local = Path.cwd() / name
    if local.is_dir():
        return local
    repo = _PACKAGE_DIR.parent.parent / name
    if repo.is_dir():
        return repo
    return _PACKAGE_DIR / "_bundled" / name


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`; replace fields with
    :func:`dataclasses.replace`."""

    home: Path = field(default_factory=lambda: Path(".downside"))
    tracking_uri: str | None = None
    registry_uri: str | None = None
    optuna_storage: str | None = None
    feature_dir: Path | None = None
    model_dir: Path | None = None
    lock_timeout_s: float = 600.0
    optuna_heartbeat_s: int = 10
    optuna_grace_s: int = 30
    daily_venues: tuple[str, ...] = DEFAULT_DAILY_VENUES
    hourly_venues: tuple[str, ...] = DEFAULT_HOURLY_VENUES
    etf_flow_publication_hour_utc: int = 12
    seed: int = 7

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
        return self.feature_dir or _bundled_or_repo("features")

    @property
    def resolved_model_dir(self) -> Path:
        return self.model_dir or _bundled_or_repo("models")


_ENV: dict[str, str] = {
    "DOWNSIDE_HOME": "home",
    "DOWNSIDE_TRACKING_URI": "tracking_uri",
    "DOWNSIDE_REGISTRY_URI": "registry_uri",
    "DOWNSIDE_OPTUNA_STORAGE": "optuna_storage",
    "DOWNSIDE_FEATURE_DIR": "feature_dir",
    "DOWNSIDE_MODEL_DIR": "model_dir",
    "DOWNSIDE_LOCK_TIMEOUT": "lock_timeout_s",
    "DOWNSIDE_OPTUNA_HEARTBEAT": "optuna_heartbeat_s",
    "DOWNSIDE_OPTUNA_GRACE": "optuna_grace_s",
}


def _coerce(name: str, raw: Any, origin: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if name not in fields:
        known = ", ".join(sorted(fields))
        raise ConfigError(
            f"unknown setting {name!r} in {origin}: expected one of {known}; remove or rename it"
        )
    try:
        if name in {"home", "feature_dir", "model_dir"}:
            return Path(str(raw)).expanduser()
        if name == "lock_timeout_s":
            value = float(raw)
            if value < 0:
                raise ValueError("must be >= 0")
            return value
        if name in {
            "etf_flow_publication_hour_utc",
            "seed",
            "optuna_heartbeat_s",
            "optuna_grace_s",
        }:
            value = int(raw)
            if name == "etf_flow_publication_hour_utc" and not 0 <= value <= 23:
                raise ValueError("must be an hour 0..23")
            if name.startswith("optuna_") and value < 1:
                raise ValueError("must be >= 1 second")
            return value
        if name in {"daily_venues", "hourly_venues"}:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(v).strip() for v in items if str(v).strip())
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid value for setting {name!r} in {origin}: received {raw!r} ({exc}); "
            f"expected the type of the default ({fields[name].type})"
        ) from exc


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve settings: defaults < ``downside.toml`` < ``DOWNSIDE_*`` < ``overrides``.

    Raises:
        ConfigError: unknown setting, unparsable file or value of the wrong type.
    """
    env = os.environ if environ is None else environ
    path = config_file or Path(env.get("DOWNSIDE_CONFIG", "downside.toml"))
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"cannot parse settings file {path}: {exc}") from exc
        table = data.get("downside", data)
        for key, raw in table.items():
            values[key] = _coerce(key, raw, str(path))
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = _coerce(name, env[var], f"environment variable {var}")
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
