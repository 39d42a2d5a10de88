"""
The provider's run polling against the real service: Griffin answers a repeated GET of a run that
has not changed with 304 Not Modified (ETag / If-None-Match), the clients hand back the run they
already have, and a change (the run consumed by an Airflow try) comes through as a new body.
"""

from __future__ import annotations

import asyncio

from griffin_live import LiveGriffin

from griffin_provider.client import AsyncGriffinClient, GriffinClient


def _finished_run(griffin: LiveGriffin) -> str:
    with GriffinClient(griffin.base_url, griffin.token) as client:
        run, _created = client.create_run("grocery-reorder")
        client.cancel_run(run["id"], reason="polling test")
        client.wait_for_run(run["id"], poll_interval=0.2, timeout=120)
        return run["id"]


def test_sync_client_polls_with_if_none_match(griffin: LiveGriffin) -> None:
    with GriffinClient(griffin.base_url, griffin.token) as client:
        statuses: list[int] = []
        client._session.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
        run_id = _finished_run(griffin)
        first = client.get_run(run_id)
        second = client.get_run(run_id)
        assert statuses == [200, 304]
        assert second == first and second["state"] == "cancelled"

        client.consume_run(run_id, try_number=3)
        statuses.clear()
        after = client.get_run(run_id)
        assert statuses == [200]
        assert after["consumedByTry"] == 3


def test_async_client_polls_with_if_none_match(griffin: LiveGriffin) -> None:
    run_id = _finished_run(griffin)

    async def poll() -> tuple[list[int], dict, dict]:
        statuses: list[int] = []

        async def record(response) -> None:
            statuses.append(response.status_code)

        async with AsyncGriffinClient(griffin.base_url, griffin.token) as client:
            client._http().event_hooks["response"].append(record)
            first = await client.get_run(run_id)
            second = await client.get_run(run_id)
        return statuses, first, second

    statuses, first, second = asyncio.run(poll())
    assert statuses == [200, 304]
    assert second == first
