"""TenantGuardConnector: a vLLM v1 KV connector that puts every scheduler step's block choices in
front of the tenantguard sidecar (claim mode) and zeroes the blocks it says must be scrubbed.

Load it with::

    --kv-transfer-config '{"kv_connector":"TenantGuardConnector",
                           "kv_connector_module_path":"tenantguard_vllm.connector",
                           "kv_role":"kv_both",
                           "kv_connector_extra_config":{"tenantguard":{"socket_path":"/run/tenantguard/worker.sock"}}}'

Scheduler side (in vLLM's engine core, once per step, one ``POST /v1/steps``):
  * before a request's blocks are allocated (``get_num_new_matched_tokens``) it is attributed to a
    tenant from trusted sources only — ``kv_transfer_params["tenantguard"]["tenant"]`` set by the
    API-server middleware and the ``cache_salt`` the sidecar issued (checked with
    ``POST /v1/cache-salts/lookup``) — and its LoRA adapter is checked (A1). A request that cannot be
    attributed, whose salt belongs to another tenant (a forged cross-tenant prefix hit, I6) or whose
    adapter is refused never runs: it is routed through a KV "load" that fails, which vLLM ends
    with ``FINISHED_ERROR`` (``kv_load_failure_policy: "fail"``, vLLM's default, is required);
  * ``build_connector_meta`` sends the step's scrub confirmations, releases (finished and
    preempted requests) and claims (new and resumed requests' blocks with their local prefix hits,
    running requests' new blocks) in that order, and puts the returned scrub list in the metadata;
  * a claim the sidecar refuses fails its request through vLLM's invalid-block path: in the same
    step when the request has computed (prefix-hit) blocks, otherwise in the next step.

Worker side (every TP worker): ``bind_connector_metadata`` runs before the forward pass, so the
listed blocks are zeroed in every registered KV cache tensor before anything reads or writes them
(I2); the ids go back to the scheduler in the worker metadata and are confirmed with a ``scrubbed``
op in the next step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from vllm.distributed.kv_transfer.kv_connector.v1.base import (
    KVConnectorBase_V1,
    KVConnectorMetadata,
    KVConnectorRole,
    KVConnectorTransferResults,
    KVConnectorWorkerMetadata,
)

from .client import SidecarClient, SidecarEndpoint, SidecarError
from .steps import StepPlanner

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.v1.core.kv_cache_manager import KVCacheBlocks
    from vllm.v1.core.sched.output import SchedulerOutput
    from vllm.v1.kv_cache_interface import KVCacheConfig
    from vllm.v1.outputs import KVConnectorOutput
    from vllm.v1.request import Request

logger = logging.getLogger("tenantguard_vllm")

#: Key in a request's ``kv_transfer_params`` under which the middleware puts ``{"tenant": id}``.
TENANT_PARAM = "tenantguard"
#: How long a salt → tenant answer is trusted before it is asked again (a rotation retires a salt).
SALT_CACHE_SECONDS = 30.0


@dataclass
class TenantGuardConnectorMetadata(KVConnectorMetadata):  # type: ignore[misc]
    """Scheduler → workers, once per step."""

    step: int
    #: Blocks holding another tenant's (or contaminated) data: zero before the forward pass (I2).
    zero_blocks: list[int] = field(default_factory=list)
    #: Requests refused before allocation: reported back as failed KV loads (vLLM then fails them).
    refused_loads: list[str] = field(default_factory=list)
    #: A computed block of each request refused at step time: reported as a load error (fails it).
    invalid_blocks: list[int] = field(default_factory=list)


@dataclass
class TenantGuardWorkerMetadata(KVConnectorWorkerMetadata):  # type: ignore[misc]
    """Workers → scheduler: the blocks this worker zeroed in this step."""

    zeroed: frozenset[int] = frozenset()

    def aggregate(self, other: KVConnectorWorkerMetadata) -> KVConnectorWorkerMetadata:
        # Under tensor parallelism each worker zeroes its own shard: a block is scrubbed only once
        # every worker says so.
        if not isinstance(other, TenantGuardWorkerMetadata):
            return self
        return TenantGuardWorkerMetadata(self.zeroed & other.zeroed)


class TenantGuardConnector(KVConnectorBase_V1):  # type: ignore[misc]
    def __init__(self, vllm_config: VllmConfig, role: KVConnectorRole, kv_cache_config: KVCacheConfig | None = None) -> None:
        super().__init__(vllm_config=vllm_config, role=role, kv_cache_config=kv_cache_config)
        transfer = vllm_config.kv_transfer_config
        options: dict[str, Any] = dict(transfer.get_from_extra_config(TENANT_PARAM, {}) or {})
        if transfer.kv_load_failure_policy != "fail":
            raise ValueError(
                'tenantguard: kv_load_failure_policy must be "fail" (the default): refused requests are ended through '
                "vLLM's KV-load failure path, and with \"recompute\" they would be retried forever instead"
            )
        if kv_cache_config is not None and len(kv_cache_config.kv_cache_groups) != 1:
            raise ValueError(
                "tenantguard: claim mode supports models with one KV cache group (full attention); "
                f"this model has {len(kv_cache_config.kv_cache_groups)}"
            )
        self._block_size: int = int(vllm_config.cache_config.block_size)
        self._num_blocks: int | None = int(kv_cache_config.num_blocks) if kv_cache_config is not None else None
        self._kv_caches: dict[str, torch.Tensor] = {}
        self._zeroed: set[int] = set()
        self._refused_loads: list[str] = []
        self._invalid_blocks: set[int] = set()
        self._client: SidecarClient | None = None
        self._planner: StepPlanner | None = None
        self._adapters: Any = None
        if role == KVConnectorRole.SCHEDULER:
            self._client = SidecarClient(SidecarEndpoint.from_config(options), timeout_s=float(options.get("timeout_s", 5.0)))
            self._planner = StepPlanner(self._client, self._block_size)
            self._require_salt = bool(options.get("require_cache_salt", True))
            self._salt_tenants: dict[str, tuple[str, float]] = {}
            #: request id → tenant, or the refusal code for requests that must not run.
            self._verdicts: dict[str, tuple[str | None, str | None]] = {}

    @property
    def requires_kv_delivery(self) -> bool:
        return False

    # ───────────────────────────── scheduler side ─────────────────────────────

    def get_num_new_matched_tokens(self, request: Request, num_computed_tokens: int) -> tuple[int | None, bool]:
        """Not a cache lookup: the gate every request passes before its blocks are allocated."""
        planner = self._require_planner()
        tenant, refusal = self._verdict(request)
        if refusal is None:
            assert tenant is not None
            planner.admitted(request.request_id, tenant, local_hit_tokens=num_computed_tokens)
            return 0, False
        if int(request.num_tokens) - num_computed_tokens >= 1:
            # One "external" token loaded asynchronously: vLLM parks the request until the load
            # completes; the worker reports the load failed and vLLM finishes it with an error. It
            # never reaches a forward pass, so it reads nothing.
            return 1, True
        # Nothing left to park it on (vLLM always leaves a token to compute, so this is a guard):
        # it is scheduled unattributed, its claim is refused and it is failed in that step.
        planner.admitted(request.request_id, None, local_hit_tokens=num_computed_tokens)
        return 0, False

    def update_state_after_alloc(self, request: Request, blocks: KVCacheBlocks, num_external_tokens: int) -> None:
        if num_external_tokens > 0 and self._verdicts.get(request.request_id, (None, None))[1] is not None:
            self._refused_loads.append(request.request_id)

    def build_connector_meta(self, scheduler_output: SchedulerOutput) -> KVConnectorMetadata:
        planner = self._require_planner()
        outcome = planner.plan_and_send(scheduler_output)
        refused, self._refused_loads = self._refused_loads, []
        return TenantGuardConnectorMetadata(
            step=outcome.step,
            zero_blocks=outcome.scrub,
            refused_loads=refused,
            invalid_blocks=outcome.fail_blocks,
        )

    def update_connector_output(self, connector_output: KVConnectorOutput) -> None:
        meta = connector_output.kv_connector_worker_meta
        if isinstance(meta, TenantGuardWorkerMetadata) and meta.zeroed:
            self._require_planner().zeroed(meta.zeroed)

    def request_finished(self, request: Request, block_ids: list[int]) -> tuple[bool, dict[str, Any] | None]:
        self._require_planner().finished(request.request_id)
        self._verdicts.pop(request.request_id, None)
        return False, None

    def refusal_of(self, request_id: str) -> str | None:
        """Why a request was refused (a TG_ERR_* code), if it was; for logs and tests."""
        planner = self._require_planner()
        code = planner.refusals.get(request_id)
        if code is not None:
            return code
        verdict = self._verdicts.get(request_id)
        return verdict[1] if verdict is not None else None

    @property
    def planner(self) -> StepPlanner:
        return self._require_planner()

    def shutdown(self) -> None:
        if self._client is not None:
            self._client.close()

    def _verdict(self, request: Request) -> tuple[str | None, str | None]:
        known = self._verdicts.get(request.request_id)
        if known is not None:
            return known
        verdict = self._attribute(request)
        if verdict[1] is None and verdict[0] is not None and request.lora_request is not None:
            lora = request.lora_request
            refusal = self._adapter_check().check(verdict[0], request.request_id, str(lora.lora_name), str(lora.lora_path))
            if refusal is not None:
                verdict = (verdict[0], refusal)
        if verdict[1] is not None:
            self._require_planner().refusals[request.request_id] = verdict[1]
            # The request id is the engine's; the code says why. No salt, no prompt (L1).
            logger.warning("tenantguard refused request %s before allocation: %s", request.request_id, verdict[1])
        self._verdicts[request.request_id] = verdict
        return verdict

    def _attribute(self, request: Request) -> tuple[str | None, str | None]:
        """The tenant of a request from trusted sources only, or why it has none (never the prompt)."""
        params = request.kv_transfer_params
        claimed = params.get(TENANT_PARAM) if isinstance(params, dict) else None
        tenant = claimed.get("tenant") if isinstance(claimed, dict) else None
        if tenant is not None and not isinstance(tenant, str):
            return None, "TG_ERR_UNATTRIBUTED"
        salt = request.cache_salt
        if salt is None:
            if tenant is None or self._require_salt:
                return tenant, "TG_ERR_UNATTRIBUTED"
            return tenant, None
        try:
            salt_tenant = self._tenant_of_salt(salt)
        except SidecarError as error:
            return tenant, error.code
        if tenant is not None and tenant != salt_tenant:
            # The request carries another tenant's salt: its prefix hits would read that tenant's
            # blocks (I6).
            return tenant, "TG_ERR_NOT_OWNER"
        return salt_tenant, None

    def _adapter_check(self) -> Any:
        # Imported on the first LoRA request: deployments without adapters never load it.
        if self._adapters is None:
            from .lora import AdapterCheck

            assert self._client is not None
            self._adapters = AdapterCheck(self._client)
        return self._adapters

    def _tenant_of_salt(self, salt: str) -> str:
        now = time.monotonic()
        cached = self._salt_tenants.get(salt)
        if cached is not None and now - cached[1] < SALT_CACHE_SECONDS:
            return cached[0]
        assert self._client is not None
        tenant = self._client.tenant_for_cache_salt(salt)
        if len(self._salt_tenants) > 4096:
            self._salt_tenants.clear()
        self._salt_tenants[salt] = (tenant, now)
        return tenant

    def _require_planner(self) -> StepPlanner:
        if self._planner is None:
            raise RuntimeError("tenantguard: scheduler-side method called on a worker-side connector")
        return self._planner

    # ───────────────────────────── worker side ─────────────────────────────

    def register_kv_caches(self, kv_caches: dict[str, torch.Tensor]) -> None:
        self._kv_caches = dict(kv_caches)

    def bind_connector_metadata(self, connector_metadata: KVConnectorMetadata) -> None:
        # Runs before the forward pass in both of vLLM's model runners (start_load_kv may run after
        # it), so zeroing here orders the scrub before any read or write of the block (I2).
        super().bind_connector_metadata(connector_metadata)
        assert isinstance(connector_metadata, TenantGuardConnectorMetadata)
        if connector_metadata.zero_blocks:
            zero_kv_blocks(self._kv_caches, connector_metadata.zero_blocks, self._num_blocks)
            self._zeroed.update(connector_metadata.zero_blocks)
        self._refused_loads = list(connector_metadata.refused_loads)
        self._invalid_blocks = set(connector_metadata.invalid_blocks)

    def start_load_kv(self, forward_context: Any, **kwargs: Any) -> None:
        return None

    def wait_for_layer_load(self, layer_name: str) -> None:
        return None

    def save_kv_layer(self, layer_name: str, kv_layer: torch.Tensor, attn_metadata: Any, **kwargs: Any) -> None:
        return None

    def wait_for_save(self) -> None:
        return None

    def get_transfer_results(self, finished_req_ids: set[str]) -> KVConnectorTransferResults:
        refused = set(self._refused_loads)
        self._refused_loads = []
        return KVConnectorTransferResults(finished_recving=refused, failed_recving=set(refused))

    def get_block_ids_with_load_errors(self) -> set[int]:
        invalid, self._invalid_blocks = self._invalid_blocks, set()
        return invalid

    def build_connector_worker_meta(self) -> KVConnectorWorkerMetadata | None:
        if not self._zeroed:
            return None
        zeroed, self._zeroed = frozenset(self._zeroed), set()
        return TenantGuardWorkerMetadata(zeroed)


def zero_kv_blocks(kv_caches: dict[str, torch.Tensor], block_ids: list[int], num_blocks: int | None) -> None:
    """Zero whole blocks in every layer's KV tensor. The block axis is the first whose length is the
    pool size (FlashAttention lays caches out as (2, blocks, ...), others as (blocks, 2, ...)); a
    kernel block size smaller than the scheduler's shows as a multiple of it."""
    for name, tensor in kv_caches.items():
        axis, per_block = _block_axis(tensor, num_blocks)
        if axis is None:
            raise RuntimeError(f"tenantguard: cannot find the block axis of KV cache {name} with shape {tuple(tensor.shape)}")
        index = torch.tensor(
            [b * per_block + k for b in block_ids for k in range(per_block)],
            dtype=torch.long,
            device=tensor.device,
        )
        tensor.index_fill_(axis, index, 0)


def _block_axis(tensor: torch.Tensor, num_blocks: int | None) -> tuple[int | None, int]:
    if num_blocks is None:
        return 0, 1
    for axis, size in enumerate(tensor.shape):
        if size == num_blocks:
            return axis, 1
    for axis, size in enumerate(tensor.shape):
        if size > num_blocks and size % num_blocks == 0:
            return axis, size // num_blocks
    return None, 1
