"""A hyperparameter sweep over Ray tasks, reporting the best model to Griffin.

Every combination of learning rate and L2 strength trains the grocery-reorder logistic
regression (the functions of ../grocery-reorder/train.py, unchanged) in its own Ray task. The
driver reads the dataset once, puts the standardised split into the object store, collects the
trials as they finish, reports one `trial_auc` point per trial and the best trial's `auc` and
`accuracy`, and uploads the best model as model.json plus every trial as sweep.json.

The training module is shipped to the workers by value (cloudpickle), so the tasks need
neither the code directory nor the dataset file on their node: the sweep runs the same on a
Ray head on this machine, a remote cluster, or a KubeRay cluster made for the run.

Hyperparameters: learning_rates (list), l2s (list), epochs, batch_size, seed,
validation_fraction, task_cpus (CPUs each trial task asks Ray for).
"""

import importlib.util
import json
import os
import random
import sys
import time

import ray
from ray import cloudpickle

import griffin_run as g

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_PY = os.path.join(HERE, "..", "grocery-reorder", "train.py")

DEFAULTS = {
    "learning_rates": [0.01, 0.05, 0.2],
    "l2s": [0.0, 0.001],
    "epochs": 6,
    "batch_size": 32,
    "seed": 42,
    "validation_fraction": 0.2,
    "task_cpus": 0.5,
}


def load_training_module():
    spec = importlib.util.spec_from_file_location("grocery_train", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["grocery_train"] = module
    spec.loader.exec_module(module)
    # Functions of a module that workers cannot import must travel by value.
    cloudpickle.register_pickle_by_value(module)
    return module


logreg = load_training_module()
# Bound here so that a task carries these functions, not the whole module with its imports.
Hyperparameters, train_epoch, evaluate = logreg.Hyperparameters, logreg.train_epoch, logreg.evaluate


def fit(data, learning_rate, l2, epochs, batch_size, seed):
    """One trial: the example's own SGD loop, returning its validation scores and weights."""
    train_x, train_y, val_x, val_y = data
    hp = Hyperparameters(learning_rate=learning_rate, l2=l2, epochs=epochs, batch_size=batch_size, seed=seed)
    rng = random.Random(seed)
    weights, bias = [0.0] * len(train_x[0]), 0.0
    history = []
    for epoch in range(1, epochs + 1):
        bias, train_loss = train_epoch(weights, bias, train_x, train_y, hp, rng)
        scores = evaluate(weights, bias, val_x, val_y)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_auc": scores["auc"]})
    return {
        "learning_rate": learning_rate,
        "l2": l2,
        "auc": scores["auc"],
        "accuracy": scores["accuracy"],
        "val_loss": scores["loss"],
        "weights": weights,
        "bias": bias,
        "history": history,
        "node": os.uname().nodename,
    }


def settings(given):
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        print("warning: ignoring unknown hyperparameters: %s" % ", ".join(unknown), file=sys.stderr, flush=True)
    values = dict(DEFAULTS)
    values.update({k: v for k, v in given.items() if k in DEFAULTS})
    for key in ("learning_rates", "l2s"):
        if not isinstance(values[key], list) or not values[key]:
            raise logreg.BadInput("hyperparameter %s must be a non-empty list" % key)
    return values


def main():
    started = time.time()
    try:
        ctx = g.context()
        hp = settings(ctx.hyperparameters)
        dataset = ctx.dataset_path(default=logreg.DEFAULT_DATASET)
        features, labels = logreg.load_dataset(dataset)
        rng = random.Random(hp["seed"])
        train_x, train_y, val_x, val_y = logreg.split(features, labels, hp["validation_fraction"], rng)
        means, stds = logreg.fit_standardiser(train_x)
        data = (logreg.standardise(train_x, means, stds), train_y, logreg.standardise(val_x, means, stds), val_y)
    except (logreg.BadInput, g.GriffinError) as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return 2

    # Inside a Ray job this joins the job's cluster; run by hand it starts a local one.
    ray.init()
    print("ray cluster resources: %s" % json.dumps(ray.cluster_resources(), sort_keys=True), flush=True)
    data_ref = ray.put(data)
    task = ray.remote(num_cpus=hp["task_cpus"])(fit)
    pending = {}
    for lr in hp["learning_rates"]:
        for l2 in hp["l2s"]:
            ref = task.remote(data_ref, float(lr), float(l2), int(hp["epochs"]), int(hp["batch_size"]), int(hp["seed"]))
            pending[ref] = (lr, l2)
    print("sweep: %d trials over Ray tasks" % len(pending), flush=True)

    trials = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        result = ray.get(done[0])
        del pending[done[0]]
        trials.append(result)
        g.log_metrics({"trial_auc": result["auc"]}, step=len(trials))
        print("trial %d: learning_rate=%g l2=%g auc=%.4f accuracy=%.4f (on %s)"
              % (len(trials), result["learning_rate"], result["l2"], result["auc"], result["accuracy"], result["node"]), flush=True)

    best = max(trials, key=lambda t: t["auc"])
    final = {"auc": best["auc"], "accuracy": best["accuracy"], "trials": float(len(trials)),
             "best_learning_rate": best["learning_rate"], "best_l2": best["l2"]}
    g.log_metrics(final, step=len(trials))
    best_hp = logreg.Hyperparameters(learning_rate=best["learning_rate"], l2=best["l2"], epochs=int(hp["epochs"]),
                                     batch_size=int(hp["batch_size"]), seed=int(hp["seed"]),
                                     validation_fraction=hp["validation_fraction"])
    logreg.save_model(logreg.MODEL_FILE, best["weights"], best["bias"], means, stds, best_hp,
                      {"auc": best["auc"], "accuracy": best["accuracy"]}, ctx.dataset_uri or dataset)
    with open("sweep.json", "w") as handle:
        json.dump([{k: v for k, v in t.items() if k not in ("weights", "bias")} for t in trials], handle, indent=2)
    g.upload_artifact(logreg.MODEL_FILE)
    g.upload_artifact("sweep.json")
    g.flush()
    print("best: learning_rate=%g l2=%g auc=%.4f; %d trials in %.2fs"
          % (best["learning_rate"], best["l2"], best["auc"], len(trials), time.time() - started), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
