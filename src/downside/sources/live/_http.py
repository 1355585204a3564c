"""A polite HTTP client for live sources: timeouts, retries with backoff, rate limits.

:class:`HttpClient` wraps one ``httpx.Client`` per connector:

- every request has a timeout (``HttpOptions.timeout_s``);
- HTTP 429 and 418 (Binance's ban warning) wait for ``Retry-After`` (seconds or an HTTP
  date) or, without one, for an exponential backoff, then retry; a requested wait longer
  than ``RetryPolicy.max_retry_after_s`` fails at once with :class:`RateLimitedError`;
- HTTP 5xx, read timeouts and broken connections retry with exponential backoff and
  jitter;
- a host that cannot be reached (its name does not resolve, the connection is refused or
  not established within ``HttpOptions.connect_timeout_s``) fails at once with
  :class:`SourceUnreachableError`, without retries, and is recorded in
  ``HttpOptions.unreachable``: every client sharing those options (one update run) then
  fails at once for that host, so an offline run ends in seconds, not minutes;
- other 4xx fail at once with :class:`RequestRejectedError`, quoting the source's own
  error message (Binance ``{"code", "msg"}``, FRED ``{"error_code", "error_message"}``);
- a used-weight header (Binance ``X-MBX-USED-WEIGHT-1M``) at or above
  ``weight_threshold`` of ``weight_limit_1m`` pauses until the next minute starts.

Secrets (API keys) given to the client are replaced by ``***`` in every URL, log line and
error message it produces. Sleeping and the clock are injectable so tests never wait.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from downside.errors import (
    PayloadError,
    RateLimitedError,
    RequestRejectedError,
    SourceError,
    SourceTimeoutError,
    SourceUnreachableError,
)

log = logging.getLogger("downside.sources.live")

RETRY_STATUSES = frozenset({418, 429, 500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({418, 429})
_BODY_EXCERPT = 300


def _utcnow() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes:
        max_attempts: requests per call, the first one included (>= 1).
        backoff_s: wait before the first retry; doubles with every retry.
        max_backoff_s: cap of one backoff wait.
        max_retry_after_s: longest ``Retry-After`` worth waiting for; a longer one fails
            at once with :class:`~downside.errors.RateLimitedError`.
        jitter: random extra share of each backoff (0.1 = up to +10%).
    """

    max_attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0
    jitter: float = 0.1

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        base = min(self.max_backoff_s, self.backoff_s * 2.0 ** (retry - 1))
        return float(base * (1.0 + self.jitter * rng.random()))


class UnreachableHosts:
    """Hosts found unreachable in one run, shared by the clients of one :class:`HttpOptions`.

    Thread-safe. A host stays recorded for the life of the options object (one update
    run); build new options to try it again.
    """

    def __init__(self) -> None:
        self._hosts: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, host: str, why: str) -> None:
        """Record ``host`` as unreachable, with the first reason seen."""
        with self._lock:
            self._hosts.setdefault(host, why)

    def why(self, host: str) -> str | None:
        """Why ``host`` was found unreachable, or ``None`` if it was not."""
        with self._lock:
            return self._hosts.get(host)

    def __contains__(self, host: object) -> bool:
        with self._lock:
            return host in self._hosts

    def __len__(self) -> int:
        with self._lock:
            return len(self._hosts)


@dataclass(frozen=True, kw_only=True)
class HttpOptions:
    """Transport settings shared by the connectors.

    Attributes:
        timeout_s: read/write timeout of one request (and the connect timeout when it
            is shorter than ``connect_timeout_s``).
        connect_timeout_s: longest wait for a connection to a host; a host that does not
            answer within it counts as unreachable.
        retry: the retry policy.
        sleep: called with seconds to wait (``time.sleep``; tests pass a recorder).
        now: the wall clock as a tz-aware UTC timestamp (drops bars still forming,
            times the weight pause, sets the default end of an update).
        transport: an ``httpx`` transport to use instead of the network (tests).
        user_agent: sent with every request.
        seed: seed of the backoff jitter.
        unreachable: hosts found unreachable so far, shared by every client built with
            these options (and with copies made by :func:`dataclasses.replace`).
    """

    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], pd.Timestamp] = _utcnow
    transport: httpx.BaseTransport | None = None
    user_agent: str = "downside (+https://github.com/downside)"
    seed: int = 0
    unreachable: UnreachableHosts = field(default_factory=UnreachableHosts, compare=False)


class _RedactSecrets(logging.Filter):
    """Redacts registered secrets from log records of httpx and httpcore, which log every
    request URL (with its query string) at INFO and DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, tuple(self.secrets))
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACT = _RedactSecrets()
for _name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2"):
    logging.getLogger(_name).addFilter(_REDACT)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _retry_after_s(response: httpx.Response, now: pd.Timestamp) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (pd.Timestamp(when).tz_convert("UTC") - now).total_seconds())


def _error_message(response: httpx.Response) -> str:
    """The source's own error text: JSON ``msg``/``error_message``/``retMsg``, a JSON-RPC
    ``error`` object (``{"code", "message"}``) or the body."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        for key in ("error_message", "msg", "retMsg", "message", "error"):
            if body.get(key):
                code = body.get("code", body.get("error_code", body.get("retCode")))
                return f"{body[key]}" + (f" (code {code})" if code is not None else "")
    return text[:_BODY_EXCERPT] or "(empty body)"


class HttpClient:
    """GET requests to one source with timeouts, retries and rate-limit handling.

    Args:
        source: connector name used in errors and logs.
        base_url: prefix of every path (``https://fapi.binance.com``).
        options: timeouts, retry policy, sleep and clock.
        headers: extra headers (an API key header is fine: it is never logged).
        secrets: values to redact from URLs, logs and errors (API keys).
        weight_header: response header holding the used request weight, if any.
        weight_limit_1m: the source's weight budget per minute.
        weight_threshold: share of the budget at which to pause until the next minute.
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        options: HttpOptions,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        weight_header: str | None = None,
        weight_limit_1m: int | None = None,
        weight_threshold: float = 0.9,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.secrets = tuple(s for s in secrets if s)
        _REDACT.secrets.update(self.secrets)
        self.weight_header = weight_header
        self.weight_limit_1m = weight_limit_1m
        self.weight_threshold = weight_threshold
        self.requests = 0
        self._rng = random.Random(options.seed)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"User-Agent": options.user_agent, **(headers or {})},
            timeout=httpx.Timeout(
                options.timeout_s, connect=min(options.timeout_s, options.connect_timeout_s)
            ),
            transport=options.transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        url = str(self._client.build_request("GET", path, params=params).url)
        return redact(url, self.secrets)

    def _fail(self, exc_type: type[SourceError], message: str, **fields: Any) -> SourceError:
        return exc_type(redact(message, self.secrets), source=self.source, **fields)

    def _unreachable(self, url: str, host: str, why: str, attempts: int) -> SourceError:
        return self._fail(
            SourceUnreachableError,
            f"{self.source}: GET {url} connection failed: {why}; expected a reachable host; "
            "check the network (or the source's URL), then rerun `downside update` (it "
            "resumes)",
            url=url,
            attempts=attempts,
            host=host,
        )

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        allow_404: bool = False,
    ) -> httpx.Response | None:
        """GET ``path``; retry per the policy; return the successful response.

        Args:
            path: path under ``base_url`` (or a full URL).
            params: query parameters.
            allow_404: return ``None`` for HTTP 404 instead of raising (files that are
                not published yet).

        Raises:
            RateLimitedError: HTTP 429/418 on every attempt, or a ``Retry-After`` longer
                than ``max_retry_after_s``.
            SourceTimeoutError: every attempt timed out.
            RequestRejectedError: HTTP 4xx (bad symbol, series or key); not retried.
            SourceUnreachableError: the host's name did not resolve or no connection could
                be made (now, or earlier with the same options); not retried.
            SourceError: HTTP 5xx or broken connections on every attempt.
        """
        policy = self.options.retry
        url = self._url(path, params)
        host = self._client.build_request("GET", path, params=params).url.netloc.decode()
        earlier = self.options.unreachable.why(host)
        if earlier is not None:
            raise self._unreachable(url, host, f"{earlier}, earlier in this run; not retried", 0)
        last: str = ""
        for attempt in range(1, policy.max_attempts + 1):
            self.requests += 1
            log.debug("%s GET %s (attempt %d)", self.source, url, attempt)
            try:
                response = self._client.get(path, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                why = f"cannot connect to {host} ({type(exc).__name__}: {exc})"
                self.options.unreachable.add(host, why)
                raise self._unreachable(url, host, why, attempt) from exc
            except httpx.TimeoutException as exc:
                last = f"timed out after {self.options.timeout_s:g} s ({type(exc).__name__})"
                if attempt == policy.max_attempts:
                    raise self._fail(
                        SourceTimeoutError,
                        f"{self.source}: GET {url} {last} on all {attempt} attempts; "
                        "expected an answer within the timeout; check the network or raise "
                        "the timeout, then rerun `downside update` (it resumes)",
                        url=url,
                        attempts=attempt,
                    ) from exc
                self._wait(policy.backoff(attempt, self._rng), f"{last}, retrying")
                continue
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {exc})"
                if attempt == policy.max_attempts:
                    raise self._fail(
                        SourceError,
                        f"{self.source}: GET {url} {last} on all {attempt} attempts; expected "
                        "a connection; check the network, then rerun `downside update` "
                        "(it resumes)",
                        url=url,
                        attempts=attempt,
                    ) from exc
                self._wait(policy.backoff(attempt, self._rng), f"{last}, retrying")
                continue
            status = response.status_code
            if status == 404 and allow_404:
                return None
            if status < 400:
                self._respect_weight(response)
                return response
            message = _error_message(response)
            if status in RATE_LIMIT_STATUSES:
                wait = _retry_after_s(response, self.options.now())
                if wait is not None and wait > policy.max_retry_after_s:
                    raise self._fail(
                        RateLimitedError,
                        f"{self.source}: GET {url} answered HTTP {status} ({message}) asking "
                        f"to wait {wait:.0f} s, more than the {policy.max_retry_after_s:g} s "
                        "this client waits; slow down (fewer symbols or sources per run) and "
                        "rerun later (the update resumes)",
                        url=url,
                        status=status,
                        attempts=attempt,
                        retry_after_s=wait,
                    )
                if attempt == policy.max_attempts:
                    raise self._fail(
                        RateLimitedError,
                        f"{self.source}: GET {url} answered HTTP {status} ({message}) on all "
                        f"{attempt} attempts; expected the rate limit to clear after "
                        "backing off; wait a few minutes and rerun (the update resumes)",
                        url=url,
                        status=status,
                        attempts=attempt,
                        retry_after_s=wait,
                    )
                delay = wait if wait is not None else policy.backoff(attempt, self._rng)
                self._wait(delay, f"HTTP {status} rate limited")
                continue
            if status >= 500:
                last = f"HTTP {status} ({message})"
                if attempt == policy.max_attempts:
                    raise self._fail(
                        SourceError,
                        f"{self.source}: GET {url} answered {last} on all {attempt} attempts; "
                        "expected HTTP 200; the source is failing on its side; rerun later "
                        "(the update resumes)",
                        url=url,
                        status=status,
                        attempts=attempt,
                    )
                self._wait(policy.backoff(attempt, self._rng), f"{last}, retrying")
                continue
            raise self._fail(
                RequestRejectedError,
                f"{self.source}: GET {url} was rejected with HTTP {status}: {message}; "
                "expected HTTP 200; check the symbol, series id or API key",
                url=url,
                status=status,
                attempts=attempt,
            )
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON.

        Raises:
            PayloadError: the body is empty or not JSON.
            RateLimitedError, SourceTimeoutError, RequestRejectedError, SourceError: as
                :meth:`get`.
        """
        response = self.get(path, params)
        assert response is not None
        return self.decode_json(response)

    def decode_json(self, response: httpx.Response) -> Any:
        """The JSON body of ``response``.

        Raises:
            PayloadError: the body is empty or not JSON.
        """
        url = redact(str(response.request.url), self.secrets)
        text = response.text
        if not text.strip():
            raise self._fail(
                PayloadError,
                f"{self.source}: GET {url} returned an empty body (HTTP "
                f"{response.status_code}); expected a JSON document; the source may be "
                "degraded: rerun later",
                url=url,
                status=response.status_code,
            )
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self._fail(
                PayloadError,
                f"{self.source}: GET {url} returned a body that is not JSON ({exc}); "
                f"expected a JSON document, received {text[:120]!r}; the source may have "
                "changed its format: report it",
                url=url,
                status=response.status_code,
            ) from exc

    def _wait(self, seconds: float, why: str) -> None:
        log.info("%s: %s; waiting %.1f s", self.source, why, seconds)
        self.options.sleep(seconds)

    def _respect_weight(self, response: httpx.Response) -> None:
        if self.weight_header is None or self.weight_limit_1m is None:
            return
        raw = response.headers.get(self.weight_header)
        if raw is None:
            return
        try:
            used = int(raw)
        except ValueError:
            return
        if used >= self.weight_threshold * self.weight_limit_1m:
            now = self.options.now()
            next_minute = now.floor("min") + pd.Timedelta(minutes=1)
            wait = (next_minute - now).total_seconds() + 1.0
            self._wait(
                wait,
                f"used weight {used} of {self.weight_limit_1m} per minute ({self.weight_header})",
            )
