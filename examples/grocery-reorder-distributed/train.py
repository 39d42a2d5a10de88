"""Distributed XGBoost on Ray Train: the grocery reorder model trained by several workers at once.

The driver (this script, the Ray job's entrypoint) reads the dataset once, splits it into train
and validation, and starts an XGBoostTrainer with ScalingConfig(num_workers=N). Every worker takes
its own shard of both splits (rows rank, rank + N, ...) and joins XGBoost's collective, which Ray
Train sets up, so the trees are built from all shards together. Rank 0 alone reports the
per-iteration metrics to Griffin (train_logloss, val_logloss, val_auc by boosting round) and Ray
Train's report callback saves the booster as a checkpoint. The driver then uploads that checkpoint
(checkpoint/model.ubj) with a small description of the model (model_meta.json), scores the whole
validation split and reports auc and accuracy; Griffin registers the version.

Retries resume: every `checkpoint_every` boosting rounds rank 0 saves the booster and how many
rounds it holds as the run's checkpoint (griffin_run.save_checkpoint -> artifacts checkpoints/).
When Griffin retries the run (maxAttempts > 1) after, say, a lost node, the next attempt's driver
finds them through griffin_run.resume_path(), hands the booster to the workers and trains only the
rounds still missing; its metrics carry on at the round where the last checkpoint was taken.

The data travels to the workers inside the trainer's config, so the workers need neither the
dataset file nor the code directory: this runs the same on a Ray head of this machine, a remote
Ray cluster or a KubeRay cluster made for the run.

Hyperparameters: num_workers (default: the run's resources.workers, else 2), cpus_per_worker
(0.5; fractions let two workers share one core), num_boost_round, max_depth, eta, seed,
validation_fraction, storage_path (where Ray Train keeps checkpoints; shared storage such as
s3://... on a multi-node cluster, a local directory otherwise), checkpoint_every (rounds between two
resumable checkpoints; 0: none), sleep_per_round (test knob: seconds each round waits, so a test
can watch the workers).
"""

import json
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np

import griffin_run as g

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASET = os.path.join(HERE, "..", "grocery-reorder", "data", "grocery_reorder_v1.csv")
LABEL = "reordered"
# Columns that name a row rather than describe it: every other column but the label is a feature,
# so the model trains on what the dataset carries (model_meta.json records which, for the scorer).
ID_COLUMNS = ("user_id", "product_id")
CHECKPOINT_FILE = "model.ubj"
# What a resumable checkpoint holds beside the booster: how many boosting rounds are in it.
PROGRESS_FILE = "progress.json"

DEFAULTS = {
    "num_workers": None,
    "cpus_per_worker": 0.5,
    "num_boost_round": 30,
    "max_depth": 4,
    "eta": 0.2,
    "seed": 42,
    "validation_fraction": 0.2,
    "storage_path": None,
    "checkpoint_every": 1,
    "sleep_per_round": 0.0,
}


class BadInput(Exception):
    """Bad hyperparameters or data: the user must fix something (exit code 2)."""


def settings(given, environ):
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        print("warning: ignoring unknown hyperparameters: %s" % ", ".join(unknown), file=sys.stderr, flush=True)
    values = dict(DEFAULTS)
    values.update({k: v for k, v in given.items() if k in DEFAULTS})
    if values["num_workers"] is None:
        values["num_workers"] = int(environ.get("GRIFFIN_WORKERS") or 2)
    for key, low in (("num_workers", 1), ("num_boost_round", 1), ("max_depth", 1), ("checkpoint_every", 0)):
        if not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] < low:
            raise BadInput("hyperparameter %s must be an integer >= %d (got %r)" % (key, low, values[key]))
    for key in ("cpus_per_worker", "eta", "validation_fraction", "sleep_per_round"):
        if not isinstance(values[key], (int, float)) or isinstance(values[key], bool) or values[key] < 0:
            raise BadInput("hyperparameter %s must be a number >= 0 (got %r)" % (key, values[key]))
    if not 0 < values["validation_fraction"] < 1:
        raise BadInput("hyperparameter validation_fraction must be between 0 and 1 (exclusive)")
    return values


def load(path):
    """Feature names, and features and labels as float arrays, of the CSV (numpy reads it; pandas is not needed)."""
    if not os.path.isfile(path):
        raise BadInput("dataset not found: %s" % path)
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=float)
    columns = list(table.dtype.names or ())
    if LABEL not in columns:
        raise BadInput("dataset %s lacks columns: %s" % (path, LABEL))
    names = [c for c in columns if c != LABEL and c not in ID_COLUMNS]
    if not names:
        raise BadInput("dataset %s has no feature columns besides %s" % (path, ", ".join(ID_COLUMNS + (LABEL,))))
    features = np.column_stack([table[c] for c in names])
    labels = table[LABEL]
    if not np.isfinite(features).all() or not np.isin(labels, (0.0, 1.0)).all():
        raise BadInput("dataset %s has non-numeric features or labels other than 0/1" % path)
    return names, features, labels


def split(features, labels, fraction, seed):
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(order) * fraction))
    val, train = order[:cut], order[cut:]
    return features[train], labels[train], features[val], labels[val]


def resume_point(total_rounds):
    """The booster (raw bytes) and its number of rounds from an earlier attempt's checkpoint, or
    (None, 0) on attempt 1, without a checkpoint, or when the checkpoint already holds every round
    (the attempt failed after training: training again from scratch is the simple, correct choice)."""
    resumed = g.resume_path()
    if not resumed:
        return None, 0
    progress_file, model_file = os.path.join(resumed, PROGRESS_FILE), os.path.join(resumed, CHECKPOINT_FILE)
    if not (os.path.isfile(progress_file) and os.path.isfile(model_file)):
        print("attempt %d: the checkpoint of the earlier attempt is incomplete; training from scratch" % g.attempt(), flush=True)
        return None, 0
    with open(progress_file) as handle:
        rounds = int(json.load(handle)["rounds"])
    if not 0 < rounds < total_rounds:
        return None, 0
    with open(model_file, "rb") as handle:
        model = handle.read()
    print("attempt %d: resuming from the checkpoint after round %d of %d" % (g.attempt(), rounds, total_rounds), flush=True)
    return model, rounds


def save_resumable(model, rounds):
    """Rank 0's checkpoint of the booster after `rounds` rounds, stored with the run before training goes on."""
    directory = tempfile.mkdtemp(prefix="resumable-")
    try:
        model.save_model(os.path.join(directory, CHECKPOINT_FILE))
        with open(os.path.join(directory, PROGRESS_FILE), "w") as handle:
            json.dump({"rounds": rounds}, handle)
        g.save_checkpoint(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def train_loop_per_worker(config):
    """One Ray Train worker: its shard of the data, XGBoost's collective, metrics from rank 0."""
    import ray.train
    import xgboost
    from ray.train.xgboost import RayTrainReportCallback

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    def shard(rows):
        return np.asarray(rows, dtype=float)[rank::world]

    dtrain = xgboost.DMatrix(shard(config["train_x"]), label=shard(config["train_y"]), feature_names=config["features"])
    dval = xgboost.DMatrix(shard(config["val_x"]), label=shard(config["val_y"]), feature_names=config["features"])
    print("worker %d/%d: %d training rows, %d validation rows on %s (pid %d)"
          % (rank, world, dtrain.num_row(), dval.num_row(), os.uname().nodename, os.getpid()), flush=True)

    done = config["rounds_done"]
    start_from = None
    if config["resume_model"] is not None:
        start_from = xgboost.Booster()
        start_from.load_model(bytearray(config["resume_model"]))

    class ReportToGriffin(xgboost.callback.TrainingCallback):
        """XGBoost allreduces evaluation metrics, so rank 0 holds the figures of all shards."""

        def after_iteration(self, model, epoch, evals_log):
            # A resumed booster's rounds come first: epoch counts only this attempt's.
            round_number = done + epoch + 1
            if rank == 0:
                g.log_metrics({
                    "train_logloss": evals_log["train"]["logloss"][-1],
                    "val_logloss": evals_log["validation"]["logloss"][-1],
                    "val_auc": evals_log["validation"]["auc"][-1],
                }, step=round_number)
                every = config["checkpoint_every"]
                if every and round_number % every == 0 and round_number < config["total_rounds"]:
                    save_resumable(model, round_number)
            if config["sleep_per_round"]:
                time.sleep(config["sleep_per_round"])
            return False

    params = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "auc"],
        "tree_method": "hist",
        "max_depth": config["max_depth"],
        "eta": config["eta"],
        "seed": config["seed"],
        "nthread": 1,
    }
    xgboost.train(
        params,
        dtrain,
        num_boost_round=config["total_rounds"] - done,
        xgb_model=start_from,
        evals=[(dtrain, "train"), (dval, "validation")],
        verbose_eval=False,
        callbacks=[ReportToGriffin(), RayTrainReportCallback(metrics={"val_auc": "validation-auc"}, frequency=0, checkpoint_at_end=True)],
    )
    if rank == 0:
        # The worker's process may be ended as soon as the loop returns: deliver the metrics now.
        g.flush()


def evaluate(booster, names, features, labels):
    import xgboost

    scores = booster.predict(xgboost.DMatrix(features, feature_names=names))
    accuracy = float(np.mean((scores >= 0.5) == (labels == 1)))
    return {"auc": auc(scores, labels), "accuracy": accuracy}


def auc(scores, labels):
    """ROC AUC as the Mann-Whitney U statistic, ties given their average rank."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1
        start = end + 1
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def main():
    started = time.time()
    try:
        ctx = g.context()
        hp = settings(ctx.hyperparameters, os.environ)
        names, features, labels = load(ctx.dataset_path(default=DEFAULT_DATASET))
        train_x, train_y, val_x, val_y = split(features, labels, hp["validation_fraction"], hp["seed"])
    except (BadInput, g.GriffinError) as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return 2

    import ray
    import ray.train
    import xgboost
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    # Inside a Ray job this joins the job's cluster; run by hand it starts a local one.
    ray.init()
    print("ray cluster resources: %s" % json.dumps(ray.cluster_resources(), sort_keys=True), flush=True)
    storage = hp["storage_path"] or os.path.join(os.getcwd(), "ray_results")
    resume_model, rounds_done = resume_point(hp["num_boost_round"])
    trainer = XGBoostTrainer(
        train_loop_per_worker,
        train_loop_config={
            "features": names, "train_x": train_x.tolist(), "train_y": train_y.tolist(), "val_x": val_x.tolist(), "val_y": val_y.tolist(),
            "total_rounds": hp["num_boost_round"], "max_depth": hp["max_depth"], "eta": hp["eta"], "seed": hp["seed"],
            "sleep_per_round": hp["sleep_per_round"], "checkpoint_every": hp["checkpoint_every"],
            "resume_model": resume_model, "rounds_done": rounds_done,
        },
        scaling_config=ray.train.ScalingConfig(num_workers=hp["num_workers"], use_gpu=False, resources_per_worker={"CPU": hp["cpus_per_worker"]}),
        run_config=ray.train.RunConfig(name="griffin-%s" % (ctx.run_id or "local"), storage_path=storage),
    )
    print("ray train: %d workers with %g CPU each, %d boosting rounds (attempt %d, %d rounds resumed)"
          % (hp["num_workers"], hp["cpus_per_worker"], hp["num_boost_round"], g.attempt(), rounds_done), flush=True)
    result = trainer.fit()
    if result.checkpoint is None:
        print("error: Ray Train finished without a checkpoint", file=sys.stderr, flush=True)
        return 1

    booster = RayTrainReportCallback.get_model(result.checkpoint, filename=CHECKPOINT_FILE)
    scores = evaluate(booster, names, val_x, val_y)
    out = tempfile.mkdtemp(prefix="checkpoint-", dir=os.getcwd())
    with result.checkpoint.as_directory() as directory:
        shutil.copy(os.path.join(directory, CHECKPOINT_FILE), os.path.join(out, CHECKPOINT_FILE))
    with open("model_meta.json", "w") as handle:
        json.dump({
            "format": "xgboost-ubj",
            "checkpoint": "checkpoint/%s" % CHECKPOINT_FILE,
            "features": names,
            "label": LABEL,
            "xgboost_version": xgboost.__version__,
            "ray_version": ray.__version__,
            "num_workers": hp["num_workers"],
            "num_boost_round": hp["num_boost_round"],
            "validation": scores,
            "dataset": ctx.dataset_uri,
        }, handle, indent=2)
    g.upload_artifact(os.path.join(out, CHECKPOINT_FILE), "checkpoint/%s" % CHECKPOINT_FILE)
    g.upload_artifact("model_meta.json")
    g.log_metrics({"auc": scores["auc"], "accuracy": scores["accuracy"], "workers": float(hp["num_workers"])}, step=hp["num_boost_round"])
    g.flush()
    print("done: auc=%.4f accuracy=%.4f with %d Ray Train workers in %.1fs"
          % (scores["auc"], scores["accuracy"], hp["num_workers"], time.time() - started), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
