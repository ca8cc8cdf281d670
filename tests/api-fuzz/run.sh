#!/usr/bin/env bash
# Fuzzes the REST API from its own description: schemathesis reads a real `chiffon serve`'s
# /openapi.json, sends generated valid and invalid requests to every documented operation, and
# checks each answer: no 5xx, a documented status code and content type, a body that matches the
# documented schema. The server runs embedded (SQLite, in-process agents, real ansible-playbook)
# on a scratch copy of the example homelab with one planned request in it.
#
#   bash tests/api-fuzz/run.sh                  # uses target/…/debug/chiffon, building it if needed
#   CHIFFON_BIN=path/to/chiffon bash tests/api-fuzz/run.sh
#   MAX_EXAMPLES=100 FUZZ_SEED=7 bash tests/api-fuzz/run.sh   # more cases, another seed
#
# Needs: schemathesis (`pip install schemathesis`; .ci/run installs it into its tools venv, or set
# SCHEMATHESIS=path/to/st), curl, python3, and ansible-playbook on PATH (or it is installed into
# the data dir on first start, which takes a minute). Writes its report and statistics to
# tests/api-fuzz/artefacts/ (stats.md is the summary docs/validation.md quotes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin="${CHIFFON_BIN:-$CARGO_TARGET_DIR/debug/chiffon}"
if [ -z "${CHIFFON_BIN:-}" ]; then
    cargo build --locked --bin chiffon
fi
st="${SCHEMATHESIS:-$(command -v st || true)}"
[ -x "$st" ] || { echo "schemathesis is not installed (pip install schemathesis)" >&2; exit 1; }

max_examples="${MAX_EXAMPLES:-30}"
seed="${FUZZ_SEED:-1}"
artefacts="${ARTEFACTS:-$here/artefacts}"
rm -rf "$artefacts" && mkdir -p "$artefacts"

scratch="$(mktemp -d /tmp/chiffon-api-fuzz.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${KEEP_SCRATCH:-}" = 1 ]; then echo "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

# The playbook repository: the example homelab in git, so that applying a suggestion commits.
mkdir -p "$scratch/homelab"
(cd examples/homelab-infra && tar --exclude=.rendered -cf - .) | tar -xf - -C "$scratch/homelab"
git -C "$scratch/homelab" init -q
git -C "$scratch/homelab" add -A
git -C "$scratch/homelab" -c user.name=test -c user.email=test@localhost commit -qm "homelab as the API fuzzer starts it"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ansible_flag=()
if command -v ansible-playbook >/dev/null; then ansible_flag=(--ansible-playbook "$(command -v ansible-playbook)"); fi
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$scratch/data" --playbooks "$scratch/homelab" \
    "${ansible_flag[@]}" >"$scratch/serve.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port"
up=0
for _ in $(seq 1 600); do
    if curl -fsS "$base/api/v1/health" >/dev/null 2>&1; then up=1; break; fi
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.5
done
if [ "$up" != 1 ]; then echo "chiffon serve did not come up:" >&2; cat "$scratch/serve.log" >&2; exit 1; fi

# One planned request, so that the lists and the generated ids have something real to find.
curl -fsS -X POST "$base/api/v1/requests" -H 'content-type: application/json' \
    -d '{"text":"Deploy Kuma Uptime to homelab and add our existing portals to the config"}' >/dev/null

curl -fsS "$base/openapi.json" >"$artefacts/openapi.json"

# GET /api/v1/suggestions answers from the ansible-lint cache at once (ansible-lint runs in the
# background, one run at a time), so it is fuzzed like the rest; POST
# /api/v1/suggestions/{id}/apply too (unknown ids are refused before anything runs). Approve and preview run the example
# playbooks for real on the plans the stateful phase creates (seconds each; a preview waits
# behind approved runs on the one infra agent), hence the 120 s request timeout.
started=$(date +%s)
status=0
# From the scratch dir, where schemathesis keeps its .schemathesis/ cache.
(cd "$scratch" && "$st" run "$base/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$max_examples" --seed "$seed" --workers 2 --continue-on-failure \
    --request-timeout 120 \
    --generation-database none --no-color --output-truncate true \
    --report junit,ndjson --report-junit-path "$artefacts/junit.xml" \
    --report-ndjson-path "$artefacts/report.ndjson") \
    || status=$?
elapsed=$(( $(date +%s) - started ))
cp "$scratch/serve.log" "$artefacts/serve.log"

python3 "$here/stats.py" "$artefacts/openapi.json" "$artefacts/report.ndjson" "$elapsed" "$max_examples" "$seed" \
    >"$artefacts/stats.md" || status=1
cat "$artefacts/stats.md"
if grep -q 'panicked' "$artefacts/serve.log"; then
    echo "the server panicked during the run (see $artefacts/serve.log)" >&2
    grep -n -A3 'panicked' "$artefacts/serve.log" >&2 || true
    status=1
fi
exit "$status"
