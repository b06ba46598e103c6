#!/usr/bin/env bash
# npm links the bins of dependencies into node_modules/.bin, but not the root package's own; this
# makes `npx tenantguard ...` work inside a clone, as the README shows.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/node_modules/.bin"
ln -sf ../../bin/tenantguard.js "$root/node_modules/.bin/tenantguard"
