"""A training entrypoint that uses only mlflow, as the issue's acceptance test describes."""
import os

import mlflow

with mlflow.start_run():
    mlflow.log_param("alpha", "0.5")
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("team", "grocery")
    with open("model.json", "w") as f:
        f.write('{"w": [1, 2]}')
    mlflow.log_artifact("model.json")
    # What a client outside the run needs to reach it, for the test to compare.
    print("TRACKING_URI=" + os.environ["MLFLOW_TRACKING_URI"])
    print("EXPERIMENT_ID=" + os.environ["MLFLOW_EXPERIMENT_ID"])
