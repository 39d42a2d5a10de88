"""Reads and writes Griffin through the real mlflow client, as a serving tool or notebook would.
Usage: client.py COMMAND ARGS...; prints one JSON object. MLFLOW_TRACKING_URI/_TOKEN from the env."""
import json
import os
import sys

import mlflow
from mlflow import MlflowClient


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    c = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    if cmd == "read-run":
        run = c.get_run(args[0])
        history = c.get_metric_history(args[0], args[1])
        out = {
            "status": run.info.status, "experiment_id": run.info.experiment_id,
            "params": run.data.params, "tags": run.data.tags, "metrics": run.data.metrics,
            "history": [[m.step, m.value] for m in history],
            "artifacts": [f.path for f in c.list_artifacts(args[0])],
            "experiment": c.get_experiment(run.info.experiment_id).name,
        }
    elif cmd == "alias":
        name, alias, dst = args
        v = c.get_model_version_by_alias(name, alias)
        path = mlflow.artifacts.download_artifacts(f"models:/{name}@{alias}", dst_path=dst)
        out = {"version": v.version, "run_id": v.run_id, "source": v.source, "path": path, "files": sorted(os.listdir(path))}
    elif cmd == "register":
        name, run_id, sub = args
        try:
            c.create_registered_model(name)
        except mlflow.exceptions.MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        v = c.create_model_version(name, f"runs:/{run_id}/{sub}", run_id=run_id)
        c.set_registered_model_alias(name, "production", v.version)
        out = {"version": v.version}
    elif cmd == "errors":
        out = {}
        for label, call in [
            ("missing_run", lambda: c.get_run("nosuchrun")),
            ("missing_model", lambda: c.get_registered_model("no-such-model")),
            ("write_ended", lambda: c.log_metric(args[0], "late", 1.0)),
        ]:
            try:
                call()
                out[label] = None
            except mlflow.exceptions.MlflowException as e:
                out[label] = e.error_code
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
