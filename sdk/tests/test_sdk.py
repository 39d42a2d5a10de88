"""
griffin-sdk against a real Griffin service, in a venv that has the SDK and no Airflow.
The code submitted lives in a temporary directory, not in the service's code root: it reaches
the service only as an upload (POST /api/v1/code).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import pytest

from griffin_sdk import Client, GriffinAPIError, GriffinNotFoundError

TRAIN_PY = textwrap.dedent(
    """
    import os, time
    import griffin_run as g
    steps = int(g.context().hyperparameters.get("steps", 3))
    for step in range(steps):
        print(f"epoch {step} of {steps}", flush=True)
        g.log_metric("loss", 1.0 / (step + 1), step=step)
        time.sleep(float(os.environ.get("SLEEP", "0.3")))
    with open("model.txt", "w") as f:
        f.write("weights")
    g.upload_artifact("model.txt")
    print("trained", flush=True)
    """
)

SCRIPT = textwrap.dedent(
    """
    import sys
    from griffin_sdk import Client
    client = Client.from_env()
    run = client.submit(code=sys.argv[1], entrypoint="python train.py", dataset="grocery-reorder",
                        register="sdk-demo", hyperparameters={"steps": 4})
    print(repr(run))
    run.wait(poll_interval=0.5)
    print("METRICS", run.metrics())
    print("VERSION", repr(run.model_version))
    """
)


def make_project(root, train=TRAIN_PY):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "train.py"), "w") as f:
        f.write(train)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write("outputs/\n")
    os.makedirs(os.path.join(root, "outputs"), exist_ok=True)
    with open(os.path.join(root, "outputs", "huge.bin"), "wb") as f:
        f.write(os.urandom(1024))
    return root


def test_this_venv_has_no_airflow():
    assert importlib.util.find_spec("airflow") is None, "run the SDK tests in a venv with only griffin-sdk (tests/setup/ensure.sh makes one)"


def test_a_script_submits_a_local_directory_waits_with_live_logs_and_prints_metrics_and_version(griffin, tmp_path):
    project = make_project(str(tmp_path / "my_project"))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (workdir / "submit.py").write_text(SCRIPT)
    env = {**os.environ, "GRIFFIN_URL": griffin.base_url, "GRIFFIN_TOKEN": griffin.token}
    done = subprocess.run([sys.executable, "submit.py", project], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # The repr names the state the run had when submit() answered: the dispatcher may have claimed it already.
    first = out.splitlines()[0]
    assert first.startswith("<Run ") and any(f" {state} " in first for state in ("queued", "launching", "running")), first
    for line in ("epoch 0 of 4", "epoch 3 of 4", "trained", ": running", ": succeeded", "[griffin] metrics: loss="):
        assert line in out, out
    assert "METRICS {'loss': [(0, 1.0), (1, 0.5), (2, 0.3333333333333333), (3, 0.25)]}" in out
    assert "VERSION <ModelVersion sdk-demo v1 run=" in out
    # The run ran the uploaded snapshot, without what .gitignore leaves out.
    run_id = out.splitlines()[0].split()[1]
    run = griffin.get(f"/runs/{run_id}")
    assert run["spec"]["model"]["codeUri"].startswith("griffin://code/")
    stored = griffin.get(f"/code/{run['spec']['model']['codeUri'].rsplit('/', 1)[1]}")
    assert stored["files"] == 2  # train.py and .gitignore; outputs/ was ignored

    # The same code again: the same snapshot and the same model version, not a new one.
    versions_before = griffin.get("/models", name="my_project")["items"]
    client = Client(griffin.base_url, griffin.token)
    again = client.submit(code=project, entrypoint="python train.py", dataset="grocery-reorder", hyperparameters={"steps": 1})
    assert again.data["spec"]["model"]["codeUri"] == run["spec"]["model"]["codeUri"]
    assert again.data["spec"]["model"]["version"] == run["spec"]["model"]["version"]
    assert len(griffin.get("/models", name="my_project")["items"]) == len(versions_before)
    again.wait(progress=False)
    assert again.succeeded


def test_listing_registering_and_aliases(client, griffin, tmp_path):
    project = make_project(str(tmp_path / "reg-project"))
    run = client.submit(code=project, entrypoint="python train.py", dataset="grocery-reorder", hyperparameters={"steps": 1})
    lines = []
    run.wait(progress=lines.append, poll_interval=0.3)
    assert run.succeeded, lines
    assert run.model_version is None  # nothing to register into
    version = client.register("sdk-registered", run=run, tags={"from": "sdk"})
    assert version.run_id == run.id
    assert repr(version) == f"<ModelVersion sdk-registered v1 run={run.id}>"
    promoted = version.set_alias("production")
    assert promoted.aliases == ["production"]
    assert client.get_version("sdk-registered", "production").version == 1
    assert [v.version for v in client.versions("sdk-registered")] == [1]
    assert run.id in [r.id for r in client.runs(limit=100)]
    assert "grocery-reorder" in {w["name"] for w in client.workflows()}
    assert run.metrics("loss") == {"loss": [(0, 1.0)]}


def test_a_workflow_runs_with_local_code_in_place_of_its_model(client, griffin, tmp_path):
    project = make_project(str(tmp_path / "wf-project"))
    run = client.submit("grocery-reorder", code=project, entrypoint="python train.py")
    spec = run.data["spec"]
    assert spec["model"]["name"] == "logistic-regression" and spec["model"]["codeUri"].startswith("griffin://code/")
    assert spec["register"]["modelName"] == "grocery-reorder"
    run.wait(progress=False)
    assert run.succeeded, run.reason
    assert run.model_version.name == "grocery-reorder"


def test_logs_follow_and_cancel(client, tmp_path):
    project = make_project(str(tmp_path / "slow-project"), TRAIN_PY.replace('os.environ.get("SLEEP", "0.3")', '"30"'))
    run = client.submit(code=project, entrypoint="python train.py", dataset="grocery-reorder", hyperparameters={"steps": 5})
    deadline = time.time() + 120
    while run.state != "running":
        assert time.time() < deadline and not run.done, run
        time.sleep(0.3)
    follow = run.logs(follow=True)
    seen = []
    for line in follow:
        seen.append(line)
        if "epoch 0 of 5" in line:
            run.cancel("enough")
    assert any("epoch 0 of 5" in line for line in seen)
    run.wait(progress=False)
    assert run.state == "cancelled"
    assert "epoch 0 of 5" in run.logs()
    assert repr(run).startswith(f"<Run {run.id} cancelled")


def test_errors_name_what_is_wrong(client, griffin, tmp_path, monkeypatch):
    project = make_project(str(tmp_path / "bad-project"))
    with pytest.raises(GriffinNotFoundError) as err:
        client.submit(code=project, entrypoint="python train.py", dataset="no-such-dataset")
    assert err.value.field == "spec.dataset"
    with pytest.raises(ValueError, match="entrypoint"):
        client.submit(code=project, dataset="grocery-reorder")
    viewer = griffin.http.post(f"{griffin.base_url}/api/v1/tokens", json={"name": "sdk-viewer", "role": "viewer"}, timeout=30).json()["token"]
    with pytest.raises(GriffinAPIError) as denied:
        Client(griffin.base_url, viewer).upload_code(project)
    assert denied.value.status == 403
    monkeypatch.delenv("GRIFFIN_TOKEN", raising=False)
    with pytest.raises(ValueError, match="GRIFFIN_TOKEN"):
        Client.from_env()
    assert repr(Client.from_env({"GRIFFIN_URL": "griffin.example:8080/api/v1", "GRIFFIN_TOKEN": "t"})) == "<griffin_sdk.Client http://griffin.example:8080>"


def test_a_run_waits_in_its_queue_and_says_so(client, griffin):
    from griffin_sdk.client import GriffinWaitTimeoutError

    made = griffin.http.put(f"{griffin.base_url}/api/v1/queues/sdk-held", json={"maxConcurrentRuns": 0}, timeout=30)
    assert made.status_code == 201, made.text
    run = client.submit("grocery-reorder", queue="sdk-held", priority=3)
    assert (run.data["queue"], run.data["priority"]) == ("sdk-held", 3)
    deadline = time.time() + 60
    while not run.reason:  # the dispatcher's next pass writes what holds it
        assert time.time() < deadline, run
        time.sleep(0.2)
        run.refresh()
    lines: list[str] = []
    with pytest.raises(GriffinWaitTimeoutError):
        run.wait(progress=lines.append, poll_interval=0.3, timeout=1)
    # The wait shows the reason once it is written, not only the state.
    assert f"[griffin] run {run.id}: queued (waiting for queue sdk-held: 0 of 0 running)" in lines, lines
    run.cancel("done looking")
    with pytest.raises(GriffinAPIError) as typo:
        client.submit("grocery-reorder", queue="sdk-hel")
    assert typo.value.status == 422 and typo.value.field == "overrides.queue"
    assert 'did you mean "sdk-held"' in str(typo.value)
