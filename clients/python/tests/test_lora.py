"""AdapterCheck against a real sidecar: adapters are registered by their owner tenant over mTLS
(its certificate from `tenantguard init`), the check runs over the worker Unix socket."""

from __future__ import annotations

import hashlib
import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Sidecar, start_sidecar, stop_sidecar

from tenantguard_vllm.client import SidecarClient, SidecarEndpoint
from tenantguard_vllm.lora import AdapterCheck, AdapterQuery

OWNER = "free-demo"
OTHER = "standard-demo"


def tenant_client(sidecar: Sidecar, tenant: str) -> httpx.Client:
    pki = sidecar.dir / "pki" / "tenant"
    context = ssl.create_default_context(cafile=sidecar.ca_file)
    context.load_cert_chain(str(pki / f"{tenant}.crt"), str(pki / f"{tenant}.key"))
    return httpx.Client(base_url=sidecar.url, verify=context, timeout=10)


def write_adapter(directory: Path, weights: bytes, name: str = "adapter_model.safetensors") -> Path:
    """A fake PEFT adapter directory as vLLM loads it (the check only hashes the weights file)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}')
    (directory / name).write_bytes(weights)
    return directory


def register(sidecar: Sidecar, tenant: str, adapter_id: str, sha256: str, public: bool = False) -> None:
    with tenant_client(sidecar, tenant) as client:
        res = client.post("/v1/adapters", json={"adapter_id": adapter_id, "sha256": sha256, "rank": 8, "public": public})
    assert res.status_code == 201, res.text


def fake_weights(size: int = 4096) -> bytes:
    header = b'{"base_model.model.layers.0.self_attn.q_proj.lora_A.weight":{"dtype":"F16","shape":[8,16],"data_offsets":[0,256]}}'
    return len(header).to_bytes(8, "little") + header + os.urandom(size)


@pytest.fixture
def check(sidecar: Sidecar) -> Iterator[AdapterCheck]:
    client = SidecarClient(SidecarEndpoint(socket_path=sidecar.socket_path))
    try:
        yield AdapterCheck(client)
    finally:
        client.close()


@pytest.fixture
def adapter(sidecar: Sidecar, tmp_path: Path) -> tuple[str, Path]:
    """A private adapter of OWNER, registered with the SHA-256 of its weights file."""
    # Each one takes a slot of OWNER's adapter cap (free tier: 16, issue 20.5) on the module's sidecar.
    weights = fake_weights()
    adapter_id = f"owner-lora-{uuid.uuid4().hex[:8]}"
    register(sidecar, OWNER, adapter_id, hashlib.sha256(weights).hexdigest())
    return adapter_id, write_adapter(tmp_path / adapter_id, weights)


def critical_records(sidecar: Sidecar) -> list[dict[str, Any]]:
    return [r for r in sidecar.audit_records() if r.get("action") == "adapters.apply" and r.get("severity") == "critical"]


def test_owner_request_may_use_its_adapter(check: AdapterCheck, adapter: tuple[str, Path]) -> None:
    adapter_id, path = adapter
    assert check.check(OWNER, "cmpl-1", adapter_id, str(path)) is None


def test_other_tenants_request_is_refused_a_private_adapter_and_it_is_audited_critical(check: AdapterCheck, adapter: tuple[str, Path], sidecar: Sidecar) -> None:
    adapter_id, path = adapter
    before = len(critical_records(sidecar))
    assert check.check(OTHER, "cmpl-2", f"{OWNER}/{adapter_id}", str(path)) == "adapter_not_permitted"
    assert len(critical_records(sidecar)) == before + 1
    # A bare id names OTHER's own namespace, where there is no such adapter (issue 20.5).
    assert check.check(OTHER, "cmpl-2b", adapter_id, str(path)) == "adapter_unknown"


def test_public_adapter_is_allowed_for_other_tenants(check: AdapterCheck, sidecar: Sidecar, tmp_path: Path) -> None:
    weights = fake_weights()
    adapter_id = f"public-lora-{uuid.uuid4().hex[:8]}"
    register(sidecar, OWNER, adapter_id, hashlib.sha256(weights).hexdigest(), public=True)
    path = write_adapter(tmp_path / adapter_id, weights)
    # Shared under its owner-qualified id; the owner may use either form (issue 20.5).
    assert check.check(OTHER, "cmpl-3", f"{OWNER}/{adapter_id}", str(path)) is None
    assert check.check("enterprise-demo", "cmpl-4", f"{OWNER}/{adapter_id}", str(path)) is None
    assert check.check(OWNER, "cmpl-5", adapter_id, str(path)) is None
    assert check.check(OWNER, "cmpl-5b", f"{OWNER}/{adapter_id}", str(path)) is None
    assert check.check(OTHER, "cmpl-5c", adapter_id, str(path)) == "adapter_unknown"


def test_changed_weights_file_is_refused_as_digest_mismatch_even_with_same_size_and_mtime(check: AdapterCheck, adapter: tuple[str, Path]) -> None:
    adapter_id, path = adapter
    weights = path / "adapter_model.safetensors"
    assert check.check(OWNER, "cmpl-6", adapter_id, str(path)) is None  # digest now cached
    original = weights.stat()
    tampered = bytearray(weights.read_bytes())
    tampered[-1] ^= 0xFF
    weights.write_bytes(bytes(tampered))
    os.utime(weights, ns=(original.st_atime_ns, original.st_mtime_ns))  # same size, same mtime
    assert weights.stat().st_size == original.st_size and weights.stat().st_mtime_ns == original.st_mtime_ns
    assert check.check(OWNER, "cmpl-7", adapter_id, str(path)) == "digest_mismatch"


def test_replaced_weights_file_is_refused_as_digest_mismatch(check: AdapterCheck, adapter: tuple[str, Path]) -> None:
    adapter_id, path = adapter
    assert check.check(OWNER, "cmpl-8", adapter_id, str(path)) is None
    replacement = path / "replacement.tmp"
    replacement.write_bytes(fake_weights())
    os.replace(replacement, path / "adapter_model.safetensors")
    assert check.check(OWNER, "cmpl-9", adapter_id, str(path)) == "digest_mismatch"


def test_missing_weights_are_refused_with_a_clear_reason(check: AdapterCheck, adapter: tuple[str, Path], tmp_path: Path) -> None:
    adapter_id, path = adapter
    empty = tmp_path / "empty-adapter"
    empty.mkdir()
    (empty / "adapter_config.json").write_text("{}")
    refused = check.check(OWNER, "cmpl-10", adapter_id, str(empty))
    assert refused is not None and refused.startswith("adapter_weights_missing:") and "adapter_model.safetensors" in refused
    gone = check.check(OWNER, "cmpl-11", adapter_id, str(tmp_path / "no-such-dir"))
    assert gone is not None and gone.startswith("adapter_weights_missing:")
    hub_id = check.check(OWNER, "cmpl-12", adapter_id, "some-org/some-hub-adapter")
    assert hub_id is not None and hub_id.startswith("adapter_weights_missing:") and "not a local path" in hub_id
    (path / "adapter_model.safetensors").unlink()
    deleted = check.check(OWNER, "cmpl-13", adapter_id, str(path))
    assert deleted is not None and deleted.startswith("adapter_weights_missing:")


def test_weights_that_are_not_a_regular_file_are_refused(check: AdapterCheck, adapter: tuple[str, Path], tmp_path: Path) -> None:
    adapter_id, _ = adapter
    fifo = tmp_path / "adapter.fifo"
    os.mkfifo(fifo)  # opening it for reading would block without a writer: must not hang
    refused = check.check(OWNER, "cmpl-14", adapter_id, str(fifo))
    assert refused is not None and refused.startswith("adapter_weights_unreadable:") and "not a regular file" in refused
    device = check.check(OWNER, "cmpl-14b", adapter_id, "/dev/null")
    assert device is not None and device.startswith("adapter_weights_unreadable:")


def test_unknown_adapter_and_unknown_tenant_are_refused(check: AdapterCheck, adapter: tuple[str, Path]) -> None:
    adapter_id, path = adapter
    assert check.check(OWNER, "cmpl-15", "never-registered", str(path)) == "adapter_unknown"
    assert check.check("no-such-tenant", "cmpl-16", adapter_id, str(path)) == "TG_ERR_UNKNOWN_TENANT"


def test_invalid_adapter_id_or_tenant_is_refused_without_asking_the_sidecar(check: AdapterCheck, adapter: tuple[str, Path]) -> None:
    adapter_id, path = adapter
    for bad in ("Org/adapter", "a/b/c", "/adapter", "free-demo/", "adapter id"):
        bad_id = check.check(OWNER, "cmpl-17", bad, str(path))
        assert bad_id is not None and bad_id.startswith("adapter_id_invalid"), bad
    bad_tenant = check.check("Free-Demo", "cmpl-18", adapter_id, str(path))
    assert bad_tenant is not None and bad_tenant.startswith("tenant_invalid")


def test_request_ids_outside_the_sidecars_charset_are_still_checked(check: AdapterCheck, adapter: tuple[str, Path]) -> None:
    adapter_id, path = adapter
    client_chosen = "cmpl-" + "x" * 200 + "/with spaces?"
    assert check.check(OWNER, client_chosen, adapter_id, str(path)) is None
    assert check.check(OTHER, client_chosen, f"{OWNER}/{adapter_id}", str(path)) == "adapter_not_permitted"


def test_digest_is_of_the_file_vllm_loads_safetensors_first_then_bin_or_the_file_itself(check: AdapterCheck, tmp_path: Path) -> None:
    both = write_adapter(tmp_path / "both", b"safetensors weights")
    (both / "adapter_model.bin").write_bytes(b"pickled weights")
    assert check.digest(str(both)) == hashlib.sha256(b"safetensors weights").hexdigest()
    only_bin = write_adapter(tmp_path / "bin", b"pickled weights", name="adapter_model.bin")
    assert check.digest(str(only_bin)) == hashlib.sha256(b"pickled weights").hexdigest()
    only_pt = write_adapter(tmp_path / "pt", b"torch weights", name="adapter_model.pt")
    assert check.digest(str(only_pt)) == hashlib.sha256(b"torch weights").hexdigest()
    assert check.digest(str(both / "adapter_model.bin")) == hashlib.sha256(b"pickled weights").hexdigest()
    with pytest.raises(ValueError, match="adapter_weights_missing"):
        check.digest(str(tmp_path / "nothing"))


def test_large_weights_file_is_hashed_once(check: AdapterCheck, sidecar: Sidecar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = os.urandom(1024 * 1024) * 24  # 24 MiB
    adapter_id = f"big-lora-{uuid.uuid4().hex[:8]}"
    register(sidecar, OWNER, adapter_id, hashlib.sha256(weights).hexdigest())
    path = write_adapter(tmp_path / adapter_id, weights)
    hashed: list[int] = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args: Any, **kwargs: Any) -> Any:
        hashed.append(1)
        return real_sha256(*args, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting_sha256)  # the module lora.py hashes with
    for i in range(5):
        assert check.check(OWNER, f"cmpl-big-{i}", adapter_id, str(path)) is None
    assert check.check(OTHER, "cmpl-big-other", f"{OWNER}/{adapter_id}", str(path)) == "adapter_not_permitted"
    assert len(hashed) == 1


def test_one_step_is_one_sidecar_call_and_one_bad_item_does_not_refuse_the_others(check: AdapterCheck, adapter: tuple[str, Path], sidecar: Sidecar) -> None:
    adapter_id, path = adapter
    queries = [
        AdapterQuery(OWNER, "step-a", adapter_id, str(path)),
        AdapterQuery(OTHER, "step-b", f"{OWNER}/{adapter_id}", str(path)),
        AdapterQuery(OWNER, "step-c", adapter_id, str(path / "missing")),
    ]
    before = sum(1 for r in sidecar.audit_records() if r.get("action") == "adapters.apply")
    answers = check.check_many(queries)
    assert answers[0] is None and answers[1] == "adapter_not_permitted"
    assert answers[2] is not None and answers[2].startswith("adapter_weights_missing:")
    assert sum(1 for r in sidecar.audit_records() if r.get("action") == "adapters.apply") == before + 1
    # An unknown tenant makes the sidecar refuse a whole batch (404): the others are still decided.
    mixed = check.check_many([AdapterQuery("no-such-tenant", "step-d", adapter_id, str(path)), AdapterQuery(OWNER, "step-e", adapter_id, str(path))])
    assert mixed == ["TG_ERR_UNKNOWN_TENANT", None]


def test_unreachable_or_stopped_sidecar_is_refused(tmp_path: Path) -> None:
    nowhere = SidecarClient(SidecarEndpoint(socket_path=str(tmp_path / "nothing-here.sock")))
    weights = fake_weights()
    path = write_adapter(tmp_path / "lora", weights)
    assert AdapterCheck(nowhere).check(OWNER, "cmpl-19", "any-lora", str(path)) == "TG_ERR_UNREACHABLE"
    nowhere.close()

    own = start_sidecar(tmp_path / "own")
    client = SidecarClient(SidecarEndpoint(socket_path=own.socket_path))
    try:
        register(own, OWNER, "stopped-lora", hashlib.sha256(weights).hexdigest())
        check = AdapterCheck(client)
        assert check.check(OWNER, "cmpl-20", "stopped-lora", str(path)) is None
        stop_sidecar(own)
        assert check.check(OWNER, "cmpl-21", "stopped-lora", str(path)) == "TG_ERR_UNREACHABLE"
        assert check.check_many([AdapterQuery(OWNER, "cmpl-22", "stopped-lora", str(path)), AdapterQuery(OTHER, "cmpl-23", "stopped-lora", str(path))]) == ["TG_ERR_UNREACHABLE"] * 2
    finally:
        client.close()
        stop_sidecar(own)
