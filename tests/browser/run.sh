#!/usr/bin/env bash
# Runs the browser tests: a real `chiffon serve` (in-process agents, real ansible-playbook) on a
# scratch copy of the example homelab plus a slow fixture playbook, a second server that
# requires an API token, and headless Chromium driven by playwright-core (node's test runner).
#
#   bash tests/browser/run.sh            # uses target/…/debug/chiffon, building it if needed
#   CHIFFON_BIN=path/to/chiffon bash tests/browser/run.sh
#   UPDATE_SCREENSHOTS=1 bash tests/browser/run.sh   # also refresh docs/screenshots/
#
# Needs: chromium (Debian package), node ≥ 20 + npm, ansible-playbook on PATH (or it is
# installed into the data dir on first start, which takes a minute).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin="${CHIFFON_BIN:-$CARGO_TARGET_DIR/debug/chiffon}"
if [ -z "${CHIFFON_BIN:-}" ]; then
    cargo build --locked --bin chiffon
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -x "$CHROMIUM" ] || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }

(cd "$here" && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; })

scratch="$(mktemp -d /tmp/chiffon-browser.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${KEEP_SCRATCH:-}" = 1 ]; then echo "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

# The playbook repository: the example homelab, plus a playbook slow enough to abort, in git
# so that an accepted suggestion can be committed.
mkdir -p "$scratch/homelab"
(cd examples/homelab-infra && tar --exclude=.rendered -cf - .) | tar -xf - -C "$scratch/homelab"
cp "$here/fixtures/photoprism-deployment.yml" "$scratch/homelab/"
git -C "$scratch/homelab" init -q
git -C "$scratch/homelab" add -A
git -C "$scratch/homelab" -c user.name=test -c user.email=test@localhost commit -qm "homelab as the browser tests start it"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
token_port="$(free_port)"
ansible_flag=()
if command -v ansible-playbook >/dev/null; then ansible_flag=(--ansible-playbook "$(command -v ansible-playbook)"); fi

"$bin" serve --listen "127.0.0.1:$port" --data-dir "$scratch/data" --playbooks "$scratch/homelab" \
    "${ansible_flag[@]}" >"$scratch/serve.log" 2>&1 &
pids+=($!)
CHIFFON_API_TOKEN=browser-test-token "$bin" serve --listen "127.0.0.1:$token_port" --data-dir "$scratch/data-token" \
    --playbooks "$scratch/homelab" --no-local-agents >"$scratch/serve-token.log" 2>&1 &
pids+=($!)

wait_up() { # port, log
    for _ in $(seq 1 600); do
        if curl -fsS "http://127.0.0.1:$1/api/v1/health" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "${pids[0]}" 2>/dev/null || ! kill -0 "${pids[1]}" 2>/dev/null; then break; fi
        sleep 0.5
    done
    echo "chiffon serve on port $1 did not come up:" >&2; cat "$2" >&2; return 1
}
wait_up "$port" "$scratch/serve.log"
wait_up "$token_port" "$scratch/serve-token.log"

export CHIFFON_URL="http://127.0.0.1:$port"
export CHIFFON_TOKEN_URL="http://127.0.0.1:$token_port"
export CHIFFON_TOKEN=browser-test-token
export ARTEFACTS="${ARTEFACTS:-$here/artefacts}"
rm -rf "$ARTEFACTS" && mkdir -p "$ARTEFACTS"
status=0
(cd "$here" && node --test --test-concurrency=1 --test-reporter=spec ui.test.mjs) || status=$?
cp "$scratch/serve.log" "$ARTEFACTS/serve.log" 2>/dev/null || true
if [ "$status" = 0 ] && [ "${UPDATE_SCREENSHOTS:-}" = 1 ]; then
    mkdir -p docs/screenshots
    cp "$ARTEFACTS"/*.png docs/screenshots/
fi
exit "$status"
