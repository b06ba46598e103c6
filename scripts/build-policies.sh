#!/usr/bin/env bash
# Lints, tests and compiles policies/ into build/policy/bundle.tar.gz (opa build -t wasm), one
# entrypoint per area: tenantguard/<area>/decision for every policies/tenantguard/<area>.rego.
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
# key; the bundle is then built in bundle mode with a /.signatures.json over every file.
signing=()
if [ -n "${TENANTGUARD_POLICY_SIGNING_KEY:-}" ]; then
  signing=(-b --signing-key "$TENANTGUARD_POLICY_SIGNING_KEY" --signing-alg "${TENANTGUARD_POLICY_SIGNING_ALG:-RS256}")
fi
mkdir -p "$out"
"$opa" build -t wasm "${signing[@]}" "${entrypoints[@]}" --revision "$revision" --ignore '*_test.rego' -o "$out/bundle.tar.gz" "$src"
echo "policy: built $out/bundle.tar.gz (revision $revision, $(( ${#entrypoints[@]} / 2 )) entrypoints)"
