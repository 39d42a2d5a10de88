"""MLflow used outside any Griffin run, as in a notebook: an experiment, a run with a nested run,
and a run that raises. Prints the ids as JSON. MLFLOW_TRACKING_URI/_TOKEN from the env."""
import json

import mlflow

mlflow.set_experiment("notebook-experiments")
with mlflow.start_run(run_name="adhoc") as parent:
    mlflow.log_param("lr", "0.01")
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    with mlflow.start_run(run_name="fold-1", nested=True) as child:
        mlflow.log_metric("fold_auc", 0.75)
        mlflow.set_tag("fold", "1")
try:
    with mlflow.start_run(run_name="broken") as broken:
        raise ValueError("boom")
except ValueError:
    pass
print(json.dumps({"parent": parent.info.run_id, "child": child.info.run_id, "broken": broken.info.run_id, "experiment_id": parent.info.experiment_id}))
