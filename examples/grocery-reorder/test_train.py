"""End-to-end tests of the grocery-reorder example: train.py as a process, by hand and as a run."""

import http.server
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN = os.path.join(HERE, "train.py")
DATASET = os.path.join(HERE, "data", "grocery_reorder_v1.csv")


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_module = load_module("grocery_train", TRAIN)
make_dataset = load_module("grocery_make_dataset", os.path.join(HERE, "make_dataset.py"))


def clean_env(**extra):
    """The environment of someone running the script by hand: no Griffin variables at all."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GRIFFIN_") and k not in ("FAIL_AT_EPOCH", "SLEEP_PER_EPOCH", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_train(cwd, timeout=60, **env):
    return subprocess.run([sys.executable, TRAIN], cwd=str(cwd), env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- by hand


def test_trains_by_hand_and_writes_the_model(tmp_path):
    started = time.time()
    done = run_train(tmp_path)
    elapsed = time.time() - started
    assert done.returncode == 0, done.stderr
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["metrics"]["auc"] > 0.7
    assert 0.6 < model["metrics"]["accuracy"] <= 1
    assert sorted(model["weights"]) == sorted(train_module.FEATURES)
    assert set(model["standardisation"]["stds"]) == set(train_module.FEATURES)
    assert (tmp_path / "artifacts" / "model.json").read_bytes() == (tmp_path / "model.json").read_bytes()
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 8 and epoch_lines[-1].startswith("epoch 8/8")
    assert elapsed < 30
    print("auc=%.4f accuracy=%.4f wall=%.2fs" % (model["metrics"]["auc"], model["metrics"]["accuracy"], elapsed))


def test_same_seed_gives_the_same_model(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert run_train(first).returncode == 0
    assert run_train(second).returncode == 0
    assert (first / "model.json").read_text() == (second / "model.json").read_text()


@pytest.mark.parametrize("how", ["env", "hyperparameter"])
def test_fail_at_epoch_fails_on_purpose(tmp_path, how):
    env = ({"FAIL_AT_EPOCH": "2"} if how == "env"
           else {"GRIFFIN_HYPERPARAMETERS": json.dumps({"fail_at_epoch": 2})})
    done = run_train(tmp_path, **env)
    assert done.returncode != 0
    assert "failing on purpose at epoch 2" in done.stderr
    assert "epoch 2/8" in done.stdout and "epoch 3/8" not in done.stdout
    assert not (tmp_path / "model.json").exists()


@pytest.mark.parametrize("hyperparameters, message", [
    ({"learning_rate": 0}, "learning_rate must be > 0"),
    ({"learning_rate": -0.1}, "learning_rate must be > 0"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"batch_size": "many"}, "batch_size must be a number"),
    ({"validation_fraction": 1}, "validation_fraction must be between 0 and 1"),
    ({"l2": True}, "l2 must be a number"),
])
def test_bad_hyperparameters_exit_2_with_a_clear_message(tmp_path, hyperparameters, message):
    done = run_train(tmp_path, GRIFFIN_HYPERPARAMETERS=json.dumps(hyperparameters))
    assert done.returncode == 2
    assert message in done.stderr


def test_numeric_strings_are_accepted_as_hyperparameters(tmp_path):
    done = run_train(tmp_path, GRIFFIN_HYPERPARAMETERS='{"epochs": "2", "learning_rate": "0.1"}')
    assert done.returncode == 0, done.stderr
    assert "epoch 2/2" in done.stdout


def test_a_missing_dataset_exits_2(tmp_path):
    done = run_train(tmp_path, GRIFFIN_DATASET_URI="file://" + str(tmp_path / "nope.csv"))
    assert done.returncode == 2
    assert "dataset not found" in done.stderr


def test_a_malformed_dataset_names_the_line(tmp_path):
    lines = open(DATASET).read().splitlines()
    header = lines[0].split(",")
    broken = lines[3].split(",")
    broken[header.index("user_reorder_rate")] = "n/a"
    lines[3] = ",".join(broken)
    (tmp_path / "broken.csv").write_text("\n".join(lines) + "\n")
    done = run_train(tmp_path, GRIFFIN_DATASET_URI="file://" + str(tmp_path / "broken.csv"))
    assert done.returncode == 2
    assert "broken.csv:4: user_reorder_rate is not a number" in done.stderr


@pytest.mark.parametrize("env, message", [
    ({"GRIFFIN_DATASET_URI": "s3://bucket/grocery.csv"}, "is not a local file"),
    ({"GRIFFIN_HYPERPARAMETERS": "[1, 2]"}, "GRIFFIN_HYPERPARAMETERS must be a JSON object"),
])
def test_an_unusable_run_environment_exits_2(tmp_path, env, message):
    done = run_train(tmp_path, **env)
    assert done.returncode == 2
    assert message in done.stderr


# --------------------------------------------------------------------------- as a Griffin run


class RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.requests = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def metrics(self):
        return [m for r in self.requests if r["path"].endswith("/metrics")
                for m in json.loads(r["body"])["metrics"]]


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.record_and_answer()

    def do_PUT(self):
        self.record_and_answer()

    def record_and_answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "auth": self.headers.get("Authorization"), "body": body})
        data = b'{"accepted": 1}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = RecordingServer()
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run_env(server, **extra):
    helper_dir = os.path.join(REPO_ROOT, "server", "runtime", "python")
    env = {"GRIFFIN_RUN_ID": "r1", "GRIFFIN_API_URL": server.url, "GRIFFIN_RUN_TOKEN": "tok",
           "GRIFFIN_DATASET_URI": "file://" + DATASET, "PYTHONPATH": helper_dir}
    env.update(extra)
    return env


def test_reports_metrics_and_the_model_to_griffin(tmp_path, server):
    done = run_train(tmp_path, **run_env(server, GRIFFIN_HYPERPARAMETERS='{"epochs": 3}'))
    assert done.returncode == 0, done.stderr
    assert all(r["auth"] == "Bearer tok" for r in server.requests)
    metrics = server.metrics()
    per_epoch = {(m["key"], m["step"]) for m in metrics}
    for key in ("train_loss", "val_loss", "val_auc", "val_accuracy"):
        assert {(key, step) for step in (1, 2, 3)} <= per_epoch
    final = {m["key"]: m["value"] for m in metrics if m["key"] in ("auc", "accuracy")}
    assert final["auc"] > 0.7 and 0 < final["accuracy"] <= 1
    (upload,) = [r for r in server.requests if r["method"] == "PUT"]
    assert upload["path"] == "/api/v1/runs/r1/artifacts/model.json"
    assert json.loads(upload["body"])["metrics"]["auc"] == final["auc"]
    assert not (tmp_path / "artifacts").exists()


def test_sigterm_stops_promptly_and_flushes_metrics(tmp_path, server):
    process = subprocess.Popen(
        [sys.executable, TRAIN], cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(**run_env(server, GRIFFIN_HYPERPARAMETERS='{"sleep_per_epoch": 0.5, "epochs": 50}')))
    try:
        for line in process.stdout:
            if line.startswith("epoch 1/50"):
                break
        stopped_at = time.time()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 128 + signal.SIGTERM
        assert time.time() - stopped_at < 3
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert ("val_auc", 1) in {(m["key"], m["step"]) for m in server.metrics()}


# --------------------------------------------------------------------------- shipped data and definitions


def test_make_dataset_reproduces_the_shipped_csv(tmp_path):
    out = tmp_path / "regenerated.csv"
    make_dataset.write_csv(make_dataset.generate(make_dataset.DEFAULT_ROWS, make_dataset.DEFAULT_SEED), str(out))
    assert out.read_bytes() == open(DATASET, "rb").read()
    assert os.path.getsize(DATASET) < 400 * 1024
    assert 4000 <= len(out.read_text().splitlines()) - 1 <= 6000


def test_griffin_json_matches_the_code():
    definitions = json.load(open(os.path.join(HERE, "griffin.json")))
    (dataset,) = definitions["datasets"]
    (model,) = definitions["models"]
    (workflow,) = definitions["workflows"]
    features = {f["name"]: f for f in definitions["features"]}

    assert dataset["features"] == train_module.FEATURES
    assert dataset["label"] == train_module.LABEL
    assert set(dataset["features"]) == set(features)
    for feature in features.values():
        assert feature["entityKey"] in ("user_id", "product_id", "user_product")
        assert feature["dtype"] in ("float", "int", "bool")
        assert os.path.isfile(os.path.join(REPO_ROOT, feature["source"]))
    assert os.path.isfile(os.path.join(REPO_ROOT, dataset["uri"]))
    assert os.path.isfile(os.path.join(REPO_ROOT, model["codeUri"], "train.py"))

    defaults = train_module.Hyperparameters()
    assert set(model["hyperparameterSchema"]["properties"]) == set(train_module.RULES)
    for name, value in model["defaultHyperparameters"].items():
        assert getattr(defaults, name) == value
    assert dataset["split"]["validation"] == defaults.validation_fraction
    assert (workflow["model"], workflow["dataset"]) == (model["name"], dataset["name"])
