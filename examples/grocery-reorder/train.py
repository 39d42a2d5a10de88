"""Train a logistic regression that predicts grocery reorders, and report it to Griffin.

Standard library only: the point of the example is the platform, not the maths, and a
runtime without numpy must still be able to run it. Inside a Griffin run the hyperparameters
and the dataset come from the run's environment (see griffin_run); run by hand
(`python3 train.py`) it trains on the CSV shipped next to it and writes ./model.json.

Hyperparameters (all optional): learning_rate, epochs, batch_size, l2, seed,
validation_fraction; and two test knobs, fail_at_epoch (fail on purpose after that epoch)
and sleep_per_epoch (seconds), which may also come from the FAIL_AT_EPOCH and
SLEEP_PER_EPOCH environment variables.
"""

import csv
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import griffin_run as g
except ImportError:
    # Run by hand from a checkout: the helper lives in the service tree, which Griffin
    # would otherwise put on PYTHONPATH.
    sys.path.insert(0, os.path.join(HERE, "..", "..", "server", "runtime", "python"))
    try:
        import griffin_run as g
    except ImportError:
        sys.exit("error: griffin_run not found; add server/runtime/python to PYTHONPATH")

# The dataset's columns come from its generator beside this file, however this file is loaded
# (`python train.py`, or by path from examples/ray-sweep).
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from make_dataset import FEATURES, LABEL  # noqa: E402

DEFAULT_DATASET = os.path.join(HERE, "data", "grocery_reorder_v1.csv")
MODEL_FILE = "model.json"

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class BadInput(Exception):
    """Bad hyperparameters or an unusable dataset: the user must fix something."""


# --------------------------------------------------------------------------- hyperparameters


@dataclass(frozen=True)
class Hyperparameters:
    learning_rate: float = 0.05
    epochs: int = 8
    batch_size: int = 32
    l2: float = 0.0001
    seed: int = 42
    validation_fraction: float = 0.2
    fail_at_epoch: int = 0  # 0 = never
    sleep_per_epoch: float = 0.0


# name -> (is integer, check, what the check demands)
RULES = {
    "learning_rate": (False, lambda v: v > 0, "> 0"),
    "epochs": (True, lambda v: 1 <= v <= 10000, "between 1 and 10000"),
    "batch_size": (True, lambda v: v >= 1, ">= 1"),
    "l2": (False, lambda v: v >= 0, ">= 0"),
    "seed": (True, lambda v: True, "an integer"),
    "validation_fraction": (False, lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    "fail_at_epoch": (True, lambda v: v >= 0, ">= 0"),
    "sleep_per_epoch": (False, lambda v: v >= 0, ">= 0"),
}

ENV_KNOBS = {"fail_at_epoch": "FAIL_AT_EPOCH", "sleep_per_epoch": "SLEEP_PER_EPOCH"}


def parse_hyperparameters(given, environ):
    """Defaults, then the test knobs from the environment, then the run's hyperparameters."""
    unknown = sorted(set(given) - set(RULES))
    if unknown:
        warn("ignoring unknown hyperparameters: %s" % ", ".join(unknown))
    values = {}
    for name, env_name in ENV_KNOBS.items():
        if environ.get(env_name, "").strip():
            values[name] = environ[env_name]
    values.update({k: v for k, v in given.items() if k in RULES})
    return Hyperparameters(**{k: checked_value(k, v) for k, v in values.items()})


def checked_value(name, raw):
    integer, check, demand = RULES[name]
    number = to_number(name, raw)
    if integer:
        if not number.is_integer():
            raise BadInput("hyperparameter %s must be an integer (got %r)" % (name, raw))
        number = int(number)
    if not check(number):
        raise BadInput("hyperparameter %s must be %s (got %r)" % (name, demand, raw))
    return number


def to_number(name, raw):
    # Strings are accepted because templated values (Airflow, CLI flags) often arrive as text.
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise BadInput("hyperparameter %s must be a number (got %r)" % (name, raw))
    try:
        number = float(raw)
    except ValueError:
        raise BadInput("hyperparameter %s must be a number (got %r)" % (name, raw)) from None
    if not math.isfinite(number):
        raise BadInput("hyperparameter %s must be finite (got %r)" % (name, raw))
    return number


# --------------------------------------------------------------------------- data


def load_dataset(path):
    """Feature rows and 0/1 labels from the CSV at `path`."""
    if not os.path.isfile(path):
        raise BadInput("dataset not found: %s" % path)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in FEATURES + [LABEL] if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput("dataset %s lacks columns: %s" % (path, ", ".join(missing)))
        features, labels = [], []
        for line_number, record in enumerate(reader, start=2):
            features.append([parse_cell(record, name, path, line_number) for name in FEATURES])
            labels.append(parse_label(record, path, line_number))
    if len(labels) < 10:
        raise BadInput("dataset %s has only %d rows" % (path, len(labels)))
    return features, labels


def parse_cell(record, name, path, line_number):
    try:
        value = float(record[name])
    except (TypeError, ValueError):
        raise BadInput("%s:%d: %s is not a number (%r)" % (path, line_number, name, record[name])) from None
    if not math.isfinite(value):
        raise BadInput("%s:%d: %s is not finite" % (path, line_number, name))
    return value


def parse_label(record, path, line_number):
    value = (record[LABEL] or "").strip().lower()
    if value in ("1", "true"):
        return 1
    if value in ("0", "false"):
        return 0
    raise BadInput("%s:%d: %s must be 0 or 1 (%r)" % (path, line_number, LABEL, record[LABEL]))


def split(features, labels, validation_fraction, rng):
    order = list(range(len(labels)))
    rng.shuffle(order)
    validation_size = int(round(len(order) * validation_fraction))
    if validation_size < 1 or validation_size >= len(order):
        raise BadInput("validation_fraction %.3f leaves an empty split" % validation_fraction)
    train, validation = order[validation_size:], order[:validation_size]
    return (
        [features[i] for i in train], [labels[i] for i in train],
        [features[i] for i in validation], [labels[i] for i in validation],
    )


def fit_standardiser(rows):
    """Per-feature mean and standard deviation; a constant feature keeps std 1 to avoid /0."""
    count = float(len(rows))
    means = [sum(column) / count for column in zip(*rows)]
    stds = []
    for column, mean in zip(zip(*rows), means):
        variance = sum((x - mean) ** 2 for x in column) / count
        stds.append(math.sqrt(variance) if variance > 1e-12 else 1.0)
    return means, stds


def standardise(rows, means, stds):
    return [[(x - m) / s for x, m, s in zip(row, means, stds)] for row in rows]


# --------------------------------------------------------------------------- model


def sigmoid(z):
    # Two branches so that exp() never overflows for large |z|.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def predict(weights, bias, row):
    return sigmoid(bias + sum(w * x for w, x in zip(weights, row)))


def log_loss(probability, label):
    p = min(max(probability, 1e-12), 1 - 1e-12)
    return -math.log(p) if label else -math.log(1 - p)


def train_epoch(weights, bias, rows, labels, hp, rng):
    """One pass of mini-batch SGD; returns the new bias and the mean loss seen during the pass."""
    order = list(range(len(labels)))
    rng.shuffle(order)
    total_loss = 0.0
    for start in range(0, len(order), hp.batch_size):
        batch = order[start:start + hp.batch_size]
        gradient = [0.0] * len(weights)
        bias_gradient = 0.0
        for i in batch:
            row, label = rows[i], labels[i]
            probability = predict(weights, bias, row)
            total_loss += log_loss(probability, label)
            error = probability - label
            bias_gradient += error
            for j, x in enumerate(row):
                gradient[j] += error * x
        scale = hp.learning_rate / len(batch)
        for j in range(len(weights)):
            weights[j] -= scale * gradient[j] + hp.learning_rate * hp.l2 * weights[j]
        bias -= scale * bias_gradient
    return bias, total_loss / len(labels)


def evaluate(weights, bias, rows, labels):
    probabilities = [predict(weights, bias, row) for row in rows]
    loss = sum(log_loss(p, y) for p, y in zip(probabilities, labels)) / len(labels)
    correct = sum(1 for p, y in zip(probabilities, labels) if (p >= 0.5) == (y == 1))
    return {"loss": loss, "auc": auc(probabilities, labels), "accuracy": correct / len(labels)}


def auc(scores, labels):
    """ROC AUC via the Mann-Whitney U statistic, with tied scores given their average rank."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise BadInput("validation split holds only one class; AUC is undefined")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average_rank = (start + end) / 2.0 + 1
        for k in range(start, end + 1):
            ranks[order[k]] = average_rank
        start = end + 1
    positive_rank_sum = sum(r for r, y in zip(ranks, labels) if y == 1)
    return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def save_model(path, weights, bias, means, stds, hp, metrics, dataset):
    model = {
        "format": "griffin-logistic-regression/v1",
        "label": LABEL,
        "features": FEATURES,
        "weights": dict(zip(FEATURES, weights)),
        "bias": bias,
        # Scoring must standardise inputs exactly as training did: x' = (x - mean) / std.
        "standardisation": {"means": dict(zip(FEATURES, means)), "stds": dict(zip(FEATURES, stds))},
        "hyperparameters": asdict(hp),
        "metrics": metrics,
        "dataset": dataset,
    }
    with open(path, "w") as handle:
        json.dump(model, handle, indent=2, sort_keys=True)
        handle.write("\n")


# --------------------------------------------------------------------------- main


def say(message):
    print(message, flush=True)  # stdout is a pipe under Griffin; unflushed lines would arrive late


def warn(message):
    print("warning: %s" % message, file=sys.stderr, flush=True)


def stop_on_sigterm(signum, frame):
    # SystemExit unwinds normally, so atexit still flushes the metrics logged so far.
    say("received SIGTERM, stopping")
    sys.exit(128 + signum)


def dataset_path(ctx):
    try:
        return ctx.dataset_path(default=DEFAULT_DATASET)
    except g.GriffinError as exc:  # e.g. a remote URI this script cannot read
        raise BadInput(str(exc)) from None


def read_context():
    try:
        return g.context()
    except g.GriffinError as exc:  # e.g. GRIFFIN_HYPERPARAMETERS that is not a JSON object
        raise BadInput(str(exc)) from None


def train(ctx, hp):
    dataset = dataset_path(ctx)
    features, labels = load_dataset(dataset)
    rng = random.Random(hp.seed)
    train_x, train_y, val_x, val_y = split(features, labels, hp.validation_fraction, rng)
    means, stds = fit_standardiser(train_x)
    train_x, val_x = standardise(train_x, means, stds), standardise(val_x, means, stds)
    say("dataset %s: %d train rows, %d validation rows, %d features"
        % (dataset, len(train_y), len(val_y), len(FEATURES)))
    say("hyperparameters: %s" % json.dumps(asdict(hp), sort_keys=True))
    if getattr(ctx, "data_interval_start", None):
        # A real pipeline would select the rows of this interval; the example says which it was given.
        say("data interval %s .. %s (logical date %s)" % (ctx.data_interval_start, ctx.data_interval_end, ctx.logical_date))

    weights, bias = [0.0] * len(FEATURES), 0.0
    for epoch in range(1, hp.epochs + 1):
        started = time.time()
        bias, train_loss = train_epoch(weights, bias, train_x, train_y, hp, rng)
        if hp.sleep_per_epoch:
            time.sleep(hp.sleep_per_epoch)
        scores = evaluate(weights, bias, val_x, val_y)
        g.log_metrics({"train_loss": train_loss, "val_loss": scores["loss"],
                       "val_auc": scores["auc"], "val_accuracy": scores["accuracy"]}, step=epoch)
        say("epoch %d/%d train_loss=%.4f val_loss=%.4f val_auc=%.4f val_accuracy=%.4f (%.2fs)"
            % (epoch, hp.epochs, train_loss, scores["loss"], scores["auc"], scores["accuracy"],
               time.time() - started))
        if epoch == hp.fail_at_epoch:
            print("error: failing on purpose at epoch %d (fail_at_epoch)" % epoch, file=sys.stderr, flush=True)
            return EXIT_FAILED

    final = {"auc": scores["auc"], "accuracy": scores["accuracy"]}
    g.log_metrics(final, step=hp.epochs)
    save_model(MODEL_FILE, weights, bias, means, stds, hp, final, ctx.dataset_uri or dataset)
    g.upload_artifact(MODEL_FILE)
    # Flushed explicitly so that a lost final AUC fails the run instead of registering a
    # model version without its metrics.
    g.flush()
    say("done: auc=%.4f accuracy=%.4f, model written to %s" % (final["auc"], final["accuracy"], MODEL_FILE))
    return 0


def main():
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    started = time.time()
    try:
        ctx = read_context()
        hp = parse_hyperparameters(ctx.hyperparameters, os.environ)
        code = train(ctx, hp)
    except BadInput as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except g.GriffinError as exc:
        print("error: reporting to Griffin failed: %s" % exc, file=sys.stderr, flush=True)
        return EXIT_FAILED
    say("total time %.2fs" % (time.time() - started))
    return code


if __name__ == "__main__":
    sys.exit(main())
