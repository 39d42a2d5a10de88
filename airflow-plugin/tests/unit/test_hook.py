"""
Unit tests of ``GriffinHook``: connection handling and the retry policy as the hook applies it.

They run against ``FakeGriffin``, an in-process stand-in for the live Griffin service used only at
the unit tier.
"""

from __future__ import annotations

import json

import pytest

from griffin_provider.client import GriffinAPIError, GriffinClient
from griffin_provider.hooks import GriffinHook, _base_url_from, _token_from


@pytest.mark.parametrize(
    ("host", "port", "schema", "extra", "expected"),
    [
        ("http://127.0.0.1:8080", None, None, {}, "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", None, None, {}, "http://127.0.0.1:8080"),
        ("https://griffin.example", 8443, None, {}, "https://griffin.example:8443"),
        ("127.0.0.1", 8080, None, {}, "http://127.0.0.1:8080"),
        ("griffin.internal", None, "https", {}, "https://griffin.internal"),
        ("griffin.internal", 443, None, {"scheme": "https"}, "https://griffin.internal:443"),
        (None, None, None, {"base_url": "http://x:1/"}, "http://x:1"),
    ],
)
def test_base_url_from_connection(host, port, schema, extra, expected):
    assert _base_url_from(host, port, schema, extra) == expected


def test_token_from_password_or_extra():
    assert _token_from("p", {"token": "e"}) == "p"
    assert _token_from(None, {"token": "e"}) == "e"
    assert _token_from("", {"extra__griffin__token": "x"}) == "x"
    assert _token_from(None, {}) is None


def test_hook_builds_a_client_from_griffin_default(fake, griffin_conn):
    hook = GriffinHook()
    client = hook.get_conn()
    assert isinstance(client, GriffinClient)
    assert client.base_url == fake.base_url and hook.get_conn() is client
    run = hook.submit_run("grocery-reorder")
    assert fake.calls("POST", "/api/v1/runs")[0].headers["authorization"] == f"Bearer {fake.token}"
    assert hook.get_run(run["id"])["id"] == run["id"]
    assert hook.test_connection() == (True, "Connection successfully tested as test (role editor)")
    fake.role = "viewer"
    ok, message = hook.test_connection()
    assert ok and "role viewer" in message and "need an editor token" in message


def test_token_in_extra_and_uri_connection(fake, monkeypatch):
    port = fake.base_url.rsplit(":", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_GRIFFIN_URI", f"griffin://127.0.0.1:{port}/?token={fake.token}&timeout=5")
    hook = GriffinHook(griffin_conn_id="griffin_uri")
    assert hook.get_conn().base_url == fake.base_url and hook.get_conn().timeout == 5.0
    assert hook.list_runs(limit=1)["items"] == []


def test_hook_never_logs_the_token(fake, griffin_conn, logs):
    hook = GriffinHook(backoff_base=0.001)
    fake.fail("GET", "/api/v1/runs", status=503, times=1)
    hook.list_runs()
    text = logs()
    assert "Using Griffin at" in text and "retry 1/5" in text
    assert fake.token not in text
    assert fake.token not in repr(hook.get_conn())


def test_hook_retry_policy_comes_from_its_arguments(fake, griffin_conn):
    hook = GriffinHook(max_retries=1, backoff_base=0.001, backoff_max=0.002)
    fake.fail("GET", "/api/v1/runs", status=500, times=5)
    with pytest.raises(GriffinAPIError):
        hook.list_runs()
    assert len(fake.calls("GET", "/api/v1/runs")) == 2

    # POST with a key (the hook's submit always has one) is retried; a bare POST is not.
    hook = GriffinHook(backoff_base=0.001)
    fake.fail("POST", "/api/v1/runs", status=503, times=2, headers={"Retry-After": "0"})
    run, created = hook.create_run("grocery-reorder", idempotency_key="k-1")
    assert created and len(fake.calls("POST", "/api/v1/runs")) == 3
    fake.fail("POST", "/api/v1/runs", status=503, times=1)
    with pytest.raises(GriffinAPIError):
        hook.get_conn().request("POST", "/runs", json_body={"workflow": "grocery-reorder"})
    assert len(fake.calls("POST", "/api/v1/runs")) == 4


def test_hook_test_connection_reports_failure(fake, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_GRIFFIN_DEFAULT",
        json.dumps({"conn_type": "griffin", "host": fake.base_url, "password": "wrong"}),
    )
    ok, message = GriffinHook().test_connection()
    assert not ok and "401" in message and "wrong" not in message


async def test_async_hook_methods(fake, griffin_conn):
    hook = GriffinHook()
    run = hook.submit_run("grocery-reorder")
    assert (await hook.async_get_run(run["id"]))["id"] == run["id"]
    assert (await hook.async_cancel_run(run["id"], reason="test"))["state"] == "cancelled"
    assert fake.calls("POST", rf"/api/v1/runs/{run['id']}/cancel")[0].body == {"reason": "test"}


def test_copy_logs_returns_the_cursor(fake, griffin_conn):
    hook = GriffinHook()
    run = hook.submit_run("grocery-reorder")
    hook.wait_for_run(run["id"], poll_interval=0)
    lines: list[str] = []
    cursor = hook.copy_logs(run["id"], 0, lines.append)
    assert lines[0] == "starting training" and cursor == len(fake.logs[run["id"]])
    assert hook.copy_logs(run["id"], cursor, lines.append) == cursor
