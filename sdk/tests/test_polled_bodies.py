"""Conditional polling's memory (``PolledBodies``), which the sync and async clients share; no service needed."""

from __future__ import annotations

from griffin_sdk.client import PolledBodies


def test_a_304_stands_for_the_body_remembered_with_its_etag():
    polled = PolledBodies()
    assert polled.etag("/runs/a") is None
    first = polled.answer("/runs/a", 200, '"1"', lambda: {"state": "running"})
    assert first == {"state": "running"} and polled.etag("/runs/a") == '"1"'

    def unread() -> dict:
        raise AssertionError("a 304 has no body to read")

    assert polled.answer("/runs/a", 304, None, unread) == {"state": "running"}


def test_a_changed_body_replaces_the_remembered_one_and_a_body_without_etag_is_not_kept():
    polled = PolledBodies()
    polled.answer("/runs/a", 200, '"1"', lambda: {"state": "running"})
    assert polled.answer("/runs/a", 200, '"2"', lambda: {"state": "succeeded"}) == {"state": "succeeded"}
    assert polled.etag("/runs/a") == '"2"'
    polled.answer("/runs/b", 200, None, lambda: {"state": "queued"})
    assert polled.etag("/runs/b") is None


def test_it_forgets_the_oldest_path_past_its_limit_but_not_for_a_path_it_knows():
    polled = PolledBodies()
    for i in range(PolledBodies.LIMIT):
        polled.answer(f"/runs/{i}", 200, f'"{i}"', dict)
    polled.answer("/runs/5", 200, '"again"', dict)
    assert polled.etag("/runs/0") == '"0"'
    polled.answer("/runs/new", 200, '"n"', dict)
    assert polled.etag("/runs/0") is None and polled.etag("/runs/new") == '"n"' and polled.etag("/runs/5") == '"again"'
