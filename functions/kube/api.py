"""A thin JSON-over-HTTP layer on the official ``kubernetes`` client's ApiClient.

The client's ApiClient does the parts worth reusing (kubeconfig, in-cluster service-account
tokens and their refresh, TLS, the connection pool); requests go through ``call_api`` with
plain dicts so no generated model class is built per call. ``CoreV1Api`` alone costs ~1.5 s
to import, too much for a function that should start in a fraction of that.

API errors become the store's errors once, here: 404 NotFound, 409 Conflict, 410 Expired,
400/422 Invalid (with the field path the API server names), 429/5xx and connection failures
TransientError, 401/403 PermanentError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from events.errors import PermanentError, TransientError
from functions.ports import Conflict, Expired, Invalid, NotFound, StoreError

__all__ = ["JSON", "MERGE_PATCH", "KubeAPI", "api_error", "connect"]

JSON: Final = "application/json"
MERGE_PATCH: Final = "application/merge-patch+json"
DEFAULT_TIMEOUT: Final = 30.0
CONNECT_TIMEOUT: Final = 10.0
POOL_SIZE: Final = 64


def connect(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None) -> Any:
    """An ApiClient: ``kubeconfig``, else ``$KUBECONFIG``, else in-cluster, else ~/.kube/config."""
    from kubernetes import config  # heavy (~0.25 s): only when a Kubernetes store is built
    from kubernetes.client.api_client import ApiClient
    from kubernetes.client.configuration import Configuration

    configuration = Configuration()
    # KUBECONFIG read here, at build time: the library reads it once, at its own import.
    path = os.fspath(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG")
    if path is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        # persist_config off: a refreshed token is never written back into the file.
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, client_configuration=configuration,
            persist_config=False,
        )  # fmt: skip
    # One connection per gunicorn thread (32 by default) plus watches; the default pool
    # (5 x CPUs) would open and discard connections under load.
    configuration.connection_pool_maxsize = POOL_SIZE
    return ApiClient(configuration)


def api_error(status: int, body: bytes | str, retry_after: str | None = None) -> Exception:
    """The store error for an API server's failure ``status`` and Status ``body``."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    raw = body.decode(errors="replace") if isinstance(body, bytes) else body
    message = str(payload.get("message") or raw[:300] or f"HTTP {status}")
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 410:
        return Expired(message)
    if status in (400, 422):
        causes = (payload.get("details") or {}).get("causes") or []
        field = next((str(c["field"]) for c in causes if c.get("field")), "")
        return Invalid(message, field=field)
    if status == 429 or status >= 500:
        return TransientError(
            f"Kubernetes API: {message}", delay=_seconds(retry_after), reason="APIServerBusy"
        )
    if status in (401, 403):
        return PermanentError(f"Kubernetes API: {message}", reason="Forbidden")
    error = StoreError(f"Kubernetes API HTTP {status}: {message}")
    error.status = status
    return error


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class KubeAPI:
    """JSON requests to one API server through a kubernetes ``ApiClient``."""

    def __init__(self, client: Any, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client = client
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """Send one request; the decoded JSON answer, or the mapped store error."""
        response = self._send(method, path, query, body, content_type, self.timeout)
        data = response.read()
        if not 200 <= response.status < 300:
            raise api_error(response.status, data, response.getheader("Retry-After"))
        return json.loads(data) if data else None

    def text(self, path: str, query: Mapping[str, str] | None = None, *, limit: int) -> str:
        """A plain-text answer (a container's log), at most ``limit`` bytes read."""
        # The server caps the body too (the caller sends limitBytes); this is the backstop.
        response = self._send("GET", path, query, None, JSON, self.timeout)
        data = response.read()
        if not 200 <= response.status < 300:
            raise api_error(response.status, data, response.getheader("Retry-After"))
        return bytes(data[:limit]).decode("utf-8", "replace")

    def stream(
        self, path: str, query: Mapping[str, str], read_timeout: float | None
    ) -> Iterator[dict[str, Any]]:
        """The JSON lines of a watch; ends quietly when nothing arrives for ``read_timeout``."""
        import urllib3

        timeout = (CONNECT_TIMEOUT, read_timeout) if read_timeout else None
        response = self._send("GET", path, query, None, JSON, timeout)
        raw = response.response
        try:
            if not 200 <= response.status < 300:
                raise api_error(response.status, raw.read(), response.getheader("Retry-After"))
            buffer = b""
            try:
                for chunk in raw.stream(amt=None, decode_content=True):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
            except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
                # A quiet spell or a dropped watch connection: the caller resumes from the
                # last resourceVersion it saw, so nothing is lost by ending here.
                return
        finally:
            raw.release_conn()

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        timeout: float | tuple[float, float | None] | None,
    ) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
        params: Sequence[tuple[str, str]] = list((query or {}).items())
        method, url, headers, body, post = self.client.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self.client.call_api(method, url, headers, body, post, _request_timeout=timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise TransientError(f"Kubernetes API unreachable: {exc}") from exc
        except ApiException as exc:
            if exc.status:  # the client's own Retry-After handling gave up
                retry_after = (exc.headers or {}).get("Retry-After")
                raise api_error(exc.status, exc.body or b"", retry_after) from exc
            # status 0: TLS failed before any HTTP answer; a wrong CA will not heal itself.
            raise PermanentError(f"Kubernetes API: {exc.reason}", reason="APIServerTLS") from exc
