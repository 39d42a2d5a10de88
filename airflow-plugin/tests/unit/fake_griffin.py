"""
An in-process fake of the Griffin HTTP API, for the unit tier only.

It is a stand-in for the live service: it follows the API contract's routes, status codes
(201/200 on submission with an Idempotency-Key, 409 on a reused key with another body or when
cancelling a finished run, 404 with ``field``, 401 without a valid token, 429/503 with
``Retry-After``) and error bodies (``{"error": {"code", "message", "field"}}``), but none of its
behaviour beyond what the provider's tests need. The system tier runs the same provider against
the real TypeScript service.

Runs follow a *plan*: a list of states (or ``(state, reason)`` pairs); every ``GET /api/v1/runs/{id}`` moves the run one step
along its plan, so a test decides how many polls a run takes and how it ends.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# The service's own state sets, as the SDK carries them (generated from server/domain/lifecycle.ts).
from griffin_sdk._states import RERUNNABLE_STATES
from griffin_sdk._states import TERMINAL_STATES as TERMINAL

ERROR_CODES = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal",
    502: "upstream",
    503: "internal",
}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass
class Fault:
    """Answer matching requests with ``status`` (or drop the connection) ``times`` times."""

    method: str
    path: str  # regular expression matched against the path (without query)
    status: int = 503
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without an answer
    after: bool = False  # process the request first (the answer is "lost")
    delay: float = 0.0  # seconds to stall before answering (a slow service)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class ApiError(Exception):
    def __init__(self, status: int, message: str, field_name: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field_name
        self.headers = headers or {}


class FakeGriffin:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.lock = threading.RLock()
        self.runs: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, list[str]] = {}
        self.logs: dict[str, str] = {}
        self.log_cursors: dict[tuple[str, str], int] = {}
        self.keys: dict[tuple[str, str], dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        # Every success answer as (method, path, status, body), for the contract test to hold
        # against the service's OpenAPI document.
        self.answers: list[tuple[str, str, int, Any]] = []
        self.faults: list[Fault] = []
        self.workflows: dict[str, dict[str, Any]] = {
            "grocery-reorder": {"version": 1, "register": "grocery-reorder"},
            "churn": {"version": 3, "register": None},
        }
        self.default_plan = ["queued", "running", "succeeded"]
        self.next_plans: list[list[str]] = []
        self.failure_reason = "exit code 1: ValueError: bad learning rate"
        self.role = "editor"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests) is not an error of the fake

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- test controls ------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int = 503, times: int = 1, **kwargs: Any) -> Fault:
        fault = Fault(method.upper(), path, status, times, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or re.fullmatch(path, r.path))
            ]

    def set_plan(self, run_id: str, plan: list[str]) -> None:
        with self.lock:
            self.plans[run_id] = list(plan)

    def set_state(self, run_id: str, state: str, reason: str | None = None) -> None:
        with self.lock:
            self._enter(self.runs[run_id], state, reason)
            self.plans[run_id] = []

    # -- plumbing -----------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path, query = parts.path, parse_qs(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<invalid json>"
        headers = {k.lower(): v for k, v in handler.headers.items()}
        method = handler.command
        with self.lock:
            self.requests.append(Recorded(method, path, query, headers, body))
            fault = next(
                (f for f in self.faults if f.times > 0 and f.method == method and re.fullmatch(f.path, path)), None
            )
            if fault:
                fault.times -= 1
        if fault and fault.delay:
            time.sleep(fault.delay)
            fault = None if not (fault.drop or fault.after) else fault
        if fault and not fault.after:
            return self._fault(handler, fault)
        try:
            if headers.get("authorization") != f"Bearer {self.token}":
                raise ApiError(401, "missing or invalid bearer token")
            with self.lock:
                status, payload = self._route(method, path, query, headers, body)
        except ApiError as err:
            status, payload = err.status, {
                "error": {"code": ERROR_CODES.get(err.status, "internal"), "message": err.message, "field": err.field}
            }
        if fault:
            return self._fault(handler, fault)
        if 200 <= status < 300:
            with self.lock:
                self.answers.append((method, path, status, copy.deepcopy(payload)))
        data = json.dumps(payload).encode() if payload is not None else b""
        handler.send_response(status)
        if data:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _fault(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.drop:
            handler.close_connection = True
            try:
                handler.connection.shutdown(2)
            except OSError:
                pass
            return
        data = json.dumps(
            {"error": {"code": ERROR_CODES.get(fault.status, "internal"), "message": "injected fault", "field": None}}
        ).encode()
        handler.send_response(fault.status)
        for k, v in fault.headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, query: dict, headers: dict, body: Any) -> tuple[int, Any]:
        segs = [unquote(s) for s in path.strip("/").split("/")]
        if segs[:2] != ["api", "v1"]:
            raise ApiError(404, f"no route {path}")
        segs = segs[2:]
        key = headers.get("idempotency-key")
        if segs == ["runs"] and method == "POST":
            return self._submit(body or {}, key)
        if segs == ["runs"] and method == "GET":
            return 200, self._list_runs(query)
        if len(segs) == 2 and segs[0] == "runs" and method == "GET":
            return 200, self._get_run(segs[1], advance=True)
        if len(segs) == 3 and segs[0] == "runs" and segs[2] == "cancel" and method == "POST":
            return self._cancel(segs[1], body or {})
        if len(segs) == 3 and segs[0] == "runs" and segs[2] == "consume" and method == "POST":
            return self._consume(segs[1], body or {})
        if len(segs) == 4 and segs[0] == "runs" and segs[2] == "log-cursors":
            self._run(segs[1])
            slot = (segs[1], segs[3])
            if method == "PUT":
                self.log_cursors[slot] = max(self.log_cursors.get(slot, 0), int((body or {})["cursor"]))
            return 200, {"reader": segs[3], "cursor": self.log_cursors.get(slot, 0)}
        if segs == ["whoami"] and method == "GET":
            return 200, {"kind": "user", "tokenId": "0123456789abcdef", "name": "test", "role": self.role}
        if segs[:2] == ["registry", "models"] and len(segs) == 5 and segs[3] == "versions" and method == "PATCH":
            return self._update_version(segs[2], int(segs[4]), body or {})
        if len(segs) == 3 and segs[0] == "runs" and segs[2] == "logs" and method == "GET":
            return 200, self._logs(segs[1], query)
        if segs[:2] == ["registry", "models"] and len(segs) == 4 and segs[3] == "versions" and method == "POST":
            return self._register(segs[2], body or {}, key)
        if segs[:2] == ["registry", "models"] and len(segs) == 5 and segs[3] == "aliases" and method == "PUT":
            return self._set_alias(segs[2], segs[4], body or {})
        if segs[:2] == ["registry", "models"] and len(segs) == 5 and segs[3] == "versions" and method == "GET":
            return 200, self._version(segs[2], int(segs[4]))
        raise ApiError(404, f"no route {method} {path}")

    # -- runs ---------------------------------------------------------------------------------

    @staticmethod
    def _fingerprint(body: dict[str, Any]) -> str:
        # The try number changes on every Airflow retry of the same task instance, which must
        # re-attach: it is provenance, not part of what the request asks for.
        body = copy.deepcopy(body)
        if isinstance(body.get("airflow"), dict):
            body["airflow"].pop("tryNumber", None)
        return json.dumps(body, sort_keys=True)

    def _submit(self, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
        workflow = body.get("workflow")
        if not workflow and not body.get("spec"):
            raise ApiError(400, "workflow or spec is required", "workflow")
        name, _, version = (workflow or "inline").partition("@")
        if workflow and name not in self.workflows:
            raise ApiError(404, f"unknown workflow {workflow!r}", "workflow")
        overrides = body.get("overrides") or {}
        timeout = overrides.get("timeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
            raise ApiError(400, "timeoutSeconds must be a positive integer", "overrides.timeoutSeconds")
        if body.get("trigger") not in (None, "http", "ui", "cli", "airflow"):
            raise ApiError(400, "unknown trigger", "trigger")
        if key is not None:
            entry = self.keys.get(("runs", key))
            if entry:
                if entry["fingerprint"] != self._fingerprint(body):
                    raise ApiError(409, "Idempotency-Key reused with a different request body")
                latest = self.runs[entry["ids"][-1]]
                rerun = body.get("rerunIfFailed") and latest["state"] in RERUNNABLE_STATES
                if not (rerun or latest["consumedAt"]):
                    return 200, self._public(latest)
        run = self._new_run(name if workflow else None, version, body, key)
        if key is not None:
            entry = self.keys.setdefault(("runs", key), {"fingerprint": self._fingerprint(body), "ids": []})
            entry["ids"].append(run["id"])
        return 201, self._public(run)

    def _new_run(self, name: str | None, version: str, body: dict, key: str | None) -> dict[str, Any]:
        run_id = secrets.token_hex(6)
        created = _now()
        overrides = body.get("overrides") or {}
        wf = self.workflows.get(name or "", {})
        attempt = 1 + sum(1 for r in self.runs.values() if key and r["idempotencyKey"] == key)
        run = {
            "id": run_id,
            "state": "queued",
            "terminal": False,
            "workflow": {"name": name, "version": int(version or wf.get("version", 1))} if name else None,
            "spec": {
                "workflow": {"name": name, "version": int(version or wf.get("version", 1))} if name else None,
                "model": {"name": "logistic-regression", "version": 1, "framework": "sklearn", "codeUri": "examples/code"},
                "dataset": {"name": "grocery-reorder", "version": 1, "uri": "examples/data.csv", "features": []},
                "runtime": {"name": "python", "image": None, "pythonVersion": "3.11", "rayVersion": None, "localInterpreter": None},
                "backend": overrides.get("backend", "local"),
                "entrypoint": "python train.py",
                "hyperparameters": overrides.get("hyperparameters", {}),
                "resources": overrides.get("resources", {}),
                "timeoutSeconds": overrides.get("timeoutSeconds") or 3600,
                "register": {"modelName": wf["register"], "aliases": [], "tags": {}} if wf.get("register") else None,
            },
            "backend": overrides.get("backend", "local"),
            "backendRef": None,
            "attempt": attempt,
            "trigger": body.get("trigger", "http"),
            "airflow": body.get("airflow"),
            "schedule": None,
            "timeContext": {k: (body.get("timeContext") or {}).get(k) for k in ("logicalDate", "dataIntervalStart", "dataIntervalEnd")}
            if body.get("timeContext") else None,
            "idempotencyKey": key,
            "reason": None,
            "queue": overrides.get("queue", "default"),
            "priority": overrides.get("priority", 0),
            "maxAttempts": overrides.get("maxAttempts", 1),
            "notBefore": None,
            "parentRunId": None,
            "experimentId": None,
            "createdAt": _iso(created),
            "updatedAt": _iso(created),
            "startedAt": None,
            "finishedAt": None,
            "deadlineAt": _iso(created + timedelta(seconds=overrides["timeoutSeconds"]))
            if overrides.get("timeoutSeconds") else None,
            "url": f"{self.base_url}/runs/{run_id}",
            "airflowUrl": None,
            "artifactUri": f"{self.base_url}/api/v1/runs/{run_id}/artifacts/",
            "modelVersion": None,
            "inputModel": None,
            "cancelRequestedAt": None,
            "cancelRequestedByTry": None,
            "consumedAt": None,
            "consumedByTry": None,
            "latestMetrics": {},
            "events": [],
            "_register": wf.get("register"),
        }
        self.runs[run_id] = run
        self.logs[run_id] = ""
        plan = self.next_plans.pop(0) if self.next_plans else list(self.default_plan)
        self.plans[run_id] = plan[1:] if plan and plan[0] == "queued" else plan
        return run

    def _enter(self, run: dict[str, Any], state: str, reason: str | None = None) -> None:
        old = run["state"]
        run["state"] = state
        run["terminal"] = state in TERMINAL
        run["events"].append({"from": old, "to": state, "reason": reason, "at": _iso(_now())})
        run["updatedAt"] = _iso(_now())
        log = self.logs[run["id"]]
        if state in ("launching", "running") and old == "queued":
            run["reason"] = None  # launched: nothing holds it any more, as on the service
        if state == "running" and old != "running":
            run["startedAt"] = _iso(_now())
            log += "starting training\nepoch 1 loss=0.9\n"
        elif state == "succeeded":
            log += "epoch 2 loss=0.4\nsaved model\n"
            run["latestMetrics"] = {"auc": {"value": 0.81, "step": 2, "timestamp": _iso(_now())}}
            if run["_register"]:
                version = self._add_version(run["_register"], run["id"], run["artifactUri"], {}, [])
                run["modelVersion"] = {"name": version["name"], "version": version["version"]}
        elif state == "queued":
            run["reason"] = reason
        elif state == "failed":
            run["reason"] = reason or self.failure_reason
            log += f"Traceback (most recent call last):\n{run['reason']}\n"
        elif state == "cancelled":
            run["reason"] = reason or "cancelled"
        if state in TERMINAL:
            run["finishedAt"] = _iso(_now())
        self.logs[run["id"]] = log

    def _public(self, run: dict[str, Any], events: bool = False) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in run.items() if not k.startswith("_")}
        if not events:
            out.pop("events")
        return out

    def _run(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            raise ApiError(404, f"run {run_id} not found")
        return self.runs[run_id]

    def _get_run(self, run_id: str, advance: bool) -> dict[str, Any]:
        run = self._run(run_id)
        plan = self.plans.get(run_id) or []
        if advance and plan and not run["terminal"]:
            step = plan.pop(0)
            # A step is a state, or (state, reason): e.g. ("queued", "waiting for queue gpu: 2 of 2 running").
            state, reason = step if isinstance(step, tuple) else (step, None)
            self._enter(run, state, reason)
        return self._public(run, events=True)

    def _list_runs(self, query: dict) -> dict[str, Any]:
        items = list(self.runs.values())
        for param, attr in (("idempotencyKey", "idempotencyKey"), ("state", "state"), ("trigger", "trigger")):
            if param in query:
                items = [r for r in items if r[attr] == query[param][0]]
        items.sort(key=lambda r: r["createdAt"], reverse=True)
        limit = int(query.get("limit", ["50"])[0])
        return {"items": [self._public(r) for r in items[:limit]], "nextPageToken": None}

    def _cancel(self, run_id: str, body: dict) -> tuple[int, Any]:
        run = self._run(run_id)
        if run["terminal"]:
            raise ApiError(409, f"run {run_id} is already {run['state']}")
        run["cancelRequestedAt"] = _iso(_now())
        run["cancelRequestedByTry"] = body.get("tryNumber")
        self._enter(run, "cancelled", body.get("reason"))
        self.plans[run_id] = []
        return 202, self._public(run)

    def _consume(self, run_id: str, body: dict) -> tuple[int, Any]:
        run = self._run(run_id)
        if not run["consumedAt"]:
            run["consumedAt"] = _iso(_now())
            run["consumedByTry"] = body.get("tryNumber")
        return 200, self._public(run)

    def _logs(self, run_id: str, query: dict) -> dict[str, Any]:
        run = self._run(run_id)
        text = self.logs[run_id]
        cursor = int(query.get("cursor", ["0"])[0])
        limit = int(query.get("limit", ["65536"])[0])
        chunk = text[cursor: cursor + limit]
        nxt = cursor + len(chunk)
        return {"text": chunk, "nextCursor": nxt, "complete": bool(run["terminal"] and nxt >= len(text))}

    # -- registry -----------------------------------------------------------------------------

    def _add_version(self, name: str, run_id: str | None, uri: str, tags: dict, aliases: list) -> dict[str, Any]:
        model = self.models.setdefault(name, {"versions": [], "aliases": {}})
        number = len(model["versions"]) + 1
        version = {
            "name": name,
            "version": number,
            "artifactUri": uri,
            "runId": run_id,
            "metrics": {k: v["value"] for k, v in (self.runs[run_id]["latestMetrics"] if run_id else {}).items()},
            "tags": dict(tags),
            "description": "",
            "aliases": [],
            "createdAt": _iso(_now()),
            "url": f"{self.base_url}/models/{name}/versions/{number}",
        }
        model["versions"].append(version)
        for alias in aliases:
            self._point(name, alias, number)
        return version

    def _point(self, name: str, alias: str, number: int) -> None:
        model = self.models[name]
        old = model["aliases"].get(alias)
        if old is not None:
            model["versions"][old - 1]["aliases"].remove(alias)
        model["aliases"][alias] = number
        model["versions"][number - 1]["aliases"].append(alias)

    def _register(self, name: str, body: dict, key: str | None) -> tuple[int, Any]:
        if key is not None and ("register", key) in self.keys:
            entry = self.keys[("register", key)]
            if entry["fingerprint"] != json.dumps(body, sort_keys=True):
                raise ApiError(409, "Idempotency-Key reused with a different request body")
            return 200, copy.deepcopy(self._version(name, entry["version"]))
        run_id, uri = body.get("runId"), body.get("artifactUri")
        if bool(run_id) == bool(uri):
            raise ApiError(400, "exactly one of runId and artifactUri", "runId")
        if run_id:
            run = self._run(run_id)
            if run["state"] != "succeeded":
                raise ApiError(422, f"run {run_id} is {run['state']}, not succeeded", "runId")
            existing = next((v for v in self.models.get(name, {}).get("versions", []) if v["runId"] == run_id), None)
            if existing:
                return 200, copy.deepcopy(existing)
            uri = run["artifactUri"]
        version = self._add_version(name, run_id, uri, body.get("tags") or {}, body.get("aliases") or [])
        if key is not None:
            fingerprint = json.dumps(body, sort_keys=True)
            self.keys[("register", key)] = {"fingerprint": fingerprint, "version": version["version"]}
        return 201, copy.deepcopy(version)

    def _version(self, name: str, number: int) -> dict[str, Any]:
        model = self.models.get(name)
        if not model or not 1 <= number <= len(model["versions"]):
            raise ApiError(404, f"model {name} version {number} not found")
        return model["versions"][number - 1]

    def _update_version(self, name: str, number: int, body: dict) -> tuple[int, Any]:
        version = self._version(name, number)
        if not body.get("tags") and body.get("description") is None:
            raise ApiError(400, 'give "tags" or "description" to change', "tags")
        version["tags"].update(body.get("tags") or {})
        if body.get("description") is not None:
            version["description"] = body["description"]
        return 200, copy.deepcopy(version)

    def _set_alias(self, name: str, alias: str, body: dict) -> tuple[int, Any]:
        number = body.get("version")
        self._version(name, int(number or 0))
        self._point(name, alias, int(number))
        return 200, copy.deepcopy(self._version(name, int(number)))
