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

    def __init__(self, port=0):
        super().__init__(("127.0.0.1", port), RecordingHandler)
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


def serve(srv):
    # A short poll interval keeps shutdown() (and so every test) fast.
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return srv


def stop(srv):
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def server():
    srv = serve(RecordingServer())
    yield srv
    stop(srv)


@pytest.fixture
def down_port():
    """A port where nothing listens (yet): Griffin is away."""
    probe = RecordingServer()
    port = probe.server_address[1]
    probe.server_close()
    started = []
    yield port, started
    for srv in started:
        stop(srv)


def come_back(down):
    port, started = down
    srv = serve(RecordingServer(port))
    started.append(srv)
    return srv


def run_env(server_url, **extra):
    env = {
        "GRIFFIN_RUN_ID": RUN_ID,
        "GRIFFIN_API_URL": server_url + "/",
        "GRIFFIN_RUN_TOKEN": TOKEN,
        "GRIFFIN_HYPERPARAMETERS": '{"learning_rate": 0.1, "epochs": 3}',
    }
    env.update(extra)
    return env


@pytest.fixture
def spool(tmp_path):
    return str(tmp_path / "spool")


REPORTERS = []


@pytest.fixture(autouse=True)
def close_reporters():
    yield
    while REPORTERS:
        REPORTERS.pop().close()


def reporter_at(url, spool_dir, **options):
    options.setdefault("backoff_seconds", 0.01)
    options.setdefault("max_backoff_seconds", 0.05)
    options.setdefault("report_timeout", 0.5)
    rep = g.Reporter(environ=run_env(url), spool_dir=spool_dir, **options)
    REPORTERS.append(rep)
    return rep


def reporter(server, spool_dir, **options):
    return reporter_at(server.url, spool_dir, **options)


def url_of(port):
    return "http://127.0.0.1:%d" % port


def metrics_in(request):
    return json.loads(request["body"])["metrics"]


def batch_id_of(request):
    return json.loads(request["body"])["batchId"]


def metric_posts(server):
    return [r for r in server.requests if r["path"].endswith("/metrics")]


def wait_until(condition, limit=10.0):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


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


def test_metrics_are_sent_in_batches_of_100_in_the_background(server, spool):
    rep = reporter(server, spool)
    before = int(time.time() * 1000)
    for step in range(250):
        rep.log_metric("loss", 1.0 / (step + 1), step=step)
    wait_until(lambda: len(metric_posts(server)) == 2)
    assert [len(metrics_in(r)) for r in metric_posts(server)] == [100, 100]
    assert rep.flush() == 250
    posts = metric_posts(server)
    assert [len(metrics_in(r)) for r in posts] == [100, 100, 50]
    assert [m["step"] for r in posts for m in metrics_in(r)] == list(range(250))
    first = metrics_in(posts[0])[0]
    assert first["key"] == "loss" and first["value"] == 1.0 and first["step"] == 0
    assert before <= first["timestamp"] <= int(time.time() * 1000)
    assert len({batch_id_of(r) for r in posts}) == 3
    assert rep.flush() == 0 and len(server.requests) == 3


def test_a_partial_batch_is_sent_after_the_flush_interval_without_a_flush(server, spool):
    rep = reporter(server, spool, flush_interval=0.05)
    rep.log_metric("loss", 0.5, step=1)
    wait_until(lambda: len(server.requests) == 1)
    assert [m["key"] for m in metrics_in(server.requests[0])] == ["loss"]


def test_log_metrics_posts_to_the_run_with_the_run_token(server, spool):
    rep = reporter(server, spool)
    rep.log_metrics({"auc": 0.8, "accuracy": 0.75}, step=3)
    rep.log_metric("final", 1)
    assert rep.flush() == 3
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


def test_non_finite_values_are_skipped_and_bad_ones_refused(server, spool, capsys):
    rep = reporter(server, spool)
    rep.log_metrics({"loss": float("nan"), "auc": 0.5})
    rep.flush()
    assert [m["key"] for m in metrics_in(server.requests[0])] == ["auc"]
    assert "not finite" in capsys.readouterr().err
    with pytest.raises(TypeError):
        rep.log_metric("loss", "0.5")
    with pytest.raises(ValueError):
        rep.log_metric("", 0.5)


def test_503_429_and_lost_answers_are_retried_with_the_same_batch(server, spool):
    # A 500 may come after the service stored the batch; the batch id lets it drop the repeat.
    server.plan((503, {"error": {"code": "unavailable", "message": "busy"}}, {}),
                (429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "0"}),
                (500, None, {}))
    rep = reporter(server, spool)
    rep.log_metric("loss", 0.5, step=1)
    assert rep.flush() == 1
    assert len(server.requests) == 4
    assert len({batch_id_of(r) for r in server.requests}) == 1
    assert all(r["body"] == server.requests[0]["body"] for r in server.requests)
    assert "Idempotency-Key" not in server.requests[0]["headers"]


def test_client_errors_are_not_retried_and_never_show_the_token(server, spool):
    server.plan((403, {"error": {"code": "permission_denied", "message": "token is for another run"}}, {}))
    rep = reporter(server, spool)
    rep.log_metric("loss", 0.5)
    with pytest.raises(g.GriffinError) as raised:
        rep.flush()
    assert raised.value.status == 403
    assert "token is for another run" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert len(server.requests) == 1
    # The refused batch is dropped; what follows is delivered.
    rep.log_metric("auc", 0.9)
    assert rep.flush() == 1
    assert rep.close()["rejected"]["metricPoints"] == 1


def test_retry_delays_grow_with_jitter_up_to_a_cap_and_follow_retry_after(spool):
    rep = reporter_at("http://127.0.0.1:9", spool, backoff_seconds=0.5, max_backoff_seconds=15)
    delays = [[rep._retry_delay(attempt, None) for attempt in range(1, 12)] for _ in range(20)]
    for series in delays:
        for attempt, delay in enumerate(series, start=1):
            ceiling = min(15, 0.5 * 2 ** (attempt - 1))
            assert ceiling * 0.5 <= delay <= ceiling
    assert len({series[3] for series in delays}) > 1  # jittered, not in step
    assert rep._retry_delay(1, 7.0) == 7.0
    assert rep._retry_delay(1, 3600.0) == g.MAX_RETRY_AFTER_SECONDS


def test_report_timeout_comes_from_the_environment():
    assert g.report_timeout_from({}) == 900
    assert g.report_timeout_from({"GRIFFIN_REPORT_TIMEOUT": "30"}) == 30
    assert g.report_timeout_from({"GRIFFIN_REPORT_TIMEOUT": "0"}) == 0
    assert g.report_timeout_from({"GRIFFIN_REPORT_TIMEOUT": "soon"}) == 900
    assert g.report_timeout_from({"GRIFFIN_REPORT_TIMEOUT": "-5"}) == 900


# --------------------------------------------------------------------------- outages


def test_while_griffin_is_away_logging_returns_and_everything_is_spooled(down_port, spool):
    port, _ = down_port
    rep = reporter_at(url_of(port), spool, batch_size=10)
    for step in range(35):
        rep.log_metric("loss", float(step), step=step)
    with open(os.path.join(spool, "metrics-%s.jsonl" % rep._id)) as spooled:
        lines = [json.loads(line) for line in spooled]
    assert [len(line["metrics"]) for line in lines] == [10, 10, 10]
    assert rep.pending()["metricPoints"] == 35
    assert rep.flush(timeout=0.2) == 0  # still away: nothing delivered, nothing lost
    assert rep.pending()["metricPoints"] == 35


def test_after_an_outage_the_spool_is_delivered_in_order_exactly_once(down_port, spool, tmp_path):
    port, _ = down_port
    rep = reporter_at(url_of(port), spool, batch_size=10, report_timeout=60)
    model = tmp_path / "model.json"
    model.write_text('{"w": 1}')
    for step in range(25):
        rep.log_metric("loss", float(step), step=step)
    rep.upload_artifact(str(model))
    model.write_text('{"w": "changed after the upload call"}')
    rep.log_metric("auc", 0.9, step=25)
    srv = come_back(down_port)
    assert rep.flush() == 26
    paths = [r["path"].rsplit("/", 1)[-1] for r in srv.requests]
    assert paths == ["metrics", "metrics", "metrics", "model.json", "metrics"]
    steps = [m["step"] for r in metric_posts(srv) for m in metrics_in(r)]
    assert steps == list(range(26))
    artifact = srv.requests[3]
    assert artifact["method"] == "PUT" and artifact["body"] == b'{"w": 1}'
    state = rep.close()
    assert state["complete"] and state["pending"] == {"metricPoints": 0, "metricBatches": 0, "artifacts": []}
    assert state["delivered"]["metricPoints"] == 26
    # Delivered: only the state file is left behind.
    assert sorted(os.listdir(spool)) == ["artifacts", "state-%s.json" % rep._id]
    assert os.listdir(os.path.join(spool, "artifacts")) == []


def test_close_gives_up_after_the_report_timeout_and_records_what_is_missing(down_port, spool, tmp_path, capsys):
    port, _ = down_port
    rep = reporter_at(url_of(port), spool, report_timeout=0.3)
    model = tmp_path / "model.json"
    model.write_text("{}")
    rep.log_metrics({"loss": 0.1, "auc": 0.8}, step=1)
    rep.upload_artifact(str(model))
    state = rep.close()
    assert not state["complete"]
    assert state["pending"] == {"metricPoints": 2, "metricBatches": 1, "artifacts": ["model.json"]}
    assert state["reportTimeoutSeconds"] == 0.3
    assert state["unreachableSeconds"] >= 0.3
    assert "connection error" in state["lastError"]
    with open(os.path.join(spool, "state-%s.json" % rep._id)) as written:
        assert json.load(written) == state
    # The undelivered batch and artifact stay in the spool.
    with open(os.path.join(spool, "metrics-%s.jsonl" % rep._id)) as spooled:
        assert [m["key"] for m in json.loads(spooled.readline())["metrics"]] == ["loss", "auc"]
    assert len(os.listdir(os.path.join(spool, "artifacts"))) == 1
    err = capsys.readouterr().err
    assert "giving up on reporting" in err and "model.json" in err and TOKEN not in err


def test_an_unwritable_spool_keeps_unsent_reports_in_memory(server, tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    model = tmp_path / "model.json"
    model.write_text("{}")
    rep = reporter(server, str(blocker / "spool"))
    rep.log_metric("loss", 0.5, step=1)
    rep.upload_artifact(str(model))
    assert rep.flush() == 1
    assert [r["path"].rsplit("/", 1)[-1] for r in server.requests] == ["metrics", "model.json"]
    assert "cannot write the spool" in capsys.readouterr().err


# --------------------------------------------------------------------------- at exit


def run_script(script, env, cwd, **kwargs):
    full = dict(os.environ, PYTHONPATH=HERE, **env)
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=full, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_buffered_metrics_are_flushed_at_exit_and_the_exit_status_is_the_scripts(server, tmp_path):
    script = """
        import sys
        import griffin_run as g
        g.log_metric("loss", 0.25, step=1)
        g.log_metrics({"auc": 0.9}, step=2)
        sys.exit(3)
    """
    proc = run_script(script, run_env(server.url, GRIFFIN_RUN_DIR=str(tmp_path)), tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    (request,) = server.requests
    assert [(m["key"], m["step"]) for m in metrics_in(request)] == [("loss", 1), ("auc", 2)]
    (state_file,) = [f for f in os.listdir(tmp_path / ".griffin-spool") if f.startswith("state-")]
    with open(tmp_path / ".griffin-spool" / state_file) as written:
        assert json.load(written)["complete"] is True


def test_a_point_logged_alone_is_sent_within_a_second_by_default(server, spool):
    rep = reporter(server, spool)
    assert g.METRIC_FLUSH_INTERVAL_SECONDS <= 1.0
    rep.log_metric("loss", 0.5, step=1)
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    (request,) = server.requests
    assert [(m["key"], m["step"]) for m in metrics_in(request)] == [("loss", 1)]
    rep.close()


def test_sigterm_delivers_what_was_logged_before_the_process_ends(server, tmp_path):
    script = """
        import os, signal, time
        import griffin_run as g
        g.log_metric("loss", 0.25, step=1)
        g.log_metric("loss", 0.20, step=2)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    """
    # The kill comes before the 1 s flush timer fires: only the SIGTERM path can deliver the points.
    proc = run_script(script, run_env(server.url, GRIFFIN_RUN_DIR=str(tmp_path)), tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert [(m["key"], m["step"]) for r in server.requests for m in metrics_in(r)] == [("loss", 1), ("loss", 2)]


def test_at_exit_the_process_waits_for_griffin_to_come_back(down_port, tmp_path):
    port, _ = down_port
    script = """
        import griffin_run as g
        for step in range(150):
            g.log_metric("loss", 1.0 / (step + 1), step=step)
        open("model.json", "w").write('{"trained": true}')
        g.upload_artifact("model.json")
        open("trained", "w").write("")
    """
    env = run_env(url_of(port), GRIFFIN_RUN_DIR=str(tmp_path), GRIFFIN_REPORT_TIMEOUT="60")
    proc = run_script(script, env, tmp_path)
    wait_until(lambda: (tmp_path / "trained").exists(), limit=30)
    assert proc.poll() is None  # training is over; the process waits for its reports
    srv = come_back(down_port)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    steps = [m["step"] for r in metric_posts(srv) for m in metrics_in(r)]
    assert steps == list(range(150))
    assert [r["body"] for r in srv.requests if r["method"] == "PUT"] == [b'{"trained": true}']


def test_at_exit_a_longer_outage_ends_in_a_state_file_and_a_clean_exit(down_port, tmp_path):
    port, _ = down_port
    script = """
        import griffin_run as g
        g.log_metric("loss", 0.5, step=1)
        open("model.json", "w").write("{}")
        g.upload_artifact("model.json")
    """
    env = run_env(url_of(port), GRIFFIN_RUN_DIR=str(tmp_path), GRIFFIN_REPORT_TIMEOUT="0.5")
    proc = run_script(script, env, tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (state_file,) = [f for f in os.listdir(tmp_path / ".griffin-spool") if f.startswith("state-")]
    with open(tmp_path / ".griffin-spool" / state_file) as written:
        state = json.load(written)
    assert state["runId"] == RUN_ID and not state["complete"]
    assert state["pending"]["metricPoints"] == 1 and state["pending"]["artifacts"] == ["model.json"]
    assert "giving up on reporting" in err


# --------------------------------------------------------------------------- artifacts


def test_artifacts_are_put_as_raw_bytes_with_quoted_segments(server, spool, tmp_path):
    payload = bytes(range(256)) * 10
    local = tmp_path / "weights.bin"
    local.write_bytes(payload)
    server.plan((201, {"path": "reports/eval results#1.bin", "size": len(payload)}, {}))
    answer = reporter(server, spool).upload_artifact(str(local), "reports/eval results#1.bin", wait=True)
    (request,) = server.requests
    assert request["method"] == "PUT"
    assert request["path"] == "/api/v1/runs/run42/artifacts/reports/eval%20results%231.bin"
    assert request["headers"]["Authorization"] == "Bearer " + TOKEN
    assert request["headers"]["Content-Type"] == "application/octet-stream"
    assert request["body"] == payload
    assert answer["size"] == len(payload)


def test_artifact_upload_retries_send_the_whole_file_again(server, spool, tmp_path):
    local = tmp_path / "model.json"
    local.write_text('{"w": [1, 2, 3]}')
    server.plan((503, None, {"Retry-After": "0"}))
    reporter(server, spool).upload_artifact(str(local), wait=True)
    assert [r["path"] for r in server.requests] == ["/api/v1/runs/run42/artifacts/model.json"] * 2
    assert all(r["body"] == b'{"w": [1, 2, 3]}' for r in server.requests)


def test_a_refused_artifact_raises_when_waited_for(server, spool, tmp_path):
    local = tmp_path / "model.json"
    local.write_text("{}")
    server.plan((413, {"error": {"code": "payload_too_large", "message": "too large"}}, {}))
    with pytest.raises(g.GriffinError) as raised:
        reporter(server, spool).upload_artifact(str(local), wait=True)
    assert raised.value.status == 413


@pytest.mark.parametrize("dest", ["../escape.txt", "/abs.txt", "a//b.txt", "a/./b.txt"])
def test_artifact_paths_must_stay_inside_the_run(server, spool, tmp_path, dest):
    local = tmp_path / "f.txt"
    local.write_text("x")
    with pytest.raises(g.GriffinError, match="artifact path"):
        reporter(server, spool).upload_artifact(str(local), dest)
    assert server.requests == []


def test_a_missing_artifact_file_is_refused(server, spool, tmp_path):
    with pytest.raises(g.GriffinError, match="not a file"):
        reporter(server, spool).upload_artifact(str(tmp_path / "nope.bin"))


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


def test_an_artifact_whose_spooled_copy_vanished_is_dropped_and_the_rest_still_arrives(down_port, spool, tmp_path, capsys):
    port, _ = down_port
    # A try that opened the spooled copy before it vanished still sends it from the open file:
    # the copy is removed only while the sender waits out its first failed try (1-2 s), so the
    # next try is the one that finds it gone.
    rep = reporter_at(url_of(port), spool, report_timeout=60, backoff_seconds=2, max_backoff_seconds=2)
    model = tmp_path / "model.json"
    model.write_text("{}")
    rep.upload_artifact(str(model))
    deadline = time.monotonic() + 10
    while rep._last_error is None:
        assert time.monotonic() < deadline, "the first try to send the artifact never failed"
        time.sleep(0.01)
    for name in os.listdir(os.path.join(spool, "artifacts")):
        os.remove(os.path.join(spool, "artifacts", name))
    rep.log_metric("loss", 0.5, step=1)
    srv = come_back(down_port)
    with pytest.raises(g.GriffinError, match="cannot read artifact model.json"):
        rep.flush()
    assert [r["path"].rsplit("/", 1)[-1] for r in srv.requests] == ["metrics"]
    assert rep.close()["rejected"]["artifacts"] == ["model.json"]
