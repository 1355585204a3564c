"""Where the heavy steps run: this process (the default) or a Dask cluster.

Three steps are split into independent tasks: the feature build (one task per batch of
symbols and one for the market-wide groups, see
:meth:`downside.features.FeatureStore.build`), the folds of a backtest (one task per
fold: rows built on the worker from the store, model and baselines fitted, test rows
predicted) and the final fit of :func:`downside.workflows.fit_spec`. An :class:`Engine`
maps a function over items and returns the results in item order; nothing here
schedules: :class:`LocalEngine` is a loop, :class:`DaskEngine` hands the tasks to
``dask.distributed`` (its scheduler places them, moves them off a worker that dies and
runs them again; ``retries`` re-runs a task that raised).

Results are identical: a task computes the same rows with the same code and seeds as the
loop, and results are put back in item order, never in completion order. Workers must
see the store folder at the same path (one machine, or a shared file system) and run the
same downside version.

>>> with connect("tcp://127.0.0.1:8786") as engine:          # doctest: +SKIP
...     run_backtest(spec, feature_store, start=..., end=..., engine=engine)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from downside.config import Settings
from downside.errors import ConfigError
from downside.features import FeatureSet, FeatureStore

log = logging.getLogger("downside.engine")

T = TypeVar("T")
R = TypeVar("R")

RETRIES = 2
"""Times Dask re-runs a task that raised (a worker that dies is handled by the
scheduler: its tasks run again elsewhere, up to ``distributed.scheduler.allowed-failures``
times)."""

CONNECT_TIMEOUT_S = 30.0
"""Seconds :func:`connect` waits for the scheduler."""


class Engine(Protocol):
    """Runs a function over items."""

    @property
    def is_local(self) -> bool:
        """Whether tasks run in this process (and may share its objects)."""
        ...

    @property
    def workers(self) -> int:
        """Worker processes that run tasks (1 for this process)."""
        ...

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        label: str = "task",
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, in item order.

        Args:
            fn: the task; for a cluster a picklable function (module level or a
                ``functools.partial`` of one).
            items: its arguments.
            label: names the tasks on the cluster's dashboard.
            on_result: sees ``(position, result)`` as each task finishes (any order).

        Raises:
            Whatever ``fn`` raises (on a cluster, after its retries).
        """
        ...


@dataclass(frozen=True)
class LocalEngine:
    """Runs tasks one after the other in this process."""

    @property
    def is_local(self) -> bool:
        return True

    @property
    def workers(self) -> int:
        return 1

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        label: str = "task",
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        out = []
        for i, item in enumerate(items):
            result = fn(item)
            out.append(result)
            if on_result is not None:
                on_result(i, result)
        return out


class DaskEngine:
    """Runs tasks on the workers of a ``distributed.Client``.

    Args:
        client: a connected client (its scheduler places the tasks).
        retries: re-runs of a task that raised.
    """

    def __init__(self, client: Any, *, retries: int = RETRIES) -> None:
        self.client = client
        self.retries = retries

    def __repr__(self) -> str:
        return f"DaskEngine({self.client.scheduler.address!r}, workers={self.workers})"

    @property
    def is_local(self) -> bool:
        return False

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        label: str = "task",
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        from distributed import as_completed

        items = list(items)
        if not items:
            return []
        run = uuid.uuid4().hex[:8]
        keys = [f"downside-{label}-{run}-{i}" for i in range(len(items))]
        futures = self.client.map(fn, items, key=keys, pure=False, retries=self.retries)
        position = {future.key: i for i, future in enumerate(futures)}
        results: dict[int, R] = {}
        try:
            done = as_completed(futures, loop=self.client.loop, with_results=True)  # type: ignore[no-untyped-call]
            for future, result in done:
                i = position[future.key]
                results[i] = result
                if on_result is not None:
                    on_result(i, result)
        finally:
            for future in futures:
                future.release()
        return [results[i] for i in range(len(items))]

    def persist(
        self, fn: Callable[[T], Any], items: Sequence[T], *, label: str = "task"
    ) -> list[Any]:
        """Run ``fn`` over ``items`` on the workers and leave each result there: the
        futures, in item order (release them, or let them go, when done).

        Raises:
            Whatever ``fn`` raises, when a future's result is used (after its retries).
        """
        run = uuid.uuid4().hex[:8]
        keys = [f"downside-{label}-{run}-{i}" for i in range(len(items))]
        futures: list[Any] = self.client.map(
            fn, list(items), key=keys, pure=False, retries=self.retries
        )
        return futures


_CURRENT: contextvars.ContextVar[Engine | None] = contextvars.ContextVar(
    "downside_engine", default=None
)


@contextlib.contextmanager
def use_engine(engine: Engine) -> Iterator[Engine]:
    """Make ``engine`` the one jobs use when they are given none, for a block."""
    token = _CURRENT.set(engine)
    try:
        yield engine
    finally:
        _CURRENT.reset(token)


def current_engine() -> Engine | None:
    """The engine of the innermost :func:`connect` or :func:`use_engine` block, if any."""
    return _CURRENT.get()


def connect_client(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``.

    Raises:
        ConfigError: dask is not installed, or no scheduler answers at ``address``.
    """
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(
            f"cluster {address!r} was requested but dask.distributed is not installed; "
            "install the extra: pip install 'downside[dask]'"
        ) from exc
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"no Dask scheduler answered at {address!r} within {timeout_s:g} s ({exc}); "
            "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) or "
            "fix the address (DOWNSIDE_CLUSTER, e.g. tcp://HOST:8786)"
        ) from exc


@contextlib.contextmanager
def connect(address: str | None, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Engine]:
    """An engine for the duration of a block, also the one jobs given none use there
    (:func:`current_engine`): a :class:`DaskEngine` on the scheduler at ``address``, or
    a :class:`LocalEngine` when ``address`` is None or empty.

    Raises:
        ConfigError: dask is not installed, or no scheduler answers at ``address``.
    """
    if not address:
        with use_engine(LocalEngine()) as local:
            yield local
        return
    client = connect_client(address, timeout_s=timeout_s)
    try:
        engine = DaskEngine(client)
        log.info("running on %r", engine)
        with use_engine(engine):
            yield engine
    finally:
        client.close()


def settings_engine(settings: Settings) -> contextlib.AbstractContextManager[Engine]:
    """:func:`connect` to ``settings.cluster`` (``DOWNSIDE_CLUSTER``), else local."""
    return connect(settings.cluster)


def resolve(engine: Engine | None) -> Engine:
    """``engine``, else the :func:`current_engine`, else a :class:`LocalEngine`."""
    if engine is not None:
        return engine
    return current_engine() or LocalEngine()


@contextlib.contextmanager
def building_on(feature_store: FeatureStore, engine: Engine) -> Iterator[FeatureStore]:
    """Within the block, a feature build that ``feature_store`` needs (a missing or
    outdated cache) runs its tasks on ``engine`` (unless the store has a mapper)."""
    if engine.is_local or feature_store.mapper is not None:
        yield feature_store
        return
    feature_store.mapper = functools.partial(engine.map, label="features")
    try:
        yield feature_store
    finally:
        feature_store.mapper = None


@dataclass(frozen=True)
class FeatureStoreRef:
    """What a worker needs to open the same feature store: the store folder (at the same
    path on every worker), the definitions and the venue preferences."""

    root: Path
    definitions: FeatureSet
    daily_venues: tuple[str, ...]
    hourly_venues: tuple[str, ...]

    @classmethod
    def of(cls, feature_store: FeatureStore) -> FeatureStoreRef:
        return cls(
            Path(feature_store.store.root).resolve(),
            feature_store.definitions,
            feature_store.daily_venues,
            feature_store.hourly_venues,
        )

    def open(self) -> FeatureStore:
        """The feature store, opened once per process (later tasks reuse its caches)."""
        return _open(self)


@functools.lru_cache(maxsize=1)
def _open(ref: FeatureStoreRef) -> FeatureStore:
    from downside.store import Store

    return FeatureStore(
        Store(ref.root),
        ref.definitions,
        daily_venues=ref.daily_venues,
        hourly_venues=ref.hourly_venues,
    )
