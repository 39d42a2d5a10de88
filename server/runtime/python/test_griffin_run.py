"""Tests of griffin_run against a local HTTP server that records what it receives."""

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import griffin_run as g  # noqa: E402

TOKEN = "run-token-s3cr3t"
RUN_ID = "run42"


class RecordingServer(http.server.ThreadingHTTPServer):
    """Records every request; answers from a queue of planned responses, then 201."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.requests = []
        self.planned = []
        self.lock = threading.Lock()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def plan(self, *responses):
        """Each response: (status, body dict or None, headers dict)."""
        self.planned.extend(responses)

    def next_response(self):
        with self.lock:
            return self.planned.pop(0) if self.planned else None


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.record_and_answer()

    def do_PUT(self):
        self.record_and_answer()

    def record_and_answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
        status, payload, headers = self.server.next_response() or (201, {"ok": True}, {})
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = RecordingServer()
    # A short poll interval keeps shutdown() (and so every test) fast.
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run_env(server_url, **extra):
    env = {
        "GRIFFIN_RUN_ID": RUN_ID,
        "GRIFFIN_API_URL": server_url + "/",
        "GRIFFIN_RUN_TOKEN": TOKEN,
        "GRIFFIN_HYPERPARAMETERS": '{"learning_rate": 0.1, "epochs": 3}',
    }
    env.update(extra)
    return env


def reporter(server, **options):
    options.setdefault("backoff_seconds", 0.01)
    return g.Reporter(environ=run_env(server.url), **options)


def metrics_in(request):
    return json.loads(request["body"])["metrics"]


# --------------------------------------------------------------------------- context


def test_context_reads_the_run_environment():
    ctx = g.context(run_env("http://griffin:8080", GRIFFIN_DATASET_URI="file:///data/my%20set.csv",
                            GRIFFIN_ARTIFACT_URI="http://griffin:8080/api/v1/runs/run42/artifacts/"))
    assert ctx.run_id == RUN_ID
    assert ctx.api_url == "http://griffin:8080"
    assert ctx.hyperparameters == {"learning_rate": 0.1, "epochs": 3}
    assert ctx.dataset_path() == "/data/my set.csv"
    assert ctx.artifact_uri.endswith("/runs/run42/artifacts/")
    assert not ctx.offline
    assert TOKEN not in repr(ctx)


def test_context_without_a_run_is_offline_with_defaults():
    ctx = g.context({})
    assert ctx.offline
    assert ctx.hyperparameters == {}
    assert ctx.dataset_path(default="fallback.csv") == "fallback.csv"


def test_dataset_path_accepts_plain_paths_and_refuses_remote_uris():
    assert g.context({"GRIFFIN_DATASET_URI": "/abs/data.csv"}).dataset_path() == "/abs/data.csv"
    with pytest.raises(g.GriffinError, match="not a local file"):
        g.context({"GRIFFIN_DATASET_URI": "s3://bucket/data.csv"}).dataset_path()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]"])
def test_context_rejects_bad_hyperparameters(raw):
    with pytest.raises(g.GriffinError, match="GRIFFIN_HYPERPARAMETERS"):
        g.context({"GRIFFIN_HYPERPARAMETERS": raw})


def test_a_run_without_api_url_or_token_is_refused():
    with pytest.raises(g.GriffinError, match="GRIFFIN_API_URL"):
        g.context({"GRIFFIN_RUN_ID": RUN_ID})
    with pytest.raises(g.GriffinError, match="GRIFFIN_RUN_TOKEN"):
        g.Reporter(environ={"GRIFFIN_RUN_ID": RUN_ID, "GRIFFIN_API_URL": "http://x"})


# --------------------------------------------------------------------------- metrics


def test_metrics_are_sent_in_batches_of_100(server):
    rep = reporter(server)
    before = int(time.time() * 1000)
    for step in range(250):
        rep.log_metric("loss", 1.0 / (step + 1), step=step)
    assert [len(metrics_in(r)) for r in server.requests] == [100, 100]
    assert rep.flush() == 50
    assert [len(metrics_in(r)) for r in server.requests] == [100, 100, 50]
    first = metrics_in(server.requests[0])[0]
    assert first["key"] == "loss" and first["value"] == 1.0 and first["step"] == 0
    assert before <= first["timestamp"] <= int(time.time() * 1000)
    assert rep.flush() == 0 and len(server.requests) == 3


def test_log_metrics_posts_to_the_run_with_the_run_token(server):
    rep = reporter(server)
    rep.log_metrics({"auc": 0.8, "accuracy": 0.75}, step=3)
    rep.log_metric("final", 1)
    rep.flush()
    (request,) = server.requests
    assert request["method"] == "POST"
    assert request["path"] == "/api/v1/runs/run42/metrics"
    assert request["headers"]["Authorization"] == "Bearer " + TOKEN
    assert request["headers"]["Content-Type"] == "application/json"
    assert metrics_in(request)[:2] == [
        {"key": "auc", "value": 0.8, "step": 3, "timestamp": metrics_in(request)[0]["timestamp"]},
        {"key": "accuracy", "value": 0.75, "step": 3, "timestamp": metrics_in(request)[1]["timestamp"]},
    ]
    assert "step" not in metrics_in(request)[2]


def test_non_finite_values_are_skipped_and_bad_ones_refused(server, capsys):
    rep = reporter(server)
    rep.log_metrics({"loss": float("nan"), "auc": 0.5})
    rep.flush()
    assert [m["key"] for m in metrics_in(server.requests[0])] == ["auc"]
    assert "not finite" in capsys.readouterr().err
    with pytest.raises(TypeError):
        rep.log_metric("loss", "0.5")
    with pytest.raises(ValueError):
        rep.log_metric("", 0.5)


def test_503_and_429_are_retried_with_the_same_idempotency_key(server):
    server.plan((503, {"error": {"code": "upstream", "message": "busy"}}, {}),
                (429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "0"}))
    rep = reporter(server)
    rep.log_metric("loss", 0.5, step=1)
    assert rep.flush() == 1
    assert len(server.requests) == 3
    assert len({r["headers"]["Idempotency-Key"] for r in server.requests}) == 1
    assert all(r["body"] == server.requests[0]["body"] for r in server.requests)


def test_client_errors_are_not_retried_and_never_show_the_token(server):
    server.plan((403, {"error": {"code": "permission_denied", "message": "token is for another run"}}, {}))
    rep = reporter(server)
    rep.log_metric("loss", 0.5)
    with pytest.raises(g.GriffinError) as raised:
        rep.flush()
    assert raised.value.status == 403
    assert "token is for another run" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert len(server.requests) == 1


def test_retries_give_up_after_max_attempts(server):
    server.plan(*[(500, None, {})] * 5)
    rep = reporter(server, max_attempts=3)
    rep.log_metric("loss", 0.5)
    with pytest.raises(g.GriffinError, match="after 3 attempts"):
        rep.flush()
    assert len(server.requests) == 3


def test_connection_errors_are_retried_then_reported(capsys):
    closed = RecordingServer()  # bind a port, then close it so nothing listens there
    url = closed.url
    closed.server_close()
    rep = g.Reporter(environ=run_env(url), max_attempts=2, backoff_seconds=0.01)
    rep.log_metric("loss", 0.5)
    with pytest.raises(g.GriffinError, match="connection error"):
        rep.flush()
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_a_failed_automatic_flush_warns_instead_of_raising(server, capsys):
    server.plan((400, {"error": {"code": "invalid_argument", "message": "bad metric"}}, {}))
    rep = reporter(server, batch_size=2)
    rep.log_metrics({"a": 1, "b": 2})  # reaches the batch size: flushed on the spot
    assert "metrics dropped" in capsys.readouterr().err
    rep.log_metric("c", 3)
    assert rep.flush() == 1


def test_buffered_metrics_are_flushed_at_exit(server):
    script = textwrap.dedent("""
        import griffin_run as g
        g.log_metric("loss", 0.25, step=1)
        g.log_metrics({"auc": 0.9}, step=2)
    """)
    env = dict(os.environ, PYTHONPATH=HERE, **run_env(server.url))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    (request,) = server.requests
    assert [(m["key"], m["step"]) for m in metrics_in(request)] == [("loss", 1), ("auc", 2)]


# --------------------------------------------------------------------------- artifacts


def test_artifacts_are_put_as_raw_bytes_with_quoted_segments(server, tmp_path):
    payload = bytes(range(256)) * 10
    local = tmp_path / "weights.bin"
    local.write_bytes(payload)
    server.plan((201, {"path": "reports/eval results#1.bin", "size": len(payload)}, {}))
    answer = reporter(server).upload_artifact(str(local), "reports/eval results#1.bin")
    (request,) = server.requests
    assert request["method"] == "PUT"
    assert request["path"] == "/api/v1/runs/run42/artifacts/reports/eval%20results%231.bin"
    assert request["headers"]["Authorization"] == "Bearer " + TOKEN
    assert request["headers"]["Content-Type"] == "application/octet-stream"
    assert request["body"] == payload
    assert answer["size"] == len(payload)


def test_artifact_upload_retries_send_the_whole_file_again(server, tmp_path):
    local = tmp_path / "model.json"
    local.write_text('{"w": [1, 2, 3]}')
    server.plan((503, None, {"Retry-After": "0"}))
    reporter(server).upload_artifact(str(local))
    assert [r["path"] for r in server.requests] == ["/api/v1/runs/run42/artifacts/model.json"] * 2
    assert all(r["body"] == b'{"w": [1, 2, 3]}' for r in server.requests)


@pytest.mark.parametrize("dest", ["../escape.txt", "/abs.txt", "a//b.txt", "a/./b.txt"])
def test_artifact_paths_must_stay_inside_the_run(server, tmp_path, dest):
    local = tmp_path / "f.txt"
    local.write_text("x")
    with pytest.raises(g.GriffinError, match="artifact path"):
        reporter(server).upload_artifact(str(local), dest)
    assert server.requests == []


def test_a_missing_artifact_file_is_refused(server, tmp_path):
    with pytest.raises(g.GriffinError, match="not a file"):
        reporter(server).upload_artifact(str(tmp_path / "nope.bin"))


# --------------------------------------------------------------------------- offline


def test_offline_metrics_are_printed_and_artifacts_copied(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.json").write_text("{}")
    rep = g.Reporter(environ={})
    rep.log_metrics({"auc": 0.8125}, step=4)
    assert rep.flush() == 0
    answer = rep.upload_artifact("model.json", "models/final model.json")
    copied = tmp_path / "artifacts" / "models" / "final model.json"
    assert copied.read_text() == "{}"
    assert answer["path"] == "models/final model.json" and answer["size"] == 2
    assert "metric auc=0.8125 step=4" in capsys.readouterr().out


def test_module_functions_work_offline(tmp_path):
    script = textwrap.dedent("""
        import griffin_run as g
        print(g.context().offline)
        open("out.txt", "w").write("hello")
        g.log_metric("loss", 0.5, step=1)
        g.upload_artifact("out.txt")
        g.flush()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIFFIN_")}
    env["PYTHONPATH"] = HERE
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "True"
    assert "metric loss=0.5 step=1" in done.stdout
    assert (tmp_path / "artifacts" / "out.txt").read_text() == "hello"
