"""The LoRA check (A1): before a request's blocks are allocated, the KV connector asks whether this
tenant's request may run with the adapter it names. The sidecar allows an adapter only for its
owner's requests, or for anyone when registered public, and only with the SHA-256 its owner
registered; the digest sent here is that of the weights file vLLM will load.

Adapter ids are per tenant: a ``lora_name`` that is a bare id (``legal-v1``) names the request's
own tenant's adapter; another tenant's public adapter is named ``<owner>/<id>``
(``standard-demo/legal-v1``).

Refusals are short strings starting with a stable code, optionally followed by ``": "`` and a
detail: the sidecar's reasons (``adapter_not_permitted``, ``digest_mismatch``, ``adapter_unknown``),
a sidecar error code (``TG_ERR_UNREACHABLE``, ``TG_ERR_UNKNOWN_TENANT``, ...), or a local one
(``adapter_weights_missing``, ``adapter_weights_unreadable``, ``adapter_weights_changed``,
``adapter_id_invalid``, ``tenant_invalid``). Everything fails closed.

Limits: the digest covers the weights file only, not ``adapter_config.json`` (alpha, target
modules); the file is hashed here and read again by vLLM, so whoever can write the adapter
directory can still swap it in between (keep adapter directories read-only to tenants); hub ids
(a ``lora_path`` that is not a local path) are refused, nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tenantguard_vllm.client import SidecarClient, SidecarError

__all__ = ["WEIGHT_FILES", "AdapterCheck", "AdapterQuery"]

#: The files vLLM's ``LoRAModel.from_local_checkpoint`` loads, in its order of preference.
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_model.pt")

#: A bare id (the request's own tenant's adapter) or ``<owner tenant>/<id>`` (a public adapter of
#: another tenant), as the sidecar's ``/v1/adapters/apply`` takes it.
_ADAPTER_ID = re.compile(r"(?:[a-z0-9][a-z0-9-]{0,62}/)?[A-Za-z0-9._-]{1,128}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class AdapterQuery:
    """One request that names a LoRA adapter (vLLM's ``lora_request.lora_name`` / ``lora_path``)."""

    tenant: str
    request_id: str
    adapter_id: str
    adapter_path: str


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AdapterCheck:
    """Asks the sidecar (``POST /v1/adapters/apply``) whether requests may use their adapters.

    Digests are cached by the weights file's identity and change markers (path, device, inode,
    size, mtime_ns, ctime_ns), so a large file is hashed once and a replaced or rewritten one is
    hashed again. Thread-safe.
    """

    def __init__(self, client: SidecarClient, *, max_cached_digests: int = 1024) -> None:
        self._client = client
        self._max_cached = max_cached_digests
        self._digests: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, tenant: str, request_id: str, adapter_id: str, adapter_path: str) -> str | None:
        """None when the sidecar allows this request of ``tenant`` to use the adapter, else why not."""
        return self.check_many([AdapterQuery(tenant, request_id, adapter_id, adapter_path)])[0]

    def check_many(self, queries: Sequence[AdapterQuery]) -> list[str | None]:
        """:meth:`check` for several requests (e.g. one scheduler step) in one sidecar call; the
        answers are in the order of ``queries``."""
        answers: list[str | None] = [None] * len(queries)
        batch: list[dict[str, str]] = []
        positions: list[int] = []
        for index, query in enumerate(queries):
            try:
                batch.append(self._item(query))
                positions.append(index)
            except _Refused as refused:
                answers[index] = refused.reason
        if not batch:
            return answers
        try:
            verdicts = self._apply(batch)
        except SidecarError as error:
            if error.status == 0 or error.status >= 500 or len(batch) == 1:
                for index in positions:
                    answers[index] = _sidecar_reason(error)
                return answers
            # A 4xx refuses the whole batch (e.g. one unknown tenant): decide each item on its own,
            # so one request cannot get the others of the same step refused.
            for index, item in zip(positions, batch):
                try:
                    answers[index] = self._apply([item])[0]
                except SidecarError as single:
                    answers[index] = _sidecar_reason(single)
            return answers
        for index, verdict in zip(positions, verdicts):
            answers[index] = verdict
        return answers

    def digest(self, adapter_path: str) -> str:
        """Hex SHA-256 of the weights file vLLM would load for ``adapter_path`` (cached): what the
        owner registers with ``POST /v1/adapters``. ValueError (the refusal string) if unreadable."""
        try:
            return self._digest(adapter_path)
        except _Refused as refused:
            raise ValueError(refused.reason) from None

    def _item(self, query: AdapterQuery) -> dict[str, str]:
        if not _TENANT_ID.fullmatch(query.tenant):
            raise _Refused("tenant_invalid: not a tenant id")
        if not _ADAPTER_ID.fullmatch(query.adapter_id):
            raise _Refused("adapter_id_invalid: adapter ids are 1-128 characters of [A-Za-z0-9._-], optionally prefixed by the owner tenant and '/'")
        request_id = query.request_id
        if not _REQUEST_ID.fullmatch(request_id):
            # vLLM request ids may come from a client's X-Request-Id; the sidecar takes a bounded
            # charset, so such an id is sent as a stable digest of itself.
            request_id = "h:" + hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return {"request_id": request_id, "tenant": query.tenant, "adapter_id": query.adapter_id, "sha256": self._digest(query.adapter_path)}

    def _apply(self, batch: list[dict[str, str]]) -> list[str | None]:
        results = self._client.apply_adapters(batch)
        if not isinstance(results, list) or len(results) != len(batch):
            raise SidecarError(200, "TG_ERR_UNEXPECTED_RESPONSE", "adapters/apply answered a different number of items")
        verdicts: list[str | None] = []
        for item, result in zip(batch, results):
            if not isinstance(result, dict) or result.get("request_id") != item["request_id"]:
                raise SidecarError(200, "TG_ERR_UNEXPECTED_RESPONSE", "adapters/apply answered out of order")
            if result.get("allow") is True:
                verdicts.append(None)
            else:
                reasons = result.get("reasons")
                named = [str(r) for r in reasons] if isinstance(reasons, list) and reasons else ["adapter_refused"]
                verdicts.append(",".join(named))
        return verdicts

    def _digest(self, adapter_path: str) -> str:
        weights = _weights_file(adapter_path)
        try:
            # O_NONBLOCK: a FIFO planted as the weights file must not hang the engine loop.
            fd = os.open(weights, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise _Refused(f"adapter_weights_missing: {weights} does not exist") from None
        except OSError as error:
            raise _Refused(f"adapter_weights_unreadable: {weights}: {error.strerror or type(error).__name__}") from None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise _Refused(f"adapter_weights_unreadable: {weights} is not a regular file")
            key = (os.path.realpath(weights), before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns)
            with self._lock:
                known = self._digests.get(key)
                if known is not None:
                    self._digests.move_to_end(key)
                    return known
            sha = hashlib.sha256()
            try:
                while chunk := os.read(fd, _CHUNK):
                    sha.update(chunk)
            except OSError as error:
                raise _Refused(f"adapter_weights_unreadable: {weights}: {error.strerror or type(error).__name__}") from None
            after = os.fstat(fd)
            if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (before.st_size, before.st_mtime_ns, before.st_ctime_ns):
                raise _Refused(f"adapter_weights_changed: {weights} changed while it was hashed")
            digest = sha.hexdigest()
            with self._lock:
                self._digests[key] = digest
                while len(self._digests) > self._max_cached:
                    self._digests.popitem(last=False)
            return digest
        finally:
            os.close(fd)


def _weights_file(adapter_path: str) -> str:
    """The file vLLM loads: ``adapter_path`` itself if it is a file, else the first of
    :data:`WEIGHT_FILES` present in the directory (as ``LoRAModel.from_local_checkpoint``)."""
    if not adapter_path:
        raise _Refused("adapter_weights_missing: the request names no adapter path")
    path = os.path.expanduser(adapter_path) if adapter_path.startswith("~") else adapter_path
    if not os.path.exists(path):
        detail = "does not exist" if os.path.isabs(path) else "is not a local path (hub downloads are not checked)"
        raise _Refused(f"adapter_weights_missing: {adapter_path} {detail}")
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        return path
    for name in WEIGHT_FILES:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    raise _Refused(f"adapter_weights_missing: no {' / '.join(WEIGHT_FILES)} in {path}")


def _sidecar_reason(error: SidecarError) -> str:
    return f"{error.code}: {','.join(error.reasons)}" if error.reasons else error.code
