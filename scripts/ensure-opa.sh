#!/usr/bin/env bash
# Makes sure the pinned OPA CLI is at .tools/bin/opa. Runs from `npm ci` (prepare), so a fresh
# machine needs nothing by hand. Prints the path of the binary it settled on.
set -euo pipefail

OPA_VERSION="${TENANTGUARD_OPA_VERSION:-1.22.2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin/opa"

installed_version() {
  "$1" version 2>/dev/null | awk -F': ' '/^Version:/ {print $2; exit}'
}

if [ -x "$bin" ] && [ "$(installed_version "$bin")" = "$OPA_VERSION" ]; then
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
tenantguard: the OPA CLI v$OPA_VERSION is needed to compile policies, and Go is not installed.
  Either install Go >= 1.24 (https://go.dev/doc/install, or 'apt-get install golang') and run
  'npm ci' again, or put an OPA v$OPA_VERSION binary at:
    $bin
  (e.g. 'GOBIN=$root/.tools/bin go install github.com/open-policy-agent/opa@v$OPA_VERSION' on
  another machine, then copy the binary over).
MSG
  exit 1
fi

echo "tenantguard: building OPA v$OPA_VERSION into .tools/bin (one-time, takes a few minutes)..." >&2
mkdir -p "$root/.tools/bin"
# CGO off: a static binary that does not depend on the host's C toolchain.
if ! CGO_ENABLED=0 GOBIN="$root/.tools/bin" go install "github.com/open-policy-agent/opa@v$OPA_VERSION"; then
  echo "tenantguard: 'go install github.com/open-policy-agent/opa@v$OPA_VERSION' failed; see the Go output above." >&2
  exit 1
fi
got="$(installed_version "$bin")"
if [ "$got" != "$OPA_VERSION" ]; then
  echo "tenantguard: built opa reports version '$got', expected '$OPA_VERSION'." >&2
  exit 1
fi
echo "tenantguard: opa $got ready at $bin" >&2
