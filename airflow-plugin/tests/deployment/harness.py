"""
A real Airflow 3 deployment and a real Griffin service, as separate processes, for the deployment tier.

``AirflowDeployment`` runs ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``
(LocalExecutor) on a PostgreSQL database of its own, in a private AIRFLOW_HOME, and talks to them only
through Airflow's public REST API v2. ``GriffinService`` runs ``node --import tsx server/index.ts``
(SQLite, local executor, workers on) and can be stopped and started again on the same port and data
directory, as a deploy or a crash of the service would.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
from griffin_sdk import GriffinRunState

REPO_ROOT = Path(__file__).resolve().parents[3]
PLUGIN_ROOT = REPO_ROOT / "airflow-plugin"
TERMINAL_RUN_STATES = GriffinRunState.terminal_states()
# Task instance states after which Airflow will not touch the task again by itself.
FINISHED_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}
FINISHED_DAG_RUN_STATES = {"success", "failed"}


class WaitTimeout(AssertionError):
    pass


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; raise naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """The caller's environment without its Airflow and Griffin settings, which must not leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GRIFFIN_", "PYTHONPATH"))}


class ManagedProcess:
    """One long-running process of the deployment, in a process group of its own, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0, whole_group: bool = True) -> None:
        """SIGTERM (to the process, or to its whole group), then SIGKILL to the group after ``timeout``."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        if self.process.poll() is None:
            try:
                if whole_group:
                    os.killpg(pgid, signal.SIGTERM)
                else:
                    self.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if whole_group:
            # Task processes and LocalExecutor workers live in the group; none may outlive the tier.
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP to the process and its children: a process too busy to look at its work for a while."""
        assert self.alive(), f"{self.name} is not running"
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGCONT)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# Griffin
# ---------------------------------------------------------------------------------------------


class GriffinService:
    """The Griffin service from this checkout: SQLite in ``data_dir``, the local executor, workers on."""

    def __init__(self, data_dir: Path, airflow_base_url: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.admin_token = f"gft_deploy_{secrets.token_hex(16)}"
        env = clean_environment()
        env.update(
            GRIFFIN_DATA_DIR=str(data_dir),
            GRIFFIN_HOST="127.0.0.1",
            GRIFFIN_PORT=str(self.port),
            GRIFFIN_ADMIN_TOKEN=self.admin_token,
            GRIFFIN_AIRFLOW_BASE_URL=airflow_base_url,
            GRIFFIN_LOG_LEVEL="info",
            GRIFFIN_DISPATCH_INTERVAL_MS="250",
            GRIFFIN_RECONCILE_INTERVAL_MS="500",
            # Every case of a phase trains at once; the runs mostly sleep.
            GRIFFIN_MAX_LOCAL_RUNS="24",
            GRIFFIN_AUTH_FAILURE_LIMIT="100000",
        )
        self.process = ManagedProcess(
            "griffin", ["node", "--import", "tsx", "server/index.ts"], env, REPO_ROOT, data_dir / "service.log"
        )
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.admin_token}"

    def start(self, timeout: float = 120.0) -> None:
        self.process.start()

        def ready() -> bool:
            if not self.process.alive():
                raise AssertionError(f"the Griffin service exited:\n{self.process.log_tail()}")
            try:
                return requests.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout, "the Griffin service to answer /readyz", interval=0.3)

    def stop(self) -> None:
        """SIGTERM to the service alone: the training processes it started keep running (re-attached on start)."""
        self.process.stop(timeout=30, whole_group=False)

    def kill_everything(self) -> None:
        self.process.stop(timeout=15, whole_group=True)

    # -- API ----------------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.base_url}/api/v1{path}", params=params, timeout=30)
        assert response.status_code == 200, f"GET {path} -> {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = self.http.post(f"{self.base_url}/api/v1{path}", json=body, timeout=30)
        assert response.status_code in (200, 201, 202), f"POST {path} -> {response.status_code} {response.text}"
        return response.json()

    def create_token(self, role: str) -> str:
        return self.post("/tokens", {"name": f"airflow-deployment-{role}", "role": role})["token"]

    def runs(self, **filters: Any) -> list[dict[str, Any]]:
        """Every run matching the filters (all pages), oldest first."""
        items: list[dict[str, Any]] = []
        page_token = None
        while True:
            params = dict(filters, limit=200)
            if page_token:
                params["pageToken"] = page_token
            page = self.get("/runs", **params)
            items.extend(page["items"])
            page_token = page.get("nextPageToken")
            if not page_token:
                return sorted(items, key=lambda r: r["createdAt"])

    def run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/runs/{run_id}")

    def cancel_active_runs(self) -> None:
        """Stop whatever still trains, so no training process outlives the tier."""
        for run in self.runs():
            if run["state"] not in TERMINAL_RUN_STATES:
                self.http.post(
                    f"{self.base_url}/api/v1/runs/{run['id']}/cancel", json={"reason": "deployment tests ended"}, timeout=30
                )
        wait_until(
            lambda: all(r["state"] in TERMINAL_RUN_STATES for r in self.runs()), 60, "the cancelled runs to end"
        )


# ---------------------------------------------------------------------------------------------
# Airflow
# ---------------------------------------------------------------------------------------------


def _postgres_url(base: str, database: str) -> tuple[str, str]:
    """(psycopg2 DSN of ``base``, SQLAlchemy URL of ``database`` on the same server and credentials)."""
    parsed = urllib.parse.urlsplit(base)
    netloc = parsed.netloc
    return base, urllib.parse.urlunsplit(("postgresql+psycopg2", netloc, f"/{database}", "", ""))


def _log_line(item: Mapping[str, Any]) -> str:
    """A structured task-log event as one line: level, message, and the exception it carries."""
    line = f"{item.get('level', '')} {item.get('event')}".strip()
    for error in item.get("error_detail") or []:
        if isinstance(error, Mapping):
            line += f" [{error.get('exc_type')}: {error.get('exc_value')}]"
    return line


class AirflowDeployment:
    """Airflow's four server processes with the LocalExecutor, on a PostgreSQL database of their own."""

    PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")

    def __init__(
        self, python: str, home: Path, pg_url: str, dag_files: Iterable[Path], extra_env: Mapping[str, str], port: int
    ) -> None:
        self.python = python
        self.home = home
        self.dags_folder = home / "dags"
        self.logs_folder = home / "logs"
        self.database = f"airflow_system_{os.getpid()}_{secrets.token_hex(3)}"
        self.admin_dsn, sql_alchemy_conn = _postgres_url(pg_url, self.database)
        self.port = port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.logs_folder.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
            (self.dags_folder / dag_file.name).write_bytes(dag_file.read_bytes())
        env = clean_environment()
        env.update(
            AIRFLOW_HOME=str(home),
            # The provider and SDK of the checkout under test, ahead of whatever is installed in the venv.
            PYTHONPATH=os.pathsep.join([str(PLUGIN_ROOT), str(REPO_ROOT / "sdk")]),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="24",
            AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="24",
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__FERNET_KEY="",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.base_url}/execution/",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sql_alchemy_conn,
            AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE="5",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.base_url,
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.logs_folder),
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__COLORED_CONSOLE_LOG="False",
            # Short intervals: the tier has minutes, not hours. The DAG file never changes, so it is
            # parsed when found and not re-parsed every few seconds on two busy cores.
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL="600",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC="2",
            AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.5",
            AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL="5",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="2",
            # A task's calls to the api-server wait longer than the 5 s default: on two busy cores
            # the api-server can take that long, and a task whose calls all time out fails unstarted.
            AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="30",
        )
        env.update(extra_env)
        self.env = env
        self.processes = {
            name: ManagedProcess(name, [python, "-m", "airflow", name], env, home, self.logs_folder / f"{name}.log")
            for name in self.PROCESSES
        }
        self.http = requests.Session()
        self._database_created = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def _admin(self, statement: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.admin_dsn)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def create_database(self) -> None:
        self._admin(f'CREATE DATABASE "{self.database}"')
        self._database_created = True

    def drop_database(self) -> None:
        if self._database_created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._database_created = False

    def airflow_cli(self, *args: str, timeout: float = 300.0) -> str:
        result = subprocess.run(
            [self.python, "-m", "airflow", *args], cwd=self.home, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def provider_location(self) -> str:
        """Where the Airflow processes import griffin_provider from (must be this checkout)."""
        result = subprocess.run(
            [self.python, "-c", "import griffin_provider; print(griffin_provider.__file__)"],
            env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )
        return result.stdout.strip()

    def start(self) -> None:
        self.create_database()
        self.airflow_cli("db", "migrate")
        for process in self.processes.values():
            process.start()
        self.token = wait_until(self._token, 180, "Airflow's api-server to answer /auth/token", interval=1)
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def _token(self) -> str | None:
        self.assert_alive()
        try:
            response = requests.get(f"{self.base_url}/auth/token", timeout=5)
        except requests.RequestException:
            return None
        return response.json()["access_token"] if response.status_code in (200, 201) else None

    def assert_alive(self) -> None:
        for process in self.processes.values():
            if process.process is not None and not process.alive():
                raise AssertionError(f"airflow {process.name} exited:\n{process.log_tail()}")

    def stop(self) -> None:
        """Stop the four processes at once (each with its task processes and workers)."""
        threads = [threading.Thread(target=p.stop, kwargs={"timeout": 15}) for p in self.processes.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def process_logs(self, lines: int = 40) -> str:
        return "\n\n".join(f"== airflow {p.name}\n{p.log_tail(lines)}" for p in self.processes.values())

    # -- REST API v2 --------------------------------------------------------------------------------

    def api(self, method: str, path: str, expect: Iterable[int] = (200,), **kwargs: Any) -> Any:
        # A read is asked again when the api-server is too busy to answer in time (two cores shared
        # by four Airflow processes, Griffin and the training runs); anything else is asked once.
        attempts = 3 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
                break
            except requests.Timeout:
                if attempt == attempts:
                    raise
        assert response.status_code in tuple(expect), f"{method} /api/v2{path} -> {response.status_code} {response.text}"
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        wanted = set(dag_ids)

        def parsed() -> bool:
            self.assert_alive()
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                raise AssertionError(f"the DAG file does not import: {errors}")
            dags = self.api("GET", "/dags", params={"limit": 100})["dags"]
            return wanted <= {d["dag_id"] for d in dags}

        wait_until(parsed, timeout, f"the dag-processor to parse {sorted(wanted)}", interval=1)
        for dag_id in wanted:
            self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        dag_run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None}, expect=(200,))
        return dag_run["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances", params={"limit": 100})["task_instances"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        for ti in self.task_instances(dag_id, run_id):
            if ti["task_id"] == task_id and ti["map_index"] == map_index:
                return ti
        raise AssertionError(f"no task instance {task_id}[{map_index}] in {dag_id}/{run_id}")

    def clear(self, dag_id: str, run_id: str, task_ids: list[Any]) -> list[dict[str, Any]]:
        """Clear task instances (a task id, or [task id, map index]) whatever their state, as the UI's Clear does."""
        body = {
            "dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "only_failed": False,
            "reset_dag_runs": True, "include_upstream": False, "include_downstream": False,
        }
        return self.api("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]

    def set_state(self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1) -> Any:
        quoted = urllib.parse.quote(run_id, safe="")
        path = f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.api("PATCH", path, json={"new_state": state})

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """One try's log as text (the worker's and the triggerer's parts), one line per event."""
        quoted = urllib.parse.quote(run_id, safe="")
        lines: list[str] = []
        token = None
        while True:
            params: dict[str, Any] = {"map_index": map_index, "full_content": "true"}
            if token:
                params["token"] = token
            page = self.api(
                "GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}",
                params=params, headers={"Accept": "application/json"},
            )
            for item in page["content"]:
                if isinstance(item, str):
                    lines.append(item)
                else:
                    lines.append(_log_line(item))
            next_token = page.get("continuation_token")
            if not page["content"] or not next_token or next_token == token:
                return "\n".join(lines)
            token = next_token

    def all_task_logs(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        ti = self.task_instance(dag_id, run_id, task_id, map_index)
        return "\n".join(
            self.task_log(dag_id, run_id, task_id, n, map_index) for n in range(1, int(ti["try_number"] or 1) + 1)
        )

    def wait_for_dag_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            self.assert_alive()
            dag_run = self.dag_run(dag_id, run_id)
            return dag_run if dag_run["state"] in FINISHED_DAG_RUN_STATES else None

        return wait_until(finished, timeout, f"DAG run {dag_id}/{run_id} to finish", interval=1)

    def descendants_of_scheduler(self) -> set[int]:
        """Pids of every process below the scheduler: LocalExecutor workers, task supervisors, tasks."""
        root = self.processes["scheduler"].pid
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found: set[int] = set()
        stack = [root]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found
