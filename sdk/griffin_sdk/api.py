"""The notebook-facing SDK: ``Client``, ``Run`` and ``ModelVersion`` over :class:`GriffinClient`.

Example::

    from griffin_sdk import Client

    client = Client.from_env()                    # GRIFFIN_URL, GRIFFIN_TOKEN
    run = client.submit(code="./my_project", entrypoint="python train.py",
                        dataset="grocery-reorder", register="my-model")
    run.wait()                                    # live log lines and state changes
    print(run.metrics(), run.model_version)
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any, Callable, TextIO

import requests

from griffin_sdk.client import (
    DEFAULT_TIMEOUT,
    GriffinClient,
    GriffinNotFoundError,
    GriffinRunState,
    LogLineBuffer,
    _parse_error,
    parse_retry_after,
)
from griffin_sdk.code import DEFAULT_MAX_BYTES, pack_directory

__all__ = ["Client", "ModelVersion", "Run"]

_NAME = re.compile(r"[^a-z0-9._-]+")


def _model_name_for(directory: str) -> str:
    name = _NAME.sub("-", os.path.basename(os.path.abspath(directory)).lower()).strip("-._")
    return name or "uploaded-code"


class ModelVersion:
    """A registered model version; ``.data`` is the API object."""

    def __init__(self, client: Client, data: Mapping[str, Any]) -> None:
        self._client = client
        self.data = dict(data)

    name = property(lambda self: self.data.get("name") or self.data.get("modelName"))
    version = property(lambda self: self.data.get("version"))
    aliases = property(lambda self: list(self.data.get("aliases") or []))
    run_id = property(lambda self: self.data.get("runId"))
    metrics = property(lambda self: dict(self.data.get("metrics") or {}))

    def set_alias(self, alias: str) -> ModelVersion:
        """Point ``alias`` (e.g. ``production``) at this version."""
        self._client.set_alias(self.name, alias, self.version)
        return self._client.get_version(self.name, self.version)

    def __repr__(self) -> str:
        aliases = f" aliases={','.join(self.aliases)}" if self.aliases else ""
        run = f" run={self.run_id}" if self.run_id else ""
        return f"<ModelVersion {self.name} v{self.version}{aliases}{run}>"


class Run:
    """A training run. Its fields are read fresh by :meth:`refresh`, :meth:`wait` and ``state``."""

    def __init__(self, client: Client, data: Mapping[str, Any]) -> None:
        self._client = client
        self.data = dict(data)

    id = property(lambda self: self.data["id"])
    url = property(lambda self: self.data.get("url"))
    reason = property(lambda self: self.data.get("reason"))

    @property
    def state(self) -> str:
        if not GriffinRunState.is_terminal(self.data["state"]):
            self.refresh()
        return self.data["state"]

    @property
    def done(self) -> bool:
        return GriffinRunState.is_terminal(self.state)

    @property
    def succeeded(self) -> bool:
        return self.state == GriffinRunState.SUCCEEDED.value

    def refresh(self) -> Run:
        self.data = self._client.raw.get_run(self.id)
        return self

    def wait(
        self,
        timeout: float | None = None,
        *,
        poll_interval: float = 2.0,
        progress: bool | Callable[[str], None] = True,
        raise_on_failure: bool = False,
        out: TextIO | None = None,
    ) -> Run:
        """
        Block until the run ends, printing its log lines and state changes as they come.

        :param progress: True prints to ``out`` (stdout), a callable gets each line, False is silent.
        :param raise_on_failure: raise :class:`GriffinError` unless the run succeeded.
        """
        stream = out or sys.stdout
        emit: Callable[[str], None] | None
        if progress is True:
            emit = lambda line: (stream.write(line + "\n"), stream.flush())  # noqa: E731
        elif callable(progress):
            emit = progress
        else:
            emit = None
        last_state = None

        def on_line(line: str) -> None:
            if emit:
                emit(line)

        while True:
            self.refresh()
            state = self.data["state"]
            # A queued run's reason changes while it waits (what holds it), so it is shown again then.
            if emit and (state, self.reason) != last_state:
                emit(f"[griffin] run {self.id}: {state}" + (f" ({self.reason})" if self.reason else ""))
                last_state = (state, self.reason)
            if GriffinRunState.is_terminal(state):
                break
            # One wait_for_run poll at a time keeps the log cursor here and lets state changes show.
            self._cursor = self._copy_logs(on_line)
            time.sleep(poll_interval if timeout is None else max(0.0, min(poll_interval, timeout)))
            if timeout is not None:
                timeout -= poll_interval
                if timeout <= 0:
                    from griffin_sdk.client import GriffinWaitTimeoutError

                    raise GriffinWaitTimeoutError(f"run {self.id} still {state} after waiting", run=self.data)
        self._cursor = self._copy_logs(on_line, final=True)
        if emit:
            metrics = " ".join(f"{k}={v.get('value'):.4g}" for k, v in (self.data.get("latestMetrics") or {}).items())
            if metrics:
                emit(f"[griffin] metrics: {metrics}")
            if self.data.get("modelVersion"):
                mv = self.data["modelVersion"]
                emit(f"[griffin] model version: {mv.get('name')} v{mv.get('version')}")
        if raise_on_failure and not GriffinRunState.is_success(self.data["state"]):
            from griffin_sdk.client import GriffinError

            raise GriffinError(f"run {self.id} {self.data['state']}: {self.reason or 'no reason given'}")
        return self

    _cursor = 0
    _buffer: LogLineBuffer | None = None

    def _copy_logs(self, on_line: Callable[[str], None], final: bool = False) -> int:
        if self._buffer is None:
            self._buffer = LogLineBuffer()
        cursor = self._cursor
        for text, next_cursor, _ in self._client.raw.iter_logs(self.id, cursor):
            for line in self._buffer.feed(text):
                on_line(line)
            cursor = next_cursor
        if final:
            for line in self._buffer.flush():
                on_line(line)
        return cursor

    def logs(self, follow: bool = False) -> Iterator[str] | str:
        """The log so far as one string; with ``follow=True`` an iterator of lines until the run ends."""
        if not follow:
            return "".join(text for text, _, _ in self._client.raw.iter_logs(self.id, 0))
        return self._follow()

    def _follow(self) -> Iterator[str]:
        response = self._client.raw._session.get(
            self._client.raw._url(f"/runs/{self.id}/logs"),
            params={"follow": "true"},
            headers=self._client.raw._headers(None),
            stream=True,
            timeout=(self._client.raw.timeout, None),
        )
        if response.status_code >= 400:
            raise _parse_error(response.status_code, response.text, "GET", f"/runs/{self.id}/logs", None)
        with response:
            buffer = LogLineBuffer()
            for chunk in response.iter_content(chunk_size=None, decode_unicode=False):
                yield from buffer.feed(chunk.decode("utf-8", errors="replace"))
            yield from buffer.flush()

    def metrics(self, key: str | None = None) -> dict[str, list[tuple[int, float]]]:
        """Every metric point, as ``{key: [(step, value), ...]}``."""
        series: dict[str, list[tuple[int, float]]] = {}
        for point in self._client.raw.get_metrics(self.id, key):
            series.setdefault(point["key"], []).append((int(point.get("step", 0)), float(point["value"])))
        return series

    def cancel(self, reason: str | None = None) -> Run:
        self.data = self._client.raw.cancel_run(self.id, reason)
        return self

    @property
    def model_version(self) -> ModelVersion | None:
        """The version this run registered, once it has."""
        mv = self.data.get("modelVersion") or self.refresh().data.get("modelVersion")
        if not mv:
            return None
        return self._client.get_version(mv["name"], mv["version"])

    def __repr__(self) -> str:
        wf = self.data.get("workflow")
        what = f"{wf['name']}@{wf['version']}" if isinstance(wf, Mapping) else "inline spec"
        reason = f" ({self.reason})" if self.reason else ""
        return f"<Run {self.id} {self.data.get('state')}{reason} {what} on {self.data.get('backend')} {self.url or ''}>".replace("  ", " ")


class Client:
    """
    Griffin from Python: submit runs (also of local code), follow them, manage the registry.

    ``client.raw`` is the underlying :class:`GriffinClient` for everything else.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, verify: bool | str = True) -> None:
        self.raw = GriffinClient(url, token, timeout=timeout, verify=verify)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Client:
        """
        From GRIFFIN_URL (default http://127.0.0.1:8080), GRIFFIN_TOKEN, GRIFFIN_TIMEOUT (seconds)
        and GRIFFIN_CA_BUNDLE (a CA file for https), as the CLI reads them.
        """
        env = os.environ if environ is None else environ
        token = env.get("GRIFFIN_TOKEN")
        if not token:
            raise ValueError("set GRIFFIN_TOKEN to a Griffin API token (the first start saves one in ~/.local/share/griffin/admin-token)")
        timeout = float(env.get("GRIFFIN_TIMEOUT") or DEFAULT_TIMEOUT)
        return cls(env.get("GRIFFIN_URL") or "http://127.0.0.1:8080", token, timeout=timeout, verify=env.get("GRIFFIN_CA_BUNDLE") or True)

    def __repr__(self) -> str:
        return f"<griffin_sdk.Client {self.raw.base_url}>"

    # -- code ---------------------------------------------------------------------------------
    def upload_code(self, directory: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
        """Zip ``directory`` (honouring .gitignore) and upload it; returns its ``griffin://code/<sha256>``."""
        packed = pack_directory(directory, max_bytes=max_bytes)
        path = "/code"
        headers = {**self.raw._headers(None), "Content-Type": "application/zip"}
        attempt = 0
        while True:
            # Content-addressed, so a retry can never store anything twice.
            try:
                response = self.raw._session.post(self.raw._url(path), data=packed.data, headers=headers, timeout=self.raw.timeout, verify=self.raw.verify)
            except (requests.ConnectionError, requests.Timeout) as err:
                self.raw._sleep(self.raw._delay_after_error("PUT", path, err, attempt, True))
                attempt += 1
                continue
            if response.status_code < 400:
                return response.json()["codeUri"]
            if attempt < self.raw.retry_policy.max_retries and self.raw.retry_policy.is_retryable_status(response.status_code):
                self.raw._sleep(self.raw.retry_policy.delay(attempt, parse_retry_after(response.headers.get("Retry-After"))))
                attempt += 1
                continue
            raise _parse_error(response.status_code, response.text, "POST", path, None)

    def _model_for_code(self, name: str, code_uri: str, entrypoint: str, framework: str | None, runtime: str) -> str:
        """``name@version`` of a model running this code: the latest version if it already does, else a new one."""
        latest: Mapping[str, Any] | None
        try:
            latest = self.raw._json("GET", f"/models/{name}")
        except GriffinNotFoundError:
            latest = None
        if framework is None:
            # A framework the runtime provides: the service refuses a model its runtime cannot run.
            provided = list(self.raw._json("GET", f"/runtimes/{runtime}").get("frameworks") or [])
            known = (latest or {}).get("framework")
            framework = known if known and (not provided or known in provided) else (provided[0] if provided else "python")
        if latest and latest.get("codeUri") == code_uri and latest.get("entrypoint") == entrypoint and latest.get("framework") == framework:
            return f"{name}@{latest['version']}"
        body: dict[str, Any] = {"name": name, "framework": framework, "codeUri": code_uri, "entrypoint": entrypoint}
        if latest:
            body["defaultHyperparameters"] = latest.get("defaultHyperparameters") or {}
            body["hyperparameterSchema"] = latest.get("hyperparameterSchema") or {}
        created = self.raw._json("POST", "/models", json_body=body)
        return f"{name}@{created['version']}"

    # -- runs ---------------------------------------------------------------------------------
    def submit(
        self,
        workflow: str | None = None,
        *,
        code: str | os.PathLike[str] | None = None,
        entrypoint: str | None = None,
        model: str | None = None,
        dataset: str | None = None,
        runtime: str | None = None,
        backend: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        timeout_seconds: int | None = None,
        register: str | None = None,
        aliases: list[str] | None = None,
        framework: str | None = None,
        idempotency_key: str | None = None,
        max_code_bytes: int = DEFAULT_MAX_BYTES,
        queue: str | None = None,
        priority: int | None = None,
    ) -> Run:
        """
        Submit a run of a workflow, or of local code.

        ``submit("grocery-reorder", hyperparameters={...})`` runs a stored workflow.
        ``submit(code="./dir", entrypoint="python train.py", dataset=..., ...)`` uploads ``dir``
        (see :func:`griffin_sdk.code.pack_directory` for what is packed) and runs it; with a
        ``workflow`` as well, that workflow's dataset, runtime, backend, resources and registration
        are used with your code instead of its model's. ``model`` names the model the code is
        stored as (default: the directory's name); ``register`` a registry model to register the
        result in, with ``aliases``. ``queue`` and ``priority`` (-100..100, higher first) say where
        the run waits to launch (default: the workflow's, else queue "default" at its default priority).
        """
        if code is None:
            if not workflow:
                raise ValueError('give a workflow ("name" or "name@version"), or code="./dir" with an entrypoint')
            overrides: dict[str, Any] = {}
            if hyperparameters:
                overrides["hyperparameters"] = dict(hyperparameters)
            if resources:
                overrides["resources"] = dict(resources)
            if timeout_seconds:
                overrides["timeoutSeconds"] = int(timeout_seconds)
            if backend:
                overrides["backend"] = backend
            if queue:
                overrides["queue"] = queue
            if priority is not None:
                overrides["priority"] = int(priority)
            return Run(self, self.raw.submit_run(workflow, overrides=overrides, idempotency_key=idempotency_key))

        base: dict[str, Any] = {}
        if workflow:
            name, _, version = workflow.partition("@")
            base = self.raw._json("GET", f"/workflows/{name}" + (f"/versions/{version}" if version else ""))
        base_model = str(base.get("model") or "")
        model_name = model or base_model.split("@")[0] or _model_name_for(os.fspath(code))
        entry = entrypoint or base.get("entrypoint")
        if not entry and base_model:
            name, _, version = base_model.partition("@")
            entry = self.raw._json("GET", f"/models/{name}" + (f"/versions/{version}" if version else "")).get("entrypoint")
        if not entry:
            raise ValueError('give the command that starts the code, e.g. entrypoint="python train.py"')
        code_uri = self.upload_code(code, max_bytes=max_code_bytes)
        runtime_name = runtime or _ref(base.get("runtime")) or "python3"
        spec: dict[str, Any] = {
            "model": self._model_for_code(model_name, code_uri, entry, framework, runtime_name),
            "dataset": dataset or _ref(base.get("dataset")),
            "runtime": runtime_name,
            "backend": backend or base.get("backend") or "local",
            "hyperparameters": {**(base.get("hyperparameters") or {}), **dict(hyperparameters or {})},
            "resources": dict(resources or base.get("resources") or {}),
        }
        if not spec["dataset"]:
            raise ValueError("give the dataset the code trains on, e.g. dataset=\"grocery-reorder\" (or a workflow to take it from)")
        if timeout_seconds or base.get("timeoutSeconds"):
            spec["timeoutSeconds"] = int(timeout_seconds or base["timeoutSeconds"])
        if register:
            spec["register"] = {"modelName": register, "aliases": list(aliases or [])}
        elif base.get("register"):
            spec["register"] = base["register"]
        if queue or base.get("queue"):
            spec["queue"] = queue or base["queue"]
        if priority is not None or base.get("priority") is not None:
            spec["priority"] = int(priority if priority is not None else base["priority"])
        return Run(self, self.raw.submit_run(spec=spec, idempotency_key=idempotency_key))

    def run(self, run_id: str) -> Run:
        return Run(self, self.raw.get_run(run_id))

    def runs(self, *, state: str | None = None, workflow: str | None = None, limit: int = 50) -> list[Run]:
        """Recent runs, newest first."""
        page = self.raw.list_runs(limit=limit, state=state, workflow=workflow)
        return [Run(self, item) for item in page.get("items", [])]

    # -- catalog ------------------------------------------------------------------------------
    def workflows(self, limit: int = 100) -> list[dict[str, Any]]:
        """Stored workflow versions (each ``name``, ``version``, and what it pins)."""
        return list(self.raw._json("GET", "/workflows", params={"limit": limit}).get("items", []))

    # -- registry -----------------------------------------------------------------------------
    def versions(self, model_name: str, limit: int = 100) -> list[ModelVersion]:
        """The registered versions of a registry model."""
        page = self.raw._json("GET", f"/registry/models/{model_name}/versions", params={"limit": limit})
        return [ModelVersion(self, item) for item in page.get("items", [])]

    def get_version(self, model_name: str, version: int | str) -> ModelVersion:
        """A version by number, or by alias (``production``)."""
        if isinstance(version, str) and not version.isdigit():
            return ModelVersion(self, self.raw._json("GET", f"/registry/models/{model_name}/aliases/{version}"))
        return ModelVersion(self, self.raw.get_model_version(model_name, version))

    def register(self, model_name: str, *, run: Run | str | None = None, artifact_uri: str | None = None, aliases: list[str] | None = None, tags: Mapping[str, str] | None = None, description: str | None = None) -> ModelVersion:
        """Register a version from a run (or an artifact URI)."""
        run_id = run.id if isinstance(run, Run) else run
        data = self.raw.register_model_version(model_name, run_id=run_id, artifact_uri=artifact_uri, aliases=aliases, tags=tags, description=description)
        return ModelVersion(self, data)

    def set_alias(self, model_name: str, alias: str, version: int) -> None:
        self.raw.set_model_alias(model_name, alias, version)


def _ref(value: Any) -> str | None:
    """A workflow's pinned reference (``name@version``), as given."""
    return str(value) if value else None
