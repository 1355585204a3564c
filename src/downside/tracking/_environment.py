"""What a fresh environment needs to run the served model: requirements and a wheel.

The served model is a thin shim (``_model_code.py``) over the installed package, so a
fresh environment needs two things:

- **downside itself**, as a wheel logged with the model (``artifacts/downside-<v>-py3-
  none-any.whl``, referenced from ``requirements.txt`` by a relative path, which pip and
  uv resolve in the model's folder). :func:`pack_wheel` packs the code that is running
  (the package's files, and the bundled definitions: features, models, ...) with the
  installed distribution's metadata, deterministically: the same code gives the same
  bytes, and the registry records their SHA-256. downside is not on a package index,
  and a version number would not say which code trained the model.
- **the third-party packages the model code imports**, pinned to the versions that
  trained it. :func:`served_imports` follows the imports from
  ``downside.tracking._model_code`` through every downside module they reach, as Python
  runs them (``if TYPE_CHECKING:`` blocks are not run); :func:`pip_requirements` maps
  the third-party top-level modules to their distributions. Their own dependencies come
  from the index within the pinned packages' ranges (and downside's).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import importlib.util
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The folder of the running ``downside`` package."""

SERVED_MODULE = "downside.tracking._model_code"
"""The models-from-code file MLflow runs to build the served model."""

_NOT_THIRD_PARTY = sys.stdlib_module_names | {"__future__"}
_EPOCH = (1980, 1, 1, 0, 0, 0)
_WHEEL = (
    "Wheel-Version: 1.0\nGenerator: downside.tracking\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
)


class _ModuleImports(ast.NodeVisitor):
    """Imports of one module: ``found`` holds those run when it is imported (function
    bodies and ``if TYPE_CHECKING:`` blocks are not run), ``deferred`` those inside
    functions, which run when the function is called."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.found: list[tuple[str, tuple[str, ...]]] = []
        self.deferred: list[tuple[str, tuple[str, ...]]] = []
        self._depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._in_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._in_function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._in_function(node)

    def _in_function(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, ())

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - node.level + 1]
            module = ".".join([*base, module] if module else base)
        self._add(module, tuple(alias.name for alias in node.names))

    def _add(self, module: str, names: tuple[str, ...]) -> None:
        (self.deferred if self._depth else self.found).append((module, names))


def _source(name: str) -> tuple[Path, bool] | None:
    """File of a downside module and whether it is a package (None if not a module)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin), spec.submodule_search_locations is not None


def _parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def served_imports(entry: str = SERVED_MODULE) -> tuple[set[str], set[str]]:
    """The downside modules the served model can run, and the top-level names of the
    third-party modules they import (standard library left out).

    From ``entry``, every downside module imported at module level is followed, and so
    is every downside module imported inside a function (a layer defers such imports
    to when they are used, e.g. the store when features are first read). Third-party
    imports count at module level only: one inside a function of a reached module (arch
    in the bootstrap) runs only when that function does.

    Returns:
        ``(downside_modules, third_party_top_level_names)``.
    """
    seen: set[str] = set()
    third_party: set[str] = set()
    queue = list(_parents(entry))
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        found = _source(name)
        if found is None:
            continue
        path, is_package = found
        visitor = _ModuleImports(name if is_package else name.rpartition(".")[0])
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for module, names in visitor.found + visitor.deferred:
            top = module.split(".")[0]
            if top == "downside":
                queue.extend(_parents(module))
                queue.extend(f"{module}.{n}" for n in names if _source(f"{module}.{n}") is not None)
            elif (module, names) in visitor.found and top not in _NOT_THIRD_PARTY:
                third_party.add(top)
    return {m for m in seen if _source(m) is not None}, third_party


def distributions(top_level: set[str]) -> dict[str, str]:
    """Distribution name and installed version of each top-level module name.

    Raises:
        LookupError: a module belongs to no installed distribution.
    """
    owners = importlib.metadata.packages_distributions()
    pins: dict[str, str] = {}
    missing = []
    for module in sorted(top_level):
        names = owners.get(module, [])
        if not names:
            missing.append(module)
            continue
        # mlflow's files come from mlflow, mlflow-skinny and mlflow-tracing: pin the
        # distribution named like the module, which pins the others exactly
        same = [n for n in names if _normal(n) == _normal(module)]
        for name in same or names:
            pins[_normal(name)] = importlib.metadata.version(name)
    if missing:
        raise LookupError(f"no installed distribution provides {missing}")
    return dict(sorted(pins.items()))


def pip_requirements(wheel: str) -> list[str]:
    """``requirements.txt`` of the served model: the pinned third-party distributions
    its code imports, then the downside wheel at ``wheel`` (a path relative to the
    model's folder)."""
    _, top_level = served_imports()
    return [*(f"{n}=={v}" for n, v in distributions(top_level).items()), wheel]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _bundled_sources() -> dict[str, Path]:
    """Archive folder -> source folder of the definitions the wheel bundles under
    ``downside/_bundled``. An installed wheel has them inside the package (nothing to
    add); an editable checkout has them at the top level, as the ``force-include``
    table of its ``pyproject.toml`` maps them."""
    pyproject = PACKAGE_DIR.parent.parent / "pyproject.toml"
    if (PACKAGE_DIR / "_bundled").is_dir() or not pyproject.is_file():
        return {}
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    wheel = config.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    include: dict[str, str] = wheel.get("wheel", {}).get("force-include", {})
    return {target: pyproject.parent / source for source, target in include.items()}


def wheel_files() -> dict[str, bytes]:
    """Archive path -> bytes of the running package: its files (no bytecode), and the
    bundled definitions, which an editable install reads from the checkout."""
    files: dict[str, bytes] = {}
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"downside/{path.relative_to(PACKAGE_DIR).as_posix()}"] = path.read_bytes()
    for target, folder in _bundled_sources().items():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{target}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    return files


def pack_wheel(folder: Path) -> Path:
    """Write the running downside as ``downside-<version>-py3-none-any.whl`` in
    ``folder`` and return its path.

    Byte-for-byte reproducible: sorted entries, fixed timestamps and permissions. The
    metadata (dependencies, entry points) is the installed distribution's.
    """
    dist = importlib.metadata.distribution("downside")
    version = dist.version
    info = f"downside-{version}.dist-info"
    files = wheel_files()
    files[f"{info}/METADATA"] = (dist.read_text("METADATA") or "").encode()
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    files[f"{info}/WHEEL"] = _WHEEL.encode()
    record = "".join(f"{p},{_record_hash(b)},{len(b)}\n" for p, b in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = folder / f"downside-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return path
