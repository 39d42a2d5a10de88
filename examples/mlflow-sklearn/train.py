"""Trains a scikit-learn logistic regression on the grocery-reorder data, tracked with MLflow only.

Nothing here knows Griffin: Griffin sets MLFLOW_TRACKING_URI, MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_ID and
MLFLOW_TRACKING_TOKEN, so mlflow.start_run() resumes the Griffin run and everything logged lands in
it. It needs a Python with mlflow and scikit-learn (tests/setup/python-requirements-mlflow.txt).

Hyperparameters arrive as MLflow users pass them: here from GRIFFIN_HYPERPARAMETERS (JSON) if set,
which Griffin already shows as the run's params, so they are not logged again.
"""
import csv
import json
import os
import sys
import time
from urllib.parse import urlparse

import mlflow
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FEATURES = [
    "days_since_prior_order", "user_order_count", "user_reorder_rate", "product_reorder_rate",
    "user_product_orders", "add_to_cart_order", "aisle_popularity", "department_id",
    "order_hour_of_day", "is_organic",
]


def load(uri):
    path = urlparse(uri).path if uri.startswith("file://") else uri
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [[float(r[c]) for c in FEATURES] for r in rows], [int(r["reordered"]) for r in rows]


def main():
    hp = {"C": 1.0, "epochs": 5, "seed": 42, "sleep_per_epoch": 0.0}
    hp.update(json.loads(os.environ.get("GRIFFIN_HYPERPARAMETERS") or "{}"))
    x, y = load(os.environ.get("GRIFFIN_DATASET_URI", "../grocery-reorder/data/grocery_reorder_v1.csv"))
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=int(hp["seed"]))
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)

    with mlflow.start_run():
        mlflow.log_param("solver", "lbfgs")
        mlflow.set_tag("framework", "scikit-learn")
        model = None
        # Refit with a growing iteration budget: one point per "epoch" for the learning curve.
        for epoch in range(1, int(hp["epochs"]) + 1):
            model = LogisticRegression(C=float(hp["C"]), max_iter=epoch * 5, random_state=int(hp["seed"]))
            model.fit(x_train, y_train)
            proba = model.predict_proba(x_val)[:, 1]
            mlflow.log_metrics({"val_auc": roc_auc_score(y_val, proba), "val_accuracy": accuracy_score(y_val, proba >= 0.5)}, step=epoch)
            time.sleep(float(hp["sleep_per_epoch"]))
        weights = {
            "features": FEATURES,
            "coef": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0]),
            "mean": scaler.mean_.tolist(),
            "scale": scaler.scale_.tolist(),
        }
        with open("model.json", "w") as f:
            json.dump(weights, f)
        mlflow.log_artifact("model.json", artifact_path="model")
    print("trained; model.json logged", file=sys.stderr)


if __name__ == "__main__":
    main()
