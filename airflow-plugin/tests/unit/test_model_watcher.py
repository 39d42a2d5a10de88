"""
How Airflow's dag-processor sees a model's watcher: the watched Asset and the operators' outlets
on the same model in one DAG file, run through the functions the dag-processor runs on each parse
(serialization, then ``AssetModelOperation.collect``, which keeps one Asset per name and URI: the
last reference it reads). The order of the DAGs of a file varies from one parse to the next, so
every order is tried. Nothing here talks to Griffin.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("airflow.sdk", reason="watchers are Airflow 3")

MODEL = "watched-by-parse-order"
URI = f"griffin://models/{MODEL}"

DAG_FILE = textwrap.dedent(
    f'''
    from datetime import datetime

    from airflow.sdk import DAG, AssetWatcher, task

    from griffin_provider.assets import model_asset
    from griffin_provider.operators import GriffinPromoteModelVersionOperator, GriffinRegisterModelVersionOperator
    from griffin_provider.triggers import GriffinModelChangesTrigger

    START = datetime(2026, 1, 1)

    # Declared before the watcher: its outlet was made without it.
    with DAG(dag_id="registers", schedule=None, start_date=START):
        GriffinRegisterModelVersionOperator(task_id="register", model_name="{MODEL}", run_id="r1")

    with DAG(
        dag_id="watches",
        schedule=[model_asset("{MODEL}", watchers=[AssetWatcher(
            name="production_moves",
            trigger=GriffinModelChangesTrigger(model_name="{MODEL}", alias="production", poll_interval=5),
        )])],
        start_date=START,
    ):
        @task
        def score():
            return None

        score()

    # Declared after the watcher.
    with DAG(dag_id="promotes", schedule=None, start_date=START):
        GriffinPromoteModelVersionOperator(task_id="promote", model_name="{MODEL}", version=1, alias="production", metric="val_auc")
    '''
)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from airflow.dag_processing.dagbag import DagBag

    path: Path = tmp_path_factory.mktemp("dags") / "watched_and_emitting.py"
    path.write_text(DAG_FILE)
    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dags) == {"registers", "watches", "promotes"}
    return dict(bag.dags)


def watchers_airflow_keeps(dags: dict[str, object], order: tuple[str, ...]) -> list[tuple[str, str, dict]]:
    from airflow.dag_processing.collection import AssetModelOperation
    from airflow.serialization.serialized_objects import DagSerialization, LazyDeserializedDAG

    serialized = {dag_id: LazyDeserializedDAG(data=DagSerialization.to_dict(dags[dag_id])) for dag_id in order}
    asset = AssetModelOperation.collect(serialized).assets[(URI, URI)]
    return [(w.name, w.trigger["classpath"], w.trigger["kwargs"]) for w in asset.watchers]


@pytest.mark.parametrize("order", list(itertools.permutations(["registers", "watches", "promotes"])))
def test_the_watcher_survives_a_parse_whatever_the_order_of_the_files_dags(parsed, order):
    [(name, classpath, kwargs)] = watchers_airflow_keeps(parsed, order)
    assert (name, classpath) == ("production_moves", "griffin_provider.triggers.GriffinModelChangesTrigger")
    assert (kwargs["model_name"], kwargs["alias"], kwargs["kinds"]) == (MODEL, "production", ["alias_moved"])


def test_the_operators_still_emit_on_the_models_asset(parsed):
    for dag_id, task_id in (("registers", "register"), ("promotes", "promote")):
        [outlet] = parsed[dag_id].get_task(task_id).outlets
        assert outlet.uri == URI


def test_the_watchers_identity_is_the_same_at_every_parse(parsed):
    """Airflow replaces a watcher's trigger (and cancels the running one) when its kwargs change between parses."""
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import BaseEventTrigger

    from griffin_provider.triggers import GriffinModelChangesTrigger

    [(_, classpath, kwargs)] = watchers_airflow_keeps(parsed, ("watches",))
    # As stored in the metadata database and read back at the next parse.
    stored = Trigger(classpath=classpath, kwargs=kwargs)
    assert BaseEventTrigger.hash(stored.classpath, stored.kwargs) == BaseEventTrigger.hash(classpath, kwargs)
    same_watch = GriffinModelChangesTrigger(model_name=MODEL, alias="production", kinds=["alias_moved", "alias_moved"], poll_interval=5)
    assert same_watch.serialize() == (classpath, kwargs)


def test_a_whole_model_watch_leaves_out_tag_edits_unless_asked_and_refuses_unknown_kinds():
    from griffin_provider.triggers import GriffinModelChangesTrigger

    whole = GriffinModelChangesTrigger(model_name=MODEL)
    assert whole.kinds == ["alias_moved", "alias_removed", "version_registered"]
    edits = GriffinModelChangesTrigger(model_name=MODEL, kinds=["version_updated"])
    assert edits.kinds == ["version_updated"]
    with pytest.raises(ValueError, match="version_edited"):
        GriffinModelChangesTrigger(model_name=MODEL, kinds=["version_edited"])
