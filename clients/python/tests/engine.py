"""vLLM's own v1 scheduler and KV cache manager, driven step by step on CPU with the
TenantGuardConnector on both sides, the way vLLM's engine core and model runner call it.

What is real: vLLM's Scheduler, KVCacheManager, block pool, prefix cache and preemption; the
connector; the sidecar (a separate process). What stands in for the GPU: ``forward()`` writes each
request's tenant marker into the KV positions it computes, in a real torch tensor with vLLM's
FlashAttention layout (2, blocks, block_size, heads, head_dim), and checks every position a request
attends to holds its own tenant's data — so a cross-tenant read is seen the moment it happens."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from vllm.config import CacheConfig, DeviceConfig, KVTransferConfig, LoRAConfig, ModelConfig, SchedulerConfig, VllmConfig
from vllm.lora.request import LoRARequest
from vllm.distributed.kv_transfer.kv_connector.v1.base import KVConnectorRole
from vllm.sampling_params import SamplingParams
from vllm.utils.hashing import get_hash_fn_by_name
from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
from vllm.v1.core.sched.output import SchedulerOutput
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
from vllm.v1.outputs import KVConnectorOutput, ModelRunnerOutput
from vllm.v1.request import Request, RequestStatus
from vllm.v1.structured_output import StructuredOutputManager

from vllm.distributed.kv_transfer.kv_connector.factory import KVConnectorFactory
from vllm.distributed.kv_transfer.kv_connector.v1.multi_connector import MultiConnector, MultiKVConnectorMetadata

from tenantguard_vllm.connector import TenantGuardConnector, TenantGuardConnectorMetadata

BLOCK_SIZE = 16
TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "torch_dtype": "float16",
    "bos_token_id": 1,
    "eos_token_id": 2,
}


@dataclass
class StepReport:
    output: SchedulerOutput
    meta: TenantGuardConnectorMetadata
    #: Fresh blocks a tenant got this step that held another tenant's marker before the step.
    cross_tenant_reuse: set[int] = field(default_factory=set)
    #: Fresh blocks a tenant got that held its own marker.
    same_tenant_reuse: set[int] = field(default_factory=set)
    finished: dict[str, str] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        model_dir: Path,
        socket_path: str,
        num_blocks: int,
        max_num_seqs: int = 8,
        extra: dict[str, Any] | None = None,
        transfer: dict[str, Any] | None = None,
        max_loras: int = 0,
    ) -> None:
        """`transfer` is a whole --kv-transfer-config (e.g. a MultiConnector); by default the
        connector alone on `socket_path`."""
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.json").write_text(json.dumps(TINY_LLAMA))
        self.num_blocks = num_blocks
        transfer_config = KVTransferConfig(
            **(
                transfer
                or {
                    "kv_connector": "TenantGuardConnector",
                    "kv_connector_module_path": "tenantguard_vllm.connector",
                    "kv_role": "kv_both",
                    "kv_connector_extra_config": {"tenantguard": {"socket_path": socket_path, **(extra or {})}},
                }
            )
        )
        self.vllm_config = VllmConfig(
            model_config=ModelConfig(model=str(model_dir), skip_tokenizer_init=True, dtype="float16", seed=0, max_model_len=4096),
            scheduler_config=SchedulerConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=4096, max_model_len=4096, is_encoder_decoder=False),
            cache_config=CacheConfig(block_size=BLOCK_SIZE, enable_prefix_caching=True),
            device_config=DeviceConfig("cpu"),
            kv_transfer_config=transfer_config,
            **({"lora_config": LoRAConfig(max_loras=max_loras, max_lora_rank=8)} if max_loras else {}),
        )
        self.vllm_config.cache_config.num_gpu_blocks = num_blocks
        self.kv_cache_config = KVCacheConfig(
            num_blocks=num_blocks,
            kv_cache_tensors=[],
            kv_cache_groups=[KVCacheGroupSpec(["layer.0"], FullAttentionSpec(block_size=BLOCK_SIZE, num_kv_heads=1, head_size=4, dtype=torch.float32))],
        )
        self.scheduler = Scheduler(
            vllm_config=self.vllm_config,
            kv_cache_config=self.kv_cache_config,
            log_stats=False,
            structured_output_manager=StructuredOutputManager(self.vllm_config),
            block_size=BLOCK_SIZE,
        )
        self.connector: TenantGuardConnector = ours(self.scheduler.connector)
        # The worker-side connector as vLLM's model runner creates it (the same factory).
        self.worker = KVConnectorFactory.create_connector(self.vllm_config, KVConnectorRole.WORKER, self.kv_cache_config)
        # One layer in FlashAttention's layout; the marker of a tenant fills every value it writes.
        self.kv = torch.zeros(2, num_blocks, BLOCK_SIZE, 1, 4)
        self.worker.register_kv_caches({"layer.0": self.kv})
        hash_fn = get_hash_fn_by_name("sha256")
        init_none_hash(hash_fn)
        self._hasher = get_request_block_hasher(BLOCK_SIZE, hash_fn)
        self.tenant_of: dict[str, str] = {}
        self.marker: dict[str, float] = {}
        self.leaks: list[str] = []
        self.steps = 0

    def marker_of(self, tenant: str) -> float:
        return self.marker.setdefault(tenant, float(len(self.marker) + 1))

    def add(
        self,
        request_id: str,
        tenant: str,
        prompt: list[int],
        max_tokens: int,
        cache_salt: str | None,
        claimed_tenant: str | None = None,
        lora: LoRARequest | None = None,
    ) -> None:
        """A request as the API server hands it over: the middleware put the tenant in
        kv_transfer_params and the tenant's salt in cache_salt (a forged request differs)."""
        params = SamplingParams(max_tokens=max_tokens, ignore_eos=True, extra_args={"kv_transfer_params": {"tenantguard": {"tenant": claimed_tenant or tenant}}})
        request = Request(request_id=request_id, prompt_token_ids=prompt, sampling_params=params, pooling_params=None, cache_salt=cache_salt, block_hasher=self._hasher, lora_request=lora)
        self.tenant_of[request_id] = tenant
        self.marker_of(tenant)
        self.scheduler.add_request(request)

    def step(self) -> StepReport:
        before = self.kv[0, :, 0, 0, 0].clone()  # each block's first value: whose data it holds
        output = self.scheduler.schedule()
        self.steps += 1
        bound = output.kv_connector_metadata
        meta = bound.metadata[0] if isinstance(bound, MultiKVConnectorMetadata) else bound
        assert isinstance(meta, TenantGuardConnectorMetadata)
        report = StepReport(output=output, meta=meta)
        for request_id, blocks in self._fresh_blocks(output).items():
            mine = self.marker[self.tenant_of[request_id]]
            for block in blocks:
                if float(before[block]) not in (0.0, mine):
                    report.cross_tenant_reuse.add(block)
                elif float(before[block]) == mine:
                    report.same_tenant_reuse.add(block)
        # The worker side, as vLLM's model runner calls it: bind (zeroes) → forward → outputs.
        self.worker.bind_connector_metadata(bound)
        for block in meta.zero_blocks:
            assert torch.count_nonzero(self.kv[:, block]) == 0, f"block {block} listed for scrub but not zeroed"
        self._forward(output)
        transfer = self.worker.get_transfer_results(output.finished_req_ids)
        connector_output = KVConnectorOutput(
            finished_recving=transfer.finished_recving,
            failed_recving=transfer.failed_recving,
            invalid_block_ids=self.worker.get_block_ids_with_load_errors(),
            kv_connector_worker_meta=self.worker.build_connector_worker_meta(),
        )
        self.worker.clear_connector_metadata()
        scheduled = list(output.num_scheduled_tokens)
        runner_output = ModelRunnerOutput(
            req_ids=scheduled,
            req_id_to_index={r: i for i, r in enumerate(scheduled)},
            sampled_token_ids=[[7] if self._completes_prefill(r, output) else [] for r in scheduled],
            kv_connector_output=connector_output,
        )
        engine_outputs = self.scheduler.update_from_output(output, runner_output)
        for outputs in engine_outputs.values():
            for out in outputs.outputs:
                if out.finish_reason is not None:
                    report.finished[out.request_id] = str(out.finish_reason)
        return report

    def run_until_idle(self, max_steps: int = 400) -> list[StepReport]:
        reports = []
        while self.scheduler.has_requests() and len(reports) < max_steps:
            reports.append(self.step())
        assert not self.scheduler.has_requests(), "engine did not drain"
        return reports

    def block_table(self) -> dict[str, list[int]]:
        """vLLM's block table of every running request."""
        table = {}
        for request in self.scheduler.running:
            (blocks,) = self.scheduler.kv_cache_manager.get_block_ids(request.request_id)
            table[request.request_id] = list(blocks)
        return table

    def status(self, request_id: str) -> RequestStatus | None:
        request = self.scheduler.requests.get(request_id)
        return request.status if request is not None else None

    def _fresh_blocks(self, output: SchedulerOutput) -> dict[str, list[int]]:
        planner = self.connector.planner
        fresh: dict[str, list[int]] = {}
        for new in output.scheduled_new_reqs:
            hits = planner._local_hit_tokens.get(new.req_id, 0) // BLOCK_SIZE
            fresh[new.req_id] = list(new.block_ids[0])[hits:]
        cached = output.scheduled_cached_reqs
        for i, request_id in enumerate(cached.req_ids):
            groups = cached.new_block_ids[i]
            blocks = list(groups[0]) if groups else []
            if request_id in cached.resumed_req_ids:
                blocks = blocks[planner._local_hit_tokens.get(request_id, 0) // BLOCK_SIZE :]
            fresh[request_id] = blocks
        return fresh

    def _completes_prefill(self, request_id: str, output: SchedulerOutput) -> bool:
        request = self.scheduler.requests[request_id]
        # schedule() already advanced num_computed_tokens by the scheduled count.
        return bool(request.num_computed_tokens >= request.num_tokens)

    def _forward(self, output: SchedulerOutput) -> None:
        for request_id, count in output.num_scheduled_tokens.items():
            request = self.scheduler.requests[request_id]
            (blocks,) = self.scheduler.kv_cache_manager.get_block_ids(request_id)
            mine = self.marker[self.tenant_of[request_id]]
            start = request.num_computed_tokens - count  # schedule() already counted this step
            # Attention reads every earlier position of the request: all must be its tenant's data.
            for pos in range(start):
                value = float(self.kv[0, blocks[pos // BLOCK_SIZE], pos % BLOCK_SIZE, 0, 0])
                if value != mine:
                    self.leaks.append(f"step {self.steps}: {request_id} ({self.tenant_of[request_id]}) read {value} at position {pos} of block {blocks[pos // BLOCK_SIZE]}")
                    break
            for pos in range(start, start + count):
                self.kv[:, blocks[pos // BLOCK_SIZE], pos % BLOCK_SIZE] = mine


def ledger_requests(view: dict[str, Any]) -> dict[str, list[int]]:
    """The sidecar's live claim-mode requests as {request_id: sorted blocks}."""
    return {r["request_id"]: sorted(r["blocks"]) for r in view["requests"]}


def owners(view: dict[str, Any]) -> dict[int, tuple[str, str | None]]:
    return {b["id"]: (b["state"], b["tenant"]) for b in view["blocks"]}


def ours(connector: Any) -> TenantGuardConnector:
    """The TenantGuardConnector, alone or as the first child of a MultiConnector."""
    if isinstance(connector, MultiConnector):
        connector = connector._connectors[0]
    assert isinstance(connector, TenantGuardConnector)
    return connector
