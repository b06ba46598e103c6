"""Replays a multi-tenant trace through vLLM's real scheduler with the TenantGuardConnector and a
real sidecar, and reports (a) the connector's added time per scheduler step and (b) how many blocks
lazy scrubbing zeroes against eager zeroing of every freed block.

    .tools/venv/bin/python clients/python/bench/connector_trace.py [--requests 150] [--blocks 64]

The sidecar runs on the worker Unix socket with its durable audit log (one fsync per step). The
"forward pass" is the test harness's marker writer (tests/engine.py), so step times here are the
scheduler's and the connector's, not a model's."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import start_sidecar, stop_sidecar  # noqa: E402
from engine import BLOCK_SIZE, Engine  # noqa: E402

from tenantguard_vllm.client import SidecarClient, SidecarEndpoint  # noqa: E402

TENANTS = ["free-demo", "standard-demo", "third-demo"]
#: The seed's eager scrub: 2.5 ms to zero the 256 blocks of one request (docs/performance.md).
EAGER_MS_PER_BLOCK = 2.5 / 256


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--blocks", type=int, default=64)
    parser.add_argument("--seqs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(Path(tmp), blocks=args.blocks, extra_tenants="  - id: third-demo\n    tier: standard\n")
        try:
            client = SidecarClient(SidecarEndpoint(socket_path=sidecar.socket_path))
            salts = {t: client.cache_salt(t) for t in TENANTS}
            client.close()
            engine = Engine(Path(tmp) / "model", sidecar.socket_path, num_blocks=args.blocks, max_num_seqs=args.seqs)
            rng = random.Random(args.seed)
            system = {t: [1000 + 131 * i + k for k in range(4 * BLOCK_SIZE)] for i, t in enumerate(TENANTS)}
            for n in range(args.requests):
                tenant = rng.choice(TENANTS)
                user = [rng.randrange(3, 900) for _ in range(rng.randrange(4, 3 * BLOCK_SIZE))]
                engine.add(f"r{n}", tenant, system[tenant] + user, max_tokens=rng.randrange(16, 120), cache_salt=salts[tenant])

            connector = engine.connector
            original = connector.build_connector_meta
            step_ms: list[float] = []
            call_ms: list[float] = []
            own_ms: list[float] = []

            def timed(output: object) -> object:
                started = time.perf_counter()
                meta = original(output)
                whole = (time.perf_counter() - started) * 1000
                call = connector.planner.last_call_seconds * 1000
                step_ms.append(whole)
                own_ms.append(whole - call)
                if call:
                    call_ms.append(call)
                connector.planner.last_call_seconds = 0.0
                return meta

            connector.build_connector_meta = timed  # type: ignore[method-assign]
            started = time.perf_counter()
            reports = engine.run_until_idle(max_steps=20_000)
            wall = time.perf_counter() - started
        finally:
            stop_sidecar(sidecar)

    fresh = sum(len(_fresh(engine, r)) for r in reports)
    lazy = sum(len(r.meta.zero_blocks) for r in reports)
    cross = sum(len(r.cross_tenant_reuse) for r in reports)
    result = {
        "requests": args.requests,
        "pool_blocks": args.blocks,
        "max_num_seqs": args.seqs,
        "steps": len(reports),
        "sidecar_calls": len(call_ms),
        "preemptions": sum(len(r.output.preempted_req_ids or ()) for r in reports),
        "prefix_hit_blocks": sum(new.num_computed_tokens // BLOCK_SIZE for r in reports for new in r.output.scheduled_new_reqs),
        "connector_ms_per_step": _percentiles(step_ms),
        "sidecar_call_ms": _percentiles(call_ms),
        "connector_own_ms_per_step": _percentiles(own_ms),
        "blocks_claimed_fresh": fresh,
        "blocks_zeroed_lazy": lazy,
        "cross_tenant_reuses_seen": cross,
        "blocks_zeroed_eager": fresh,
        "zeroing_ms_lazy_at_seed_rate": round(lazy * EAGER_MS_PER_BLOCK, 2),
        "zeroing_ms_eager_at_seed_rate": round(fresh * EAGER_MS_PER_BLOCK, 2),
        "leaks": len(engine.leaks),
        "wall_seconds": round(wall, 2),
    }
    print(json.dumps(result, indent=2))


def _fresh(engine: Engine, report: object) -> list[int]:
    return [b for blocks in engine._fresh_blocks(report.output).values() for b in blocks]  # type: ignore[attr-defined]


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    values = np.array(samples)
    return {"p50": round(float(np.percentile(values, 50)), 3), "p99": round(float(np.percentile(values, 99)), 3), "max": round(float(values.max()), 3), "n": len(samples)}


if __name__ == "__main__":
    main()
