"""Turns each vLLM scheduler step into one ``POST /v1/steps`` and the answer into what the workers
must do. Kept apart from the connector class so the bookkeeping reads in one place: which blocks
each request holds in the sidecar's ledger, what is still to be released or confirmed, and which
requests were refused and how they are made to fail."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .client import ClaimOp, ReleaseOp, ScrubbedOp, SidecarClient, SidecarError, StepOp

if TYPE_CHECKING:
    from vllm.v1.core.sched.output import SchedulerOutput

logger = logging.getLogger("tenantguard_vllm")


@dataclass
class StepOutcome:
    step: int
    #: Blocks the workers zero before this step's forward pass (I2).
    scrub: list[int] = field(default_factory=list)
    #: Computed blocks of refused requests, reported as KV load errors so vLLM fails the requests.
    fail_blocks: list[int] = field(default_factory=list)


@dataclass
class _Claim:
    request_id: str
    tenant: str | None
    hits: list[int]
    fresh: list[int]


class StepPlanner:
    def __init__(self, client: SidecarClient, block_size: int) -> None:
        self._client = client
        self._block_size = block_size
        self._step = 0
        self._tenant: dict[str, str | None] = {}
        self._local_hit_tokens: dict[str, int] = {}
        #: Blocks each request holds in the sidecar's ledger (acknowledged claims only).
        self.held: dict[str, list[int]] = {}
        self._held_tenant: dict[str, str] = {}
        self._releases: list[ReleaseOp] = []
        self._zeroed: set[int] = set()
        #: Block → the use epoch the sidecar listed it for scrubbing in; its confirmation names it.
        self._scrub_epochs: dict[int, int] = {}
        #: Requests refused at step time without computed blocks: failed in the next step.
        self._fail_next: dict[str, int] = {}
        #: Fresh blocks of refused claims: the request still writes them in its last forward pass,
        #: unknown to the ledger, so they are zeroed once vLLM takes them back (I2).
        self._unclaimed: dict[str, list[int]] = {}
        self._zero_next: set[int] = set()
        #: request id → TG_ERR_* code of its refusal.
        self.refusals: dict[str, str] = {}
        #: Seconds spent in the last step's sidecar call (the connector's added time per step).
        self.last_call_seconds = 0.0
        self.calls = 0

    def admitted(self, request_id: str, tenant: str | None, local_hit_tokens: int) -> None:
        """The gate let the request through; `local_hit_tokens` come from vLLM's prefix cache."""
        self._tenant[request_id] = tenant
        self._local_hit_tokens[request_id] = local_hit_tokens

    def zeroed(self, blocks: frozenset[int]) -> None:
        self._zeroed.update(blocks)

    def finished(self, request_id: str) -> None:
        """vLLM is about to free the request's blocks: give them back in the next step's call."""
        self._queue_release(request_id)
        self._zero_next.update(self._unclaimed.pop(request_id, ()))
        self._tenant.pop(request_id, None)
        self._local_hit_tokens.pop(request_id, None)
        self._fail_next.pop(request_id, None)

    def plan_and_send(self, output: SchedulerOutput) -> StepOutcome:
        self._step += 1
        outcome = StepOutcome(step=self._step)
        # A request refused last step fails now, through a block that is its own and computed.
        for request_id, block in list(self._fail_next.items()):
            if request_id in output.num_scheduled_tokens:
                outcome.fail_blocks.append(block)
                del self._fail_next[request_id]
        # Preempted requests lost their blocks in this very schedule() and other requests may
        # already have them: the releases go before the claims.
        for request_id in output.preempted_req_ids or ():
            self._queue_release(request_id)
            self._zero_next.update(self._unclaimed.pop(request_id, ()))
        # Zeroed before this step's forward pass, whoever vLLM gave them to in this schedule().
        zero_first = sorted(self._zero_next)
        self._zero_next.clear()
        outcome.scrub.extend(zero_first)
        claims = self._claims(output)

        ops: list[StepOp] = []
        # Only blocks the sidecar listed are confirmed, each for the use it was listed in. Blocks
        # zeroed for the engine's own sake (writes of refused claims) are unknown to the ledger.
        zeroed = sorted(b for b in self._zeroed if b in self._scrub_epochs)
        self._zeroed.difference_update([b for b in self._zeroed if b not in self._scrub_epochs])
        if zeroed:
            ops.append(ScrubbedOp(op="scrubbed", blocks=zeroed, epochs=[self._scrub_epochs[b] for b in zeroed]))
        releases = self._releases
        ops.extend(releases)
        first_claim = len(ops)
        sendable = [c for c in claims if c.tenant is not None]
        for claim in sendable:
            op = ClaimOp(op="claim", tenant=claim.tenant or "", request_id=claim.request_id, blocks=claim.fresh)
            if claim.hits:
                op["prefix_hits"] = claim.hits
            ops.append(op)
        for claim in claims:
            if claim.tenant is None:
                self._refuse(claim, "TG_ERR_UNATTRIBUTED", outcome)
        if not ops:
            return outcome

        started = time.perf_counter()
        try:
            answer = self._client.step(self._step, ops)
        except SidecarError as error:
            # Fail closed: nothing of this step is recorded, so no claim stands; releases and
            # confirmations are sent again with the next step.
            logger.error("tenantguard step %d refused as a whole: %s", self._step, error.code)
            for claim in sendable:
                self._refuse(claim, error.code, outcome)
            return outcome
        finally:
            self.last_call_seconds = time.perf_counter() - started
            self.calls += 1
        self._zeroed.difference_update(zeroed)
        for block in zeroed:
            del self._scrub_epochs[block]
        self._releases = []
        results = {int(r["index"]): r for r in answer["results"]}
        for index, sent in enumerate(ops[:first_claim]):
            result = results.get(index)
            if result is not None and not result["ok"]:
                logger.warning("tenantguard step %d: %s refused: %s", self._step, sent["op"], result.get("code"))
        for offset, claim in enumerate(sendable):
            result = results.get(first_claim + offset)
            if result is not None and result["ok"]:
                self.held.setdefault(claim.request_id, []).extend(claim.hits + claim.fresh)
                self._held_tenant[claim.request_id] = claim.tenant or ""
            else:
                self._refuse(claim, str(result.get("code", "TG_ERR_INTERNAL")) if result else "TG_ERR_INTERNAL", outcome)
        listed = set(outcome.scrub)
        for block, epoch in zip(answer["scrub"], answer["scrub_epochs"], strict=True):
            self._scrub_epochs[int(block)] = int(epoch)
            if int(block) not in listed:
                outcome.scrub.append(int(block))
        return outcome

    def _claims(self, output: SchedulerOutput) -> list[_Claim]:
        claims: list[_Claim] = []
        for new in output.scheduled_new_reqs:
            claims.append(self._with_hits(new.req_id, list(new.block_ids[0])))
        cached = output.scheduled_cached_reqs
        for index, request_id in enumerate(cached.req_ids):
            groups: Any = cached.new_block_ids[index]
            blocks = list(groups[0]) if groups else []
            if request_id in cached.resumed_req_ids:
                claims.append(self._with_hits(request_id, blocks))
            elif blocks:
                claims.append(_Claim(request_id, self._tenant.get(request_id), [], blocks))
        return [c for c in claims if c.hits or c.fresh]

    def _with_hits(self, request_id: str, blocks: list[int]) -> _Claim:
        """A new or resumed request: its first blocks are vLLM's local prefix-cache hits."""
        hits = self._local_hit_tokens.get(request_id, 0) // self._block_size
        return _Claim(request_id, self._tenant.get(request_id), blocks[:hits], blocks[hits:])

    def _refuse(self, claim: _Claim, code: str, outcome: StepOutcome) -> None:
        self.refusals[claim.request_id] = code
        logger.warning("tenantguard step %d: claim of request %s refused: %s", self._step, claim.request_id, code)
        held = self.held.get(claim.request_id)
        if claim.hits:
            # It would read these in this step's forward pass: fail it now (vLLM drops its output).
            outcome.fail_blocks.append(claim.hits[0])
        elif held:
            outcome.fail_blocks.append(held[-1])
        elif claim.fresh:
            self._fail_next[claim.request_id] = claim.fresh[0]
        self._unclaimed.setdefault(claim.request_id, []).extend(claim.fresh)

    def _queue_release(self, request_id: str) -> None:
        blocks = self.held.pop(request_id, None)
        tenant = self._held_tenant.pop(request_id, None)
        if blocks and tenant:
            self._releases.append(ReleaseOp(op="release", tenant=tenant, request_id=request_id, blocks=blocks))
