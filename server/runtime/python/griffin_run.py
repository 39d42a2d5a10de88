"""Report metrics and artifacts from a training process back to Griffin.

Griffin puts this directory on the PYTHONPATH of every run, so training code can do::

    import griffin_run as g

    ctx = g.context()
    lr = ctx.hyperparameters.get("learning_rate", 0.1)
    rows = open(ctx.dataset_path()).read()
    g.log_metrics({"loss": 0.42, "auc": 0.81}, step=3)
    g.upload_artifact("model.json")

Inside a run the service sets GRIFFIN_RUN_ID, GRIFFIN_API_URL, GRIFFIN_RUN_TOKEN,
GRIFFIN_HYPERPARAMETERS, GRIFFIN_DATASET_URI and GRIFFIN_ARTIFACT_URI. Without
GRIFFIN_RUN_ID (a script run by hand) nothing is sent anywhere: metrics are printed
and artifacts are copied into ./artifacts/, so the same script works on a laptop.

Only the standard library is used, so any Python 3.8+ runtime can import it.
"""

import atexit
import json
import math
import os
import random
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

__all__ = [
    "GriffinError",
    "RunContext",
    "Reporter",
    "context",
    "log_metric",
    "log_metrics",
    "upload_artifact",
    "flush",
]

METRIC_BATCH_SIZE = 100
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_SECONDS = 0.5
# A server asking for a long pause should not stall training for minutes.
MAX_RETRY_AFTER_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class GriffinError(Exception):
    """A call to Griffin failed for good, or the run environment is unusable."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class RunContext:
    """What the run's environment says about this run. The token is deliberately absent."""

    run_id: Optional[str]
    api_url: Optional[str]
    hyperparameters: Dict[str, Any] = field(default_factory=dict)
    dataset_uri: Optional[str] = None
    artifact_uri: Optional[str] = None
    run_dir: Optional[str] = None

    @property
    def offline(self) -> bool:
        return not self.run_id

    def dataset_path(self, default: Optional[str] = None) -> Optional[str]:
        """The dataset as a local path; `default` when the run has no dataset URI."""
        if not self.dataset_uri:
            return default
        return local_path_from_uri(self.dataset_uri)


def context(environ: Optional[Mapping[str, str]] = None) -> RunContext:
    """Read the run context from the environment (os.environ unless given)."""
    env = os.environ if environ is None else environ
    run_id = env.get("GRIFFIN_RUN_ID") or None
    api_url = env.get("GRIFFIN_API_URL") or None
    if run_id and not api_url:
        raise GriffinError("GRIFFIN_RUN_ID is set but GRIFFIN_API_URL is not")
    return RunContext(
        run_id=run_id,
        api_url=api_url.rstrip("/") if api_url else None,
        hyperparameters=_parse_hyperparameters(env.get("GRIFFIN_HYPERPARAMETERS")),
        dataset_uri=env.get("GRIFFIN_DATASET_URI") or None,
        artifact_uri=env.get("GRIFFIN_ARTIFACT_URI") or None,
        run_dir=env.get("GRIFFIN_RUN_DIR") or None,
    )


def _parse_hyperparameters(raw: Optional[str]) -> Dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise GriffinError("GRIFFIN_HYPERPARAMETERS is not valid JSON: %s" % exc) from None
    if not isinstance(value, dict):
        raise GriffinError("GRIFFIN_HYPERPARAMETERS must be a JSON object")
    return value


def local_path_from_uri(uri: str) -> str:
    """Turn a file:// URI (or a plain path) into a local path; refuse remote URIs."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise GriffinError("file URI on another host is not readable here: %s" % uri)
        return urllib.request.url2pathname(parsed.path)
    # A one-letter "scheme" is a Windows drive letter, i.e. still a plain path.
    if parsed.scheme and len(parsed.scheme) > 1:
        raise GriffinError(
            "dataset URI %r is not a local file; fetch it before calling dataset_path()" % uri
        )
    return uri


# --------------------------------------------------------------------------- reporter


class Reporter:
    """Buffers metrics and sends them, with artifacts, to one run on the Griffin API."""

    def __init__(
        self,
        environ: Optional[Mapping[str, str]] = None,
        batch_size: int = METRIC_BATCH_SIZE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        offline_artifact_dir: str = "artifacts",
    ):
        env = os.environ if environ is None else environ
        self.context = context(env)
        self._token = env.get("GRIFFIN_RUN_TOKEN") or ""
        if not self.context.offline and not self._token:
            raise GriffinError("GRIFFIN_RUN_ID is set but GRIFFIN_RUN_TOKEN is not")
        self._batch_size = max(1, batch_size)
        self._max_attempts = max(1, max_attempts)
        self._backoff_seconds = backoff_seconds
        self._offline_artifact_dir = offline_artifact_dir
        self._buffer = []  # type: List[Dict[str, Any]]
        self._lock = threading.Lock()

    # ---- metrics

    def log_metric(self, key: str, value: float, step: Optional[int] = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: Optional[int] = None) -> None:
        timestamp = _now_millis()
        records = [r for r in (_metric_record(k, v, step, timestamp) for k, v in metrics.items()) if r]
        if self.context.offline:
            _print_metrics(records)
            return
        with self._lock:
            self._buffer.extend(records)
            full = len(self._buffer) >= self._batch_size
        if full:
            # Training must not die because telemetry hiccuped; an explicit flush() still raises.
            self._flush_quietly()

    def flush(self) -> int:
        """Send every buffered metric now. Returns how many were sent; raises GriffinError."""
        sent = 0
        while True:
            with self._lock:
                batch = self._buffer[: self._batch_size]
                del self._buffer[: self._batch_size]
            if not batch:
                return sent
            self._post_metrics(batch)
            sent += len(batch)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except GriffinError as exc:
            _warn("metrics dropped: %s" % exc)

    def _post_metrics(self, batch: List[Dict[str, Any]]) -> None:
        body = json.dumps({"metrics": batch}).encode("utf-8")
        # One key per batch, kept across retries, lets the server drop a duplicate delivery
        # when a response was lost after the metrics were stored.
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        self._request("POST", self._run_path("metrics"), lambda: body, headers)

    # ---- artifacts

    def upload_artifact(self, local_path: str, dest_path: Optional[str] = None) -> Dict[str, Any]:
        """Upload one file as artifact `dest_path` (default: its file name) of this run."""
        if not os.path.isfile(local_path):
            raise GriffinError("artifact %r is not a file" % local_path)
        dest = _checked_dest_path(dest_path or os.path.basename(local_path))
        if self.context.offline:
            return self._copy_artifact_locally(local_path, dest)
        size = os.path.getsize(local_path)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        path = self._run_path("artifacts/" + _quote_path(dest))
        # The file is reopened for every attempt so that a retry sends it from the start.
        return self._request("PUT", path, lambda: open(local_path, "rb"), headers)

    def _copy_artifact_locally(self, local_path: str, dest: str) -> Dict[str, Any]:
        target = os.path.join(self._offline_artifact_dir, *dest.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.abspath(target) != os.path.abspath(local_path):
            shutil.copyfile(local_path, target)
        print("[griffin] artifact %s -> %s" % (dest, target), flush=True)
        return {"path": dest, "size": os.path.getsize(target), "uri": _file_uri(target)}

    # ---- HTTP

    def _run_path(self, suffix: str) -> str:
        run_id = urllib.parse.quote(self.context.run_id or "", safe="")
        return "/api/v1/runs/%s/%s" % (run_id, suffix)

    def _request(
        self, method: str, path: str, open_body: Callable[[], Any], headers: Dict[str, str]
    ) -> Dict[str, Any]:
        url = (self.context.api_url or "") + path
        for attempt in range(1, self._max_attempts + 1):
            request = urllib.request.Request(url, data=open_body(), method=method)
            for name, value in headers.items():
                request.add_header(name, value)
            request.add_header("Authorization", "Bearer " + self._token)
            try:
                return _send(request)
            except _Retryable as exc:
                if attempt == self._max_attempts:
                    raise GriffinError(
                        "%s %s failed after %d attempts: %s" % (method, path, attempt, exc.reason),
                        exc.status,
                    ) from None
                time.sleep(self._retry_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _retry_delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        # Jitter keeps many runs of one sweep from hammering a recovering server in step.
        return self._backoff_seconds * (2 ** (attempt - 1)) * random.uniform(0.75, 1.25)


class _Retryable(Exception):
    def __init__(self, reason: str, status: Optional[int] = None, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _send(request: urllib.request.Request) -> Dict[str, Any]:
    """One HTTP exchange: the parsed JSON answer, _Retryable, or GriffinError."""
    body = request.data
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return _parse_json(response.read())
    except urllib.error.HTTPError as exc:
        reason = "HTTP %d: %s" % (exc.code, _error_message(exc))
        if exc.code in RETRYABLE_STATUSES:
            raise _Retryable(reason, exc.code, _retry_after(exc)) from None
        raise GriffinError("%s %s -> %s" % (request.get_method(), _path_of(request), reason), exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        # Connection refused or reset, DNS failure, timeout: the service may be restarting.
        raise _Retryable("connection error: %s" % getattr(exc, "reason", exc)) from None
    finally:
        if hasattr(body, "close"):
            body.close()


def _parse_json(raw: bytes) -> Dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read().decode("utf-8"))
        return str(payload["error"]["message"])
    except Exception:  # an HTML page from a proxy, an empty body, ...: the status line is enough
        return exc.reason if isinstance(exc.reason, str) else "error"


def _retry_after(exc: urllib.error.HTTPError) -> Optional[float]:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date; plain backoff is good enough


def _path_of(request: urllib.request.Request) -> str:
    return urllib.parse.urlparse(request.full_url).path


# --------------------------------------------------------------------------- helpers


def _now_millis() -> int:
    return int(time.time() * 1000)


def _metric_record(key: Any, value: Any, step: Optional[int], timestamp: int) -> Optional[Dict[str, Any]]:
    if not isinstance(key, str) or not key:
        raise ValueError("metric key must be a non-empty string, got %r" % (key,))
    number = _as_float(key, value)
    if not math.isfinite(number):
        # JSON has no NaN/Infinity; sending one would make the whole batch unreadable.
        _warn("metric %r skipped: value %r is not finite" % (key, number))
        return None
    record = {"key": key, "value": number, "timestamp": timestamp}  # type: Dict[str, Any]
    if step is not None:
        record["step"] = int(step)
    return record


def _as_float(key: str, value: Any) -> float:
    # Anything float() accepts (numpy scalars, 0-d tensors) is welcome, except text and
    # booleans, which are almost always a mistake in the caller.
    if isinstance(value, (bool, str, bytes)):
        raise TypeError("metric %r must be a number, got %r" % (key, value))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError("metric %r must be a number, got %r" % (key, value)) from None


def _print_metrics(records: List[Dict[str, Any]]) -> None:
    for record in records:
        step = " step=%d" % record["step"] if "step" in record else ""
        print("[griffin] metric %s=%.6g%s" % (record["key"], record["value"], step), flush=True)


def _checked_dest_path(dest: str) -> str:
    dest = dest.replace("\\", "/")
    segments = dest.split("/")
    if dest.startswith("/") or any(s in ("", ".", "..") for s in segments):
        raise GriffinError("artifact path %r must be relative, without empty, '.' or '..' parts" % dest)
    return dest


def _quote_path(dest: str) -> str:
    return "/".join(urllib.parse.quote(segment, safe="") for segment in dest.split("/"))


def _file_uri(path: str) -> str:
    return "file://" + urllib.request.pathname2url(os.path.abspath(path))


def _warn(message: str) -> None:
    print("[griffin] warning: %s" % message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- module API

_default_reporter = None  # type: Optional[Reporter]
_default_lock = threading.Lock()


def _reporter() -> Reporter:
    """The process-wide reporter, built from the environment on first use."""
    global _default_reporter
    with _default_lock:
        if _default_reporter is None:
            _default_reporter = Reporter()
            atexit.register(_default_reporter._flush_quietly)
        return _default_reporter


def log_metric(key: str, value: float, step: Optional[int] = None) -> None:
    _reporter().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: Optional[int] = None) -> None:
    _reporter().log_metrics(metrics, step)


def upload_artifact(local_path: str, dest_path: Optional[str] = None) -> Dict[str, Any]:
    return _reporter().upload_artifact(local_path, dest_path)


def flush() -> int:
    return _reporter().flush()
