"""Integrity of logged models: the SHA-256 of every file, checked before loading.

At registration :func:`artifact_manifest` hashes every file of the logged model (the
model code, ``MLmodel``, ``requirements.txt``, the state, the wheel, ...) and the
manifest is kept on the model version, in the registry (tag :data:`MANIFEST_TAG`), not
beside the files it describes. :func:`downside.tracking.load_predictor` downloads the
model, checks it against that manifest with :func:`verify_model_dir`, and only then
lets MLflow import the model code.

The served model checks itself too: the SHA-256 of the files that carry its behaviour
(model code, state, wheel) is logged in its ``model_config`` (in ``MLmodel``), and
``load_context`` refuses to read a state whose bytes differ. Under ``mlflow models
serve`` MLflow runs the model code before ``load_context``, so that check catches
altered files but cannot stop altered model code from running; loading through
:func:`downside.tracking.load_predictor` does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from downside.errors import ModelIntegrityError

MANIFEST_TAG = "downside.artifact_sha256"
"""Model version tag: JSON object, file path relative to the model folder -> SHA-256."""

CONFIG_KEY = "sha256"
"""Key of the ``model_config`` entry holding the hashes of the behaviour files."""


LOAD_LEFTOVERS = ("registered_model_meta", "__pycache__")
"""Written next to a model when MLflow loads it in place (a local artifact store): the
registry entry it was loaded as, and Python's bytecode of the model code. Not part of
the model: :func:`drop_load_leftovers` removes them from a download before it is
checked, so a planted ``.pyc`` never runs in place of the checked source."""


def drop_load_leftovers(model_dir: Path) -> None:
    """Remove :data:`LOAD_LEFTOVERS` from a downloaded model folder."""
    meta = model_dir / LOAD_LEFTOVERS[0]
    if meta.is_file():
        meta.unlink()
    for cache in sorted(model_dir.rglob(LOAD_LEFTOVERS[1]), reverse=True):
        if cache.is_dir():
            shutil.rmtree(cache)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_manifest(model_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under ``model_dir``, by POSIX path relative to it, sorted."""
    return {
        path.relative_to(model_dir).as_posix(): file_sha256(path)
        for path in sorted(model_dir.rglob("*"))
        if path.is_file()
    }


def parse_manifest(raw: str | None, source: str) -> dict[str, str]:
    """The manifest of a model version tag.

    Raises:
        ModelIntegrityError: no manifest, or one that is not a JSON object of hashes.
    """
    if raw is None:
        raise ModelIntegrityError(
            f"{source} has no artifact manifest (model version tag {MANIFEST_TAG}): it "
            "was registered before downside recorded one, or not by `downside train`; "
            "nothing was loaded. Retrain it with `downside train` to register a checked "
            "version",
            source=source,
        )
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelIntegrityError(
            f"{source}: tag {MANIFEST_TAG} is not JSON ({exc}); nothing was loaded",
            source=source,
        ) from exc
    if not isinstance(manifest, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in manifest.items()
    ):
        raise ModelIntegrityError(
            f"{source}: tag {MANIFEST_TAG} is not an object of file -> SHA-256; nothing was loaded",
            source=source,
        )
    return manifest


def verify_model_dir(
    model_dir: Path, expected: Mapping[str, str], source: str, *, complete: bool = True
) -> None:
    """Check the files of ``model_dir`` against ``expected`` hashes.

    Args:
        model_dir: the local model folder.
        expected: relative path -> SHA-256.
        source: what the folder is, for the message (a model URI).
        complete: also refuse files that ``expected`` does not list.

    Raises:
        ModelIntegrityError: a listed file is missing or differs, or (``complete``) an
            unlisted file is present.
    """
    actual = artifact_manifest(model_dir) if complete else {}
    altered, missing = [], []
    for name, digest in sorted(expected.items()):
        path = model_dir / name
        if not path.is_file():
            missing.append(name)
        elif (actual.get(name) if complete else file_sha256(path)) != digest:
            altered.append(name)
    unexpected = sorted(set(actual) - set(expected)) if complete else []
    if altered or missing or unexpected:
        parts = [
            f"{label} {names}"
            for label, names in (
                ("altered:", altered),
                ("missing:", missing),
                ("not in the manifest:", unexpected),
            )
            if names
        ]
        raise ModelIntegrityError(
            f"{source} does not match the SHA-256 manifest recorded at registration "
            f"({'; '.join(parts)}); refusing to load it. Someone or something changed "
            "the stored artifacts: register a fresh version with `downside train`, or "
            "restore the files",
            source=source,
            altered=altered,
            missing=missing,
            unexpected=unexpected,
        )
