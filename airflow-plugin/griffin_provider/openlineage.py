"""
OpenLineage facets of the Griffin operators (read by ``apache-airflow-providers-openlineage``).

A Griffin run is a job that reads a dataset version and (when registered) writes a model version:

* inputs: the dataset, namespace ``griffin://<host:port>``, name ``datasets/<name>``, with its
  version (``version`` facet), its schema from the dataset's feature list (``schema`` facet: each
  feature with its dtype) and its source URI (``symlinks`` facet);
* outputs: the model, name ``models/<name>``, with its version (``version`` facet);
* run facets: ``griffin_run`` with the run id, URL, backend, state, hyperparameters and final
  metrics, and the time context it trained for.

The dataset and model keep one name across versions, as OpenLineage expects, so a lineage graph
links every version of a model to the runs that read and wrote it; the version is in the facet.
Nothing here is imported unless the OpenLineage provider is installed and asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

GRIFFIN_RUN_FACET_SCHEMA = "https://github.com/griffin-ml/griffin/blob/main/airflow-plugin/griffin_provider/openlineage.py#GriffinRunFacet"


@lru_cache(maxsize=1)
def _facet_classes() -> dict[str, Any]:
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class GriffinRunFacet(RunFacet):
        """What a Griffin run was: where to see it, where it ran, with what, and what it scored."""

        runId: str | None = attr.field(default=None)
        url: str | None = attr.field(default=None)
        backend: str | None = attr.field(default=None)
        state: str | None = attr.field(default=None)
        workflow: str | None = attr.field(default=None)
        hyperparameters: dict[str, Any] = attr.field(factory=dict)
        metrics: dict[str, float] = attr.field(factory=dict)
        logicalDate: str | None = attr.field(default=None)
        dataIntervalStart: str | None = attr.field(default=None)
        dataIntervalEnd: str | None = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return GRIFFIN_RUN_FACET_SCHEMA

    return {"GriffinRunFacet": GriffinRunFacet}


def namespace_of(base_url: str) -> str:
    """``griffin://host:port``: the OpenLineage namespace of one Griffin service."""
    return f"griffin://{urlparse(base_url).netloc or base_url}"


def _uri_identifier(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme and parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/") or "/"
    if parsed.scheme:
        return f"{parsed.scheme}://", parsed.path
    return "file://", uri


def dataset_input(base_url: str, dataset: Mapping[str, Any], features: list[Mapping[str, Any]] | None = None) -> Any:
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        Identifier,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
        SymlinksDatasetFacet,
    )
    from openlineage.client.facet_v2 import dataset_version_dataset

    DatasetVersionDatasetFacet = dataset_version_dataset.DatasetVersionDatasetFacet

    facets: dict[str, Any] = {}
    if dataset.get("version") is not None:
        facets["version"] = DatasetVersionDatasetFacet(datasetVersion=str(dataset["version"]))
    if features:
        facets["schema"] = SchemaDatasetFacet(
            fields=[
                SchemaDatasetFacetFields(name=str(f.get("name")), type=f.get("dtype"), description=f.get("description") or None)
                for f in features
            ]
        )
    if dataset.get("uri"):
        namespace, name = _uri_identifier(str(dataset["uri"]))
        facets["symlinks"] = SymlinksDatasetFacet(identifiers=[Identifier(namespace=namespace, name=name, type="FILE")])
    return Dataset(namespace=namespace_of(base_url), name=f"datasets/{dataset.get('name')}", facets=facets)


def model_output(base_url: str, model_name: str, version: int | str | None) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    DatasetVersionDatasetFacet = dataset_version_dataset.DatasetVersionDatasetFacet

    facets = {"version": DatasetVersionDatasetFacet(datasetVersion=str(version))} if version is not None else {}
    return Dataset(namespace=namespace_of(base_url), name=f"models/{model_name}", facets=facets)


def griffin_run_facet(run: Mapping[str, Any], *, metrics: Mapping[str, Any] | None = None) -> Any:
    """The ``griffin_run`` facet from a run view (GET /runs/{id}) or a lineage's run."""
    spec = run.get("spec") or {}
    workflow = run.get("workflow")
    time_context = run.get("timeContext") or {}
    if metrics is None:
        metrics = {k: (v or {}).get("value") for k, v in (run.get("latestMetrics") or {}).items()}
    return _facet_classes()["GriffinRunFacet"](
        runId=run.get("id"),
        url=run.get("url"),
        backend=run.get("backend"),
        state=run.get("state"),
        workflow=f"{workflow['name']}@{workflow['version']}" if isinstance(workflow, Mapping) else None,
        hyperparameters=dict(run.get("hyperparameters") or spec.get("hyperparameters") or {}),
        metrics={str(k): v for k, v in dict(metrics or {}).items() if isinstance(v, (int, float))},
        logicalDate=time_context.get("logicalDate"),
        dataIntervalStart=time_context.get("dataIntervalStart"),
        dataIntervalEnd=time_context.get("dataIntervalEnd"),
    )


def operator_lineage(inputs: list[Any], outputs: list[Any], run_facets: dict[str, Any] | None = None) -> Any:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets or {})


def features_of(client: Any, names: list[str]) -> list[dict[str, Any]]:
    """The dataset's features with their dtypes; a feature that cannot be read keeps its name."""
    out: list[dict[str, Any]] = []
    for name in names:
        try:
            out.append(client.get_feature(name))
        except Exception:  # lineage must never fail the task
            out.append({"name": name})
    return out


def run_lineage(client: Any, run: Mapping[str, Any]) -> Any:
    """Inputs, outputs and run facets of a finished (or running) Griffin run."""
    spec = run.get("spec") or {}
    dataset = spec.get("dataset") or {}
    inputs = [dataset_input(client.base_url, dataset, features_of(client, list(dataset.get("features") or [])))] if dataset else []
    outputs = []
    model_version = run.get("modelVersion")
    if isinstance(model_version, Mapping):
        outputs.append(model_output(client.base_url, str(model_version.get("name")), model_version.get("version")))
    return operator_lineage(inputs, outputs, {"griffin_run": griffin_run_facet(run)})


def version_lineage(client: Any, model_name: str, version: Mapping[str, Any]) -> Any:
    """Inputs, outputs and run facets of a registration: the run's dataset in, the model version out."""
    lineage = client.get_lineage(model_name, version["version"])
    inputs = []
    if lineage.get("dataset"):
        inputs.append(dataset_input(client.base_url, lineage["dataset"], list(lineage.get("features") or [])))
    run_facets: dict[str, Any] = {}
    if lineage.get("run"):
        run = {
            **lineage["run"],
            "workflow": lineage.get("workflow"),
            "hyperparameters": lineage.get("hyperparameters"),
            "timeContext": lineage.get("timeContext"),
        }
        run_facets["griffin_run"] = griffin_run_facet(run, metrics=version.get("metrics") or {})
    return operator_lineage(inputs, [model_output(client.base_url, model_name, version["version"])], run_facets)
