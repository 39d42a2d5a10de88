"""Checkpoints and resuming: save_checkpoint() stores artifacts under checkpoints/, resume_path()
brings them back on a later attempt. Against a small HTTP server that keeps artifacts as Griffin
does (PUT stores, GET /artifacts lists, GET /artifacts/<path> serves) and checks the run token."""

import http.server
import json
import os
import sys
import threading
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import griffin_run as g  # noqa: E402

TOKEN = "run-token-ckpt"
RUN_ID = "run7"


class ArtifactServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ArtifactHandler)
        self.files = {}
        self.unauthorised = 0

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class ArtifactHandler(http.server.BaseHTTPRequestHandler):
    prefix = "/api/v1/runs/%s/artifacts" % RUN_ID

    def authorised(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.server.unauthorised += 1
            self.answer(403, {"error": {"message": "forbidden"}})
            return False
        return True

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.authorised():
            return
        rel = urllib.parse.unquote(self.path[len(self.prefix) + 1:])
        self.server.files[rel] = body
        self.answer(201, {"path": rel, "size": len(body)})

    def do_GET(self):
        if not self.authorised():
            return
        if self.path == self.prefix:
            items = [{"path": p, "size": len(b)} for p, b in sorted(self.server.files.items())]
            return self.answer(200, {"items": items})
        rel = urllib.parse.unquote(self.path[len(self.prefix) + 1:])
        if rel not in self.server.files:
            return self.answer(404, {"error": {"message": "no such artifact"}})
        data = self.server.files[rel]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ArtifactServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run_env(srv, tmp_path, attempt, resume=True):
    env = {
        "GRIFFIN_RUN_ID": RUN_ID,
        "GRIFFIN_API_URL": srv.url,
        "GRIFFIN_RUN_TOKEN": TOKEN,
        "GRIFFIN_ATTEMPT": str(attempt),
        "GRIFFIN_ARTIFACT_URI": "%s/api/v1/runs/%s/artifacts/" % (srv.url, RUN_ID),
        "GRIFFIN_RUN_DIR": str(tmp_path / ("attempt-%d" % attempt)),
    }
    if resume and attempt > 1:
        env["GRIFFIN_RESUME_FROM"] = env["GRIFFIN_ARTIFACT_URI"] + "checkpoints/"
    os.makedirs(env["GRIFFIN_RUN_DIR"], exist_ok=True)
    return env


def test_a_checkpoint_saved_by_one_attempt_is_what_the_next_resumes_from(server, tmp_path):
    env1 = run_env(server, tmp_path, 1)
    assert g.attempt(env1) == 1
    assert g.resume_path(environ=env1) is None
    ckpt = tmp_path / "ckpt"
    (ckpt / "shards").mkdir(parents=True)
    (ckpt / "state.json").write_text('{"epoch": 3}')
    (ckpt / "shards" / "w0.bin").write_bytes(b"\x00\x01weights")
    reporter = g.Reporter(environ=env1, flush_interval=0.01)
    try:
        saved = g.save_checkpoint(str(ckpt), reporter=reporter)
        # save_checkpoint returns once Griffin has the files: a kill right after loses nothing.
        assert saved == ["checkpoints/shards/w0.bin", "checkpoints/state.json"]
        assert server.files["checkpoints/state.json"] == b'{"epoch": 3}'
        # A file is saved under its own name; a later save replaces the earlier one.
        (tmp_path / "state.json").write_text('{"epoch": 4}')
        assert g.save_checkpoint(str(tmp_path / "state.json"), reporter=reporter) == ["checkpoints/state.json"]
    finally:
        reporter.close()
    server.files["model.json"] = b"{}"  # other artifacts of the run are not part of the checkpoint

    env2 = run_env(server, tmp_path, 2)
    assert g.attempt(env2) == 2
    resumed = g.resume_path(dest_dir=str(tmp_path / "resume"), environ=env2)
    assert resumed == str(tmp_path / "resume")
    assert sorted(os.listdir(resumed)) == ["shards", "state.json"]
    assert json.load(open(os.path.join(resumed, "state.json"))) == {"epoch": 4}
    assert open(os.path.join(resumed, "shards", "w0.bin"), "rb").read() == b"\x00\x01weights"
    assert server.unauthorised == 0


def test_by_default_the_checkpoint_lands_in_the_run_directory(server, tmp_path):
    server.files["checkpoints/state.json"] = b"{}"
    env = run_env(server, tmp_path, 2)
    resumed = g.resume_path(environ=env)
    assert resumed == os.path.join(env["GRIFFIN_RUN_DIR"], ".griffin-resume")
    assert os.listdir(resumed) == ["state.json"]


def test_a_later_attempt_without_saved_checkpoints_has_nothing_to_resume(server, tmp_path):
    assert g.resume_path(environ=run_env(server, tmp_path, 2, resume=False)) is None


def test_a_refused_download_is_an_error_naming_the_status(server, tmp_path):
    env = dict(run_env(server, tmp_path, 2), GRIFFIN_RUN_TOKEN="wrong")
    with pytest.raises(g.GriffinError, match="HTTP 403"):
        g.resume_path(dest_dir=str(tmp_path / "r"), environ=env)


def test_a_file_uri_is_the_local_directory_itself(tmp_path):
    (tmp_path / "ck").mkdir()
    assert g.resume_path(environ={"GRIFFIN_RESUME_FROM": (tmp_path / "ck").as_uri()}) == str(tmp_path / "ck")


def test_an_unsupported_resume_uri_is_a_clear_error(tmp_path):
    with pytest.raises(g.GriffinError, match="not a Griffin run's artifact directory"):
        g.resume_path(dest_dir=str(tmp_path / "r"), environ={"GRIFFIN_RESUME_FROM": "s3://bucket/ckpt/"})


def test_bad_checkpoints_are_refused(tmp_path):
    reporter = g.Reporter(environ={}, offline_artifact_dir=str(tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(g.GriffinError, match="is empty"):
        g.save_checkpoint(str(tmp_path / "empty"), reporter=reporter)
    with pytest.raises(g.GriffinError, match="neither a file nor a directory"):
        g.save_checkpoint(str(tmp_path / "missing"), reporter=reporter)
    with pytest.raises(g.GriffinError, match="GRIFFIN_ATTEMPT"):
        g.attempt({"GRIFFIN_ATTEMPT": "two"})


def test_outside_griffin_a_checkpoint_is_copied_into_artifacts(tmp_path):
    reporter = g.Reporter(environ={}, offline_artifact_dir=str(tmp_path / "out"))
    (tmp_path / "state.json").write_text("{}")
    assert g.save_checkpoint(str(tmp_path / "state.json"), reporter=reporter) == ["checkpoints/state.json"]
    assert (tmp_path / "out" / "checkpoints" / "state.json").read_text() == "{}"
    assert g.attempt({}) == 1
    assert g.resume_path(environ={}) is None
