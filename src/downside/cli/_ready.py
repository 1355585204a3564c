"""Checks that the state a read-only command needs exists, made before anything is
opened: reading must not create a home, a store or a registry."""

from __future__ import annotations

from pathlib import Path

from downside.cli._app import NotReadyError
from downside.config import Settings

NOTHING_TRAINED = "nothing trained yet: run `downside quickstart` or `downside train SPEC`"
NOTHING_INGESTED = (
    "nothing ingested yet: run `downside ingest files DIR`, `downside update` or "
    "`downside quickstart`"
)


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, None for other URIs."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def require_registry(settings: Settings) -> None:
    """Refuse when the configured model registry is a SQLite file that does not exist
    (connecting would create it, and the home around it). Other registries (a tracking
    server, PostgreSQL) are asked when the models load.

    Raises:
        NotReadyError: no registry database yet.
    """
    path = _sqlite_path(settings.resolved_registry_uri)
    if path is not None and not path.is_file():
        raise NotReadyError(f"{NOTHING_TRAINED} (no model registry at {path})")


def require_store(settings: Settings) -> None:
    """Refuse when the store holds no table.

    Raises:
        NotReadyError: the store is empty or absent.
    """
    from downside.store import Store

    if Store.from_settings(settings).is_empty:
        raise NotReadyError(f"{NOTHING_INGESTED} (the store {settings.store_dir} is empty)")
