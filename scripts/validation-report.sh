#!/usr/bin/env bash
# Refreshes the measured story section of docs/validation.md: runs the version 1 story test
# (tests/chiffon/story.rs) on the embedded default and, when CHIFFON_TEST_DATABASE_URL and
# CHIFFON_TEST_AMQP_URL are set (as .ci/run sets them), on PostgreSQL + RabbitMQ with the infra
# agent as a separate process, and writes its timings per step between the `story` markers.
#
#   bash scripts/validation-report.sh
#
# Needs what `cargo test` needs (ansible-playbook on PATH or installable, git).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
CHIFFON_VALIDATION_OUT="$out" cargo test --locked --test chiffon story -- --nocapture
python3 - "$out" docs/validation.md <<'PY'
import json, pathlib, sys, datetime, platform, os
out, doc = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
runs = {p.stem.removeprefix("story-"): json.loads(p.read_text()) for p in sorted(out.glob("story-*.json"))}
rows = [
    ("plan", "POST /requests → plan for approval (2 steps, 6 portals named)"),
    ("modify", "modify: \"leave out the Ollama API\" → plan v2 (5 portals)"),
    ("step_kuma-deployment.yml", "step 1 ran: kuma-deployment.yml (task started → finished)"),
    ("step_kuma-config-update.yml", "step 2 ran: kuma-config-update.yml"),
    ("approve_to_done", "approve v2 → request succeeded (both steps, streamed live)"),
    ("audit_verify", "`chiffon audit verify` (a process, reading the database and the repository)"),
    ("apply_suggestion", "accept the Kuma healthcheck suggestion (patch, syntax check, commit, audit)"),
    ("template", "\"deploy gitea\" → open question → `POST /playbooks/templates`"),
]
deployments = [d for d in ("embedded", "distributed") if d in runs]
head = "| step | " + " | ".join(f"{d} (s)" for d in deployments) + " |\n"
head += "|---|" + "---:|" * len(deployments) + "\n"
body = "".join(
    f"| {label} | " + " | ".join(f"{runs[d].get(key, float('nan')):.2f}" for d in deployments) + " |\n"
    for key, label in rows
)
cores = os.cpu_count()
section = (
    f"Measured {datetime.date.today()} by `bash scripts/validation-report.sh` on {cores} cores "
    f"({platform.machine()}); embedded = SQLite + in-process bus and agents, distributed = "
    "PostgreSQL + RabbitMQ with `chiffon agent infra` as its own process. Each playbook run is "
    "real `ansible-playbook` against the example homelab (local connection).\n\n" + head + body
)
text = doc.read_text()
begin, end = "<!-- story:begin -->", "<!-- story:end -->"
if begin in text and end in text:
    text = text[: text.index(begin)] + begin + "\n" + section + text[text.index(end):]
else:
    raise SystemExit(f"{doc} has no {begin} … {end} markers")
doc.write_text(text)
print(section)
PY
