"""
Unit tests of ``griffin_provider.client``: the retry policy and the HTTP clients.

They run against ``FakeGriffin``, an in-process stand-in for the live Griffin service used only at
the unit tier (it follows the API contract's status codes and error bodies).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from griffin_provider.client import (
    AsyncGriffinClient,
    GriffinAPIError,
    GriffinAuthError,
    GriffinClient,
    GriffinConflictError,
    GriffinConnectionError,
    GriffinNotFoundError,
    GriffinRunState,
    GriffinWaitTimeoutError,
    LogLineBuffer,
    RetryPolicy,
    parse_retry_after,
    run_summary,
)

FAST = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.01)


def make_client(fake, policy: RetryPolicy = FAST) -> tuple[GriffinClient, list[float]]:
    client = GriffinClient(fake.base_url, fake.token, retry_policy=policy, timeout=5)
    sleeps: list[float] = []
    client._sleep = sleeps.append  # record instead of sleeping
    return client, sleeps


# -- the policy itself --------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    low = RetryPolicy(backoff_base=1.0, backoff_max=8.0, rng=lambda: 0.0)
    high = RetryPolicy(backoff_base=1.0, backoff_max=8.0, rng=lambda: 1.0)
    assert [low.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [high.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    jittered = {RetryPolicy(backoff_base=1.0).delay(3) for _ in range(50)}
    assert len(jittered) > 1 and all(4.0 <= d <= 8.0 for d in jittered)


def test_retry_after_takes_precedence_and_is_capped():
    policy = RetryPolicy(backoff_base=1.0, retry_after_max=60.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(4, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=3600.0) == 60.0


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    later = format_datetime(datetime.fromtimestamp(now + 120, tz=timezone.utc), usegmt=True)
    assert 118 <= parse_retry_after(later, now=now) <= 121


def test_which_requests_and_statuses_may_be_retried():
    policy = RetryPolicy()
    assert policy.may_retry_method("GET", {})
    assert policy.may_retry_method("PUT", {})
    assert not policy.may_retry_method("POST", {})
    assert policy.may_retry_method("POST", {"Idempotency-Key": "k"})
    assert [s for s in (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504) if policy.is_retryable_status(s)] == [
        429, 500, 502, 503, 504,
    ]


# -- the sync client against the fake ---------------------------------------------------------


def test_get_is_retried_on_503_honouring_retry_after(fake):
    client, sleeps = make_client(fake)
    run = client.submit_run("grocery-reorder")
    fake.fail("GET", rf"/api/v1/runs/{run['id']}", status=503, times=2, headers={"Retry-After": "0.25"})
    assert client.get_run(run["id"])["id"] == run["id"]
    assert len(fake.calls("GET", rf"/api/v1/runs/{run['id']}")) == 3
    assert sleeps == [0.25, 0.25]


def test_429_is_retried_with_backoff(fake):
    client, sleeps = make_client(fake)
    fake.fail("GET", "/api/v1/runs", status=429, times=2)
    assert client.list_runs(limit=1)["items"] == []
    assert len(sleeps) == 2 and all(0 < s <= FAST.backoff_max for s in sleeps)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(fake, status):
    client, sleeps = make_client(fake)
    fake.fail("GET", "/api/v1/runs", status=status, times=5)
    with pytest.raises(GriffinAPIError) as info:
        client.list_runs()
    assert info.value.status == status
    assert len(fake.calls("GET", "/api/v1/runs")) == 1 and sleeps == []


def test_retries_are_bounded(fake):
    client, sleeps = make_client(fake, RetryPolicy(max_retries=2, backoff_base=0.001))
    fake.fail("GET", "/api/v1/runs", status=500, times=10)
    with pytest.raises(GriffinAPIError) as info:
        client.list_runs()
    assert info.value.status == 500
    assert len(fake.calls("GET", "/api/v1/runs")) == 3 and len(sleeps) == 2


def test_post_without_idempotency_key_is_never_retried(fake):
    client, sleeps = make_client(fake)
    fake.fail("POST", "/api/v1/runs", status=503, times=1)
    with pytest.raises(GriffinAPIError):
        client.request("POST", "/runs", json_body={"workflow": "grocery-reorder"})
    fake.fail("POST", "/api/v1/runs", drop=True, times=1)
    with pytest.raises(GriffinConnectionError):
        client.request("POST", "/runs", json_body={"workflow": "grocery-reorder"})
    assert len(fake.calls("POST", "/api/v1/runs")) == 2 and sleeps == []


def test_post_with_idempotency_key_is_retried_and_runs_once(fake):
    """The answer to the first POST is lost after the service stored the run: the retry gets it back."""
    client, sleeps = make_client(fake)
    fake.fail("POST", "/api/v1/runs", drop=True, after=True, times=1)
    fake.fail("POST", "/api/v1/runs", status=502, after=True, times=1)
    run, created = client.create_run("grocery-reorder", idempotency_key="key-1")
    posts = fake.calls("POST", "/api/v1/runs")
    assert len(posts) == 3 and {p.headers["idempotency-key"] for p in posts} == {"key-1"}
    assert len(fake.runs) == 1 and run["id"] in fake.runs
    assert created is False  # the service had created it on the first attempt
    assert len(sleeps) == 2


def test_submit_run_sends_a_key_even_when_none_is_given(fake):
    client, _ = make_client(fake)
    client.submit_run("grocery-reorder")
    assert fake.calls("POST", "/api/v1/runs")[0].headers["idempotency-key"].startswith("griffin-py-")


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GriffinClient(f"http://127.0.0.1:{port}", "secret-token", retry_policy=FAST, timeout=2)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    with pytest.raises(GriffinConnectionError) as info:
        client.get_run("abc")
    assert len(sleeps) == FAST.max_retries
    assert "secret-token" not in str(info.value)


def test_timeouts_are_retried(fake):
    client, sleeps = make_client(fake)
    client.timeout = 0.2
    run = client.submit_run("grocery-reorder")
    fake.fail("GET", rf"/api/v1/runs/{run['id']}", delay=0.6, times=1)
    assert client.get_run(run["id"])["id"] == run["id"]
    assert len(sleeps) == 1


def test_error_body_is_parsed(fake):
    client, _ = make_client(fake)
    with pytest.raises(GriffinNotFoundError) as info:
        client.submit_run("no-such-workflow")
    assert (info.value.status, info.value.code, info.value.field) == (404, "not_found", "workflow")
    with pytest.raises(GriffinAPIError) as info:
        client.submit_run("grocery-reorder", overrides={"timeoutSeconds": -1})
    assert (info.value.status, info.value.code) == (400, "invalid_argument")
    assert info.value.field == "overrides.timeoutSeconds"


def test_bad_token_is_an_auth_error_and_is_never_shown(fake):
    client = GriffinClient(fake.base_url, "wrong-secret", retry_policy=FAST)
    with pytest.raises(GriffinAuthError) as info:
        client.get_run("x")
    assert info.value.status == 401 and info.value.code == "unauthenticated"
    assert "wrong-secret" not in str(info.value) and "wrong-secret" not in repr(client)


def test_idempotency_semantics_of_submit(fake):
    client, _ = make_client(fake)
    first, created1 = client.create_run("grocery-reorder", idempotency_key="k")
    again, created2 = client.create_run("grocery-reorder", idempotency_key="k")
    assert (created1, created2) == (True, False) and first["id"] == again["id"]
    with pytest.raises(GriffinConflictError):
        client.create_run("churn", idempotency_key="k")


def test_wait_for_run_copies_logs_and_returns_the_final_run(fake):
    client, sleeps = make_client(fake)
    fake.next_plans.append(["queued", "launching", "running", "running", "succeeded"])
    run = client.submit_run("grocery-reorder")
    lines: list[str] = []
    final = client.wait_for_run(run["id"], poll_interval=2.0, log_callback=lines.append)
    assert final["state"] == "succeeded"
    assert lines == ["starting training", "epoch 1 loss=0.9", "epoch 2 loss=0.4", "saved model"]
    assert sleeps == [2.0, 2.0, 2.0]  # four polls: launching, running, running, succeeded
    summary = run_summary(final)
    assert summary["metrics"] == {"auc": 0.81}
    assert summary["model_version"] == {"name": "grocery-reorder", "version": 1}
    assert summary["workflow"] == "grocery-reorder@1"


def test_wait_for_run_stops_at_the_deadline(fake):
    client, _ = make_client(fake)
    client._sleep = time.sleep
    fake.next_plans.append(["queued"] + ["running"] * 100)
    run = client.submit_run("grocery-reorder")
    started = time.monotonic()
    with pytest.raises(GriffinWaitTimeoutError) as info:
        client.wait_for_run(run["id"], poll_interval=10.0, timeout=0.3)
    assert time.monotonic() - started < 3
    assert info.value.run["state"] == "running"


def test_register_and_alias(fake):
    client, _ = make_client(fake)
    fake.workflows["churn"]["register"] = None
    run = client.submit_run("churn")
    client.wait_for_run(run["id"], poll_interval=0)
    version = client.register_model_version("churn", run_id=run["id"], aliases=["staging"], tags={"team": 7})
    assert version["version"] == 1 and version["aliases"] == ["staging"] and version["tags"] == {"team": "7"}
    assert client.register_model_version("churn", run_id=run["id"])["version"] == 1
    client.set_model_alias("churn", "production", 1)
    assert client.get_model_version("churn", 1)["aliases"] == ["staging", "production"]
    with pytest.raises(ValueError):
        client.register_model_version("churn")


def test_run_state_enum():
    assert GriffinRunState.is_terminal("succeeded") and GriffinRunState.is_terminal(GriffinRunState.CANCELLED)
    assert not any(GriffinRunState.is_terminal(s) for s in ("queued", "launching", "running", "cancelling"))
    assert GriffinRunState.is_success("succeeded") and not GriffinRunState.is_success("failed")


def test_log_line_buffer_joins_split_lines():
    buffer = LogLineBuffer()
    assert buffer.feed("ab") == []
    assert buffer.feed("c\nde") == ["abc"]
    assert buffer.feed("\r\n\n") == ["de", ""]
    assert buffer.feed("tail") == [] and buffer.flush() == ["tail"] and buffer.flush() == []


def test_client_works_without_airflow(fake):
    """A notebook without Airflow: block the import and use the client."""
    code = (
        "import sys; sys.modules['airflow'] = None\n"
        "from griffin_provider.client import GriffinClient\n"
        f"c = GriffinClient({fake.base_url!r}, {fake.token!r})\n"
        "r = c.submit_run('grocery-reorder')\n"
        "print(c.wait_for_run(r['id'], poll_interval=0)['state'])\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "succeeded"


# -- the async client ---------------------------------------------------------------------------


async def test_async_client_shares_the_retry_policy(fake):
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    sync, _ = make_client(fake)
    run = sync.submit_run("grocery-reorder")
    async with AsyncGriffinClient(fake.base_url, fake.token, retry_policy=FAST) as client:
        client._sleep = record
        fake.fail("GET", rf"/api/v1/runs/{run['id']}", status=503, times=1, headers={"Retry-After": "1"})
        fake.fail("GET", rf"/api/v1/runs/{run['id']}", drop=True, times=1)
        assert (await client.get_run(run["id"]))["id"] == run["id"]
        assert sleeps[0] == 1.0 and len(sleeps) == 2

        fake.fail("POST", "/api/v1/runs", status=503, times=1)
        with pytest.raises(GriffinAPIError):
            await client.request("POST", "/runs", json_body={"workflow": "grocery-reorder"})
        assert len(sleeps) == 2

        fake.fail("POST", rf"/api/v1/runs/{run['id']}/cancel", status=503, times=1)
        assert (await client.cancel_run(run["id"]))["state"] == "cancelled"
        assert len(sleeps) == 3

        with pytest.raises(GriffinNotFoundError):
            await client.get_run("missing")
