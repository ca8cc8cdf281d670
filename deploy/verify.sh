#!/usr/bin/env bash
# Checks deploy/'s systemd units with `systemd-analyze verify` (CI runs it). The units name
# /usr/local/bin/chiffon, which a build machine does not have; the check points them at the
# binary given (or /bin/true) in a scratch copy, so a missing binary is not the error it finds.
set -euo pipefail
cd "$(dirname "$0")"
binary="${1:-/bin/true}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
sed "s#/usr/local/bin/chiffon#$binary#g" chiffon.service > "$scratch/chiffon.service"
# A template unit is verified through an instance of it.
sed "s#/usr/local/bin/chiffon#$binary#g" 'chiffon-agent@.service' > "$scratch/chiffon-agent@ci.service"
sed "s#/usr/local/bin/chiffon#$binary#g" chiffon-backup.service > "$scratch/chiffon-backup.service"
cp chiffon-backup.timer "$scratch/"
out="$(systemd-analyze verify "$scratch/chiffon.service" "$scratch/chiffon-agent@ci.service" \
    "$scratch/chiffon-backup.service" "$scratch/chiffon-backup.timer" 2>&1)" || {
    printf '%s\n' "$out" >&2
    exit 1
}
# verify exits 0 on some warnings (unknown directives are only logged): treat any output as failure.
if [ -n "$out" ]; then
    printf 'systemd-analyze verify reported:\n%s\n' "$out" >&2
    exit 1
fi
echo "deploy/: chiffon.service, chiffon-agent@.service and chiffon-backup.service/.timer verify cleanly"
