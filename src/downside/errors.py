"""One exception tree for downside.

Every error a user can meet derives from :class:`DownsideError` and also from the
built-in it behaves like, so ``except ValueError`` keeps working::

    DownsideError
    ├── ConfigError (ValueError)            bad setting or settings file
    ├── InvalidNameError (ValueError)       symbol/venue/series name unfit for a file or table name
    ├── SchemaError (ValueError)            input data broke validation rules (all problems listed)
    │   └── ModelInputError                 frames or arrays given to a model or metric are invalid
    ├── FeatureDefinitionError (ValueError) feature definition files are invalid (file and line)
    ├── ModelSpecError (ValueError)         a model spec is invalid
    ├── ScenarioError (ValueError)          a what-if shock or scenario preset is invalid
    ├── StoreError (RuntimeError)
    │   ├── StoreLockedError (TimeoutError) another process holds the store lock
    │   ├── StoreQueryError (ValueError)    a read asked for something invalid
    │   │   └── UnknownVersionError (LookupError) no store version with that number
    │   ├── EmptyStoreError (LookupError)   a table or series has no rows yet
    │   └── StoreCorruptError               a stored data file is missing, truncated or altered
    ├── InvalidTimeError (ValueError)       a value that should be a time is not one
    ├── StaleDataError (ValueError)         inputs are older than their time-to-live
    ├── PredictionInputError (ValueError)   a request the model or data cannot answer
    │   ├── UnknownSymbolError (LookupError) no data for a requested symbol
    │   ├── InsufficientHistoryError (LookupError) too little history before an as-of time
    │   └── LookAheadError                  a replay asks a model about days its training saw
    ├── NotFittedError (ValueError, AttributeError) a model was used before fit
    ├── TrackingError (RuntimeError)
    │   ├── ModelNotFoundError (LookupError) no such registered model, version or alias
    │   ├── PromotionRefusedError           the challenger does not beat the champion
    │   └── ModelIntegrityError             a model's files differ from their registered SHA-256
    └── SourceError (RuntimeError)          a live source failed
        ├── RateLimitedError                 HTTP 429 or exhausted weight, after retries
        ├── SourceTimeoutError (TimeoutError) no answer within the timeout, after retries
        ├── RequestRejectedError (ValueError) HTTP 4xx: the source refused the request
        ├── PayloadError (ValueError)        a response did not have the expected shape
        └── SourceUnreachableError (ConnectionError) name resolution or connection failed

Messages say what is wrong, what was expected, what was received and how to fix it.
Structured fields stay on the exception for programs to inspect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class DownsideError(Exception):
    """Root of every error raised by downside."""


class ConfigError(DownsideError, ValueError):
    """A setting, settings file or environment variable is invalid."""


class InvalidNameError(DownsideError, ValueError):
    """A name cannot be used as a symbol, venue, series, file or table name."""

    def __init__(self, kind: str, value: object, rule: str) -> None:
        self.kind = kind
        self.value = value
        self.rule = rule
        super().__init__(
            f"invalid {kind} name {value!r}: expected {rule}; "
            f"rename the {kind} in the input (or the setting) and retry"
        )


@dataclass(frozen=True)
class Problem:
    """One broken rule found while validating input.

    Attributes:
        source: the file, table or definition the problem was found in.
        rule: short name of the broken rule (``missing_columns``, ``duplicate_keys``, ...).
        count: how many rows or items break it.
        detail: what was expected and what was received.
        examples: a few offending values or rows, rendered as text.
        line: line number in ``source`` where known.
    """

    source: str
    rule: str
    count: int
    detail: str
    examples: Sequence[str] = field(default_factory=tuple)
    line: int | None = None

    def render(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        text = f"{where}: {self.rule} ({self.count}): {self.detail}"
        if self.examples:
            text += "; e.g. " + ", ".join(self.examples[:3])
        return text


class _ProblemsError(DownsideError, ValueError):
    """Base for errors that collect every problem before raising."""

    headline = "invalid input"
    remedy = "fix the listed problems and retry"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p.render()}" for p in self.problems)
        super().__init__(
            f"{self.headline}: {len(self.problems)} problem(s); nothing was written\n"
            f"{lines}\n{self.remedy}"
        )


class SchemaError(_ProblemsError):
    """Input data broke one or more validation rules; nothing was written."""

    headline = "input data failed validation"
    remedy = "fix the listed inputs (source files, rows or request values) and retry"


class ModelInputError(SchemaError):
    """Frames or arrays given to a model's fit or predict, or to a metric, are invalid."""

    headline = "model or metric input failed validation"
    remedy = (
        "fix the listed columns or arrays (docs/architecture.md describes the frame "
        "contracts) and call again"
    )


class FeatureDefinitionError(_ProblemsError):
    """One or more feature definitions are invalid."""

    headline = "invalid feature definitions"
    remedy = "edit the listed definition files; `downside features list` checks them"


class ModelSpecError(_ProblemsError):
    """A model spec is invalid."""

    headline = "invalid model spec"
    remedy = "edit the spec file; see models/drawdown.toml for a complete example"


class ScenarioError(_ProblemsError):
    """A what-if shock or a scenario preset is invalid (presets: file and line)."""

    headline = "invalid what-if scenario"
    remedy = (
        "fix the listed shocks (forms: price-=10%, implied_vol+=20, funding=q99, "
        "leverage.oi_change_7d*=2; see scenarios/presets.toml)"
    )


class StoreError(DownsideError, RuntimeError):
    """The point-in-time store cannot do what was asked."""


class StoreLockedError(StoreError, TimeoutError):
    """Another process holds the store's write lock."""

    def __init__(self, lock_path: str, waited_s: float) -> None:
        self.lock_path = lock_path
        self.waited_s = waited_s
        super().__init__(
            f"the store is locked by another ingest or update (lock file {lock_path}); "
            f"waited {waited_s:.0f} s. Wait for the other process to finish, or raise "
            "DOWNSIDE_LOCK_TIMEOUT; the store is unchanged"
        )


class StoreQueryError(StoreError, ValueError):
    """A store read or maintenance call was asked for something invalid (naive as-of
    time, unknown frequency, empty venue list, symbols for a table without symbols; a
    delete without a reason or matching rows, a vacuum keeping no version)."""


class EmptyStoreError(StoreError, LookupError):
    """A table, series or symbol has no rows in the store."""


class UnknownVersionError(StoreQueryError, LookupError):
    """No store version has that number: it was never written, or ``vacuum`` removed it.

    Attributes:
        version: the version asked for.
        known: the numbers of the versions the store keeps.
    """

    def __init__(self, version: int, known: Sequence[int]) -> None:
        self.version = version
        self.known = list(known)
        shown = f"{self.known[0]}..{self.known[-1]}" if self.known else "none"
        super().__init__(
            f"store version {version} does not exist: the store keeps versions {shown}; "
            "pick one from `Store.history()` (`downside store history`)"
        )


class StoreCorruptError(StoreError):
    """A stored data file is missing, or its size or SHA-256 differs from the manifest's.

    Attributes:
        files: the damaged files, as paths.
    """

    def __init__(self, message: str, *, files: Sequence[str]) -> None:
        self.files = tuple(files)
        super().__init__(message)


class StaleDataError(DownsideError, ValueError):
    """Inputs at the as-of time are older than their time-to-live.

    Attributes:
        stale: mapping of feature name to its age in hours.
    """

    def __init__(self, asof: str, stale: dict[str, float]) -> None:
        self.asof = asof
        self.stale = dict(stale)
        worst = sorted(self.stale.items(), key=lambda kv: -kv[1])[:8]
        shown = ", ".join(f"{name} ({age:.0f} h old)" for name, age in worst)
        super().__init__(
            f"inputs at {asof} are stale: {len(self.stale)} feature(s) older than their TTL: "
            f"{shown}. Run `downside update` or ingest newer files, pass an earlier asof, or "
            "pass allow_stale=True to answer with them treated as missing"
        )


class InvalidTimeError(DownsideError, ValueError):
    """A value that should be a time (an as-of time, a start or end) is not one.

    Attributes:
        what: what the value was for.
        value: the value received.
    """

    def __init__(self, what: str, value: object) -> None:
        self.what = what
        self.value = value
        super().__init__(
            f"cannot read {what} {value!r} as a time: expected a date or time such as "
            "'2024-12-09' or '2024-12-09T06:00Z' (UTC when no zone is given)"
        )


class PredictionInputError(DownsideError, ValueError):
    """A request (prediction, report, backtest, export) asks for something the model or
    the data cannot answer: a threshold or horizon outside the trained grid, a level at
    or above the price, a malformed request row."""


class UnknownSymbolError(PredictionInputError, LookupError):
    """A requested symbol has no data in the store.

    Attributes:
        symbols: the unknown symbols.
        known: the symbols the store has.
    """

    def __init__(self, symbols: Sequence[str], known: Sequence[str], what: str = "prices") -> None:
        self.symbols = list(symbols)
        self.known = list(known)
        super().__init__(
            f"unknown symbol(s) {self.symbols}: the store has {what} for {self.known}; "
            "pick one of these or ingest data for the symbol"
        )


class InsufficientHistoryError(PredictionInputError, LookupError):
    """Too little history is known before an as-of time (volatility needs 20 daily bars,
    walk-forward folds need ``min_train_days`` of labels)."""


class LookAheadError(PredictionInputError):
    """A replay asks a model what it would have said on days its training data reached.

    Attributes:
        model: the model, e.g. ``downside-drawdown v3``.
        trained_until: when the last daily bar of its training data became known (None
            when that is not recorded).
        first_day: the first day asked for.
    """

    def __init__(self, model: str, trained_until: Any, first_day: Any) -> None:
        self.model = model
        self.trained_until = trained_until
        self.first_day = first_day
        if trained_until is None:
            message = (
                f"cannot replay {model}: when its training data ended is not recorded (its "
                "training run has no data_fingerprint.json), so a replay could be in-sample; "
                "retrain it with `downside train` and replay the new version"
            )
        else:
            earliest = trained_until.ceil("D")
            message = (
                f"cannot replay {model} from {first_day:%Y-%m-%d}: it was trained on data "
                f"known until {trained_until:%Y-%m-%d %H:%M} UTC, so its forecasts before that "
                f"are in-sample fits, not a track record; replay from {earliest:%Y-%m-%d} or "
                "later, or replay a model trained on earlier data"
            )
        super().__init__(message)


class NotFittedError(DownsideError, ValueError, AttributeError):
    """A model was asked to predict, explain or serialise before ``fit``."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"{model} is not fitted yet: expected a fitted model, received an unfitted "
            f"one; call {model}.fit(X, y) or load one with {model}.from_state(state) first"
        )


class TrackingError(DownsideError, RuntimeError):
    """MLflow tracking or registry failed."""


class ModelNotFoundError(TrackingError, LookupError):
    """No registered model, version or alias by that name."""


class PromotionRefusedError(TrackingError):
    """The challenger does not beat the champion on the same folds."""

    def __init__(self, model: str, metric: str, challenger: float, champion: float) -> None:
        self.model = model
        self.metric = metric
        self.challenger = challenger
        self.champion = champion
        super().__init__(
            f"refused to promote {model}: challenger {metric}={challenger:.5f} does not beat "
            f"champion {metric}={champion:.5f} (lower is better) on the same folds; "
            "force the promotion with a recorded reason to override"
        )


class ModelIntegrityError(TrackingError):
    """A model's files differ from the SHA-256 manifest recorded when it was registered.

    Attributes:
        source: the model (URI or folder).
        altered: files whose bytes differ.
        missing: listed files that are absent.
        unexpected: files present but not listed.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        altered: Sequence[str] = (),
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.altered = tuple(altered)
        self.missing = tuple(missing)
        self.unexpected = tuple(unexpected)
        super().__init__(message)


class SourceError(DownsideError, RuntimeError):
    """A live data source failed after retries.

    Attributes:
        source: connector name (``binance_usdm``, ``fred``, ...), where known.
        url: the request URL with API keys redacted, where known.
        status: HTTP status of the last answer, where there was one.
        attempts: requests made before giving up, where known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        url: str | None = None,
        status: int | None = None,
        attempts: int | None = None,
    ) -> None:
        self.source = source
        self.url = url
        self.status = status
        self.attempts = attempts
        super().__init__(message)


class RateLimitedError(SourceError):
    """The source kept answering HTTP 429 or reported its weight exhausted.

    Attributes:
        retry_after_s: the wait the source asked for last, where it said.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None, **fields: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **fields)


class SourceTimeoutError(SourceError, TimeoutError):
    """The source did not answer within the timeout, after retries."""


class RequestRejectedError(SourceError, ValueError):
    """The source refused the request (HTTP 4xx other than 429): bad symbol, series or key."""


class PayloadError(SourceError, ValueError):
    """A response did not have the documented shape."""


class SourceUnreachableError(SourceError, ConnectionError):
    """The source's host could not be reached: its name did not resolve or the connection
    was refused or timed out. Not retried: the host is skipped for the rest of the run.

    Attributes:
        host: the host (``name`` or ``name:port``) that could not be reached.
    """

    def __init__(self, message: str, *, host: str | None = None, **fields: Any) -> None:
        self.host = host
        super().__init__(message, **fields)
