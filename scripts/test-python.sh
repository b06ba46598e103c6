#!/usr/bin/env bash
# The Python half of `npm test`: tenantguard-vllm's type check and tests, in the venv that
# scripts/ensure-python.sh keeps (vLLM pinned), against the sidecar built by `npm run build`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/ensure-python.sh"
py="$root/.tools/venv/bin/python"
cd "$root/clients/python"
"$py" -m mypy
# vLLM on a machine without a GPU: CPU platform, no usage reporting, no downloads.
VLLM_TARGET_DEVICE=cpu VLLM_NO_USAGE_STATS=1 HF_HUB_OFFLINE=1 "$py" -m pytest -q "$@"
