"""A plain Python client of the Griffin API (``/api/v1``).

Nothing here imports Airflow: the same client works from a notebook, a script or
the Airflow hook (which only resolves a connection and builds one of these).

``GriffinClient`` is synchronous (``requests``); ``AsyncGriffinClient`` is its
asyncio twin (``httpx``) used by triggers. Both share one :class:`RetryPolicy`,
so the rule "retry only connection errors, timeouts, 429 and 5xx, honour
``Retry-After``, and retry a POST only when it carries an Idempotency-Key"
lives in exactly one place.

Example::

    from griffin_sdk.client import GriffinClient

    client = GriffinClient("http://127.0.0.1:8080", token="...")
    run = client.submit_run("grocery-reorder", overrides={"hyperparameters": {"lr": 0.1}})
    run = client.wait_for_run(run["id"], poll_interval=5, log_callback=print)
    version = client.register_model_version("grocery-reorder", run_id=run["id"], aliases=["production"])
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import requests

# The run states and their sets are generated from the service's lifecycle (server/domain/lifecycle.ts).
from griffin_sdk._states import GriffinRunState

__all__ = [
    "AsyncGriffinClient",
    "GriffinAPIError",
    "GriffinAuthError",
    "GriffinClient",
    "GriffinConflictError",
    "GriffinConnectionError",
    "GriffinError",
    "GriffinNotFoundError",
    "GriffinRunState",
    "GriffinUnreachableError",
    "GriffinWaitTimeoutError",
    "OutageTracker",
    "LogLineBuffer",
    "RetryPolicy",
    "cancelled_by_earlier_try",
    "is_unreachable",
    "parse_timestamp",
    "run_summary",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0
LOG_CHUNK_LIMIT = 65536
USER_AGENT = "griffin-sdk"
# How long a wait tolerates Griffin being unreachable (a deploy, a restart) before it fails.
DEFAULT_UNREACHABLE_TIMEOUT = 600.0


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class GriffinError(Exception):
    """Base class of every error raised by this client."""


class GriffinConnectionError(GriffinError):
    """The service could not be reached (after retries, where retries were allowed)."""


class GriffinUnreachableError(GriffinConnectionError):
    """Griffin stayed unreachable during a wait for longer than its outage budget."""


class GriffinWaitTimeoutError(GriffinError):
    """``wait_for_run`` reached its deadline before the run finished."""

    def __init__(self, message: str, run: dict[str, Any] | None = None):
        super().__init__(message)
        self.run = run


class GriffinAPIError(GriffinError):
    """The service answered with an error status; carries the contract's error body."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        field: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.method = method
        self.path = path
        self.retry_after = retry_after
        where = f"{method} {path} " if method and path else ""
        detail = f" (field {field})" if field else ""
        super().__init__(f"{where}-> HTTP {status} {code or 'error'}: {message}{detail}")


class GriffinAuthError(GriffinAPIError):
    """401 or 403."""


class GriffinNotFoundError(GriffinAPIError):
    """404."""


class GriffinConflictError(GriffinAPIError):
    """409: e.g. an Idempotency-Key reused with another body, or cancelling a finished run."""


def _error_class(status: int) -> type[GriffinAPIError]:
    if status in (401, 403):
        return GriffinAuthError
    if status == 404:
        return GriffinNotFoundError
    if status == 409:
        return GriffinConflictError
    return GriffinAPIError


# ---------------------------------------------------------------------------------------------
# Retry policy (the one place that decides what is retried and how long to wait)
# ---------------------------------------------------------------------------------------------

# PATCH is here because Griffin's only PATCH merges the given values: sending it twice changes nothing more.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """
    Which failures are retried, and how long to wait before the next attempt.

    Only transport failures (connection errors, timeouts), 429 and 5xx are retried; 4xx other than
    429 are the caller's mistake and retrying cannot help. A POST is retried only when it carries an
    ``Idempotency-Key``: otherwise a request that reached the service but whose answer was lost would
    be executed twice. Delays grow exponentially (``backoff_base * 2**attempt``, capped at
    ``backoff_max``) with "equal jitter" (half fixed, half random) so that many workers retrying at
    once spread out; a ``Retry-After`` header from the service takes precedence.

    :param max_retries: How many times a failed request is retried (0 disables retries).
    :param backoff_base: Delay in seconds of the first retry before jitter.
    :param backoff_max: Upper bound in seconds of a computed delay.
    :param retry_after_max: Upper bound in seconds of a delay taken from ``Retry-After``.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def may_retry_method(self, method: str, headers: Mapping[str, str] | None) -> bool:
        if method.upper() in IDEMPOTENT_METHODS:
            return True
        return any(k.lower() == "idempotency-key" and v for k, v in (headers or {}).items())

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        return status == 429 or 500 <= status <= 599

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.retry_after_max)
        cap = min(self.backoff_max, self.backoff_base * (2**attempt))
        return cap / 2 + self.rng() * cap / 2


# ---------------------------------------------------------------------------------------------
# Outages: while waiting, an unreachable Griffin means "state unknown", not "failed"
# ---------------------------------------------------------------------------------------------


def is_unreachable(err: BaseException) -> bool:
    """Whether an error says only that Griffin could not answer now: a connection error, timeout, 429 or 5xx."""
    if isinstance(err, GriffinConnectionError):
        return True
    return isinstance(err, GriffinAPIError) and RetryPolicy.is_retryable_status(err.status)


class OutageTracker:
    """
    How long Griffin has been unreachable during one wait, held against an outage budget.

    A deploy or restart of Griffin takes it away for seconds to minutes while runs keep training,
    so a wait treats every unreachable answer as "state unknown" and keeps waiting; only an outage
    longer than the budget fails it. Each failed request is logged once, with how long the outage
    has lasted. ``since`` is epoch seconds, so a caller that loses its memory between checks (a
    sensor in reschedule mode) can carry it over.

    :param budget: Seconds of continuous outage tolerated (``griffin_unreachable_timeout``).
    :param since: When the current outage began, if one is already under way.
    :param log: Where the outage lines go (default: this module's logger).
    """

    def __init__(
        self,
        budget: float | None = None,
        *,
        since: float | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.budget = DEFAULT_UNREACHABLE_TIMEOUT if budget is None else max(0.0, float(budget))
        self.since = since
        self._log = log or log_warning
        self._clock = clock

    def failed(self, err: GriffinError, what: str) -> None:
        """Record a failed request; re-raise it unless it only says Griffin is unreachable, or the budget is spent."""
        if not is_unreachable(err):
            raise err
        now = self._clock()
        if self.since is None:
            self.since = now
        down = now - self.since
        if down >= self.budget:
            raise GriffinUnreachableError(
                f"Griffin has been unreachable for {down:.0f}s while {what}, longer than "
                f"griffin_unreachable_timeout ({self.budget:.0f}s); last error: {err}"
            ) from err
        self._log(
            f"Griffin unreachable for {down:.0f}s while {what} (tolerated up to {self.budget:.0f}s); "
            f"still waiting. Last error: {err}"
        )

    def recovered(self) -> None:
        if self.since is not None:
            self._log(f"Griffin is reachable again after {self._clock() - self.since:.0f}s")
        self.since = None

    def pause(self, poll_interval: float) -> float:
        """Seconds to wait before the next try during an outage: never longer than what is left of the budget."""
        left = self.budget - (self._clock() - self.since) if self.since is not None else self.budget
        return max(0.5, min(poll_interval, left))


def log_warning(message: str) -> None:
    log.warning("%s", message)


def cancelled_by_earlier_try(run: Mapping[str, Any], try_number: int | None) -> bool:
    """
    Whether an earlier try of the same Airflow task asked to cancel this run.

    That happens when a user clears a task while it waits: the old try's kill cancels the run the
    new try may already have re-attached to. The new try then starts a new run instead of failing.
    """
    by = run.get("cancelRequestedByTry")
    if try_number is None or by is None:
        return False
    return run.get("state") in (GriffinRunState.CANCELLING.value, GriffinRunState.CANCELLED.value) and int(by) < int(try_number)


# ---------------------------------------------------------------------------------------------
# Helpers shared by the sync and async clients
# ---------------------------------------------------------------------------------------------


def parse_timestamp(value: str | None) -> float | None:
    """Epoch seconds from an ISO-8601 timestamp as the service writes them (``...Z``)."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def run_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-serialisable summary operators return and push to XCom."""
    metrics: dict[str, Any] = {}
    for key, point in (run.get("latestMetrics") or {}).items():
        metrics[key] = point.get("value") if isinstance(point, Mapping) else point
    workflow = run.get("workflow")
    workflow_ref = None
    if isinstance(workflow, Mapping) and workflow.get("name"):
        workflow_ref = f"{workflow['name']}@{workflow['version']}" if workflow.get("version") else workflow["name"]
    return {
        "run_id": run.get("id"),
        "state": run.get("state"),
        "url": run.get("url"),
        "workflow": workflow_ref,
        "attempt": run.get("attempt"),
        "reason": run.get("reason"),
        "metrics": metrics,
        "model_version": run.get("modelVersion"),
        "artifact_uri": run.get("artifactUri"),
        "idempotency_key": run.get("idempotencyKey"),
    }


def griffin_log_line(line: str) -> str:
    """A run's log line as it appears in the Airflow task log: marked once as Griffin's."""
    return line if line.startswith("[griffin]") else f"[griffin] {line}"


class LogLineBuffer:
    """Turns log chunks (which may cut a line in two) into whole lines."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, text: str) -> list[str]:
        if not text:
            return []
        data = self._partial + text
        lines = data.split("\n")
        self._partial = lines.pop()
        return [line.rstrip("\r") for line in lines]

    def pending_bytes(self) -> int:
        """Bytes of the line fed in part and not yet returned: a cursor minus these is at a line start."""
        return len(self._partial.encode("utf-8"))

    def flush(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return [rest.rstrip("\r")] if rest else []


def _quote(segment: Any) -> str:
    return quote(str(segment), safe="")


def _cancel_body(reason: str | None, try_number: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason} if reason else {}
    if try_number is not None:
        body["tryNumber"] = int(try_number)
    return body


def _new_idempotency_key() -> str:
    return f"griffin-py-{uuid.uuid4()}"


def _parse_error(status: int, body_text: str, method: str, path: str, retry_after: float | None):
    code = message = err_field = None
    try:
        payload = json.loads(body_text) if body_text else None
    except ValueError:
        payload = None
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        err = payload["error"]
        code, message, err_field = err.get("code"), err.get("message"), err.get("field")
    if not message:
        # Never an HTML page per the contract, but a proxy in front of the service may send one.
        message = (body_text or "").strip()[:300] or "no error body"
    return _error_class(status)(
        status, code, str(message), err_field, method=method, path=path, retry_after=retry_after
    )


class PolledBodies:
    """
    The last body and ETag of each path polled, for conditional GETs: Griffin answers 304 Not
    Modified to ``If-None-Match: <etag>`` while nothing changed, and the remembered body stands in.
    The sync and async clients share it; it does no I/O.
    """

    LIMIT = 1024

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, dict[str, Any]]] = {}

    def etag(self, path: str) -> str | None:
        """What to send as If-None-Match for ``path`` (None: nothing remembered, an ordinary GET)."""
        known = self._known.get(path)
        return known[0] if known else None

    def answer(self, path: str, status: int, etag: str | None, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The body a conditional GET stands for: the remembered one on 304, else ``body()`` (remembered with its ETag)."""
        if status == 304 and path in self._known:
            return self._known[path][1]
        fresh = body()
        if etag:
            if path not in self._known and len(self._known) >= self.LIMIT:
                self._known.pop(next(iter(self._known)))
            self._known[path] = (etag, fresh)
        return fresh


@dataclass(frozen=True)
class _Prepared:
    """One API request as both transports send it: what the sync and async request loops share."""

    method: str
    url: str
    params: dict[str, Any]
    headers: dict[str, str]
    may_retry: bool


class _Base:
    """What the sync and async clients share: configuration, URLs, headers, body building."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        verify: bool | str = True,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. http://127.0.0.1:8080")
        base = base_url.strip().rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        if "://" not in base:
            base = f"http://{base}"
        self.base_url = base
        self._token = token or None
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self.verify = verify
        self._polled = PolledBodies()

    def __repr__(self) -> str:
        # The token is deliberately absent.
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}{path}"

    def _headers(self, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _prepare(
        self, method: str, path: str, params: Mapping[str, Any] | None, idempotency_key: str | None, if_none_match: str | None
    ) -> _Prepared:
        method = method.upper()
        headers = self._headers(idempotency_key)
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        return _Prepared(
            method=method,
            url=self._url(path),
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers=headers,
            may_retry=self.retry_policy.may_retry_method(method, headers),
        )

    @staticmethod
    def _run_path(run_id: str) -> str:
        return f"/runs/{_quote(run_id)}"

    def _polled_run(self, path: str, response: Any) -> dict[str, Any]:
        """The run a conditional GET of ``path`` answered (either transport's response)."""
        return self._polled.answer(path, response.status_code, response.headers.get("ETag"), response.json)

    @staticmethod
    def _submit_body(
        workflow: str | None,
        spec: Mapping[str, Any] | None,
        overrides: Mapping[str, Any] | None,
        trigger: str | None,
        airflow: Mapping[str, Any] | None,
        rerun_if_failed: bool,
    ) -> dict[str, Any]:
        if bool(workflow) == bool(spec):
            raise ValueError("exactly one of workflow and spec is required")
        body: dict[str, Any] = {"workflow": workflow} if workflow else {"spec": dict(spec or {})}
        if overrides:
            body["overrides"] = dict(overrides)
        if trigger:
            body["trigger"] = trigger
        if airflow:
            body["airflow"] = dict(airflow)
        if rerun_if_failed:
            body["rerunIfFailed"] = True
        return body

    @staticmethod
    def _register_body(
        run_id: str | None,
        artifact_uri: str | None,
        aliases: list[str] | None,
        tags: Mapping[str, str] | None,
        description: str | None,
    ) -> dict[str, Any]:
        if bool(run_id) == bool(artifact_uri):
            raise ValueError("exactly one of run_id and artifact_uri is required")
        body: dict[str, Any] = {"runId": run_id} if run_id else {"artifactUri": artifact_uri}
        if tags:
            body["tags"] = {str(k): str(v) for k, v in tags.items()}
        if aliases:
            body["aliases"] = list(aliases)
        if description:
            body["description"] = description
        return body


    # -- retry decisions shared by the sync and async request loops ----------------------------

    def _delay_after_error(self, method: str, path: str, err: Exception, attempt: int, may_retry: bool) -> float:
        """Seconds to wait before retrying after a connection error or timeout; raises when out of retries."""
        if not (may_retry and attempt < self.retry_policy.max_retries):
            raise GriffinConnectionError(
                f"{method} {self.base_url}{API_PREFIX}{path} failed: {type(err).__name__}: {err}"
            ) from err
        delay = self.retry_policy.delay(attempt)
        log.warning(
            "Griffin %s %s failed (%s); retry %d/%d in %.1fs",
            method, path, type(err).__name__, attempt + 1, self.retry_policy.max_retries, delay,
        )
        return delay

    def _delay_after_status(
        self, method: str, path: str, status: int, headers: Mapping[str, str], text: str, attempt: int, may_retry: bool
    ) -> float:
        """Seconds to wait before retrying an error status; raises the API error when it is not retried."""
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if not (may_retry and self.retry_policy.is_retryable_status(status) and attempt < self.retry_policy.max_retries):
            raise _parse_error(status, text, method, path, retry_after)
        delay = self.retry_policy.delay(attempt, retry_after)
        log.warning(
            "Griffin %s %s answered HTTP %d; retry %d/%d in %.1fs",
            method, path, status, attempt + 1, self.retry_policy.max_retries, delay,
        )
        return delay


# ---------------------------------------------------------------------------------------------
# Synchronous client (requests)
# ---------------------------------------------------------------------------------------------


class GriffinClient(_Base):
    """
    Synchronous client of the Griffin API.

    :param base_url: The service URL, e.g. ``http://127.0.0.1:8080`` (with or without ``/api/v1``).
    :param token: Bearer token; never logged or shown in ``repr``.
    :param timeout: Seconds for each HTTP request (connect and read).
    :param retry_policy: What is retried and how long to wait; see :class:`RetryPolicy`.
    :param verify: TLS verification, as for ``requests`` (a bool or a CA bundle path).
    :param session: A ``requests.Session`` to reuse; one is created otherwise.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        verify: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout, retry_policy=retry_policy, verify=verify)
        self._session = session or requests.Session()
        self._sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> GriffinClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
        expected: tuple[int, ...] = (),
        if_none_match: str | None = None,
    ) -> requests.Response:
        """
        Send one API request, retrying per :attr:`retry_policy`; raise :class:`GriffinAPIError` on an error status.

        :param path: Path under ``/api/v1``, e.g. ``/runs``.
        :param expected: Extra statuses (>= 400) to return instead of raising.
        """
        req = self._prepare(method, path, params, idempotency_key, if_none_match)
        attempt = 0
        while True:
            try:
                response = self._session.request(
                    req.method, req.url, params=req.params, json=json_body, headers=req.headers,
                    timeout=self.timeout, verify=self.verify,
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                self._sleep(self._delay_after_error(req.method, path, err, attempt, req.may_retry))
                attempt += 1
                continue
            if response.status_code < 400 or response.status_code in expected:
                return response
            delay = self._delay_after_status(req.method, path, response.status_code, response.headers, response.text, attempt, req.may_retry)
            response.close()
            self._sleep(delay)
            attempt += 1

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        workflow: str | None = None,
        *,
        spec: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        trigger: str | None = None,
        airflow: Mapping[str, Any] | None = None,
        rerun_if_failed: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Like :meth:`submit_run`, but also says whether the run is new (HTTP 201) or existing (200)."""
        body = self._submit_body(workflow, spec, overrides, trigger, airflow, rerun_if_failed)
        response = self.request(
            "POST", "/runs", json_body=body, idempotency_key=idempotency_key or _new_idempotency_key()
        )
        return response.json(), response.status_code == 201

    def submit_run(
        self,
        workflow: str | None = None,
        *,
        spec: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        trigger: str | None = None,
        airflow: Mapping[str, Any] | None = None,
        rerun_if_failed: bool = False,
    ) -> dict[str, Any]:
        """
        Submit a training run and return the run object.

        :param workflow: Workflow ``name`` or ``name@version``.
        :param spec: An inline workflow spec instead of ``workflow``.
        :param overrides: ``hyperparameters``, ``datasetVersion``, ``resources``, ``timeoutSeconds``, ``backend``,
            ``maxAttempts``, ``retryOn``, ``retryBackoffSeconds`` (retries by Griffin itself).
        :param idempotency_key: Same key + same body returns the same run. Defaults to a random key, so
            that retries of this one call are safe but separate calls start separate runs.
        :param trigger: ``http`` (the service's default), ``ui``, ``cli`` or ``airflow``.
        :param airflow: The Airflow context recorded on the run (dagId, dagRunId, taskId, tryNumber, mapIndex).
        :param rerun_if_failed: With the same key, start a new run if the latest one failed or was cancelled.
        """
        return self.create_run(
            workflow,
            spec=spec,
            overrides=overrides,
            idempotency_key=idempotency_key,
            trigger=trigger,
            airflow=airflow,
            rerun_if_failed=rerun_if_failed,
        )[0]

    def get_run(self, run_id: str) -> dict[str, Any]:
        path = self._run_path(run_id)
        return self._polled_run(path, self.request("GET", path, if_none_match=self._polled.etag(path)))

    def list_runs(self, *, limit: int | None = None, page_token: str | None = None, **filters: Any) -> dict[str, Any]:
        """One page of runs. Filters: ``state``, ``workflow``, ``trigger``, ``dagId``, ``idempotencyKey``."""
        params = dict(filters, limit=limit, pageToken=page_token)
        return self._json("GET", "/runs", params=params)

    def cancel_run(self, run_id: str, reason: str | None = None, try_number: int | None = None) -> dict[str, Any]:
        """
        Ask the service to cancel a run; raises :class:`GriffinConflictError` if it already finished.

        :param try_number: The Airflow try asking, recorded on the run so that a newer try waiting
            on it can tell this from a user's cancel.
        """
        body = _cancel_body(reason, try_number)
        return self._json(
            "POST", f"/runs/{_quote(run_id)}/cancel", json_body=body, idempotency_key=_new_idempotency_key()
        )

    def call_through_outage(self, call: Callable[[], Any], outage: OutageTracker, what: str, pause: float = 10.0) -> Any:
        """
        ``call()`` until Griffin answers, for as long as ``outage`` tolerates; errors other than an
        unreachable Griffin are raised at once. Only for calls that are safe to repeat (GETs, and
        POSTs with a fixed Idempotency-Key).
        """
        while True:
            try:
                result = call()
            except GriffinError as err:
                outage.failed(err, what)
                self._sleep(outage.pause(pause))
                continue
            outage.recovered()
            return result

    def consume_run(self, run_id: str, try_number: int | None = None) -> dict[str, Any]:
        """Tell Griffin this Airflow try has finished with the run: the next try under its key trains again."""
        body = {"tryNumber": int(try_number)} if try_number is not None else {}
        return self._json("POST", f"/runs/{_quote(run_id)}/consume", json_body=body, idempotency_key=_new_idempotency_key())

    def whoami(self) -> dict[str, Any]:
        """The caller as Griffin sees it: ``{"name", "role", ...}``."""
        return self._json("GET", "/whoami")

    def get_logs(self, run_id: str, cursor: int = 0, limit: int = LOG_CHUNK_LIMIT) -> dict[str, Any]:
        """One chunk: ``{"text", "nextCursor", "complete"}``."""
        return self._json("GET", f"/runs/{_quote(run_id)}/logs", params={"cursor": cursor, "limit": limit})

    def iter_logs(self, run_id: str, cursor: int = 0) -> Iterator[tuple[str, int, bool]]:
        """Yield ``(text, next_cursor, complete)`` chunks from ``cursor`` up to what the service has now."""
        while True:
            chunk = self.get_logs(run_id, cursor)
            next_cursor = int(chunk.get("nextCursor", cursor) or cursor)
            complete = bool(chunk.get("complete"))
            yield chunk.get("text") or "", next_cursor, complete
            if complete or next_cursor <= cursor:
                return
            cursor = next_cursor

    def get_metrics(self, run_id: str, key: str | None = None) -> list[dict[str, Any]]:
        return self._json("GET", f"/runs/{_quote(run_id)}/metrics", params={"key": key}).get("items", [])

    def wait_for_run(
        self,
        run_id: str,
        *,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        deadline: float | None = None,
        log_callback: Callable[[str], None] | None = None,
        log_cursor: int = 0,
        raise_on_failure: bool = False,
        unreachable_timeout: float | None = None,
        outage: OutageTracker | None = None,
        status_callback: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """
        Poll until the run is terminal and return it; an unreachable Griffin is waited out.

        :param poll_interval: Seconds between polls.
        :param timeout: Give up after this many seconds (relative).
        :param deadline: Give up at this epoch time (absolute); the earlier of the two applies.
        :param log_callback: Called with every whole log line as it appears.
        :param log_cursor: Where to start reading the log (0 = the beginning).
        :param raise_on_failure: Raise :class:`GriffinError` if the run did not succeed.
        :param unreachable_timeout: Seconds of continuous outage tolerated (default 600); then
            :class:`GriffinUnreachableError`. Ignored when ``outage`` is given.
        :param outage: An :class:`OutageTracker` to share with the caller's other calls.
        :param status_callback: Called with the run at every poll, e.g. to show its state and, while
            it is queued, its ``reason`` (what holds it: "waiting for queue gpu: 2 of 2 running").
        """
        if timeout is not None:
            by_timeout = time.time() + timeout
            deadline = by_timeout if deadline is None else min(deadline, by_timeout)
        outage = outage or OutageTracker(unreachable_timeout)
        buffer = LogLineBuffer()
        run: dict[str, Any] | None = None
        while True:
            try:
                run = self.get_run(run_id)
                if log_callback is not None:
                    for text, next_cursor, _ in self.iter_logs(run_id, log_cursor):
                        for line in buffer.feed(text):
                            log_callback(line)
                        log_cursor = next_cursor
            except GriffinError as err:
                outage.failed(err, f"waiting for run {run_id}")
                if deadline is not None and time.time() >= deadline:
                    raise GriffinWaitTimeoutError(
                        f"run {run_id} not finished at the deadline (Griffin unreachable since "
                        f"{time.time() - (outage.since or time.time()):.0f}s)", run=run
                    ) from err
                self._sleep(outage.pause(poll_interval))
                continue
            outage.recovered()
            if status_callback is not None:
                status_callback(run)
            if GriffinRunState.is_terminal(run["state"]):
                if log_callback is not None:
                    for line in buffer.flush():
                        log_callback(line)
                if raise_on_failure and not GriffinRunState.is_success(run["state"]):
                    raise GriffinError(f"run {run_id} {run['state']}: {run.get('reason') or 'no reason given'}")
                return run
            now = time.time()
            if deadline is not None and now >= deadline:
                raise GriffinWaitTimeoutError(
                    f"run {run_id} still {run['state']} at the deadline", run=run
                )
            sleep_for = poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - now))
            self._sleep(sleep_for)

    # -- registry -----------------------------------------------------------------------------

    def register_model_version(
        self,
        model_name: str,
        *,
        run_id: str | None = None,
        artifact_uri: str | None = None,
        aliases: list[str] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """
        Register a model version from a run or an artifact URI; idempotent on (model, run).

        :param idempotency_key: Defaults to a random key, so that retries of this one call are safe.
        """
        body = self._register_body(run_id, artifact_uri, aliases, tags, description)
        return self._json(
            "POST",
            f"/registry/models/{_quote(model_name)}/versions",
            json_body=body,
            idempotency_key=idempotency_key or _new_idempotency_key(),
        )

    def get_model_version(self, model_name: str, version: int | str) -> dict[str, Any]:
        return self._json("GET", f"/registry/models/{_quote(model_name)}/versions/{_quote(version)}")

    def update_model_version(
        self, model_name: str, version: int | str, *, tags: Mapping[str, str] | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Merge ``tags`` into a version (other tags are kept) and replace its description."""
        body: dict[str, Any] = {}
        if tags:
            body["tags"] = {str(k): str(v) for k, v in tags.items()}
        if description is not None:
            body["description"] = description
        return self._json("PATCH", f"/registry/models/{_quote(model_name)}/versions/{_quote(version)}", json_body=body)

    def set_model_alias(self, model_name: str, alias: str, version: int) -> dict[str, Any] | None:
        return self._json(
            "PUT",
            f"/registry/models/{_quote(model_name)}/aliases/{_quote(alias)}",
            json_body={"version": int(version)},
        )

    # -- time context, compare-and-set aliases, alias history, changes feed, lineage ----------

    def create_run_with_time_context(
        self, workflow: str | None = None, *, time_context: Mapping[str, Any] | None, **kwargs: Any
    ) -> tuple[dict[str, Any], bool]:
        """
        Like :meth:`create_run`, with the logical date and data interval the run trains for:
        ``{"logicalDate", "dataIntervalStart", "dataIntervalEnd"}`` (ISO-8601 with an offset). The
        training process sees them as GRIFFIN_LOGICAL_DATE, GRIFFIN_DATA_INTERVAL_START and _END.
        """
        if not time_context:
            return self.create_run(workflow, **kwargs)
        body = self._submit_body(
            workflow,
            kwargs.get("spec"),
            kwargs.get("overrides"),
            kwargs.get("trigger"),
            kwargs.get("airflow"),
            bool(kwargs.get("rerun_if_failed")),
        )
        body["timeContext"] = dict(time_context)
        response = self.request(
            "POST", "/runs", json_body=body, idempotency_key=kwargs.get("idempotency_key") or _new_idempotency_key()
        )
        return response.json(), response.status_code == 201

    def get_model_alias(self, model_name: str, alias: str) -> dict[str, Any] | None:
        """The version an alias points at, or None when the alias is unset."""
        try:
            return self._json("GET", f"/registry/models/{_quote(model_name)}/aliases/{_quote(alias)}")
        except GriffinNotFoundError as err:
            if err.field == "alias":
                return None
            raise

    def move_model_alias(
        self, model_name: str, alias: str, version: int, *, expected_version: int | None, reason: str = ""
    ) -> dict[str, Any]:
        """
        Compare-and-set: point ``alias`` at ``version`` only if it points at ``expected_version``
        now (None: only if it is unset). Raises :class:`GriffinConflictError` (409) when the alias
        moved meanwhile; its message says where it is now. PUT is not retried on a lost answer
        by the client's policy unless the failure was before the request reached the service.
        """
        body: dict[str, Any] = {"version": int(version), "expectedVersion": None if expected_version is None else int(expected_version)}
        if reason:
            body["reason"] = reason
        return self._json("PUT", f"/registry/models/{_quote(model_name)}/aliases/{_quote(alias)}", json_body=body)

    def get_alias_history(self, model_name: str, alias: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Moves of an alias, newest first: ``{"fromVersion", "toVersion", "actor", "reason", "at", ...}``."""
        page = self._json("GET", f"/registry/models/{_quote(model_name)}/aliases/{_quote(alias)}/history", params={"limit": limit})
        return list((page or {}).get("items") or [])

    def get_registry_changes(
        self, *, after: int = 0, model: str | None = None, alias: str | None = None, kinds: list[str] | tuple[str, ...] | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Registry changes after a cursor, oldest first: ``{"items", "cursor", "hasMore", "head"}``."""
        return self._json("GET", "/registry/changes", params=_changes_params(after, model, alias, kinds, limit))

    def get_lineage(self, model_name: str, version: int | str) -> dict[str, Any]:
        """Where a version came from: run, workflow, model, dataset, features, trigger, time context."""
        return self._json("GET", f"/registry/models/{_quote(model_name)}/versions/{_quote(version)}/lineage")

    def get_feature(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/features/{_quote(name)}")

    def get_workflow(self, ref: str) -> dict[str, Any]:
        """A workflow by ``name`` or ``name@version``."""
        name, _, version = str(ref).partition("@")
        path = f"/workflows/{_quote(name)}" + (f"/versions/{_quote(version)}" if version else "")
        return self._json("GET", path)


# ---------------------------------------------------------------------------------------------
# Asynchronous client (httpx), for triggers
# ---------------------------------------------------------------------------------------------


class AsyncGriffinClient(_Base):
    """
    Asyncio client of the Griffin API, with the same retry policy as :class:`GriffinClient`.

    Use as ``async with AsyncGriffinClient(...) as client:`` or call :meth:`aclose`.

    :param base_url: The service URL, e.g. ``http://127.0.0.1:8080``.
    :param token: Bearer token; never logged or shown in ``repr``.
    :param timeout: Seconds for each HTTP request.
    :param retry_policy: What is retried and how long to wait; see :class:`RetryPolicy`.
    :param verify: TLS verification (a bool or a CA bundle path).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        verify: bool | str = True,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout, retry_policy=retry_policy, verify=verify)
        self._client: Any = None
        self._sleep: Callable[[float], Any] = asyncio.sleep

    def _http(self) -> Any:
        if self._client is None:
            import httpx  # imported lazily: only triggers need it

            self._client = httpx.AsyncClient(timeout=self.timeout, verify=self.verify)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> AsyncGriffinClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
        expected: tuple[int, ...] = (),
        if_none_match: str | None = None,
    ) -> Any:
        import httpx

        req = self._prepare(method, path, params, idempotency_key, if_none_match)
        attempt = 0
        while True:
            try:
                response = await self._http().request(req.method, req.url, params=req.params, json=json_body, headers=req.headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as err:
                await self._sleep(self._delay_after_error(req.method, path, err, attempt, req.may_retry))
                attempt += 1
                continue
            if response.status_code < 400 or response.status_code in expected:
                return response
            await self._sleep(
                self._delay_after_status(req.method, path, response.status_code, response.headers, response.text, attempt, req.may_retry)
            )
            attempt += 1

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get_run(self, run_id: str) -> dict[str, Any]:
        path = self._run_path(run_id)
        return self._polled_run(path, await self.request("GET", path, if_none_match=self._polled.etag(path)))

    async def cancel_run(self, run_id: str, reason: str | None = None, try_number: int | None = None) -> dict[str, Any]:
        body = _cancel_body(reason, try_number)
        return await self._json(
            "POST", f"/runs/{_quote(run_id)}/cancel", json_body=body, idempotency_key=_new_idempotency_key()
        )

    async def get_logs(self, run_id: str, cursor: int = 0, limit: int = LOG_CHUNK_LIMIT) -> dict[str, Any]:
        return await self._json("GET", f"/runs/{_quote(run_id)}/logs", params={"cursor": cursor, "limit": limit})

    async def get_log_cursor(self, run_id: str, reader: str) -> int:
        """How far ``reader`` said it copied the run's log (0 when it never said)."""
        body = await self._json("GET", f"/runs/{_quote(run_id)}/log-cursors/{_quote(reader)}")
        return int((body or {}).get("cursor") or 0)

    async def set_log_cursor(self, run_id: str, reader: str, cursor: int) -> int:
        """Record how far ``reader`` copied the run's log; the service keeps the largest cursor."""
        body = await self._json("PUT", f"/runs/{_quote(run_id)}/log-cursors/{_quote(reader)}", json_body={"cursor": int(cursor)})
        return int((body or {}).get("cursor") or cursor)

    async def read_new_logs(self, run_id: str, cursor: int = 0) -> tuple[str, int]:
        """All log text from ``cursor`` up to what the service has now, and the cursor after it."""
        parts: list[str] = []
        while True:
            chunk = await self.get_logs(run_id, cursor)
            parts.append(chunk.get("text") or "")
            next_cursor = int(chunk.get("nextCursor", cursor) or cursor)
            if chunk.get("complete") or next_cursor <= cursor:
                return "".join(parts), max(cursor, next_cursor)
            cursor = next_cursor

    async def get_registry_changes(
        self, *, after: int = 0, model: str | None = None, alias: str | None = None, kinds: list[str] | tuple[str, ...] | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Registry changes after a cursor, oldest first: ``{"items", "cursor", "hasMore", "head"}``."""
        return await self._json("GET", "/registry/changes", params=_changes_params(after, model, alias, kinds, limit))

    async def get_model_version(self, model_name: str, version: int | str) -> dict[str, Any]:
        return await self._json("GET", f"/registry/models/{_quote(model_name)}/versions/{_quote(version)}")


def _changes_params(after: int, model: str | None, alias: str | None, kinds: list[str] | tuple[str, ...] | None, limit: int) -> dict[str, Any]:
    return {"after": int(after), "model": model, "alias": alias, "kind": ",".join(kinds) if kinds else None, "limit": int(limit)}


def ceil_seconds(value: float) -> int:
    """Whole seconds, rounded up (a 0.5 s timeout must not become 0 = no timeout)."""
    return max(1, int(math.ceil(value)))
