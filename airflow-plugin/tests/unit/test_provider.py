"""
Unit tests of the provider's packaging: ``get_provider_info()`` against Airflow's own schema, the
entry point, and the example DAG's shape (parsed, not run).

Nothing here talks to the live Griffin service; the HTTP tests of the other modules use
``FakeGriffin``, an in-process stand-in for it used only at the unit tier.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import griffin_provider
from griffin_provider import get_provider_info

ROOT = Path(__file__).resolve().parents[2]


def _import(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_provider_info_matches_airflows_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import airflow

    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    if not schema_path.exists():
        pytest.skip("this Airflow ships no provider_info.schema.json")
    jsonschema.validate(get_provider_info(), json.loads(schema_path.read_text()))


def test_provider_info_names_importable_classes():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-griffin"
    assert info["versions"] == [griffin_provider.__version__]
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "griffin"
    hook = _import(conn["hook-class-name"])
    assert hook.conn_type == "griffin" and hook.default_conn_name == "griffin_default"
    assert set(conn["conn-fields"]) == {"token", "timeout"}
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    links = [_import(path) for path in info["extra-links"]]
    assert [link.name for link in links] == ["Griffin Run", "Griffin Model Version"]


def test_entry_point_is_registered():
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("griffin_provider")]
    if not eps:
        pytest.skip("airflow-provider-griffin is not pip-installed in this environment")
    assert eps[0].load()() == get_provider_info()


def test_airflow_discovers_the_provider():
    if not [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("griffin_provider")]:
        pytest.skip("airflow-provider-griffin is not pip-installed in this environment")
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-griffin" in manager.providers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Airflow 3 points at the task-sdk registry for hooks
        assert "griffin" in manager.hooks


def test_pyproject_declares_the_entry_point():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.apache_airflow_provider]' in text
    assert 'provider_info = "griffin_provider:get_provider_info"' in text
    assert '"apache-airflow>=2.10"' in text


def test_example_dag_shape():
    spec = importlib.util.spec_from_file_location(
        "griffin_example_dag", ROOT / "example_dags" / "griffin_retrain_grocery_reorder.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    assert dag.dag_id == "griffin_retrain_grocery_reorder"
    submit = dag.get_task("submit_training_run")
    wait = dag.get_task("wait_for_training_run")
    register = dag.get_task("register_model_version")
    assert submit.workflow == "grocery-reorder"
    assert wait.mode == "reschedule"
    assert register.model_name == "grocery-reorder" and register.aliases == ["production"]
    assert set(submit.downstream_task_ids) == {"wait_for_training_run"}
    assert set(wait.downstream_task_ids) == {"register_model_version"}
    assert "griffin_run_id" in wait.run_id and "submit_training_run" in register.run_id


def test_example_dag_pair_is_chained_by_the_models_asset_and_its_watcher():
    from airflow.serialization.serialized_objects import DagSerialization

    from griffin_provider.triggers import GriffinModelChangesTrigger

    spec = importlib.util.spec_from_file_location("griffin_example_pair", ROOT / "example_dags" / "griffin_retrain_then_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    retrain, score = module.retrain_dag, module.score_dag
    assert (retrain.dag_id, score.dag_id) == ("griffin_retrain_and_promote", "griffin_score_with_production")
    promote = retrain.get_task("promote")
    assert (promote.metric, promote.mode, promote.min_improvement, promote.alias) == ("val_auc", "max", 0.002, "production")
    [asset] = list(score.timetable.asset_condition.objects)
    assert asset.uri == "griffin://models/grocery-reorder"
    [watcher] = asset.watchers
    assert isinstance(watcher.trigger, GriffinModelChangesTrigger)
    assert (watcher.trigger.model_name, watcher.trigger.alias, watcher.trigger.kinds) == ("grocery-reorder", "production", ["alias_moved"])
    # What the dag-processor stores and the triggerer re-creates the watcher's trigger from.
    serialized = json.dumps(DagSerialization.to_dict(score))
    assert "griffin_provider.triggers.GriffinModelChangesTrigger" in serialized
