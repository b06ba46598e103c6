"""A real tenantguard sidecar for the tests: `tenantguard init` in a temp dir, the config patched
for an engine (one shared pool of the engine's size, a worker Unix socket), `tenantguard serve` in
its own process. Nothing is mocked: the connector and middleware talk to it over the socket/mTLS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
CLI = REPO_ROOT / "bin" / "tenantguard.js"
ENGINE_BLOCKS = 64


@dataclass
class Sidecar:
    dir: Path
    socket_path: str
    url: str
    ca_file: str
    worker_cert: tuple[str, str]
    operator_cert: tuple[str, str]
    process: subprocess.Popen[str]

    def operator(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=_ssl_context(self.ca_file, self.operator_cert), timeout=10)

    def ledger(self, pool: str = "shared") -> dict[str, Any]:
        """The sidecar's own view of the pool (GET /v1/pools/{name}/ledger, operator)."""
        with self.operator() as client:
            res = client.get(f"/v1/pools/{pool}/ledger")
            res.raise_for_status()
            view: dict[str, Any] = res.json()
            return view

    def recorded_id(self, kind: str, tenant: str, client_id: str) -> str:
        """The keyed digest the sidecar records and keeps a client-chosen id as (L1, issue 20.6),
        computed from its audit key file as docs/api.md describes it."""
        key = base64.b64decode((self.dir / "keys" / "audit.key").read_text().strip())
        mac = hmac.new(key, f"tenantguard-recorded-id-v1\n{kind}\n{tenant}\n{client_id}".encode(), hashlib.sha256).digest()
        return "h." + base64.urlsafe_b64encode(mac).decode()[:22]

    def audit_records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for segment in sorted((self.dir / "audit").glob("*.jsonl")):
            records.extend(json.loads(line) for line in segment.read_text().splitlines() if line)
        return records


def _ssl_context(ca_file: str, cert: tuple[str, str]) -> Any:
    import ssl

    context = ssl.create_default_context(cafile=ca_file)
    context.load_cert_chain(*cert)
    return context


def start_sidecar(base: Path, blocks: int = ENGINE_BLOCKS, extra_tenants: str = "") -> Sidecar:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the tests need the real sidecar (run them through `npm test`)")
    state = base / "sidecar"
    subprocess.run([node, str(CLI), "init", str(state), "--port", "0"], check=True, capture_output=True, text=True)
    config = state / "config.yaml"
    text = config.read_text()
    # The engine owns one pool of `blocks` ids (vLLM's num_gpu_blocks); the worker talks over a socket.
    text = text.replace("last: 16383", f"last: {blocks - 1}")
    text = re.sub(r"port: 0\n", "port: 0\n  unix_socket: ./worker.sock\n", text, count=1)
    if extra_tenants:
        text = text.replace("tenants:\n", "tenants:\n" + extra_tenants, 1)
    config.write_text(text)
    process = subprocess.Popen(
        [node, str(CLI), "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TENANTGUARD_LOG_LEVEL": "info"},
    )
    url = _wait_for_listening(process)
    # Keep reading both pipes, so a chatty sidecar never blocks on a full pipe.
    for pipe in (process.stdout, process.stderr):
        threading.Thread(target=_drain, args=(pipe,), daemon=True).start()
    pki = state / "pki"
    return Sidecar(
        dir=state,
        socket_path=str(state / "worker.sock"),
        url=url,
        ca_file=str(pki / "ca.crt"),
        worker_cert=(str(pki / "worker" / "worker-1.crt"), str(pki / "worker" / "worker-1.key")),
        operator_cert=(str(pki / "operator" / "admin.crt"), str(pki / "operator" / "admin.key")),
        process=process,
    )


def _wait_for_listening(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                err = process.stderr.read() if process.stderr else ""
                pytest.fail(f"sidecar exited with {process.returncode}: {err[-2000:]}")
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "tenantguard listening" and entry.get("url"):
            return str(entry["url"])
    process.kill()
    pytest.fail("sidecar did not report `tenantguard listening` within 30 s")


def _drain(pipe: Any) -> None:
    for _ in iter(pipe.readline, ""):
        pass
    pipe.close()


def stop_sidecar(sidecar: Sidecar) -> None:
    if sidecar.process.poll() is None:
        sidecar.process.terminate()
    try:
        sidecar.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sidecar.process.kill()
        sidecar.process.wait()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    running = start_sidecar(tmp_path_factory.mktemp("tg"))
    try:
        yield running
    finally:
        stop_sidecar(running)
