"""Report metrics and artifacts from a training process back to Griffin.

Griffin puts this directory on the PYTHONPATH of every run, so training code can do::

    import griffin_run as g

    ctx = g.context()
    lr = ctx.hyperparameters.get("learning_rate", 0.1)
    rows = open(ctx.dataset_path()).read()
    g.log_metrics({"loss": 0.42, "auc": 0.81}, step=3)
    g.upload_artifact("model.json")

A run retried by Griffin (``maxAttempts``) can carry on where the attempt before it stopped::

    start = 0
    resumed = g.resume_path()              # None on attempt 1, or when nothing was saved
    if resumed:
        start = json.load(open(os.path.join(resumed, "state.json")))["epoch"] + 1
    for epoch in range(start, epochs):
        ...
        g.save_checkpoint("state.json")    # -> artifact checkpoints/state.json

Inside a run the service sets GRIFFIN_RUN_ID, GRIFFIN_ATTEMPT, GRIFFIN_API_URL, GRIFFIN_RUN_TOKEN,
GRIFFIN_HYPERPARAMETERS, GRIFFIN_DATASET_URI and GRIFFIN_ARTIFACT_URI. Without
GRIFFIN_RUN_ID (a script run by hand) nothing is sent anywhere: metrics are printed
and artifacts are copied into ./artifacts/, so the same script works on a laptop.

Reporting never holds training up for long, and survives Griffin being away for a while:

* Metrics and artifacts first go to a spool in the run directory (``.griffin-spool/``: metric
  batches as JSON lines, artifacts as copies), and a background thread delivers them in the
  order they were logged. ``log_metrics`` and ``upload_artifact`` return at once.
* Connection errors, timeouts, 429 and 5xx answers are retried with exponential backoff and
  jitter (honouring Retry-After). Every batch carries a ``batchId`` that the service stores
  once, so a batch delivered twice never duplicates a point.
* At exit the process waits for what is still spooled, for as long as Griffin has not been
  unreachable for GRIFFIN_REPORT_TIMEOUT seconds (default 900). It then writes
  ``.griffin-spool/state-*.json`` saying what, if anything, was never delivered; Griffin reads
  it to decide whether the run's model version can be registered. The exit status stays the
  training code's own.

Only the standard library is used, so any Python 3.8+ runtime can import it.
"""

import atexit
import collections
import http.client
import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Mapping, Optional

__all__ = [
    "GriffinError",
    "RunContext",
    "Reporter",
    "context",
    "log_metric",
    "log_metrics",
    "upload_artifact",
    "flush",
    "attempt",
    "save_checkpoint",
    "resume_path",
]

METRIC_BATCH_SIZE = 100
# Points wait at most this long before they are cut into a batch, so the UI stays live.
# A point logged alone reaches Griffin within this, so charts move while the run trains.
METRIC_FLUSH_INTERVAL_SECONDS = 1.0
DEFAULT_REPORT_TIMEOUT_SECONDS = 900.0
DEFAULT_BACKOFF_SECONDS = 0.5
# The longest pause between two tries: a service that is back is noticed within this.
MAX_BACKOFF_SECONDS = 15.0
MAX_RETRY_AFTER_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
SPOOL_DIR_NAME = ".griffin-spool"
STATE_FORMAT = 1


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
    # The slice of time the run trains for (an Airflow DAG run's logical date and data interval, or
    # a schedule's fire time and the one before it): ISO-8601 UTC strings, None when not given.
    logical_date: Optional[str] = None
    data_interval_start: Optional[str] = None
    data_interval_end: Optional[str] = None

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
        logical_date=env.get("GRIFFIN_LOGICAL_DATE") or None,
        data_interval_start=env.get("GRIFFIN_DATA_INTERVAL_START") or None,
        data_interval_end=env.get("GRIFFIN_DATA_INTERVAL_END") or None,
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


def report_timeout_from(env: Mapping[str, str]) -> float:
    """GRIFFIN_REPORT_TIMEOUT in seconds; a bad value falls back to the default with a warning."""
    raw = env.get("GRIFFIN_REPORT_TIMEOUT")
    if raw is None or not raw.strip():
        return DEFAULT_REPORT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        _warn("GRIFFIN_REPORT_TIMEOUT=%r is not a number of seconds >= 0; using %d"
              % (raw, DEFAULT_REPORT_TIMEOUT_SECONDS))
        return DEFAULT_REPORT_TIMEOUT_SECONDS
    return value


class _Item:
    """One delivery waiting in the spool: a metric batch or an artifact upload."""

    def __init__(self, seq: int, kind: str, **fields: Any):
        self.seq = seq
        self.kind = kind  # "metrics" | "artifact"
        self.batch_id = fields.get("batch_id")  # type: Optional[str]
        self.offset = fields.get("offset", 0)  # type: int
        self.length = fields.get("length", 0)  # type: int
        self.points = fields.get("points", 0)  # type: int
        self.dest = fields.get("dest")  # type: Optional[str]
        self.spool_path = fields.get("spool_path")  # type: Optional[str]
        self.owned = fields.get("owned", False)  # type: bool  # the spool's own copy, removed once delivered
        self.size = fields.get("size", 0)  # type: int
        # Set only when the spool could not be written: the batch is then kept in memory.
        self.body = fields.get("body")  # type: Optional[bytes]
        self.answer = None  # type: Optional[Dict[str, Any]]
        self.error = None  # type: Optional[GriffinError]


class _Spool:
    """Files in the run directory that hold what is not delivered yet; one set per reporter."""

    def __init__(self, directory: str, reporter_id: str):
        self.directory = directory
        self._id = reporter_id
        self.metrics_path = os.path.join(directory, "metrics-%s.jsonl" % reporter_id)
        self.state_path = os.path.join(directory, "state-%s.json" % reporter_id)
        self._artifact_dir = os.path.join(directory, "artifacts")

    def append_batch(self, batch_id: str, records: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Where the batch is kept: an offset and length in the spool file, or the bytes themselves."""
        line = (json.dumps({"batchId": batch_id, "metrics": records}, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(self.metrics_path, "ab") as out:
                offset = out.tell()
                out.write(line)
            return {"offset": offset, "length": len(line)}
        except OSError as exc:
            # A full or read-only disk must not stop training: memory holds the batch instead.
            self._warn_once("cannot write the spool in %s (%s); keeping unsent metrics in memory" % (self.directory, exc))
            return {"body": line.rstrip(b"\n")}

    def _warn_once(self, message: str) -> None:
        if not getattr(self, "_warned", False):
            self._warned = True
            _warn(message)

    def read_batch(self, item: _Item) -> bytes:
        if item.body is not None:
            return item.body
        with open(self.metrics_path, "rb") as spooled:
            spooled.seek(item.offset)
            return spooled.read(item.length).rstrip(b"\n")

    def add_artifact(self, local_path: str, seq: int) -> Optional[str]:
        """A copy, so that training code may overwrite or delete its file while the upload waits;
        None when no copy could be made (the upload then reads the original)."""
        target = os.path.join(self._artifact_dir, "%s-%06d" % (self._id, seq))
        try:
            os.makedirs(self._artifact_dir, exist_ok=True)
            shutil.copyfile(local_path, target)
            return target
        except OSError as exc:
            self._warn_once("cannot write the spool in %s (%s); artifacts are read from where they are" % (self.directory, exc))
            return None

    def write_state(self, state: Dict[str, Any]) -> None:
        temp = self.state_path + ".tmp"
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(temp, "w") as out:
                json.dump(state, out, indent=1, sort_keys=True)
            os.replace(temp, self.state_path)
        except OSError as exc:
            _warn("cannot record the reporting outcome in %s: %s" % (self.state_path, exc))

    def discard_delivered(self) -> None:
        """Everything arrived: only the state file stays, as the record of that."""
        for path in (self.metrics_path,):
            if os.path.exists(path):
                os.remove(path)


class Reporter:
    """Spools metrics and artifacts of one run and delivers them to the Griffin API in the background."""

    def __init__(
        self,
        environ: Optional[Mapping[str, str]] = None,
        batch_size: int = METRIC_BATCH_SIZE,
        flush_interval: float = METRIC_FLUSH_INTERVAL_SECONDS,
        report_timeout: Optional[float] = None,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        spool_dir: Optional[str] = None,
        offline_artifact_dir: str = "artifacts",
    ):
        env = os.environ if environ is None else environ
        self.context = context(env)
        self._token = env.get("GRIFFIN_RUN_TOKEN") or ""
        if not self.context.offline and not self._token:
            raise GriffinError("GRIFFIN_RUN_ID is set but GRIFFIN_RUN_TOKEN is not")
        self._batch_size = max(1, batch_size)
        self._flush_interval = max(0.01, flush_interval)
        self.report_timeout = report_timeout_from(env) if report_timeout is None else max(0.0, report_timeout)
        self._backoff_seconds = backoff_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._offline_artifact_dir = offline_artifact_dir
        self._id = uuid.uuid4().hex[:12]
        base = self.context.run_dir or os.getcwd()
        self._spool = _Spool(spool_dir or os.path.join(base, SPOOL_DIR_NAME), self._id)

        self._cond = threading.Condition()
        self._buffer = []  # type: List[Dict[str, Any]]
        self._buffer_since = 0.0
        self._queue = collections.deque()  # type: Deque[_Item]
        self._seq = 0
        self._delivered_seq = 0  # every item up to here has left the queue
        self._delivered_points = 0
        self._rejected = []  # type: List[_Item]
        self._unreported_rejections = []  # type: List[_Item]
        self._points_at_last_flush = 0
        self._outage_since = None  # type: Optional[float]
        self._last_error = None  # type: Optional[str]
        self._closing = False
        self._gave_up = False
        self._closed = False
        self._wake = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]

    # ---- metrics

    def log_metric(self, key: str, value: float, step: Optional[int] = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: Optional[int] = None) -> None:
        """Queue points for delivery; returns at once, whatever state Griffin is in."""
        timestamp = _now_millis()
        records = [r for r in (_metric_record(k, v, step, timestamp) for k, v in metrics.items()) if r]
        if self.context.offline:
            _print_metrics(records)
            return
        if not records:
            return
        with self._cond:
            if not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.extend(records)
            while len(self._buffer) >= self._batch_size:
                self._cut_batch(self._batch_size)
            self._ensure_sender()
            self._cond.notify_all()

    def flush(self, timeout: Optional[float] = None) -> int:
        """Wait until everything logged so far is delivered; returns how many metric points were
        delivered since the previous flush.

        Waits while Griffin answers, and while it has been unreachable for less than the report
        timeout (or `timeout` seconds, when given). What is still undelivered then stays spooled
        and is retried in the background. Raises GriffinError if Griffin refused anything since
        the previous flush (refused reports are dropped: sending them again cannot help).
        """
        if self.context.offline:
            return 0
        until = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cut_batch(len(self._buffer))
            self._cond.notify_all()
            target = self._seq
            while self._delivered_seq < target and not self._gave_up and self._thread is not None and self._thread.is_alive():
                now = time.monotonic()
                if until is not None and now >= until:
                    break
                if until is None and self._outage_since is not None and now - self._outage_since >= self.report_timeout:
                    break
                self._cond.wait(0.2)
            refused, self._unreported_rejections = self._unreported_rejections, []
            pending = [item for item in self._queue if item.seq <= target]
            delivered_points = self._delivered_points - self._points_at_last_flush
            self._points_at_last_flush = self._delivered_points
        if pending:
            _warn("%s not delivered yet (%s); kept in %s and retried in the background"
                  % (_describe(pending), self._last_error or "Griffin is unreachable", self._spool.directory))
        if refused:
            raise refused[0].error  # type: ignore[misc]
        return delivered_points

    def pending(self) -> Dict[str, Any]:
        """What is spooled and not delivered yet: metric points and artifact paths."""
        with self._cond:
            items = list(self._queue)
            buffered = len(self._buffer)
        return {
            "metricPoints": buffered + sum(i.points for i in items if i.kind == "metrics"),
            "artifacts": [i.dest for i in items if i.kind == "artifact"],
        }

    def _cut_batch(self, count: int) -> None:
        """Turn the first `count` buffered points into a spooled batch (caller holds the lock)."""
        if count <= 0:
            return
        records = self._buffer[:count]
        del self._buffer[:count]
        self._buffer_since = time.monotonic()
        self._seq += 1
        # The id travels with the batch through every retry: the service stores a batch id once.
        batch_id = "%s-%d" % (self._id, self._seq)
        kept = self._spool.append_batch(batch_id, records)
        self._queue.append(_Item(self._seq, "metrics", batch_id=batch_id, points=len(records), **kept))

    # ---- artifacts

    def upload_artifact(self, local_path: str, dest_path: Optional[str] = None, wait: bool = False) -> Dict[str, Any]:
        """Upload one file as artifact `dest_path` (default: its file name) of this run.

        The file is copied into the spool and delivered in the background, after the metrics
        logged before it. With wait=True the call returns Griffin's answer once it has arrived
        (and raises GriffinError if Griffin refused it).
        """
        if not os.path.isfile(local_path):
            raise GriffinError("artifact %r is not a file" % local_path)
        dest = _checked_dest_path(dest_path or os.path.basename(local_path))
        if self.context.offline:
            return self._copy_artifact_locally(local_path, dest)
        with self._cond:
            # Metrics logged before the artifact are delivered before it.
            self._cut_batch(len(self._buffer))
            self._seq += 1
            spooled = self._spool.add_artifact(local_path, self._seq)
            source = spooled or os.path.abspath(local_path)
            item = _Item(self._seq, "artifact", dest=dest, spool_path=source, size=os.path.getsize(source), owned=spooled is not None)
            self._queue.append(item)
            self._ensure_sender()
            self._cond.notify_all()
        if wait:
            self.flush()
            if item.error is not None:
                raise item.error
            if item.answer is not None:
                return item.answer
        uri = (self.context.artifact_uri or "") + _quote_path(dest) if self.context.artifact_uri else None
        return {"path": dest, "size": item.size, "uri": uri, "queued": item.answer is None}

    def _copy_artifact_locally(self, local_path: str, dest: str) -> Dict[str, Any]:
        target = os.path.join(self._offline_artifact_dir, *dest.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.abspath(target) != os.path.abspath(local_path):
            shutil.copyfile(local_path, target)
        print("[griffin] artifact %s -> %s" % (dest, target), flush=True)
        return {"path": dest, "size": os.path.getsize(target), "uri": _file_uri(target)}

    # ---- closing

    def close(self) -> Dict[str, Any]:
        """Deliver what is spooled, waiting while Griffin has been away for less than the report
        timeout, then record the outcome in the spool's state file. Returns that state."""
        if self.context.offline:
            return {"complete": True}
        with self._cond:
            if self._closed:
                return self._state()
            self._cut_batch(len(self._buffer))
            self._closing = True
            if self._queue:
                self._ensure_sender()
            self._wake.set()
            self._cond.notify_all()
            while self._queue and not self._gave_up and self._thread is not None and self._thread.is_alive():
                self._cond.wait(0.5)
            self._closed = True
            state = self._state()
            touched = self._seq > 0
        if touched:
            self._spool.write_state(state)
            if state["complete"]:
                self._spool.discard_delivered()
            else:
                _warn("giving up on reporting: %s never reached Griffin (%s); see %s"
                      % (_describe(list(self._queue)), state["lastError"] or "unreachable", self._spool.state_path))
        return state

    def _state(self) -> Dict[str, Any]:
        items = list(self._queue)
        unreachable = None if self._outage_since is None else round(time.monotonic() - self._outage_since, 1)
        return {
            "format": STATE_FORMAT,
            "runId": self.context.run_id,
            "complete": not items,
            "pending": {
                "metricPoints": sum(i.points for i in items if i.kind == "metrics"),
                "metricBatches": sum(1 for i in items if i.kind == "metrics"),
                "artifacts": [i.dest for i in items if i.kind == "artifact"],
            },
            "rejected": {
                "metricPoints": sum(i.points for i in self._rejected if i.kind == "metrics"),
                "artifacts": [i.dest for i in self._rejected if i.kind == "artifact"],
            },
            "delivered": {"metricPoints": self._delivered_points},
            "reportTimeoutSeconds": self.report_timeout,
            "unreachableSeconds": unreachable if items else None,
            "lastError": self._last_error if items else None,
            "writtenAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    # ---- the sender

    def _ensure_sender(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_loop, name="griffin-reporter", daemon=True)
            self._thread.start()

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if self._closing:
                        return
                    if self._buffer:
                        due = self._buffer_since + self._flush_interval - time.monotonic()
                        if due <= 0:
                            self._cut_batch(len(self._buffer))
                            continue
                        self._cond.wait(due)
                    else:
                        self._cond.wait()
                item = self._queue[0]
            outcome = self._deliver(item)
            with self._cond:
                if outcome == "gave_up":
                    self._gave_up = True
                    self._cond.notify_all()
                    return
                self._queue.popleft()
                self._delivered_seq = item.seq
                if outcome == "delivered":
                    self._delivered_points += item.points
                    if item.owned and os.path.exists(item.spool_path or ""):
                        os.remove(item.spool_path or "")
                else:
                    self._rejected.append(item)
                    self._unreported_rejections.append(item)
                    _warn("%s refused by Griffin and dropped: %s" % (_describe([item]), item.error))
                self._cond.notify_all()

    def _deliver(self, item: _Item) -> str:
        """Try until delivered or refused; give up only once closing and unreachable for the timeout."""
        attempt = 0
        while True:
            try:
                item.answer = self._send_item(item)
                with self._cond:
                    self._outage_since = None
                    self._last_error = None
                return "delivered"
            except GriffinError as exc:
                item.error = exc
                return "rejected"
            except OSError as exc:
                # Network errors arrive as _Retryable; this is the spooled copy (or the original
                # file) gone or unreadable, which no retry can mend.
                item.error = GriffinError("cannot read %s to send it: %s" % (_describe([item]), exc))
                return "rejected"
            except _Retryable as exc:
                attempt += 1
                now = time.monotonic()
                with self._cond:
                    if self._outage_since is None:
                        self._outage_since = now
                    self._last_error = exc.reason
                    self._cond.notify_all()
                    outage = now - self._outage_since
                delay = self._retry_delay(attempt, exc.retry_after)
                if self._closing:
                    left = self.report_timeout - outage
                    if left <= 0:
                        return "gave_up"
                    delay = min(delay, left)
                # close() sets _wake once, so a long pause is cut short to re-check the deadline.
                if self._wake.wait(delay):
                    self._wake.clear()

    def _send_item(self, item: _Item) -> Dict[str, Any]:
        if item.kind == "metrics":
            body = self._spool.read_batch(item)
            return self._request("POST", self._run_path("metrics"), body, {"Content-Type": "application/json"})
        path = self._run_path("artifacts/" + _quote_path(item.dest or ""))
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(item.size)}
        with open(item.spool_path or "", "rb") as data:
            return self._request("PUT", path, data, headers)

    # ---- HTTP

    def _run_path(self, suffix: str) -> str:
        run_id = urllib.parse.quote(self.context.run_id or "", safe="")
        return "/api/v1/runs/%s/%s" % (run_id, suffix)

    def _request(self, method: str, path: str, data: Any, headers: Dict[str, str]) -> Dict[str, Any]:
        """One exchange: the JSON answer; _Retryable for what is worth another try; GriffinError."""
        request = urllib.request.Request((self.context.api_url or "") + path, data=data, method=method)
        for name, value in headers.items():
            request.add_header(name, value)
        request.add_header("Authorization", "Bearer " + self._token)
        return _send(request)

    def _retry_delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        # Jitter keeps the many runs of one sweep from hammering a recovering server in step.
        ceiling = min(self._max_backoff_seconds, self._backoff_seconds * (2 ** min(attempt - 1, 30)))
        return ceiling * random.uniform(0.5, 1.0)


def _describe(items: List[_Item]) -> str:
    points = sum(i.points for i in items if i.kind == "metrics")
    artifacts = [i.dest for i in items if i.kind == "artifact"]
    parts = []
    if points:
        parts.append("%d metric point%s" % (points, "" if points == 1 else "s"))
    if artifacts:
        parts.append("artifact%s %s" % ("" if len(artifacts) == 1 else "s", ", ".join(str(a) for a in artifacts)))
    return " and ".join(parts) or "nothing"


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
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
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
            # At exit: deliver what is spooled (waiting out a short outage) before the process ends.
            atexit.register(_default_reporter.close)
            _exit_cleanly_on_sigterm()
        return _default_reporter


def _exit_cleanly_on_sigterm() -> None:
    """A cancel (or a pod's termination) is a SIGTERM, whose default action ends the process
    without running atexit: the points logged since the last batch would be lost. Unless the
    training code handles SIGTERM itself, it becomes a normal exit with status 143, so the reporter's
    close runs first. Only the main thread may install handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _terminate)
    except (ValueError, OSError):
        pass


def _terminate(signum: int, _frame: Any) -> None:
    # Back to the default first: a second SIGTERM (the sender is stuck) ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)


def log_metric(key: str, value: float, step: Optional[int] = None) -> None:
    _reporter().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: Optional[int] = None) -> None:
    _reporter().log_metrics(metrics, step)


def upload_artifact(local_path: str, dest_path: Optional[str] = None, wait: bool = False) -> Dict[str, Any]:
    return _reporter().upload_artifact(local_path, dest_path, wait)


def flush(timeout: Optional[float] = None) -> int:
    return _reporter().flush(timeout)


# --------------------------------------------------------------------------- input model (batch scoring)


@dataclass(frozen=True)
class InputModel:
    """The registered model version a scoring run was given, resolved by Griffin at submission."""

    name: str
    version: int
    alias: Optional[str]
    artifact_uri: str


def input_model(environ: Optional[Mapping[str, str]] = None) -> Optional[InputModel]:
    """The run's input model (GRIFFIN_INPUT_MODEL=name@version), or None when it has none."""
    env = os.environ if environ is None else environ
    ref = env.get("GRIFFIN_INPUT_MODEL") or ""
    if not ref:
        return None
    name, _, version = ref.rpartition("@")
    if not name or not version.isdigit():
        raise GriffinError("GRIFFIN_INPUT_MODEL must be name@version (got %r)" % ref)
    uri = env.get("GRIFFIN_INPUT_MODEL_URI") or ""
    if not uri:
        raise GriffinError("GRIFFIN_INPUT_MODEL is set but GRIFFIN_INPUT_MODEL_URI is not")
    return InputModel(name=name, version=int(version), alias=env.get("GRIFFIN_INPUT_MODEL_ALIAS") or None, artifact_uri=uri)


def download_input_model(dest_dir: str, environ: Optional[Mapping[str, str]] = None, attempts: int = 5) -> List[str]:
    """Downloads every artifact of the input model version into dest_dir; returns their relative paths.

    A Griffin artifact URI (.../api/v1/runs/<id>/artifacts/) is read with the run's own token, which
    Griffin lets read the artifacts of the run that produced the run's input model; a file:// URI
    is copied. Connection errors and 5xx are retried with backoff.
    """
    env = os.environ if environ is None else environ
    model = input_model(env)
    if model is None:
        raise GriffinError("this run has no input model (GRIFFIN_INPUT_MODEL is not set)")
    os.makedirs(dest_dir, exist_ok=True)
    if model.artifact_uri.startswith("file://"):
        source = local_path_from_uri(model.artifact_uri)
        copied = []
        for root, _dirs, files in os.walk(source):
            for name in files:
                rel = os.path.relpath(os.path.join(root, name), source)
                os.makedirs(os.path.dirname(os.path.join(dest_dir, rel)) or dest_dir, exist_ok=True)
                shutil.copyfile(os.path.join(root, name), os.path.join(dest_dir, rel))
                copied.append(rel)
        return sorted(copied)
    base = model.artifact_uri if model.artifact_uri.endswith("/") else model.artifact_uri + "/"
    if "/api/v1/runs/" not in base:
        raise GriffinError("cannot download %s: only Griffin run artifacts and file:// URIs are supported" % model.artifact_uri)
    return _download_artifacts(base, "", dest_dir, env.get("GRIFFIN_RUN_TOKEN") or "", attempts)


def _download_artifacts(base: str, prefix: str, dest_dir: str, token: str, attempts: int) -> List[str]:
    """Downloads the artifacts under `prefix` of the run whose artifact URI is `base` (ending in
    /artifacts/) into dest_dir, without the prefix; returns their relative paths."""

    def get(url):
        request = urllib.request.Request(url, method="GET")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRYABLE_STATUSES or attempt == attempts:
                    raise GriffinError("GET %s -> HTTP %d: %s" % (url, exc.code, _error_message(exc)), exc.code) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if attempt == attempts:
                    raise GriffinError("GET %s failed: %s" % (url, getattr(exc, "reason", exc))) from None
            time.sleep(min(MAX_BACKOFF_SECONDS, DEFAULT_BACKOFF_SECONDS * 2 ** attempt))
        raise AssertionError("unreachable")

    listing = json.loads(get(base.rstrip("/")).decode("utf-8"))
    paths = []
    for item in listing.get("items", []):
        full = _checked_dest_path(str(item["path"]))
        if not full.startswith(prefix):
            continue
        rel = full[len(prefix):]
        target = os.path.join(dest_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(get(base + _quote_path(full)))
        paths.append(rel)
    return sorted(paths)


# --------------------------------------------------------------------------- attempts and checkpoints

CHECKPOINT_PREFIX = "checkpoints/"
RESUME_DIR_NAME = ".griffin-resume"


def attempt(environ: Optional[Mapping[str, str]] = None) -> int:
    """Which attempt of the run this process is (GRIFFIN_ATTEMPT, from 1); 1 outside Griffin."""
    env = os.environ if environ is None else environ
    raw = env.get("GRIFFIN_ATTEMPT") or "1"
    try:
        return max(1, int(raw))
    except ValueError:
        raise GriffinError("GRIFFIN_ATTEMPT must be a whole number (got %r)" % raw) from None


def save_checkpoint(path: str, reporter: Optional[Reporter] = None) -> List[str]:
    """Saves a file, or every file under a directory, as the run's checkpoint: artifacts under
    checkpoints/ (a file keeps its name, a directory's files their paths inside it). Waits until
    Griffin has them, so a process killed right after loses nothing it saved; a later save of the
    same name replaces it. Outside Griffin they are copied into ./artifacts/checkpoints/.
    Returns the artifact paths written."""
    rep = reporter or _reporter()
    if os.path.isdir(path):
        files = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(root, name)
                files.append((full, os.path.relpath(full, path).replace(os.sep, "/")))
        if not files:
            raise GriffinError("checkpoint directory %r is empty" % path)
        files.sort(key=lambda f: f[1])
    elif os.path.isfile(path):
        files = [(path, os.path.basename(path))]
    else:
        raise GriffinError("checkpoint %r is neither a file nor a directory" % path)
    saved = []
    for full, rel in files:
        dest = CHECKPOINT_PREFIX + rel
        rep.upload_artifact(full, dest, wait=True)
        saved.append(dest)
    return saved


_resumed = {}  # type: Dict[str, str]


def resume_path(dest_dir: Optional[str] = None, environ: Optional[Mapping[str, str]] = None, attempts: int = 5) -> Optional[str]:
    """A local directory holding what earlier attempts of this run saved with save_checkpoint(),
    or None: on attempt 1, outside Griffin, or when nothing was saved (GRIFFIN_RESUME_FROM unset).

    GRIFFIN_RESUME_FROM is the URI of the run's checkpoints/ artifact directory
    (https://<griffin>/api/v1/runs/<id>/artifacts/checkpoints/); its files are downloaded with the
    run's own token into dest_dir (default: .griffin-resume/ in the run's working directory), once
    per process. A file:// URI is a local directory and is returned as it is."""
    env = os.environ if environ is None else environ
    uri = env.get("GRIFFIN_RESUME_FROM") or ""
    if not uri:
        return None
    if uri.startswith("file://"):
        return local_path_from_uri(uri)
    if uri in _resumed and dest_dir is None:
        return _resumed[uri]
    marker = "/artifacts/"
    if "/api/v1/runs/" not in uri or marker not in uri:
        raise GriffinError("GRIFFIN_RESUME_FROM=%r is not a Griffin run's artifact directory or a file:// URI" % uri)
    cut = uri.index(marker) + len(marker)
    base, prefix = uri[:cut], urllib.parse.unquote(uri[cut:])
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    target = dest_dir or os.path.join(env.get("GRIFFIN_RUN_DIR") or os.getcwd(), RESUME_DIR_NAME)
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.makedirs(target, exist_ok=True)
    _download_artifacts(base, prefix, target, env.get("GRIFFIN_RUN_TOKEN") or "", attempts)
    if dest_dir is None:
        _resumed[uri] = target
    return target
