#!/usr/bin/env bash
# Lints, tests and compiles policies/ into build/policy/bundle.tar.gz (policy.wasm from
# `opa build -t wasm` plus the Rego it came from), one entrypoint per area: tenantguard/<area>/decision for every policies/tenantguard/<area>.rego.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-opa.sh
opa="$root/.tools/bin/opa"
src="${POLICY_DIR:-policies}"
out="${POLICY_OUT:-build/policy}"
min_coverage="${POLICY_MIN_COVERAGE:-90}"

"$opa" fmt --fail --list "$src" >/dev/null || { echo "policy: 'opa fmt' would change the files above; run: .tools/bin/opa fmt -w $src" >&2; exit 1; }
"$opa" check --strict "$src"
"$opa" test "$src"
coverage="$("$opa" test --coverage "$src" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).coverage.toFixed(1)))')"
echo "policy: opa test passed, coverage ${coverage}% (minimum ${min_coverage}%)"
node -e "process.exit(Number('$coverage') >= Number('$min_coverage') ? 0 : 1)" || { echo "policy: coverage below ${min_coverage}%" >&2; exit 1; }

entrypoints=()
for file in "$src"/tenantguard/*.rego; do
  case "$file" in *_test.rego) continue ;; esac
  entrypoints+=(-e "tenantguard/$(basename "$file" .rego)/decision")
done
# The revision is a digest of the policy sources, so the loaded bundle names exactly what it runs.
revision="$(find "$src" -type f \( -name '*.rego' -o -name '*.json' \) ! -name '*_test.rego' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
# Signed bundles (config: policy.verification): TENANTGUARD_POLICY_SIGNING_KEY names a PEM private
# key; the bundle then carries a /.signatures.json over every file.
signing=()
if [ -n "${TENANTGUARD_POLICY_SIGNING_KEY:-}" ]; then
  signing=(--signing-key "$TENANTGUARD_POLICY_SIGNING_KEY" --signing-alg "${TENANTGUARD_POLICY_SIGNING_ALG:-RS256}")
fi
# Issue 17.10: the bundle must load into stock OPA (built without a WASM engine, like
# .tools/bin/opa) as well as into the sidecar. `opa build -t wasm` lists its entrypoints as WASM
# resolvers in /.manifest, and an OPA without a WASM engine refuses such a bundle ("engine not
# found"). So the WASM module is compiled first, then packed with the Rego it was compiled from into
# a plain bundle whose manifest names no resolver: stock OPA evaluates the Rego, the sidecar runs
# /policy.wasm (test/policy/stock-opa-parity.test.ts proves they decide alike). The roots are the
# policy package and policies/data.json's keys only, so the tenant registry (data.tenants,
# data.limits: `tenantguard policy data`) can be added beside it as a separate document or bundle.
roots="${POLICY_ROOTS:-tenantguard,tiers}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
"$opa" build -t wasm "${entrypoints[@]}" --ignore '*_test.rego' -o "$stage/wasm.tar.gz" "$src"
mkdir "$stage/bundle"
mkdir "$stage/wasm" && tar -xzf "$stage/wasm.tar.gz" -C "$stage/wasm" 2> >(grep -v 'Removing leading' >&2) && cp "$stage/wasm/policy.wasm" "$stage/bundle/"
(cd "$src" && find . -type f \( -name '*.rego' -o -name '*.json' \) ! -name '*_test.rego' -print0 | while IFS= read -r -d '' f; do
  mkdir -p "$stage/bundle/$(dirname "$f")" && cp "$f" "$stage/bundle/$f"
done)
# The manifest: the roots plus the entrypoints the WASM module serves (metadata,
# which OPA carries but does not interpret), so `policy info` and a reader of the bundle see both.
node -e '
const fs = require("node:fs");
const [roots, manifestOut, ...eps] = process.argv.slice(1);
const manifest = { roots: roots.split(","), metadata: { wasm_entrypoints: eps.filter((e) => e !== "-e").sort() } };
fs.writeFileSync(manifestOut, JSON.stringify(manifest));
' "$roots" "$stage/bundle/.manifest" "${entrypoints[@]}"
mkdir -p "$out"
out_abs="$(cd "$out" && pwd)"
# Built from inside the staging dir: `opa build -b <dir>` would prefix every path with <dir>.
(cd "$stage/bundle" && "$opa" build -b "${signing[@]}" --revision "$revision" -o "$out_abs/bundle.tar.gz" .)
echo "policy: built $out/bundle.tar.gz (revision $revision, $(( ${#entrypoints[@]} / 2 )) entrypoints, roots $roots)"
