"""Airflow hook for the Griffin ML training platform: a connection resolved into a :class:`GriffinClient`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from griffin_provider._compat import BaseHook
from griffin_sdk.client import (
    DEFAULT_TIMEOUT,
    DEFAULT_UNREACHABLE_TIMEOUT,
    AsyncGriffinClient,
    GriffinClient,
    GriffinRunState,
    RetryPolicy,
    griffin_log_line,
)

__all__ = ["GriffinHook", "GriffinRunState"]


def _mask(secret: str) -> None:
    """Register a secret with Airflow's log masker (belt and braces: passwords already are)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # Airflow 2.10
        try:
            from airflow.utils.log.secrets_masker import mask_secret
        except ImportError:
            return
    try:
        mask_secret(secret)
    except Exception:  # masking must never break a task
        pass


def _base_url_from(host: str | None, port: int | None, schema: str | None, extra: Mapping[str, Any]) -> str:
    """
    The service URL from a connection.

    ``host`` may be a full URL (``http://127.0.0.1:8080``, as in the README) or a bare host name
    with ``port`` and ``schema``/``extra.scheme`` (as a ``griffin://`` URI connection yields).
    """
    if extra.get("base_url"):
        return str(extra["base_url"]).rstrip("/")
    if not host:
        raise ValueError("the Griffin connection has no host: set it to the service URL, e.g. http://127.0.0.1:8080")
    host = host.strip().rstrip("/")
    if "://" in host:
        scheme, rest = host.split("://", 1)
        netloc, _, path = rest.partition("/")
        if port and ":" not in netloc.rsplit("]", 1)[-1]:
            netloc = f"{netloc}:{port}"
        return f"{scheme}://{netloc}" + (f"/{path}" if path else "")
    scheme = extra.get("scheme") or schema or "http"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _token_from(password: str | None, extra: Mapping[str, Any]) -> str | None:
    return password or extra.get("token") or extra.get("extra__griffin__token") or None


class GriffinHook(BaseHook):
    """
    Interact with the Griffin API through an Airflow connection.

    The connection's host is the service URL (e.g. ``http://127.0.0.1:8080``); the password, or the
    extra field ``token``, holds the bearer token. Extra ``timeout`` (seconds) and ``verify`` (TLS)
    are optional. Requests are retried with exponential backoff and jitter only on connection errors,
    timeouts, 429 and 5xx, honouring ``Retry-After``; a POST only when it carries an Idempotency-Key.
    Extra ``unreachable_timeout`` (seconds, default 600) is how long a wait tolerates Griffin being
    unreachable before it fails; a task's ``griffin_unreachable_timeout`` takes precedence.

    :param griffin_conn_id: The Airflow connection id. Defaults to ``griffin_default``.
    :param timeout: Seconds for each HTTP request; defaults to the connection's extra ``timeout`` or 30.
    :param max_retries: How many times a retryable failure is retried.
    :param backoff_base: Delay in seconds of the first retry before jitter; it doubles each retry.
    :param backoff_max: Upper bound in seconds of one backoff delay.
    """

    conn_name_attr = "griffin_conn_id"
    default_conn_name = "griffin_default"
    conn_type = "griffin"
    hook_name = "Griffin"

    def __init__(
        self,
        griffin_conn_id: str = default_conn_name,
        timeout: float | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        super().__init__()
        self.griffin_conn_id = griffin_conn_id
        self.timeout = timeout
        self.retry_policy = RetryPolicy(max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max)
        self._client: GriffinClient | None = None

    # -- connection form (Airflow < 3.2 reads these; 3.2+ reads conn-fields from get_provider_info) --

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField, StringField

        return {
            "token": PasswordField(lazy_gettext("API token (if not in Password)"), widget=BS3PasswordFieldWidget()),
            "timeout": StringField(lazy_gettext("Request timeout (seconds)"), widget=BS3TextFieldWidget()),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"host": "Griffin URL", "password": "API token"},
            "placeholders": {"host": "http://127.0.0.1:8080"},
        }

    # -- clients ------------------------------------------------------------------------------

    def _settings(self, conn: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
        timeout = self.timeout if self.timeout is not None else float(extra.get("timeout") or DEFAULT_TIMEOUT)
        verify = extra.get("verify", True)
        if isinstance(verify, str) and verify.lower() in ("false", "0", "no"):
            verify = False
        return {
            "base_url": _base_url_from(conn.host, conn.port, conn.schema, extra),
            "token": _token_from(conn.password, extra),
            "timeout": timeout,
            "retry_policy": self.retry_policy,
            "verify": verify,
        }

    def get_conn(self) -> GriffinClient:
        """The synchronous client, built once per hook from the connection."""
        if self._client is None:
            conn = self.get_connection(self.griffin_conn_id)
            settings = self._settings(conn, conn.extra_dejson)
            if settings["token"]:
                _mask(settings["token"])
            self.log.info("Using Griffin at %s (connection %s)", settings["base_url"], self.griffin_conn_id)
            self._client = GriffinClient(**settings)
        return self._client

    async def aget_conn(self) -> AsyncGriffinClient:
        """A new asyncio client (the caller closes it: ``async with await hook.aget_conn() as client``)."""
        if hasattr(self, "aget_connection"):  # Airflow 3.1+: no sync call into the supervisor from the event loop
            conn = await self.aget_connection(self.griffin_conn_id)
        else:
            from asgiref.sync import sync_to_async

            conn = await sync_to_async(self.get_connection)(self.griffin_conn_id)
        extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else conn.extra_dejson
        return AsyncGriffinClient(**self._settings(conn, extra))

    def unreachable_timeout(self, override: float | None = None) -> float:
        """Seconds of Griffin outage a wait tolerates: the task's setting, else the connection's extra, else 600."""
        if override is not None:
            return float(override)
        extra = self.get_connection(self.griffin_conn_id).extra_dejson
        value = extra.get("unreachable_timeout")
        if value in (None, ""):
            return DEFAULT_UNREACHABLE_TIMEOUT
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"connection {self.griffin_conn_id!r}: extra unreachable_timeout must be a number of seconds, not {value!r}"
            ) from None

    def test_connection(self) -> tuple[bool, str]:
        try:
            me = self.get_conn().whoami() or {}
            self.get_conn().list_runs(limit=1)
        except Exception as err:
            return False, str(err)
        role = me.get("role")
        who = f"as {me.get('name') or 'this token'} (role {role})" if role else ""
        if role == "viewer":
            return True, (
                f"Connected {who}. A viewer token can watch runs (sensors) but not submit, cancel or register: "
                "those need an editor token."
            )
        return True, f"Connection successfully tested {who}".rstrip()

    # -- sync API used by operators and sensors -------------------------------------------------

    def create_run(self, workflow: str, *, time_context: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[dict[str, Any], bool]:
        """
        Submit a run; returns ``(run, created)`` where ``created`` is False for an existing run.

        :param time_context: The logical date and data interval the run trains for (see
            :meth:`GriffinClient.create_run_with_time_context`).
        """
        if time_context:
            return self.get_conn().create_run_with_time_context(workflow, time_context=time_context, **kwargs)
        return self.get_conn().create_run(workflow, **kwargs)

    def submit_run(self, workflow: str, **kwargs: Any) -> dict[str, Any]:
        return self.get_conn().submit_run(workflow, **kwargs)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.get_conn().get_run(run_id)

    def list_runs(self, **filters: Any) -> dict[str, Any]:
        return self.get_conn().list_runs(**filters)

    def cancel_run(self, run_id: str, reason: str | None = None, try_number: int | None = None) -> dict[str, Any]:
        return self.get_conn().cancel_run(run_id, reason=reason, try_number=try_number)

    def consume_run(self, run_id: str, try_number: int | None = None) -> dict[str, Any]:
        return self.get_conn().consume_run(run_id, try_number)

    def get_logs(self, run_id: str, cursor: int = 0) -> dict[str, Any]:
        return self.get_conn().get_logs(run_id, cursor)

    def wait_for_run(self, run_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.get_conn().wait_for_run(run_id, **kwargs)

    def copy_logs(self, run_id: str, cursor: int = 0, emit: Callable[[str], None] | None = None) -> int:
        """Copy the run's log from ``cursor`` into ``emit`` (default: this hook's log); return the new cursor."""
        from griffin_sdk.client import LogLineBuffer

        emit = emit or (lambda line: self.log.info("%s", griffin_log_line(line)))
        buffer = LogLineBuffer()
        for text, next_cursor, _ in self.get_conn().iter_logs(run_id, cursor):
            for line in buffer.feed(text):
                emit(line)
            cursor = next_cursor
        for line in buffer.flush():
            emit(line)
        return cursor

    def register_model_version(self, model_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.get_conn().register_model_version(model_name, **kwargs)

    def update_model_version(self, model_name: str, version: int | str, **kwargs: Any) -> dict[str, Any]:
        return self.get_conn().update_model_version(model_name, version, **kwargs)

    def set_model_alias(self, model_name: str, alias: str, version: int) -> Any:
        return self.get_conn().set_model_alias(model_name, alias, version)

    def get_model_version(self, model_name: str, version: int | str) -> dict[str, Any]:
        return self.get_conn().get_model_version(model_name, version)

    def get_model_alias(self, model_name: str, alias: str) -> dict[str, Any] | None:
        return self.get_conn().get_model_alias(model_name, alias)

    def move_model_alias(self, model_name: str, alias: str, version: int, *, expected_version: int | None, reason: str = "") -> dict[str, Any]:
        return self.get_conn().move_model_alias(model_name, alias, version, expected_version=expected_version, reason=reason)

    # -- async API used by triggers -------------------------------------------------------------

    async def async_get_run(self, run_id: str) -> dict[str, Any]:
        async with await self.aget_conn() as client:
            return await client.get_run(run_id)

    async def async_registry_changes(self, **kwargs: Any) -> dict[str, Any]:
        async with await self.aget_conn() as client:
            return await client.get_registry_changes(**kwargs)

    async def async_get_model_version(self, model_name: str, version: int | str) -> dict[str, Any]:
        async with await self.aget_conn() as client:
            return await client.get_model_version(model_name, version)

    async def async_cancel_run(self, run_id: str, reason: str | None = None, try_number: int | None = None) -> dict[str, Any]:
        async with await self.aget_conn() as client:
            return await client.cancel_run(run_id, reason=reason, try_number=try_number)
