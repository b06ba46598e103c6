"""The connector inside vLLM's real v1 scheduler and KV cache manager, against a real sidecar:
several tenants with shared system prompts, prefix caching and preemption on a small pool."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Sidecar, start_sidecar, stop_sidecar
from engine import BLOCK_SIZE, Engine, StepReport, ledger_requests, owners

from tenantguard_vllm.client import SidecarClient, SidecarEndpoint

TENANTS = ["free-demo", "standard-demo", "third-demo"]
THIRD_TENANT = "  - id: third-demo\n    tier: standard\n"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    running = start_sidecar(tmp_path_factory.mktemp("tg"), blocks=48, extra_tenants=THIRD_TENANT)
    try:
        yield running
    finally:
        stop_sidecar(running)


@pytest.fixture(scope="module")
def salts(sidecar: Sidecar) -> dict[str, str]:
    client = SidecarClient(SidecarEndpoint(socket_path=sidecar.socket_path))
    try:
        return {tenant: client.cache_salt(tenant) for tenant in TENANTS}
    finally:
        client.close()


def check_ledger_agrees(engine: Engine, sidecar: Sidecar) -> None:
    """After schedule(): every running request holds in the ledger exactly its vLLM block table,
    and every block it holds is owned by its tenant."""
    view = sidecar.ledger()
    refused = engine.connector.planner.refusals
    table = {r: sorted(b) for r, b in engine.block_table().items() if r not in refused}
    # The ledger knows each request by its recorded id (a keyed digest of vLLM's request id).
    assert ledger_requests(view) == {sidecar.recorded_id("request", engine.tenant_of[r], r): b for r, b in table.items()}
    state = owners(view)
    for request_id, blocks in table.items():
        for block in blocks:
            assert state[block] == ("owned", engine.tenant_of[request_id]), f"block {block} of {request_id}"


def run_checked(engine: Engine, sidecar: Sidecar, max_steps: int = 600) -> list[StepReport]:
    reports: list[StepReport] = []
    original = engine.scheduler.schedule

    def schedule_and_check() -> object:
        output = original()
        check_ledger_agrees(engine, sidecar)
        return output

    engine.scheduler.schedule = schedule_and_check  # type: ignore[method-assign]
    try:
        while engine.scheduler.has_requests() and len(reports) < max_steps:
            reports.append(engine.step())
    finally:
        engine.scheduler.schedule = original  # type: ignore[method-assign]
    assert not engine.scheduler.has_requests(), "engine did not drain"
    return reports


def multi_tenant_trace(engine: Engine, salts: dict[str, str], requests: int = 36, seed: int = 7) -> None:
    """3 tenants, each with its own system prompt shared by its requests (prefix hits), prompts
    long enough and decodes long enough that a 24-block pool must preempt."""
    rng = random.Random(seed)
    system = {t: [1000 + 97 * i + k for k in range(3 * BLOCK_SIZE)] for i, t in enumerate(TENANTS)}
    for n in range(requests):
        tenant = TENANTS[n % len(TENANTS)]
        user = [rng.randrange(3, 900) for _ in range(rng.randrange(4, 2 * BLOCK_SIZE))]
        engine.add(f"{tenant}-{n}", tenant, system[tenant] + user, max_tokens=rng.randrange(16, 90), cache_salt=salts[tenant])


def test_cross_tenant_reuse_is_zeroed_before_the_forward_pass_and_same_tenant_reuse_is_not(tmp_path: Path, sidecar: Sidecar, salts: dict[str, str]) -> None:
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=24, max_num_seqs=8)
    multi_tenant_trace(engine, salts)
    reports = run_checked(engine, sidecar)

    assert engine.leaks == []  # no request ever attended to another tenant's KV
    cross = set().union(*(r.cross_tenant_reuse for r in reports))
    same = set().union(*(r.same_tenant_reuse for r in reports))
    assert cross and same, "the trace must reuse blocks both across and within tenants"
    for report in reports:
        # I2: every block that carried another tenant's data was listed and zeroed (engine.step
        # asserts the zeroing) before this step's forward pass ...
        assert report.cross_tenant_reuse <= set(report.meta.zero_blocks)
        # ... and a tenant getting its own data back costs no scrub.
        assert not (report.same_tenant_reuse & set(report.meta.zero_blocks))
    assert all(reason == "length" for r in reports for reason in r.finished.values())
    assert any(r.output.preempted_req_ids for r in reports), "the pool must be small enough to preempt"
    assert any(new.num_computed_tokens > 0 for r in reports for new in r.output.scheduled_new_reqs), "prefix hits expected"
    assert engine.connector.planner.refusals == {}
    # Everything was given back: the ledger holds no request, every block's data has a known owner.
    final = sidecar.ledger()
    assert final["requests"] == []
    assert all(b["state"] == "dirty" and b["tenant"] in TENANTS for b in final["blocks"])


def test_a_request_carrying_another_tenants_cache_salt_is_refused_before_it_runs(tmp_path: Path, sidecar: Sidecar, salts: dict[str, str]) -> None:
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=48)
    system = [2000 + k for k in range(3 * BLOCK_SIZE)]
    engine.add("victim", "free-demo", system + [5, 6, 7], max_tokens=30, cache_salt=salts["free-demo"])
    engine.step()
    # Attributed to standard-demo by the middleware, but with free-demo's salt: its prefix would hit
    # free-demo's cached system prompt (I6).
    engine.add("forged", "standard-demo", system + [8, 9], max_tokens=4, cache_salt=salts["free-demo"])
    reports = run_checked(engine, sidecar)
    assert engine.connector.refusal_of("forged") == "TG_ERR_NOT_OWNER"
    assert next(r.finished["forged"] for r in reports if "forged" in r.finished) == "error"
    assert not any("forged" in r.output.num_scheduled_tokens for r in reports), "a refused request never reaches a forward pass"
    assert engine.leaks == []


def test_unattributed_and_unknown_salt_requests_are_refused(tmp_path: Path, sidecar: Sidecar, salts: dict[str, str]) -> None:
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=48)
    engine.add("no-salt", "free-demo", list(range(10, 60)), max_tokens=3, cache_salt=None)
    engine.add("made-up-salt", "free-demo", list(range(10, 60)), max_tokens=3, cache_salt="A" * 43)
    engine.add("fine", "free-demo", list(range(10, 60)), max_tokens=3, cache_salt=salts["free-demo"])
    reports = run_checked(engine, sidecar)
    finished = {k: v for r in reports for k, v in r.finished.items()}
    assert finished == {"no-salt": "error", "made-up-salt": "error", "fine": "length"}
    assert engine.connector.refusal_of("no-salt") == "TG_ERR_UNATTRIBUTED"
    assert engine.connector.refusal_of("made-up-salt") == "TG_ERR_UNKNOWN_CACHE_SALT"


def test_without_salts_the_sidecar_itself_refuses_a_cross_tenant_prefix_hit(tmp_path: Path, sidecar: Sidecar) -> None:
    """The connector's salt check is switched off: vLLM's prefix cache is shared by tenants, so a
    second tenant's identical prompt hits the first tenant's blocks. The sidecar refuses that claim
    (I6) and the request is failed in the same step: whatever its forward pass read is dropped."""
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=48, extra={"require_cache_salt": False})
    prompt = [3000 + k for k in range(3 * BLOCK_SIZE + 5)]
    engine.add("owner", "free-demo", prompt, max_tokens=30, cache_salt=None)
    engine.step()
    engine.add("intruder", "standard-demo", prompt, max_tokens=5, cache_salt=None)
    reports = run_checked(engine, sidecar)
    assert engine.connector.refusal_of("intruder") == "TG_ERR_NOT_OWNER"
    failed_at = next(i for i, r in enumerate(reports) if "intruder" in r.finished)
    assert reports[failed_at].finished["intruder"] == "error"
    # It was scheduled exactly once (the step whose claim was refused) and failed in that step.
    assert [i for i, r in enumerate(reports) if "intruder" in r.output.num_scheduled_tokens] == [failed_at]
    # The emulated forward pass did read the owner's KV in that step, and vLLM returned no token.
    assert engine.leaks and all("intruder" in leak for leak in engine.leaks)
    # What it wrote into its own new blocks was never the ledger's to know: they are zeroed before
    # the next forward pass, whoever gets them.
    written = next(list(n.block_ids[0])[len(prompt) // BLOCK_SIZE :] for n in reports[failed_at].output.scheduled_new_reqs if n.req_id == "intruder")
    assert written and set(written) <= set(reports[failed_at + 1].meta.zero_blocks)
    critical = [r for r in sidecar.audit_records() if r["type"] == "violation" and r["action"] == "blocks.claim" and r.get("tenant") == "standard-demo"]
    assert critical, "the refusal is a critical audit record"


def test_a_sidecar_that_stops_answering_fails_new_work_closed(tmp_path: Path, salts: dict[str, str]) -> None:
    own = start_sidecar(tmp_path / "own", blocks=48, extra_tenants=THIRD_TENANT)
    try:
        client = SidecarClient(SidecarEndpoint(socket_path=own.socket_path))
        salt = client.cache_salt("free-demo")
        client.close()
        engine = Engine(tmp_path / "model", own.socket_path, num_blocks=48)
        engine.add("before", "free-demo", list(range(10, 40)), max_tokens=2, cache_salt=salt)
        engine.run_until_idle()
        stop_sidecar(own)
        engine.add("after", "free-demo", list(range(10, 40)) + [1], max_tokens=2, cache_salt=salt)
        reports = engine.run_until_idle()
        assert {k: v for r in reports for k, v in r.finished.items()} == {"after": "error"}
        assert engine.connector.refusal_of("after") == "TG_ERR_UNREACHABLE"
    finally:
        stop_sidecar(own)


def test_composed_with_another_connector_through_multiconnector(tmp_path: Path, sidecar: Sidecar, salts: dict[str, str]) -> None:
    """TenantGuardConnector first, vLLM's ExampleConnector (disk KV store) second: claims, scrubs
    and refusals still work through MultiConnector's metadata and worker-metadata wrapping."""
    transfer = {
        "kv_connector": "MultiConnector",
        "kv_role": "kv_both",
        "kv_connector_extra_config": {
            "connectors": [
                {
                    "kv_connector": "TenantGuardConnector",
                    "kv_connector_module_path": "tenantguard_vllm.connector",
                    "kv_role": "kv_both",
                    "kv_connector_extra_config": {"tenantguard": {"socket_path": sidecar.socket_path}},
                },
                {"kv_connector": "ExampleConnector", "kv_role": "kv_both", "kv_connector_extra_config": {"shared_storage_path": str(tmp_path / "kv")}},
            ]
        },
    }
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=24, max_num_seqs=8, transfer=transfer)
    multi_tenant_trace(engine, salts, requests=18, seed=3)
    engine.add("forged", "standard-demo", [1000 + k for k in range(3 * BLOCK_SIZE)] + [4], max_tokens=3, cache_salt=salts["free-demo"])
    reports = run_checked(engine, sidecar)
    assert engine.leaks == []
    assert any(r.meta.zero_blocks for r in reports)
    for report in reports:
        assert report.cross_tenant_reuse <= set(report.meta.zero_blocks)
    finished = {k: v for r in reports for k, v in r.finished.items()}
    assert finished.pop("forged") == "error"
    assert set(finished.values()) == {"length"}
    # Scrub confirmations travelled back through MultiConnector's worker metadata.
    assert any(r["action"] == "blocks.scrubbed" and r["decision"] == "allow" for r in sidecar.audit_records())


def test_the_kv_transfer_config_in_the_integration_guide_loads_this_connector(tmp_path: Path, sidecar: Sidecar) -> None:
    """docs/integrations/vllm.md's --kv-transfer-config, as a user copies it, builds this connector."""
    import json
    import re

    from conftest import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "integrations" / "vllm.md").read_text()
    shown = re.search(r"--kv-transfer-config '(.*?)'\$PWD'(.*?)'", guide, re.S)
    assert shown, "the guide shows a --kv-transfer-config"
    config = json.loads(shown.group(1) + "/unused" + shown.group(2))
    config["kv_connector_extra_config"]["tenantguard"]["socket_path"] = sidecar.socket_path
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=24, transfer=config)
    assert engine.vllm_config.kv_transfer_config.kv_load_failure_policy == "fail"
    engine.add("doc", "free-demo", list(range(10, 50)), max_tokens=2, cache_salt=SidecarClient(SidecarEndpoint(socket_path=sidecar.socket_path)).cache_salt("free-demo"))
    assert {k: v for r in engine.run_until_idle() for k, v in r.finished.items()} == {"doc": "length"}


def test_a_lora_adapter_serves_only_requests_the_sidecar_allows(tmp_path: Path, sidecar: Sidecar, salts: dict[str, str]) -> None:
    """A1 before allocation: free-demo's private adapter runs for free-demo, not for standard-demo."""
    from test_lora import fake_weights, register, write_adapter
    from vllm.lora.request import LoRARequest

    from tenantguard_vllm.lora import AdapterCheck

    directory = write_adapter(tmp_path / "adapter", fake_weights())
    client = SidecarClient(SidecarEndpoint(socket_path=sidecar.socket_path))
    register(sidecar, "free-demo", "free-legal-v1", AdapterCheck(client).digest(str(directory)))
    client.close()
    engine = Engine(tmp_path / "model", sidecar.socket_path, num_blocks=24, max_loras=1)
    lora = LoRARequest(lora_name="free-legal-v1", lora_int_id=1, lora_path=str(directory))
    engine.add("own", "free-demo", list(range(10, 40)), max_tokens=2, cache_salt=salts["free-demo"], lora=lora)
    engine.add("borrowed", "standard-demo", list(range(10, 40)), max_tokens=2, cache_salt=salts["standard-demo"], lora=lora)
    reports = run_checked(engine, sidecar)
    assert {k: v for r in reports for k, v in r.finished.items()} == {"own": "length", "borrowed": "error"}
    # Adapter ids are per tenant (issue 20.5): the bare name is looked up in standard-demo's own namespace.
    assert engine.connector.refusal_of("borrowed") == "adapter_unknown"
    assert not any("borrowed" in r.output.num_scheduled_tokens for r in reports)
