#!/usr/bin/env python3
"""Validate tests/corpus/findings.toml against the extracted corpus.

Checks: schema and allowed values, unique ids, id/split numbering, repo listed in
repos.json, file present under $CHIFFON_CORPUS/<owner>+<name> (default /tmp/corpus),
line within the file, the text near the line plausibly matching the rule, and no
finding/fine pair that the +/-3 matching rule could confuse. Prints counts per rule,
repo and split. Exit status 1 on any error.

Usage: python3 tests/corpus/check_findings.py [path/to/findings.toml]
"""

import collections
import json
import os
import re
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
TOML = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "findings.toml")
CORPUS = os.environ.get("CHIFFON_CORPUS", "/tmp/corpus")
REPOS_JSON = os.environ.get("CHIFFON_REPOS_JSON", "/work/shared/corpus/repos.json")

RULES = {
    "no-healthcheck", "unpinned-image", "plaintext-secret", "default-password",
    "docker-socket-mount", "privileged-container", "host-network", "admin-ui-exposed",
    "no-restart-policy", "download-without-checksum", "moving-download",
    "command-not-idempotent", "restart-in-tasks", "unconditional-reboot",
    "duplicate-role", "toggle-gates-nothing", "unused-role", "stray-file",
    "untagged-roles", "deprecated-module", "ignore-errors",
}
SEVERITIES = {"high", "medium", "low"}
FINDING_KEYS = {"id", "repo", "split", "file", "line", "rule", "severity", "why"}
FINE_KEYS = {"id", "repo", "split", "file", "line", "rule", "why"}

# Text that must appear on the labelled line or the line before/after it.
# None = no text check (the label is about the whole file/role).
PLAUSIBLE = {
    "no-healthcheck": r"image|name|container|docker_container|podman|^\s*[\w.{}\- ]+:\s*$",
    "unpinned-image": r"image|latest|version|tag|release|nightly|main|master|:",
    "plaintext-secret": r"(?i)pass|secret|key|token|vault",
    "default-password": r"(?i)pass|changeme|secret|admin",
    "docker-socket-mount": r"docker\.sock|podman\.sock",
    "privileged-container": r"privileged",
    "host-network": r"(?i)network_mode|--network|host",
    "admin-ui-exposed": r"\d+:\d+|port|publish|0\.0\.0\.0|127\.0\.0\.1|private_ip",
    "no-restart-policy": r"image|name|^\s*[\w.{}\- ]+:\s*$",
    "download-without-checksum": r"get_url|unarchive|curl|wget|url|src|tarball",
    "moving-download": r"latest|master|main|get_url|unarchive|curl|url|src|version|download",
    "command-not-idempotent": r"command|shell|raw|cmd",
    "restart-in-tasks": r"restart|service|systemd|docker_compose|state",
    "unconditional-reboot": r"(?i)reboot",
    "duplicate-role": r"role",
    "toggle-gates-nothing": r"(?i)enable|configure|use_|true|false|when",
    "unused-role": None,
    "stray-file": None,
    "untagged-roles": r"hosts|name|roles",
    "deprecated-module": r"apt_key|docker_service|include:|docker:",
    "ignore-errors": r"ignore_errors|failed_when",
}

errors = []


def err(msg):
    errors.append(msg)


def slug(repo):
    return repo.lower().replace("/", "-")


def main():
    with open(TOML, "rb") as fh:
        data = tomllib.load(fh)
    unknown = set(data) - {"finding", "fine"}
    if unknown:
        err(f"unknown top-level tables: {sorted(unknown)}")
    findings = data.get("finding", [])
    fines = data.get("fine", [])

    known_repos = None
    if os.path.exists(REPOS_JSON):
        with open(REPOS_JSON) as fh:
            known_repos = set(json.load(fh)["repos"])
    else:
        print(f"note: {REPOS_JSON} not found, repo names not checked")

    ids = collections.Counter()
    cache = {}
    seq = collections.Counter()
    for kind, items, keys, prefix in (
        ("finding", findings, FINDING_KEYS, "f"),
        ("fine", fines, FINE_KEYS, "ok"),
    ):
        for e in items:
            where = f"{kind} {e.get('id', '?')}"
            if set(e) != keys:
                err(f"{where}: keys {sorted(set(e) ^ keys)} missing or extra")
                continue
            ids[e["id"]] += 1
            repo, rule = e["repo"], e["rule"]
            if known_repos is not None and repo not in known_repos:
                err(f"{where}: repo {repo} not in repos.json")
            if rule not in RULES:
                err(f"{where}: unknown rule {rule}")
            if kind == "finding" and e["severity"] not in SEVERITIES:
                err(f"{where}: bad severity {e['severity']}")
            if e["split"] not in ("tune", "holdout"):
                err(f"{where}: bad split {e['split']}")
            seq[(kind, repo)] += 1
            n = seq[(kind, repo)]
            want_id = f"{prefix}-{slug(repo)}-{n:02d}"
            if e["id"] != want_id:
                err(f"{where}: expected id {want_id} (per-repo order)")
            want_split = "holdout" if n % 3 == 0 else "tune"
            if e["split"] != want_split:
                err(f"{where}: split should be {want_split}")
            if not isinstance(e["why"], str) or not e["why"].strip() or "\n" in e["why"]:
                err(f"{where}: why must be one non-empty line")
            line = e["line"]
            if not isinstance(line, int) or line < 1:
                err(f"{where}: line must be a positive integer")
                continue
            path = os.path.join(CORPUS, repo.replace("/", "+"), e["file"])
            if not os.path.isfile(path):
                err(f"{where}: file missing: {path}")
                continue
            if path not in cache:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    cache[path] = fh.read().split("\n")
            lines = cache[path]
            if line > len(lines):
                err(f"{where}: line {line} beyond end of file ({len(lines)} lines)")
                continue
            if rule == "unused-role" and "roles/" not in e["file"]:
                err(f"{where}: unused-role should point into roles/")
            pat = PLAUSIBLE.get(rule)
            if pat:
                window = lines[max(0, line - 2):line + 1]
                if not any(re.search(pat, l) for l in window):
                    err(f"{where}: text near {e['file']}:{line} does not look like {rule}: "
                        f"{lines[line - 1].strip()[:80]!r}")

    for i, c in ids.items():
        if c > 1:
            err(f"duplicate id {i}")

    # A finding and a fine (or two labels) that one diagnostic could both match.
    labels = [("finding", e) for e in findings] + [("fine", e) for e in fines]
    for a in range(len(labels)):
        ka, ea = labels[a]
        for b in range(a + 1, len(labels)):
            kb, eb = labels[b]
            if (ea["repo"], ea["file"], ea["rule"]) == (eb["repo"], eb["file"], eb["rule"]) \
                    and abs(ea["line"] - eb["line"]) <= 3:
                err(f"ambiguous under +/-3 matching: {ea['id']} and {eb['id']}")

    # Counts.
    print(f"findings: {len(findings)}   fine: {len(fines)}")
    for kind, items in (("finding", findings), ("fine", fines)):
        print(f"\n{kind} by rule:")
        for r, c in sorted(collections.Counter(e["rule"] for e in items).items(),
                           key=lambda x: (-x[1], x[0])):
            print(f"  {r:28} {c}")
        print(f"{kind} by repo:")
        for r, c in sorted(collections.Counter(e["repo"] for e in items).items()):
            print(f"  {r:40} {c}")
        print(f"{kind} by split: " + ", ".join(
            f"{s}={c}" for s, c in sorted(collections.Counter(e['split'] for e in items).items())))
    print("finding by severity: " + ", ".join(
        f"{s}={c}" for s, c in sorted(collections.Counter(e['severity'] for e in findings).items())))

    if len(findings) < 75:
        err(f"only {len(findings)} findings (want >= 75)")
    if len(fines) < 20:
        err(f"only {len(fines)} fine labels (want >= 20)")
    per_rule_repo = collections.Counter((e["repo"], e["rule"]) for e in findings)
    for (repo, rule), c in per_rule_repo.items():
        if c > 3:
            err(f"{repo}: {c} findings for {rule} (at most 3 per rule per repo)")

    if errors:
        print(f"\n{len(errors)} error(s):")
        for m in errors:
            print("  " + m)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
