"""A small client for the tenantguard sidecar: the worker Unix socket or HTTPS with a client
certificate (mTLS), one kept-alive connection, typed wire shapes, and refusals as exceptions
carrying the sidecar's stable ``TG_ERR_*`` code."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, Union

import httpx


class ClaimOp(TypedDict):
    op: Literal["claim"]
    tenant: str
    request_id: str
    blocks: list[int]
    prefix_hits: NotRequired[list[int]]


class ReleaseOp(TypedDict):
    op: Literal["release"]
    tenant: str
    request_id: str
    blocks: list[int]
    cache: NotRequired[bool]


class ScrubbedOp(TypedDict):
    op: Literal["scrubbed"]
    blocks: list[int]
    #: ``epochs[i]`` is the use epoch ``blocks[i]`` was listed for scrubbing in (``scrub_epochs``):
    #: the sidecar refuses a confirmation that outlived that use (I2).
    epochs: list[int]


StepOp = Union[ClaimOp, ReleaseOp, ScrubbedOp]


class StepOpResult(TypedDict):
    index: int
    ok: bool
    code: NotRequired[str]
    reasons: NotRequired[list[str]]


class StepResponse(TypedDict):
    step: int
    scrub: list[int]
    scrub_epochs: list[int]
    results: list[StepOpResult]


class SidecarError(Exception):
    """The sidecar refused a call (or could not be reached: code ``TG_ERR_UNREACHABLE``)."""

    def __init__(self, status: int, code: str, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(f"{message} [{code}]")
        self.status = status
        self.code = code
        self.reasons = reasons or []


@dataclass(frozen=True)
class SidecarEndpoint:
    """Where the sidecar listens: ``socket_path`` (worker role, co-located) or ``url`` + mTLS files."""

    socket_path: str | None = None
    url: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SidecarEndpoint:
        """From a mapping such as vLLM's ``kv_connector_extra_config["tenantguard"]``."""
        endpoint = cls(
            socket_path=_optional_str(config, "socket_path"),
            url=_optional_str(config, "url"),
            ca_file=_optional_str(config, "ca_file"),
            cert_file=_optional_str(config, "cert_file"),
            key_file=_optional_str(config, "key_file"),
        )
        if (endpoint.socket_path is None) == (endpoint.url is None):
            raise ValueError("tenantguard: set exactly one of socket_path (the sidecar's worker Unix socket) or url (https://host:port with ca_file, cert_file, key_file)")
        if endpoint.url is not None and None in (endpoint.ca_file, endpoint.cert_file, endpoint.key_file):
            raise ValueError("tenantguard: url needs ca_file, cert_file and key_file (the worker's mTLS certificate from `tenantguard init`)")
        return endpoint


class SidecarClient:
    """Synchronous: the scheduler calls it once per step from vLLM's engine-core loop."""

    def __init__(self, endpoint: SidecarEndpoint, timeout_s: float = 5.0) -> None:
        if endpoint.socket_path is not None:
            transport = httpx.HTTPTransport(uds=endpoint.socket_path)
            self._http = httpx.Client(transport=transport, base_url="http://localhost", timeout=timeout_s)
        else:
            assert endpoint.url is not None and endpoint.ca_file is not None and endpoint.cert_file is not None
            context = ssl.create_default_context(cafile=endpoint.ca_file)
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
            self._http = httpx.Client(base_url=endpoint.url, verify=context, timeout=timeout_s)

    def step(self, step: int, ops: list[StepOp]) -> StepResponse:
        """One scheduler step: claims, releases and scrub confirmations, each op atomic on its own."""
        body: StepResponse = self.request("POST", "/v1/steps", {"step": step, "ops": ops})
        return body

    def tenant_for_cache_salt(self, cache_salt: str) -> str:
        """The tenant the sidecar issued this salt to (TG_ERR_UNKNOWN_CACHE_SALT if none)."""
        body = self.request("POST", "/v1/cache-salts/lookup", {"cache_salt": cache_salt})
        return str(body["tenant"])

    def cache_salt(self, tenant: str) -> str:
        return str(self.request("GET", f"/v1/tenants/{tenant}/cache-salt")["cache_salt"])

    def apply_adapters(self, batch: list[dict[str, str]]) -> list[dict[str, Any]]:
        """``/v1/adapters/apply``: may these requests run with these LoRA adapters (A1)?"""
        results: list[dict[str, Any]] = self.request("POST", "/v1/adapters/apply", {"batch": batch})["results"]
        return results

    def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            res = self._http.request(method, path, json=body) if body is not None else self._http.request(method, path)
        except httpx.HTTPError as error:
            # Fail closed: the caller treats an unreachable sidecar as a refusal.
            raise SidecarError(0, "TG_ERR_UNREACHABLE", f"tenantguard sidecar unreachable ({type(error).__name__})") from None
        if 200 <= res.status_code < 300:
            return res.json() if res.content else None
        raise _refusal(res)

    def close(self) -> None:
        self._http.close()


def _refusal(res: httpx.Response) -> SidecarError:
    try:
        error = res.json()["error"]
        return SidecarError(res.status_code, str(error["code"]), str(error.get("message", "refused")), [str(r) for r in error.get("reasons", [])])
    except (ValueError, KeyError, TypeError):
        return SidecarError(res.status_code, "TG_ERR_UNEXPECTED_RESPONSE", f"HTTP {res.status_code} without a tenantguard error body")


def _optional_str(config: dict[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value == "":
        raise ValueError(f"tenantguard: {key} must be a non-empty string")
    return value
