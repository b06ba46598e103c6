"""An ASGI middleware for vLLM's OpenAI-compatible API server that pins every generation request to
the tenant the gateway authenticated, with the tenant's cache salt issued by the tenantguard sidecar.

Load it with ``vllm serve ... --middleware tenantguard_vllm.middleware.TenantGuardMiddleware``;
vLLM then calls ``app.add_middleware(TenantGuardMiddleware)`` with no arguments, so the
configuration comes from the environment:

``TENANTGUARD_SOCKET``
    the sidecar's worker Unix socket (``listen.unix_socket``), or else
``TENANTGUARD_URL`` + ``TENANTGUARD_CA_FILE`` + ``TENANTGUARD_CERT_FILE`` + ``TENANTGUARD_KEY_FILE``
    the sidecar's HTTPS address and the worker's mTLS certificate (exactly one of the two forms);
``TENANTGUARD_TENANT_HEADER``
    the trusted tenant header (default ``x-tenantguard-tenant``);
``TENANTGUARD_SALT_TTL_S``
    how long a fetched salt is reused (default 30 s: a key rotation takes effect within that);
``TENANTGUARD_MAX_BODY_BYTES``
    the largest request body accepted on a guarded route (default 32 MiB, larger is 413);
``TENANTGUARD_PASSTHROUGH_PATHS``
    comma-separated exact paths that are passed through unguarded, replacing the default
    :data:`DEFAULT_PASSTHROUGH_PATHS`.

**The tenant header is trusted.** It must be set by the gateway that authenticated the caller, and
that gateway must remove every copy a client sent (and vLLM must not be reachable except through
it); otherwise any client can name any tenant. A request with the header repeated is refused.

What is guarded (fail closed): every HTTP request whose method is not GET, HEAD or OPTIONS, on any
path, except the exact paths in the passthrough set. vLLM takes prompts (and ``cache_salt``) on
many routes outside ``/v1`` (``/invocations``, ``/inference/v1/generate``, ``/pooling``,
``/classify``, ``/score``, ``/rerank``, ``/generative_scoring``, ``/cohere/v2/chat``, ...), so a
``/v1`` prefix rule would leave bypasses; a route added by a later vLLM release is guarded too. A
guarded request must carry a JSON object body: the middleware replaces any client-sent
``cache_salt`` with the tenant's salt, sets ``kv_transfer_params["tenantguard"] = {"tenant": ...}``
(replacing a client-sent value of that key, keeping the other keys), and re-encodes the body.
Multipart routes (``/v1/audio/transcriptions``, ``/v1/audio/translations``) are therefore refused
(400), as are operator routes without a JSON body (``/sleep``, ``/reset_prefix_cache``, ...) unless
they are added to the passthrough set. Non-HTTP scopes (lifespan, websocket, e.g. ``/v1/realtime``)
pass through untouched: requests they submit carry no tenant, and the KV connector must refuse them.

Refusals are JSON ``{"error": {"code": "TG_ERR_...", "message": ...}}``:
401 ``TG_ERR_NO_TENANT`` (header missing, repeated or not a tenant id), 400 ``TG_ERR_BAD_REQUEST``
(body not a JSON object, or ``kv_transfer_params`` not an object), 413 ``TG_ERR_TOO_LARGE``,
403 with the sidecar's code when it refuses the tenant (``TG_ERR_UNKNOWN_TENANT``,
``TG_ERR_TENANT_ERASED``, ``TG_ERR_POLICY_DENIED``, ...), 503 ``TG_ERR_UNREACHABLE`` when the sidecar
cannot be reached, and 503 with the sidecar's code for any other sidecar failure. A salt is a
credential: it is never logged and never appears in a refusal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx

from tenantguard_vllm.client import SidecarEndpoint

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PASSTHROUGH_PATHS",
    "DEFAULT_SALT_TTL_S",
    "DEFAULT_TENANT_HEADER",
    "TenantGuardMiddleware",
    "async_sidecar_client",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_TENANT_HEADER = "x-tenantguard-tenant"
DEFAULT_SALT_TTL_S = 30.0
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: Exact paths that never put a prompt into the engine: SageMaker's POST health check and the
#: tokenizer-only routes. Everything else that is not GET/HEAD/OPTIONS is guarded.
DEFAULT_PASSTHROUGH_PATHS: frozenset[str] = frozenset({"/ping", "/tokenize", "/detokenize"})

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SALT = re.compile(r"[A-Za-z0-9_-]{1,128}")
_UNGUARDED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Sidecar statuses that mean "this tenant may not be served" rather than "the sidecar is broken".
_TENANT_REFUSED = frozenset({403, 404, 410})

logger = logging.getLogger("tenantguard_vllm.middleware")


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _CachedSalt:
    salt: str
    version: int
    expires_at: float


def async_sidecar_client(endpoint: SidecarEndpoint, timeout_s: float = 5.0) -> httpx.AsyncClient:
    """An async httpx client for the sidecar: the worker Unix socket, or HTTPS with the worker's
    client certificate (the async twin of :class:`tenantguard_vllm.client.SidecarClient`'s transport)."""
    if endpoint.socket_path is not None:
        transport = httpx.AsyncHTTPTransport(uds=endpoint.socket_path)
        return httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=timeout_s)
    if endpoint.url is None or endpoint.ca_file is None or endpoint.cert_file is None or endpoint.key_file is None:
        raise ValueError("tenantguard: an HTTPS sidecar endpoint needs url, ca_file, cert_file and key_file")
    context = ssl.create_default_context(cafile=endpoint.ca_file)
    context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    return httpx.AsyncClient(base_url=endpoint.url, verify=context, timeout=timeout_s)


def _endpoint_from_env() -> SidecarEndpoint:
    source = os.environ
    config = {
        "socket_path": source.get("TENANTGUARD_SOCKET") or None,
        "url": source.get("TENANTGUARD_URL") or None,
        "ca_file": source.get("TENANTGUARD_CA_FILE") or None,
        "cert_file": source.get("TENANTGUARD_CERT_FILE") or None,
        "key_file": source.get("TENANTGUARD_KEY_FILE") or None,
    }
    try:
        return SidecarEndpoint.from_config(config)
    except ValueError as error:
        raise ValueError(
            "TenantGuardMiddleware: set TENANTGUARD_SOCKET (the sidecar's worker Unix socket) or "
            f"TENANTGUARD_URL + TENANTGUARD_CA_FILE + TENANTGUARD_CERT_FILE + TENANTGUARD_KEY_FILE ({error})"
        ) from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"TenantGuardMiddleware: {name} must be a number, got {raw!r}") from None
    if not value >= 0:
        raise ValueError(f"TenantGuardMiddleware: {name} must be >= 0")
    return value


class TenantGuardMiddleware:
    """Pure ASGI middleware; see the module docstring for the rules.

    ``client`` is an ``httpx.AsyncClient`` whose base URL is the sidecar (worker role), e.g. from
    :func:`async_sidecar_client`; a client passed in is not closed by :meth:`aclose`. Without it,
    ``endpoint`` is used, and without that the ``TENANTGUARD_*`` environment variables. Every other
    argument left as ``None`` is read from the environment or takes its default.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: httpx.AsyncClient | None = None,
        endpoint: SidecarEndpoint | None = None,
        tenant_header: str | None = None,
        salt_ttl_s: float | None = None,
        max_body_bytes: int | None = None,
        passthrough_paths: Iterable[str] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.app = app
        if client is not None:
            self._http = client
            self._owns_client = False
        else:
            self._http = async_sidecar_client(endpoint if endpoint is not None else _endpoint_from_env(), timeout_s)
            self._owns_client = True
        header = tenant_header if tenant_header is not None else os.environ.get("TENANTGUARD_TENANT_HEADER") or DEFAULT_TENANT_HEADER
        if not re.fullmatch(r"[A-Za-z0-9-]+", header):
            raise ValueError(f"TenantGuardMiddleware: {header!r} is not an HTTP header name")
        self.tenant_header = header.lower()
        self._tenant_header_bytes = self.tenant_header.encode("latin-1")
        self.salt_ttl_s = salt_ttl_s if salt_ttl_s is not None else _env_float("TENANTGUARD_SALT_TTL_S", DEFAULT_SALT_TTL_S)
        if not self.salt_ttl_s >= 0:
            raise ValueError("TenantGuardMiddleware: salt_ttl_s must be >= 0")
        self.max_body_bytes = max_body_bytes if max_body_bytes is not None else int(_env_float("TENANTGUARD_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
        if self.max_body_bytes <= 0:
            raise ValueError("TenantGuardMiddleware: max_body_bytes must be > 0")
        if passthrough_paths is None:
            raw = os.environ.get("TENANTGUARD_PASSTHROUGH_PATHS")
            passthrough_paths = DEFAULT_PASSTHROUGH_PATHS if raw is None else [p.strip() for p in raw.split(",") if p.strip()]
        self.passthrough_paths = frozenset(passthrough_paths)
        self._salts: dict[str, _CachedSalt] = {}
        self._inflight: dict[str, asyncio.Future[_CachedSalt]] = {}

    async def aclose(self) -> None:
        """Closes the sidecar connection if this middleware opened it."""
        if self._owns_client:
            await self._http.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope):
            await self.app(scope, receive, send)
            return
        try:
            tenant = self._tenant(scope)
            body = await self._read_body(scope, receive)
            if body is None:
                return  # the client went away before sending its body
            request = _json_object(body)
            kv_params = request.get("kv_transfer_params")
            if kv_params is not None and not isinstance(kv_params, dict):
                raise _Refusal(400, "TG_ERR_BAD_REQUEST", "kv_transfer_params must be a JSON object")
            cached = await self._salt(tenant)
        except _Refusal as refusal:
            await _send_error(send, refusal)
            return
        request["cache_salt"] = cached.salt
        request["kv_transfer_params"] = {**(kv_params or {}), "tenantguard": {"tenant": tenant}}
        new_body = json.dumps(request, separators=(",", ":")).encode("ascii")
        await self.app(_with_body_headers(scope, len(new_body)), _replay(new_body, receive), send)

    def _guarded(self, scope: Scope) -> bool:
        if str(scope.get("method", "")).upper() in _UNGUARDED_METHODS:
            return False
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        return path not in self.passthrough_paths

    def _tenant(self, scope: Scope) -> str:
        values = [value for name, value in scope.get("headers", []) if name.lower() == self._tenant_header_bytes]
        if len(values) != 1:
            reason = "missing" if not values else "repeated"
            raise _Refusal(401, "TG_ERR_NO_TENANT", f"no authenticated tenant: the {self.tenant_header} header is {reason}")
        tenant = bytes(values[0]).decode("latin-1")
        if not TENANT_ID.fullmatch(tenant):
            raise _Refusal(401, "TG_ERR_NO_TENANT", f"no authenticated tenant: the {self.tenant_header} header is not a tenant id")
        return tenant

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        too_large = _Refusal(413, "TG_ERR_TOO_LARGE", f"request body is over {self.max_body_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise _Refusal(400, "TG_ERR_BAD_REQUEST", "content-length is not a number") from None
                if declared > self.max_body_bytes:
                    raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            if message["type"] != "http.request":
                continue
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_body_bytes:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _salt(self, tenant: str) -> _CachedSalt:
        cached = self._salts.get(tenant)
        if cached is not None and time.monotonic() < cached.expires_at:
            return cached
        # One fetch per tenant at a time: concurrent requests of a tenant whose salt expired share it.
        # It runs as its own task, so a client that disconnects does not cancel the others' fetch.
        task = self._inflight.get(tenant)
        if task is None:
            task = asyncio.ensure_future(self._fetch_salt(tenant))
            self._inflight[tenant] = task
            task.add_done_callback(lambda done: self._fetched(tenant, done))
        return await asyncio.shield(task)

    def _fetched(self, tenant: str, task: asyncio.Future[_CachedSalt]) -> None:
        if self._inflight.get(tenant) is task:
            del self._inflight[tenant]
        if task.cancelled():
            return
        if task.exception() is None:  # also marks a failure as retrieved when every waiter left
            self._salts[tenant] = task.result()
        else:
            self._salts.pop(tenant, None)

    async def _fetch_salt(self, tenant: str) -> _CachedSalt:
        try:
            res = await self._http.get(f"/v1/tenants/{tenant}/cache-salt")
        except httpx.HTTPError as error:
            logger.warning("tenantguard sidecar unreachable while fetching a cache salt (%s)", type(error).__name__)
            raise _Refusal(503, "TG_ERR_UNREACHABLE", "the tenantguard sidecar is unreachable") from None
        if res.status_code != 200:
            code = _error_code(res)
            if res.status_code in _TENANT_REFUSED:
                logger.info("tenantguard refused tenant %s (%s)", tenant, code)
                raise _Refusal(403, code, "the tenant may not use this server")
            logger.warning("tenantguard sidecar failed a cache-salt fetch: HTTP %d %s", res.status_code, code)
            raise _Refusal(503, code, "the tenantguard sidecar could not issue a cache salt")
        try:
            payload = res.json()
            salt, version, named = payload["cache_salt"], payload["version"], payload["tenant"]
        except (ValueError, KeyError, TypeError):
            salt, version, named = None, None, None
        if not isinstance(salt, str) or not _SALT.fullmatch(salt) or not isinstance(version, int) or named != tenant:
            logger.warning("tenantguard sidecar sent a malformed cache-salt response")
            raise _Refusal(503, "TG_ERR_UNEXPECTED_RESPONSE", "the tenantguard sidecar sent an unexpected response")
        return _CachedSalt(salt=salt, version=version, expires_at=time.monotonic() + self.salt_ttl_s)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        raise _Refusal(400, "TG_ERR_BAD_REQUEST", "the request body must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise _Refusal(400, "TG_ERR_BAD_REQUEST", "the request body must be a JSON object")
    return parsed


def _error_code(res: httpx.Response) -> str:
    try:
        code = res.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "TG_ERR_UNEXPECTED_RESPONSE"
    return code if isinstance(code, str) and re.fullmatch(r"TG_ERR_[A-Z0-9_]{1,64}", code) else "TG_ERR_UNEXPECTED_RESPONSE"


def _with_body_headers(scope: Scope, length: int) -> Scope:
    headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() not in (b"content-length", b"transfer-encoding")]
    headers.append((b"content-length", str(length).encode("ascii")))
    return {**scope, "headers": headers}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, the app only waits for the client to disconnect (e.g. while streaming).
        return await receive()

    return replayed


async def _send_error(send: Send, refusal: _Refusal) -> None:
    payload = json.dumps({"error": {"code": refusal.code, "message": refusal.message}}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})
