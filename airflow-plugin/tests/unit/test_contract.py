"""
The provider's classes held to the service's definition of them (``operators/definitions.ts``, served
at ``GET /api/v1/operators``): class names and modules, ``__init__`` parameters (names, annotations,
defaults, required), ``template_fields``, extra links, XCom keys, return values, trigger kwargs and
events, and the service calls each class makes. Together with ``tests/http/operators.test.ts``
(every listed call is a route of the service) the two sides cannot drift apart.

The definitions are read as JSON from ``node --import tsx operators/export.ts``. The service calls
are observed against ``FakeGriffin``, the unit tier's in-process stand-in for the live service.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

import griffin_provider
from griffin_provider import operators as operators_module
from griffin_provider import sensors as sensors_module
from griffin_provider import triggers as triggers_module
from griffin_provider._compat import BaseOperator, BaseTrigger
from griffin_provider.hooks import GriffinHook
from griffin_provider.operators import (
    GriffinCancelTrainingRunOperator,
    GriffinRegisterModelVersionOperator,
    GriffinSubmitTrainingRunOperator,
)
from griffin_provider.sensors import GriffinTrainingRunSensor
from griffin_provider.triggers import GriffinTrainingRunTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred

REPO_ROOT = Path(__file__).resolve().parents[3]
EXPORT_SCRIPT = REPO_ROOT / "operators" / "export.ts"
OPERATOR_CLASSES = [
    GriffinSubmitTrainingRunOperator,
    GriffinTrainingRunSensor,
    GriffinRegisterModelVersionOperator,
    GriffinCancelTrainingRunOperator,
]
# Airflow 3 keeps an extra link's URL in XCom under "_link_<LinkClass>"; that key is Airflow's, not ours.
AIRFLOW_LINK_KEY = re.compile(r"^_link_")


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    if not EXPORT_SCRIPT.exists():
        pytest.skip("the provider is tested outside the Griffin repository: operators/export.ts is not here")
    node = shutil.which("node")
    assert node, "node is needed to read operators/definitions.ts (Node 20, as for the service)"
    done = subprocess.run(
        [node, "--import", "tsx", str(EXPORT_SCRIPT)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"operators/export.ts failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    """The service's OpenAPI document, generated from its route declarations (tests/tools/print-openapi.ts)."""
    script = REPO_ROOT / "tests" / "tools" / "print-openapi.ts"
    if not script.exists():
        pytest.skip("the provider is tested outside the Griffin repository: the OpenAPI document cannot be built")
    node = shutil.which("node")
    assert node, "node is needed to build the service's OpenAPI document (Node 20, as for the service)"
    done = subprocess.run([node, "--import", "tsx", str(script)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"tests/tools/print-openapi.ts failed:\n{done.stderr}"
    return json.loads(done.stdout)


def answer_problems(openapi: dict[str, Any], answers: list[tuple[str, str, int, Any]]) -> list[str]:
    """What in the fake's success answers the service's document does not allow, one line each."""
    from jsonschema import Draft202012Validator

    operations = [
        (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"), method.upper(), op)
        for path, methods in openapi["paths"].items()
        for method, op in methods.items()
    ]
    problems: list[str] = []
    for method, path, status, body in answers:
        # The most specific template wins: /runs/{id}/logs before /runs/{id}/artifacts/{path}.
        matches = sorted(
            ((pattern, op) for pattern, m, op in operations if m == method and pattern.match(path)),
            key=lambda pair: pair[0].pattern.count("[^/]+"),
        )
        if not matches:
            problems.append(f"{method} {path}: no such operation in the service's document")
            continue
        response = matches[0][1]["responses"].get(str(status))
        if response is None:
            problems.append(f"{method} {path}: the service never answers {status}")
            continue
        schema = (response.get("content") or {}).get("application/json", {}).get("schema")
        if schema is None:
            if body is not None:
                problems.append(f"{method} {path} {status}: the service sends no JSON body here")
            continue
        for error in Draft202012Validator(schema).iter_errors(body):
            problems.append(f"{method} {path} {status}: /{'/'.join(map(str, error.absolute_path))} {error.message}")
    return problems


@pytest.fixture(autouse=True)
def fake_answers_fit_the_document(request):
    """Every test here that talks to the fake also holds the fake's answers to the service's
    OpenAPI response schemas, so the stand-in cannot drift from what the service really sends."""
    if "fake" not in request.fixturenames:
        yield
        return
    # Asked for first, so that the fake is torn down after this check.
    fake = request.getfixturevalue("fake")
    openapi = request.getfixturevalue("openapi")
    yield
    problems = answer_problems(openapi, fake.answers)
    assert not problems, "the fake answers what the service's OpenAPI document does not allow:\n" + "\n".join(problems[:20])


def test_the_answer_check_catches_a_drifted_fake(openapi, fake, griffin_conn):
    run = GriffinHook().submit_run("grocery-reorder")
    assert answer_problems(openapi, fake.answers) == []
    drifted = {k: v for k, v in run.items() if k != "state"} | {"leaseOwner": "x"}
    problems = answer_problems(openapi, [("GET", f"/api/v1/runs/{run['id']}", 200, drifted)])
    assert any("'state' is a required property" in p for p in problems), problems
    assert any("leaseOwner" in p for p in problems), problems
    assert answer_problems(openapi, [("GET", "/api/v1/nowhere", 200, {})]) == ["GET /api/v1/nowhere: no such operation in the service's document"]


def definition(contract: dict[str, Any], cls: type, kind: str = "operators") -> dict[str, Any]:
    found = [d for d in contract[kind] if d["name"] == cls.__name__]
    assert found, f"{cls.__name__} has no definition in operators/definitions.ts"
    return found[0]


# -- comparing values ----------------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """A Python default as the definitions write it: tuples are arrays, enums their values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that tells True from 1 (Python does not), but 30 from 30.0 not (JSON does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def python_parameters(cls: type) -> list[dict[str, Any]]:
    """``__init__``'s own parameters (not self, not the **kwargs passed on to the Airflow base class)."""
    out = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        annotation = p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)
        entry = {"name": p.name, "type": annotation, "required": p.default is p.empty}
        if p.default is not p.empty:
            entry["default"] = as_json(p.default)
        out.append(entry)
    return out


def defined_parameters(defn: dict[str, Any]) -> list[dict[str, Any]]:
    keep = ("name", "type", "required", "default")
    return [{k: p[k] for k in keep if k in p} for p in defn["parameters"]]


# -- the classes and their declarations ----------------------------------------------------------


def test_every_provider_class_is_defined_and_every_definition_is_a_provider_class(contract):
    def classes(module: Any, base: type) -> set[tuple[str, str]]:
        return {
            (module.__name__, obj.__name__)
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == module.__name__
        }

    operators = classes(operators_module, BaseOperator) | classes(sensors_module, BaseOperator)
    assert {(d["module"], d["name"]) for d in contract["operators"]} == operators
    assert {(d["module"], d["name"]) for d in contract["triggers"]} == classes(triggers_module, BaseTrigger)
    # Every definition names a module Airflow learns about from get_provider_info().
    info = griffin_provider.get_provider_info()
    listed = {m for group in ("operators", "sensors", "triggers") for entry in info[group] for m in entry["python-modules"]}
    assert {d["module"] for d in contract["operators"] + contract["triggers"]} <= listed


def test_the_connection_is_the_one_defined(contract):
    provider = contract["provider"]
    info = griffin_provider.get_provider_info()
    assert provider["package"] == info["package-name"]
    assert (provider["connectionType"], provider["defaultConnectionId"]) == (GriffinHook.conn_type, GriffinHook.default_conn_name)
    assert provider["hook"] == f"{GriffinHook.__module__}.{GriffinHook.__qualname__}"


@pytest.mark.parametrize("cls", OPERATOR_CLASSES, ids=lambda c: c.__name__)
def test_operator_signature_defaults_and_template_fields_match_the_definition(contract, cls):
    defn = definition(contract, cls)
    assert defn["module"] == cls.__module__
    assert defn["baseClass"] in [base.__name__ for base in cls.__mro__]
    ours, theirs = python_parameters(cls), defined_parameters(defn)
    assert [p["name"] for p in ours] == [p["name"] for p in theirs]
    for mine, defined in zip(ours, theirs):
        assert mine.keys() == defined.keys() and all(same(mine[k], defined[k]) for k in mine), (
            f"{cls.__name__}.{mine['name']}: Python {mine} vs definition {defined}"
        )
    assert list(cls.template_fields) == defn["templateFields"]
    assert [p["name"] for p in defn["parameters"] if p["templated"]] == defn["templateFields"]
    assert [link.name for link in cls.operator_extra_links] == defn["extraLinks"]


def test_trigger_signature_and_serialized_kwargs_match_the_definition(contract):
    defn = definition(contract, GriffinTrainingRunTrigger, "triggers")
    ours, theirs = python_parameters(GriffinTrainingRunTrigger), defined_parameters(defn)
    assert len(ours) == len(theirs)
    for mine, defined in zip(ours, theirs):
        assert mine.keys() == defined.keys() and all(same(mine[k], defined[k]) for k in mine), (
            f"GriffinTrainingRunTrigger.{mine['name']}: Python {mine} vs definition {defined}"
        )
    classpath, kwargs = GriffinTrainingRunTrigger(run_id="abc").serialize()
    assert classpath == f"{defn['module']}.{defn['name']}"
    assert list(kwargs) == [p["name"] for p in defn["parameters"]]


# -- what the classes do: XCom, return values, events and service calls --------------------------


def template_regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")


class CallLog:
    """The (method, path template) of every request the code under test sent to the fake."""

    def __init__(self, fake: Any, contract: dict[str, Any]) -> None:
        self.fake = fake
        self.templates = sorted(
            {(c["method"], c["path"]) for d in contract["operators"] + contract["triggers"] for c in d["calls"]}
        )

    def mark(self) -> int:
        return len(self.fake.requests)

    def since(self, start: int) -> set[tuple[str, str]]:
        made = set()
        for request in self.fake.requests[start:]:
            matches = [t for t in self.templates if t[0] == request.method and template_regex(t[1]).match(request.path)]
            made.add(matches[0] if matches else (request.method, request.path))
        return made

    def during(self, action: Callable[[], Any]) -> tuple[Any, set[tuple[str, str]]]:
        start = self.mark()
        result = action()
        return result, self.since(start)


def declared_calls(defn: dict[str, Any]) -> set[tuple[str, str]]:
    """The calls a task's execution makes; the OpenLineage listener's own calls are held to the definition in test_openlineage.py."""
    return {(c["method"], c["path"]) for c in defn["calls"] if not c["when"].startswith("OpenLineage")}


def run_trigger(trigger: GriffinTrainingRunTrigger) -> list[Any]:
    async def _all():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(_all(), timeout=10))


def pushed_keys(context: dict[str, Any]) -> set[str]:
    return {k for k in context["ti"].xcom if not AIRFLOW_LINK_KEY.match(k)}


def test_submit_operator_and_trigger_make_the_defined_calls_push_the_defined_xcoms_and_events(
    contract, fake, griffin_conn, make_context
):
    log = CallLog(fake, contract)
    defn = definition(contract, GriffinSubmitTrainingRunOperator)
    trigger_defn = definition(contract, GriffinTrainingRunTrigger, "triggers")
    submit_calls: set[tuple[str, str]] = set()
    trigger_calls: set[tuple[str, str]] = set()

    # Wait in the worker, copying logs.
    ctx = make_context(task_id="in_worker")
    op = GriffinSubmitTrainingRunOperator(task_id="in_worker", workflow="grocery-reorder", poll_interval=0.01)
    result, made = log.during(lambda: op.execute(ctx))
    submit_calls |= made
    assert sorted(result) == sorted(defn["returnKeys"])
    assert pushed_keys(ctx) == set(defn["xcomKeys"])

    # if_run_exists="fail" looks the key up first; on_kill cancels the active run.
    ctx = make_context(task_id="killed")
    op = GriffinSubmitTrainingRunOperator(
        task_id="killed", workflow="grocery-reorder", if_run_exists="fail", wait_for_completion=False
    )
    _, made = log.during(lambda: op.execute(ctx))
    submit_calls |= made
    ctx["ti"].state = "failed"  # a user marked the task failed, then Airflow signals the process
    _, made = log.during(op.on_kill)
    submit_calls |= made
    assert fake.runs[op.griffin_run_id]["state"] == "cancelled"

    # Deferred: the operator defers, the trigger polls, execute_complete copies the rest of the log.
    ctx = make_context(task_id="deferred")
    op = GriffinSubmitTrainingRunOperator(task_id="deferred", workflow="grocery-reorder", deferrable=True, poll_interval=0.01)
    start = log.mark()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    submit_calls |= log.since(start)
    trigger = GriffinTrainingRunTrigger(**deferred.value.trigger.serialize()[1])
    events, made = log.during(lambda: run_trigger(trigger))
    trigger_calls |= made
    assert len(events) == 1 and sorted(events[0].payload) == sorted(trigger_defn["eventKeys"])
    _, made = log.during(lambda: op.execute_complete(ctx, event=events[0].payload))
    submit_calls |= made

    assert submit_calls == declared_calls(defn)

    # Every event status the definition names, and the trigger's on_kill.
    statuses = {events[0].payload["status"]}
    fake.next_plans.append(["queued", "running", "failed"])
    failing = GriffinHook().submit_run("grocery-reorder")["id"]
    statuses.add(run_trigger(GriffinTrainingRunTrigger(run_id=failing, poll_interval=0.01))[0].payload["status"])
    fake.next_plans.append(["queued", "running", "running", "running"])
    slow = GriffinHook().submit_run("grocery-reorder")["id"]
    statuses.add(run_trigger(GriffinTrainingRunTrigger(run_id=slow, deadline=0.0))[0].payload["status"])
    statuses.add(run_trigger(GriffinTrainingRunTrigger(run_id="doesnotexist"))[0].payload["status"])
    fake.next_plans.append(["queued", "running", "running", "running"])
    cleared = GriffinHook().submit_run("grocery-reorder")["id"]
    GriffinHook().cancel_run(cleared, reason="an earlier try was killed", try_number=1)
    statuses.add(run_trigger(GriffinTrainingRunTrigger(run_id=cleared, try_number=2))[0].payload["status"])
    assert statuses == set(trigger_defn["eventStatuses"])
    _, made = log.during(lambda: asyncio.run(GriffinTrainingRunTrigger(run_id=slow, cancel_on_kill=True).on_kill()))
    trigger_calls |= made
    assert trigger_calls == declared_calls(trigger_defn)


def test_sensor_makes_the_defined_calls_and_pushes_the_defined_xcoms(contract, fake, griffin_conn, make_context):
    log = CallLog(fake, contract)
    defn = definition(contract, GriffinTrainingRunSensor)
    run_id = GriffinHook().submit_run("grocery-reorder")["id"]
    ctx = make_context(task_id="wait")
    sensor = GriffinTrainingRunSensor(task_id="wait", run_id=run_id, poke_interval=0.01)
    made: set[tuple[str, str]] = set()
    for _ in range(10):
        result, calls = log.during(lambda: sensor.poke(ctx))
        made |= calls
        if result.is_done:
            break
    assert result.is_done and sorted(result.xcom_value) == sorted(defn["returnKeys"])
    assert pushed_keys(ctx) == set(defn["xcomKeys"])
    assert made == declared_calls(defn)


def test_register_and_cancel_operators_make_the_defined_calls_and_push_the_defined_xcoms(
    contract, fake, griffin_conn, make_context
):
    log = CallLog(fake, contract)
    hook = GriffinHook()
    finished = hook.wait_for_run(hook.submit_run("grocery-reorder")["id"], poll_interval=0.01)
    assert finished["modelVersion"], "the fake registers grocery-reorder runs, as the workflow does"

    defn = definition(contract, GriffinRegisterModelVersionOperator)
    ctx = make_context(task_id="register")
    op = GriffinRegisterModelVersionOperator(
        task_id="register", model_name="grocery-reorder", run_id=finished["id"], aliases=["production"],
        tags={"approved_by": "dag"},
    )
    result, made = log.during(lambda: op.execute(ctx))
    assert sorted(result) == sorted(defn["returnKeys"]) and result["aliases"] == ["production"]
    assert pushed_keys(ctx) == set(defn["xcomKeys"])
    assert made == declared_calls(defn)

    defn = definition(contract, GriffinCancelTrainingRunOperator)
    active = hook.submit_run("grocery-reorder")["id"]
    made = set()
    for run_id in (active, finished["id"]):  # an active run, then one that has already ended
        ctx = make_context(task_id="cancel")
        op = GriffinCancelTrainingRunOperator(task_id="cancel", run_id=run_id, wait_for_termination=True, poll_interval=0.01)
        result, calls = log.during(lambda: op.execute(ctx))
        made |= calls
        assert sorted(result) == sorted(defn["returnKeys"])
        assert pushed_keys(ctx) == set(defn["xcomKeys"])
    assert made == declared_calls(defn)
