#!/usr/bin/env bash
# Makes sure .tools/venv holds the pinned vLLM and the tenantguard-vllm package (editable, with its
# test extras). Runs from `npm test` before the Python tests, so a fresh machine needs nothing by
# hand. vLLM pulls torch and CUDA wheels (~4 GB, several minutes) the first time; pip's cache
# (~/.cache/pip) makes later runs on the same machine fast, and a stamp file skips the install
# entirely when nothing changed.
set -euo pipefail

VLLM_VERSION="${TENANTGUARD_VLLM_VERSION:-0.33.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/venv"
stamp="$venv/.tenantguard-stamp"
want="vllm==$VLLM_VERSION $(sha256sum "$root/clients/python/pyproject.toml" | cut -c1-16)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  cat >&2 <<MSG
tenantguard: the vLLM integration tests need CPython 3.11-3.13,
  and none was found on PATH. Install one (e.g. 'apt-get install python3.11 python3.11-venv' or pyenv)
  and run 'npm test' again.
MSG
  exit 1
fi

echo "tenantguard: creating $venv with $("$python" --version) and vllm==$VLLM_VERSION (one-time, several minutes)..." >&2
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "vllm==$VLLM_VERSION" -e "$root/clients/python[test]"
echo "$want" >"$stamp"
echo "tenantguard: Python venv ready at $venv" >&2
