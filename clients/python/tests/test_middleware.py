"""TenantGuardMiddleware against a real sidecar (worker Unix socket), in front of a tiny echo app
that answers with exactly what reached it. Nothing is mocked: salts come from the sidecar and are
compared with what the sidecar itself serves."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Sidecar, start_sidecar, stop_sidecar
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantguard_vllm.client import SidecarEndpoint
from tenantguard_vllm.middleware import DEFAULT_PASSTHROUGH_PATHS, TenantGuardMiddleware, async_sidecar_client

TENANT_HEADER = "x-tenantguard-tenant"
FORGED_SALT = "client-chosen-salt"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def echo(request: Request) -> JSONResponse:
    raw = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "raw": raw.decode("latin-1"),
            "content_length": request.headers.get("content-length"),
            "headers": {k: v for k, v in request.headers.items()},
        }
    )


def echo_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])])


@asynccontextmanager
async def guarded(endpoint: SidecarEndpoint, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests go through TenantGuardMiddleware(echo app)."""
    async with async_sidecar_client(endpoint) as to_sidecar:
        middleware = TenantGuardMiddleware(echo_app(), client=to_sidecar, **options)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://vllm") as client:
            yield client


def socket_endpoint(sidecar: Sidecar) -> SidecarEndpoint:
    return SidecarEndpoint(socket_path=sidecar.socket_path)


def sidecar_salt(sidecar: Sidecar, tenant: str) -> str:
    """What the sidecar itself says the tenant's salt is (worker socket, not via the middleware)."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=sidecar.socket_path), base_url="http://localhost") as client:
        res = client.get(f"/v1/tenants/{tenant}/cache-salt")
        res.raise_for_status()
        salt: str = res.json()["cache_salt"]
        return salt


def received(res: httpx.Response) -> dict[str, Any]:
    """The JSON body the echo app got, after the middleware."""
    assert res.status_code == 200, res.text
    echoed: dict[str, Any] = res.json()
    assert echoed["content_length"] == str(len(echoed["raw"].encode("latin-1")))
    body: dict[str, Any] = json.loads(echoed["raw"])
    return body


def error_code(res: httpx.Response) -> str:
    code: str = res.json()["error"]["code"]
    return code


def salt_fetches(sidecar: Sidecar, tenant: str) -> int:
    return sum(1 for r in sidecar.audit_records() if r.get("action") == "keys.cache_salt" and r.get("tenant") == tenant)


@pytest.mark.anyio
async def test_client_sent_cache_salt_is_replaced_by_the_tenants_sidecar_salt(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", json={"model": "m", "prompt": "hi", "cache_salt": FORGED_SALT}, headers={TENANT_HEADER: "free-demo"})
    body = received(res)
    assert body["cache_salt"] == sidecar_salt(sidecar, "free-demo")
    assert body["model"] == "m" and body["prompt"] == "hi"


@pytest.mark.anyio
async def test_request_without_cache_salt_gets_the_tenants_salt(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}, headers={TENANT_HEADER: "standard-demo"})
    assert received(res)["cache_salt"] == sidecar_salt(sidecar, "standard-demo")


@pytest.mark.anyio
async def test_kv_transfer_params_get_the_tenant_a_forged_tenantguard_entry_is_overwritten_and_other_keys_kept(sidecar: Sidecar) -> None:
    forged = {"tenantguard": {"tenant": "enterprise-demo", "extra": 1}, "do_remote_prefill": True, "remote_host": "10.0.0.2"}
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/responses", json={"input": "x", "kv_transfer_params": forged}, headers={TENANT_HEADER: "free-demo"})
        plain = await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"})
        null = await client.post("/v1/completions", json={"prompt": "x", "kv_transfer_params": None}, headers={TENANT_HEADER: "free-demo"})
    assert received(res)["kv_transfer_params"] == {"tenantguard": {"tenant": "free-demo"}, "do_remote_prefill": True, "remote_host": "10.0.0.2"}
    assert received(plain)["kv_transfer_params"] == {"tenantguard": {"tenant": "free-demo"}}
    assert received(null)["kv_transfer_params"] == {"tenantguard": {"tenant": "free-demo"}}


@pytest.mark.anyio
async def test_routes_outside_v1_and_non_post_writes_are_guarded_too(sidecar: Sidecar) -> None:
    salt = sidecar_salt(sidecar, "free-demo")
    async with guarded(socket_endpoint(sidecar)) as client:
        for path in ("/invocations", "/inference/v1/generate", "/pooling", "/v1/some-future-route"):
            res = await client.post(path, json={"cache_salt": FORGED_SALT}, headers={TENANT_HEADER: "free-demo"})
            assert received(res)["cache_salt"] == salt, path
            missing = await client.post(path, json={"prompt": "x"})
            assert missing.status_code == 401, path
        for method in ("PUT", "PATCH", "DELETE"):
            res = await client.request(method, "/v1/completions", json={"cache_salt": FORGED_SALT}, headers={TENANT_HEADER: "free-demo"})
            assert received(res)["cache_salt"] == salt, method


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {TENANT_HEADER: ""},
        {TENANT_HEADER: "Free-Demo"},
        {TENANT_HEADER: "free_demo"},
        {TENANT_HEADER: "-free"},
        {TENANT_HEADER: "a" * 64},
        {TENANT_HEADER: "free-demo\n"},
        {"x-tenant": "free-demo"},
    ],
    ids=["missing", "empty", "uppercase", "underscore", "leading-dash", "too-long", "trailing-newline", "other-header"],
)
async def test_missing_or_invalid_tenant_header_is_refused_401_no_tenant(sidecar: Sidecar, headers: dict[str, str]) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", json={"prompt": "x"}, headers=headers)
    assert res.status_code == 401
    assert error_code(res) == "TG_ERR_NO_TENANT"
    assert res.headers["content-type"] == "application/json"


@pytest.mark.anyio
async def test_repeated_tenant_header_is_refused_401(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", json={"prompt": "x"}, headers=[(TENANT_HEADER, "free-demo"), (TENANT_HEADER, "free-demo")])
    assert res.status_code == 401 and error_code(res) == "TG_ERR_NO_TENANT"


@pytest.mark.anyio
async def test_unknown_tenant_is_refused_403_with_the_sidecars_code(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "no-such-tenant"})
    assert res.status_code == 403
    assert error_code(res) == "TG_ERR_UNKNOWN_TENANT"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'"a string"', b"null", b"42", b'{"prompt": "x"} trailing', b"[" * 100_000 + b"]" * 100_000],
    ids=["malformed", "empty", "array", "string", "null", "number", "trailing-garbage", "deeply-nested"],
)
async def test_body_that_is_not_a_json_object_is_refused_400(sidecar: Sidecar, content: bytes) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", content=content, headers={TENANT_HEADER: "free-demo", "content-type": "application/json"})
    assert res.status_code == 400
    assert error_code(res) == "TG_ERR_BAD_REQUEST"


@pytest.mark.anyio
async def test_kv_transfer_params_that_is_not_an_object_is_refused_400(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", json={"prompt": "x", "kv_transfer_params": ["tenantguard"]}, headers={TENANT_HEADER: "free-demo"})
    assert res.status_code == 400 and error_code(res) == "TG_ERR_BAD_REQUEST"


@pytest.mark.anyio
async def test_multipart_upload_on_a_guarded_route_is_refused_400(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF....")}, headers={TENANT_HEADER: "free-demo"})
    assert res.status_code == 400 and error_code(res) == "TG_ERR_BAD_REQUEST"


@pytest.mark.anyio
async def test_body_over_the_limit_is_refused_413_declared_or_streamed(sidecar: Sidecar) -> None:
    big = json.dumps({"prompt": "x" * 5000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    async with guarded(socket_endpoint(sidecar), max_body_bytes=4096) as client:
        declared = await client.post("/v1/completions", content=big, headers={TENANT_HEADER: "free-demo"})
        streamed = await client.post("/v1/completions", content=chunks(), headers={TENANT_HEADER: "free-demo"})
        small = await client.post("/v1/completions", json={"prompt": "x" * 3000}, headers={TENANT_HEADER: "free-demo"})
    assert declared.status_code == 413 and error_code(declared) == "TG_ERR_TOO_LARGE"
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and error_code(streamed) == "TG_ERR_TOO_LARGE"
    assert received(small)["prompt"] == "x" * 3000


@pytest.mark.anyio
async def test_body_in_several_chunks_is_reassembled_and_unicode_survives(sidecar: Sidecar) -> None:
    payload = {"prompt": "żółw 🐢 \u2028 \\ \"quoted\"", "n": 1.5, "stop": None, "cache_salt": FORGED_SALT}
    raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 7):
            yield raw[i : i + 7]

    async with guarded(socket_endpoint(sidecar)) as client:
        res = await client.post("/v1/completions", content=chunks(), headers={TENANT_HEADER: "free-demo", "content-type": "application/json"})
    body = received(res)
    assert body["prompt"] == payload["prompt"] and body["n"] == 1.5 and body["stop"] is None
    assert body["cache_salt"] == sidecar_salt(sidecar, "free-demo")
    assert "transfer-encoding" not in res.json()["headers"]


@pytest.mark.anyio
async def test_get_head_options_and_passthrough_paths_are_untouched_and_need_no_tenant(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        got = await client.get("/v1/models?x=1", headers={TENANT_HEADER: "not a tenant!"})
        head = await client.head("/health")
        options = await client.options("/v1/completions")
        tokenize = await client.post("/tokenize", json={"prompt": "x", "cache_salt": FORGED_SALT})
        ping = await client.post("/ping")
    assert got.status_code == 200 and got.json()["method"] == "GET" and got.json()["query"] == "x=1" and got.json()["raw"] == ""
    assert head.status_code == 200 and options.status_code == 200
    assert "/tokenize" in DEFAULT_PASSTHROUGH_PATHS
    assert json.loads(tokenize.json()["raw"]) == {"prompt": "x", "cache_salt": FORGED_SALT}
    assert ping.status_code == 200 and ping.json()["raw"] == ""


@pytest.mark.anyio
async def test_passthrough_paths_are_configurable_and_exact(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar), passthrough_paths=["/sleep"]) as client:
        sleep = await client.post("/sleep?level=1")
        tokenize = await client.post("/tokenize", json={"prompt": "x"})
        nested = await client.post("/sleep/extra", json={"prompt": "x"})
    assert sleep.status_code == 200
    assert tokenize.status_code == 401 and nested.status_code == 401


@pytest.mark.anyio
async def test_non_http_scopes_pass_through(sidecar: Sidecar) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})

    middleware = TenantGuardMiddleware(inner, endpoint=socket_endpoint(sidecar))
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        messages.append(message)

    await middleware({"type": "lifespan"}, receive, send)
    await middleware({"type": "websocket", "path": "/v1/realtime", "headers": []}, receive, send)
    await middleware.aclose()
    assert seen == ["lifespan", "websocket"]
    assert messages == [{"type": "lifespan.startup.complete"}]


@pytest.mark.anyio
async def test_two_tenants_get_different_salts(sidecar: Sidecar) -> None:
    async with guarded(socket_endpoint(sidecar)) as client:
        free = received(await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"}))
        enterprise = received(await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "enterprise-demo"}))
    assert free["cache_salt"] != enterprise["cache_salt"]
    assert free["cache_salt"] == sidecar_salt(sidecar, "free-demo")
    assert enterprise["cache_salt"] == sidecar_salt(sidecar, "enterprise-demo")
    assert free["kv_transfer_params"]["tenantguard"]["tenant"] == "free-demo"
    assert enterprise["kv_transfer_params"]["tenantguard"]["tenant"] == "enterprise-demo"


@pytest.mark.anyio
async def test_salt_is_cached_per_tenant_and_concurrent_misses_share_one_sidecar_fetch(sidecar: Sidecar) -> None:
    before = salt_fetches(sidecar, "standard-demo")
    async with guarded(socket_endpoint(sidecar), salt_ttl_s=60) as client:
        responses = await asyncio.gather(*(client.post("/v1/completions", json={"prompt": str(i)}, headers={TENANT_HEADER: "standard-demo"}) for i in range(25)))
        responses.append(await client.post("/v1/completions", json={"prompt": "later"}, headers={TENANT_HEADER: "standard-demo"}))
    assert {received(res)["cache_salt"] for res in responses} == {sidecar_salt(sidecar, "standard-demo")}
    # The sidecar audit-logs each salt it issues: 26 requests, one fetch by the middleware (+1 by sidecar_salt above).
    assert salt_fetches(sidecar, "standard-demo") - before == 2


@pytest.mark.anyio
async def test_salt_changes_after_key_rotation_once_the_ttl_passes(sidecar: Sidecar) -> None:
    ttl = 1.0
    async with guarded(socket_endpoint(sidecar), salt_ttl_s=ttl) as client:

        async def salt_seen() -> str:
            res = await client.post("/v1/completions", json={"prompt": "x", "cache_salt": FORGED_SALT}, headers={TENANT_HEADER: "standard-demo"})
            salt: str = received(res)["cache_salt"]
            return salt

        old = await salt_seen()
        fetched_at = time.monotonic()
        with sidecar.operator() as operator:
            rotated = operator.post("/v1/tenants/standard-demo/keys/rotate")
        assert rotated.status_code == 200, rotated.text
        new = sidecar_salt(sidecar, "standard-demo")
        assert new != old
        if time.monotonic() - fetched_at < ttl * 0.8:
            assert await salt_seen() == old  # still within the TTL: the cached salt
        await asyncio.sleep(ttl + 0.1)
        assert await salt_seen() == new


@pytest.mark.anyio
async def test_unreachable_sidecar_is_refused_503_and_a_stopped_one_too(sidecar: Sidecar, tmp_path: Path) -> None:
    async with guarded(SidecarEndpoint(socket_path=str(tmp_path / "nothing-here.sock"))) as client:
        res = await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"})
    assert res.status_code == 503 and error_code(res) == "TG_ERR_UNREACHABLE"

    own = start_sidecar(tmp_path)
    try:
        async with guarded(socket_endpoint(own), salt_ttl_s=0) as client:
            up = await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"})
            assert received(up)["cache_salt"] == sidecar_salt(own, "free-demo")
            stop_sidecar(own)
            down = await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"})
    finally:
        stop_sidecar(own)
    assert down.status_code == 503 and error_code(down) == "TG_ERR_UNREACHABLE"


@pytest.mark.anyio
async def test_salt_never_appears_in_logs_or_refusals(sidecar: Sidecar, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    salt = sidecar_salt(sidecar, "free-demo")
    async with guarded(socket_endpoint(sidecar), salt_ttl_s=0, max_body_bytes=64) as client:
        bodies = [
            (await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"})).text,
            (await client.post("/v1/completions", content=b"[]", headers={TENANT_HEADER: "free-demo"})).text,
            (await client.post("/v1/completions", json={"prompt": "x" * 100}, headers={TENANT_HEADER: "free-demo"})).text,
            (await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "no-such-tenant"})).text,
        ]
    async with guarded(SidecarEndpoint(socket_path=str(tmp_path / "none.sock"))) as client:
        bodies.append((await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "free-demo"})).text)
    assert salt in bodies[0]  # only the request forwarded to vLLM carries it
    assert all(salt not in body for body in bodies[1:])
    assert salt not in caplog.text


def test_configuration_from_environment_and_misconfiguration_fails_loudly(sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TENANTGUARD_SOCKET", "TENANTGUARD_URL", "TENANTGUARD_CA_FILE", "TENANTGUARD_CERT_FILE", "TENANTGUARD_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="TENANTGUARD_SOCKET"):
        TenantGuardMiddleware(echo_app())
    monkeypatch.setenv("TENANTGUARD_SOCKET", sidecar.socket_path)
    monkeypatch.setenv("TENANTGUARD_URL", sidecar.url)
    with pytest.raises(ValueError, match="exactly one"):
        TenantGuardMiddleware(echo_app())
    monkeypatch.delenv("TENANTGUARD_SOCKET")
    with pytest.raises(ValueError, match="ca_file"):
        TenantGuardMiddleware(echo_app())
    monkeypatch.delenv("TENANTGUARD_URL")
    monkeypatch.setenv("TENANTGUARD_SOCKET", sidecar.socket_path)
    monkeypatch.setenv("TENANTGUARD_SALT_TTL_S", "2.5")
    monkeypatch.setenv("TENANTGUARD_MAX_BODY_BYTES", "1024")
    monkeypatch.setenv("TENANTGUARD_TENANT_HEADER", "X-Gateway-Tenant")
    monkeypatch.setenv("TENANTGUARD_PASSTHROUGH_PATHS", "/a, /b,")
    configured = TenantGuardMiddleware(echo_app())
    assert (configured.salt_ttl_s, configured.max_body_bytes, configured.tenant_header) == (2.5, 1024, "x-gateway-tenant")
    assert configured.passthrough_paths == frozenset({"/a", "/b"})
    monkeypatch.setenv("TENANTGUARD_SALT_TTL_S", "soon")
    with pytest.raises(ValueError, match="TENANTGUARD_SALT_TTL_S"):
        TenantGuardMiddleware(echo_app())


@pytest.fixture
def sidecar_over_mtls_env(sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TENANTGUARD_SOCKET", raising=False)
    monkeypatch.setenv("TENANTGUARD_URL", sidecar.url)
    monkeypatch.setenv("TENANTGUARD_CA_FILE", sidecar.ca_file)
    monkeypatch.setenv("TENANTGUARD_CERT_FILE", sidecar.worker_cert[0])
    monkeypatch.setenv("TENANTGUARD_KEY_FILE", sidecar.worker_cert[1])
    monkeypatch.setenv("TENANTGUARD_TENANT_HEADER", "x-gateway-tenant")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    yield


@pytest.mark.anyio
async def test_vllm_middleware_flag_installs_it_configured_from_the_environment_over_mtls(sidecar: Sidecar, sidecar_over_mtls_env: None) -> None:
    """vLLM's `--middleware tenantguard_vllm.middleware.TenantGuardMiddleware`, applied by vLLM's own
    init_entrypoints_middleware (as build_app does) to a FastAPI app, here with an echo route."""
    from argparse import Namespace

    from vllm.entrypoints.serve.middleware.register import init_entrypoints_middleware

    app = FastAPI()
    app.add_api_route("/v1/completions", echo, methods=["POST"])
    app.add_api_route("/v1/models", echo, methods=["GET"])
    args = Namespace(
        allowed_origins=["*"],
        allow_credentials=False,
        allowed_methods=["*"],
        allowed_headers=["*"],
        api_key=None,
        enable_request_id_headers=True,
        middleware=["tenantguard_vllm.middleware.TenantGuardMiddleware"],
    )
    init_entrypoints_middleware(args, app, ("generate",))
    outermost: Any = app.user_middleware[0].cls
    assert outermost is TenantGuardMiddleware  # outermost: it sees the request first

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vllm") as client:
        res = await client.post("/v1/completions", json={"prompt": "x", "cache_salt": FORGED_SALT}, headers={"x-gateway-tenant": "enterprise-demo"})
        refused = await client.post("/v1/completions", json={"prompt": "x"}, headers={TENANT_HEADER: "enterprise-demo"})
        models = await client.get("/v1/models")
    layer: Any = app.middleware_stack
    while not isinstance(layer, TenantGuardMiddleware):
        layer = layer.app
    await layer.aclose()  # the instance Starlette built owns its connection to the sidecar
    body = received(res)
    assert body["cache_salt"] == sidecar_salt(sidecar, "enterprise-demo")
    assert body["kv_transfer_params"] == {"tenantguard": {"tenant": "enterprise-demo"}}
    assert res.headers.get("x-request-id")  # vLLM's own middlewares still run
    assert refused.status_code == 401 and error_code(refused) == "TG_ERR_NO_TENANT"
    assert models.status_code == 200
