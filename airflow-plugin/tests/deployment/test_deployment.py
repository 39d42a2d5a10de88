"""
The provider in a real Airflow 3 deployment (api-server, scheduler, dag-processor and triggerer as
processes, LocalExecutor, PostgreSQL) against the real Griffin service: what a platform team does to
a training DAG in production, done through Airflow's REST API, with the outcome checked in both
Airflow (task states) and Griffin (the runs of each task and their states).

Two phases keep the tier within minutes on two cores: the cases that do not disturb each other run
at once (``phase``: one DAG each, triggered together, each case's actions in a thread of its own),
then the Griffin outage, which would disturb them all, on its own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from conftest import Stack
from harness import FINISHED_TI_STATES, TERMINAL_RUN_STATES, wait_until

OUTAGE_SECONDS = 40
# Cleared while clear_while_running holds the triggerer still; cases that need a live trigger wait for it.
TRIGGERER_RUNNING = threading.Event()
TRIGGERER_RUNNING.set()


# ---------------------------------------------------------------------------------------------
# One case: a DAG run, its task instances in Airflow, their runs in Griffin
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    stack: Stack
    dag_id: str
    run_id: str = ""
    notes: list[str] = field(default_factory=list)
    # Every state each watched task instance was seen in, polled twice a second.
    seen_states: dict[str, set[str]] = field(default_factory=dict)

    def trigger(self) -> Case:
        self.run_id = self.stack.airflow.trigger(self.dag_id)
        return self

    def ti(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        return self.stack.airflow.task_instance(self.dag_id, self.run_id, task_id, map_index)

    def runs(self, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """The Griffin runs submitted for one task instance (every try), oldest first."""
        return [
            r
            for r in self.stack.griffin.runs(dagId=self.dag_id)
            if r["airflow"]["dagRunId"] == self.run_id
            and r["airflow"]["taskId"] == task_id
            and r["airflow"]["mapIndex"] == map_index
        ]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 180.0) -> Any:
        def checked() -> Any:
            self.stack.airflow.assert_alive()
            return check()

        return wait_until(checked, timeout, f"{self.dag_id}: {what}", interval=0.5)

    def wait_waiting(self, task_id: str, ti_states: set[str], map_index: int = -1, timeout: float = 180.0) -> dict[str, Any]:
        """Until the task is in one of ``ti_states`` and its newest run trains; returns that run."""

        def waiting() -> dict[str, Any] | None:
            if self.ti(task_id, map_index)["state"] not in ti_states:
                return None
            runs = self.runs(task_id, map_index)
            return runs[-1] if runs and runs[-1]["state"] == "running" else None

        return self.wait_for(f"{task_id}[{map_index}] {sorted(ti_states)} with its run training", waiting, timeout)

    def wait_finished(self, timeout: float = 300.0) -> dict[str, Any]:
        return self.stack.airflow.wait_for_dag_run(self.dag_id, self.run_id, timeout)

    def wait_runs_terminal(self, task_id: str, map_index: int = -1, timeout: float = 90.0) -> list[dict[str, Any]]:
        return self.wait_for(
            f"the runs of {task_id}[{map_index}] to end",
            lambda: (runs := self.runs(task_id, map_index)) and all(r["state"] in TERMINAL_RUN_STATES for r in runs) and runs,
            timeout,
        )

    def log(self, task_id: str, map_index: int = -1) -> str:
        return self.stack.airflow.all_task_logs(self.dag_id, self.run_id, task_id, map_index)

    def evidence(self, task_id: str, map_index: int = -1) -> str:
        """What a reader of a failure needs: the task instance, its runs, the telling lines of its log."""
        ti = self.ti(task_id, map_index)
        runs = [(r["id"], r["state"], r["airflow"]["tryNumber"], r.get("cancelRequestedByTry"), r.get("reason")) for r in self.runs(task_id, map_index)]
        try:
            log = self.log(task_id, map_index)
        except AssertionError as err:
            log = f"(no log: {err})"
        telling = [
            line[:300]
            for line in log.splitlines()
            if any(w in line for w in ("Griffin", "griffin_provider", "Error", "Exception", "killed", "timeout", "Timeout", "defer", "Defer", "SIGTERM", "signal"))
        ]
        return (
            f"\n{self.dag_id} {self.run_id} {task_id}[{map_index}]: state={ti['state']} try={ti['try_number']}"
            f"\n  runs (id, state, try, cancel asked by try, reason): {runs}"
            f"\n  notes: {self.notes}"
            "\n  log:\n    " + "\n    ".join(telling[-30:])
        )


def run_states(runs: list[dict[str, Any]]) -> list[str]:
    return [r["state"] for r in runs]


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


# ---------------------------------------------------------------------------------------------
# The concurrent phase: what each case does to its DAG run while the others do theirs
# ---------------------------------------------------------------------------------------------


def clear_while_running(case: Case) -> None:
    """
    Three deferred map indexes cleared half a second apart while their runs train, then the worker-mode task.

    The triggerer is held still (SIGSTOP) from the first clear until every new try has deferred again,
    so each new try has attached to its task's run before the old try's trigger is cancelled: the
    order that loses the race in production, made certain here.
    """
    for map_index in range(3):
        case.wait_waiting("deferred", {"deferred"}, map_index)
    triggerer = case.stack.airflow.processes["triggerer"]
    TRIGGERER_RUNNING.clear()
    triggerer.pause()
    case.notes.append(f"triggerer paused at {time.strftime('%X')}")
    try:
        for map_index in range(3):
            case.stack.airflow.clear(case.dag_id, case.run_id, [["deferred", map_index]])
            case.notes.append(f"cleared deferred[{map_index}] at {time.strftime('%X')}")
            time.sleep(0.5)
        try:
            case.wait_for(
                "every cleared try to defer again",
                lambda: all(
                    (ti := case.ti("deferred", i))["state"] in ("deferred", *FINISHED_TI_STATES) and int(ti["try_number"]) == 2
                    for i in range(3)
                ),
                timeout=60,
            )
        except AssertionError as err:
            case.notes.append(str(err))
    finally:
        triggerer.resume()
        TRIGGERER_RUNNING.set()
        case.notes.append(f"triggerer resumed at {time.strftime('%X')}")
    case.wait_waiting("worker", {"running"})
    case.stack.airflow.clear(case.dag_id, case.run_id, ["worker"])
    case.notes.append(f"cleared worker at {time.strftime('%X')}")
    case.wait_finished()


def clear_after_success(case: Case) -> None:
    assert case.wait_finished()["state"] == "success", case.evidence("train")
    case.notes.append(f"first try's runs: {run_states(case.runs('train'))}")
    case.stack.airflow.clear(case.dag_id, case.run_id, ["train"])
    case.wait_for("the cleared task to start again", lambda: int(case.ti("train")["try_number"]) >= 2)
    case.wait_finished()


def sigterm_the_task_process(case: Case) -> None:
    case.wait_waiting("train", {"running"})
    ti = case.ti("train")
    pid = int(ti["pid"])
    # Only ever a process of this deployment: the pid Airflow recorded must be below our scheduler.
    assert pid in case.stack.airflow.descendants_of_scheduler(), f"pid {pid} of {ti} is not a task of this deployment"
    os.kill(pid, signal.SIGTERM)
    case.notes.append(f"SIGTERM to task pid {pid} (try {ti['try_number']})")
    # A worker shutdown or an eviction kills what is left after its grace period.
    try:
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 15, f"task process {pid} to exit", interval=0.2)
        case.notes.append("the task process exited after SIGTERM")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        case.notes.append("the task process still ran 15 s after SIGTERM: SIGKILL")
    case.wait_finished()


def mark_failed_while_waiting(case: Case) -> None:
    case.wait_waiting("worker", {"running"})
    case.wait_waiting("deferred", {"deferred"})
    # A user marks a task failed whose trigger runs (the triggerer is not held still by another case).
    case.wait_for("the triggerer to run", lambda: TRIGGERER_RUNNING.wait(1))
    case.wait_for("the deferred task's trigger to start", lambda: "trigger " in case.log("deferred") and "starting" in case.log("deferred"))
    for task_id in ("worker", "deferred"):
        case.stack.airflow.set_state(case.dag_id, case.run_id, task_id, "failed")
        case.notes.append(f"marked {task_id} failed at {time.strftime('%X')}")
    for task_id in ("worker", "deferred"):
        try:
            case.wait_runs_terminal(task_id, timeout=60)
        except AssertionError as err:
            case.notes.append(str(err))


def watch_execution_timeout(case: Case) -> None:
    case.wait_waiting("train", {"deferred"})
    try:
        # 25 s of execution_timeout; the run would train for 150 s. Give Airflow a minute and a half.
        case.wait_for("the task to end", lambda: case.ti("train")["state"] in FINISHED_TI_STATES, timeout=90)
        case.wait_runs_terminal("train", timeout=45)
    except AssertionError as err:
        case.notes.append(str(err))


def watch_states(case: Case, task_ids: tuple[str, ...]) -> None:
    seen = case.seen_states
    seen.update({t: set() for t in task_ids})

    def finished() -> bool:
        for ti in case.stack.airflow.task_instances(case.dag_id, case.run_id):
            if ti["task_id"] in seen and ti["state"]:
                seen[ti["task_id"]].add(ti["state"])
        return case.stack.airflow.dag_run(case.dag_id, case.run_id)["state"] in ("success", "failed")

    case.wait_for("the DAG run to finish", finished, timeout=240)


def watch_default_deferrable(case: Case) -> None:
    watch_states(case, ("train", "sensor"))


def wait_for_registration(case: Case) -> None:
    case.wait_finished()


CONCURRENT_CASES: dict[str, tuple[str, Callable[[Case], None]]] = {
    "clear_running": ("griffin_deploy_clear_running", clear_while_running),
    "clear_succeeded": ("griffin_deploy_clear_succeeded", clear_after_success),
    "sigterm": ("griffin_deploy_sigterm", sigterm_the_task_process),
    "mark_failed": ("griffin_deploy_mark_failed", mark_failed_while_waiting),
    "execution_timeout": ("griffin_deploy_execution_timeout", watch_execution_timeout),
    "default_deferrable": ("griffin_deploy_default_deferrable", watch_default_deferrable),
    "register_tags": ("griffin_deploy_register_tags", wait_for_registration),
}


@dataclass
class Outcome:
    case: Case
    error: BaseException | None

    def get(self) -> Case:
        if self.error is not None:
            raise AssertionError(f"{self.case.dag_id}: {self.error}\nnotes: {self.case.notes}") from self.error
        return self.case


@pytest.fixture(scope="module")
def phase(stack: Stack) -> dict[str, Outcome]:
    """Every concurrent case triggered together; each one's actions run in a thread of its own."""
    cases = {name: Case(stack, dag_id).trigger() for name, (dag_id, _) in CONCURRENT_CASES.items()}

    def play(name: str) -> Outcome:
        try:
            CONCURRENT_CASES[name][1](cases[name])
            return Outcome(cases[name], None)
        except BaseException as err:  # reported by the case's own test
            return Outcome(cases[name], err)

    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        return dict(zip(cases, pool.map(play, cases)))


# ---------------------------------------------------------------------------------------------
# The concurrent phase's verdicts
# ---------------------------------------------------------------------------------------------


def test_clearing_running_tasks_restarts_their_training_and_each_new_try_succeeds(phase: dict[str, Outcome]):
    case = phase["clear_running"].get()
    for task_id, map_index in [("deferred", 0), ("deferred", 1), ("deferred", 2), ("worker", -1)]:
        ti = case.ti(task_id, map_index)
        states = run_states(case.runs(task_id, map_index))
        evidence = case.evidence(task_id, map_index)
        assert ti["state"] == "success", evidence
        assert int(ti["try_number"]) == 2, evidence
        assert states.count("succeeded") == 1, evidence
        assert states.count("cancelled") <= 1, evidence
        assert set(states) <= {"succeeded", "cancelled"}, evidence


def test_clearing_a_succeeded_task_trains_again(phase: dict[str, Outcome]):
    case = phase["clear_succeeded"].get()
    ti = case.ti("train")
    runs = case.runs("train")
    evidence = case.evidence("train")
    assert (ti["state"], int(ti["try_number"])) == ("success", 2), evidence
    assert run_states(runs) == ["succeeded", "succeeded"], evidence
    assert [r["airflow"]["tryNumber"] for r in runs] == [1, 2], evidence


def test_a_sigterm_to_the_task_process_keeps_the_run_training_and_the_task_succeeds_on_it(phase: dict[str, Outcome]):
    case = phase["sigterm"].get()
    ti = case.ti("train")
    runs = case.runs("train")
    evidence = case.evidence("train")
    assert ti["state"] == "success", evidence
    assert run_states(runs) == ["succeeded"], evidence


def test_mark_failed_cancels_the_run_in_a_worker_and_deferred(phase: dict[str, Outcome]):
    case = phase["mark_failed"].get()
    for task_id in ("worker", "deferred"):
        evidence = case.evidence(task_id)
        assert case.ti(task_id)["state"] == "failed", evidence
        runs = case.runs(task_id)
        assert run_states(runs) == ["cancelled"], evidence
        assert "killed" in (runs[0].get("reason") or ""), evidence


def test_execution_timeout_is_enforced_while_deferred_and_cancels_the_run(phase: dict[str, Outcome]):
    case = phase["execution_timeout"].get()
    ti = case.ti("train")
    runs = case.runs("train")
    evidence = case.evidence("train")
    assert ti["state"] == "failed", evidence
    assert run_states(runs) == ["cancelled"], evidence
    # 25 s of execution_timeout on a 150 s run: the task ended long before the run would have.
    lasted = seconds_between(runs[0]["createdAt"], ti["end_date"])
    assert lasted is not None and lasted < 90, f"the task ended {lasted} s after its run was submitted{evidence}"
    assert "execution_timeout" in case.log("train"), evidence


def test_default_deferrable_makes_a_plain_submit_and_sensor_defer(phase: dict[str, Outcome]):
    case = phase["default_deferrable"].get()
    seen = case.seen_states
    for task_id in ("train", "sensor"):
        evidence = case.evidence(task_id)
        assert case.ti(task_id)["state"] == "success", evidence
        assert "deferred" in seen[task_id], f"{task_id} went through {sorted(seen[task_id])}{evidence}"


def test_register_merges_its_tags_into_the_version_the_workflow_registered(phase: dict[str, Outcome]):
    case = phase["register_tags"].get()
    evidence = case.evidence("register")
    assert case.ti("register")["state"] == "success", evidence
    (run,) = case.runs("train")
    assert run["state"] == "succeeded" and run["modelVersion"], evidence
    version = case.stack.griffin.get(f"/registry/models/grocery-reorder/versions/{run['modelVersion']['version']}")
    # Registered by the workflow's own `register` block (it tags the version with its run) before the task ran.
    assert version["tags"].get("griffin.run") == run["id"], version
    assert version["tags"].get("registered_by") == "airflow", f"version {version['version']} tags {version['tags']}{evidence}"
    assert version["tags"].get("dag_run") == case.run_id, version
    assert "deployment-tier" in version["aliases"], version


# ---------------------------------------------------------------------------------------------
# The outage phase
# ---------------------------------------------------------------------------------------------


def test_a_griffin_restart_fails_no_waiting_task_and_every_run_succeeds_once(stack: Stack, phase: dict[str, Outcome]):
    # `phase` first: the outage must not fall into the concurrent cases.
    case = Case(stack, "griffin_deploy_outage").trigger()
    case.wait_waiting("worker_wait", {"running"})
    case.wait_waiting("deferred_wait", {"deferred"})
    case.wait_waiting("submit_only", {"success"})
    case.wait_for(
        "the sensor to wait in reschedule mode",
        lambda: case.ti("sensor_reschedule")["state"] in ("up_for_reschedule", "running"),
    )

    stack.griffin.stop()
    case.notes.append(f"Griffin stopped at {time.strftime('%X')}")
    time.sleep(OUTAGE_SECONDS)
    stack.griffin.start()
    case.notes.append(f"Griffin started again at {time.strftime('%X')}")
    case.wait_finished()

    waiting = {"worker_wait": "worker_wait", "deferred_wait": "deferred_wait", "sensor_reschedule": "submit_only"}
    for task_id, submitting_task in waiting.items():
        evidence = case.evidence(task_id)
        assert case.ti(task_id)["state"] == "success", evidence
        assert run_states(case.runs(submitting_task)) == ["succeeded"], evidence
