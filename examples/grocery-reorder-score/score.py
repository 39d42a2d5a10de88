"""Batch scoring: the production grocery-reorder model scores a dataset of orders.

Griffin resolves the workflow's input model (grocery-reorder-xgboost, alias `production` unless the
run overrides it) to one registered version when the run is submitted and hands it to this
process (GRIFFIN_INPUT_MODEL, GRIFFIN_INPUT_MODEL_URI). The script downloads that version's
artifacts (checkpoint/model.ubj and model_meta.json, written by grocery-reorder-distributed),
scores every row of the run's dataset, and uploads predictions.csv: one row per input row, the
input's ids, the reorder probability and the 0/1 prediction at `threshold`.

Hyperparameters: threshold (0.5), batch_size (rows per predict call, 1000).
"""

import csv
import json
import os
import sys
import time

import numpy as np
import xgboost

import griffin_run as g

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASET = os.path.join(HERE, "data", "grocery_orders_to_score_v1.csv")
ID_COLUMNS = ["user_id", "product_id"]
OUTPUT = "predictions.csv"


class BadInput(Exception):
    pass


def settings(given):
    threshold = given.get("threshold", 0.5)
    batch_size = given.get("batch_size", 1000)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise BadInput("hyperparameter threshold must be a number between 0 and 1 (got %r)" % (threshold,))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BadInput("hyperparameter batch_size must be an integer >= 1 (got %r)" % (batch_size,))
    return float(threshold), batch_size


def load_model(directory):
    meta_path = os.path.join(directory, "model_meta.json")
    if not os.path.isfile(meta_path):
        raise BadInput("the input model has no model_meta.json; was it trained by grocery-reorder-distributed?")
    with open(meta_path) as handle:
        meta = json.load(handle)
    booster = xgboost.Booster()
    booster.load_model(os.path.join(directory, *meta["checkpoint"].split("/")))
    return booster, meta


def read_rows(path, features):
    if not os.path.isfile(path):
        raise BadInput("dataset not found: %s" % path)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in features + ID_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput("dataset %s lacks columns: %s" % (path, ", ".join(missing)))
        rows = list(reader)
    if not rows:
        raise BadInput("dataset %s has no rows" % path)
    try:
        matrix = np.array([[float(r[c]) for c in features] for r in rows])
    except ValueError as exc:
        raise BadInput("dataset %s: %s" % (path, exc)) from None
    return rows, matrix


def main():
    started = time.time()
    try:
        ctx = g.context()
        threshold, batch_size = settings(ctx.hyperparameters)
        model = g.input_model()
        if model is None:
            raise BadInput("this run has no input model; run it as the grocery-reorder-score workflow")
        print("scoring with %s@%d%s" % (model.name, model.version, " (alias %s)" % model.alias if model.alias else ""), flush=True)
        fetched = g.download_input_model("input_model")
        print("downloaded %s" % ", ".join(fetched), flush=True)
        booster, meta = load_model("input_model")
        rows, matrix = read_rows(ctx.dataset_path(default=DEFAULT_DATASET), meta["features"])
    except (BadInput, g.GriffinError) as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return 2

    scores = np.concatenate([
        booster.predict(xgboost.DMatrix(matrix[start:start + batch_size], feature_names=meta["features"]))
        for start in range(0, len(rows), batch_size)
    ])
    with open(OUTPUT, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ID_COLUMNS + ["reorder_probability", "predicted_reorder", "model_version"])
        for row, score in zip(rows, scores):
            writer.writerow([row[c] for c in ID_COLUMNS] + ["%.6f" % score, int(score >= threshold), "%s@%d" % (model.name, model.version)])
    g.upload_artifact(OUTPUT)
    positive = float(np.mean(scores >= threshold))
    g.log_metrics({"rows_scored": float(len(rows)), "mean_probability": float(np.mean(scores)), "predicted_positive_rate": positive})
    g.flush()
    print("done: scored %d rows with %s@%d in %.1fs (%.1f%% predicted reorders)"
          % (len(rows), model.name, model.version, time.time() - started, 100 * positive), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
