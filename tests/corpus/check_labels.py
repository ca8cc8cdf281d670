#!/usr/bin/env python3
"""Check tests/corpus/requests.toml against its schema and the extracted corpus.

Usage:
    python3 tests/corpus/check_labels.py            # validate, print summary, exit 1 on errors
    python3 tests/corpus/check_labels.py --table    # also print markdown count tables
    python3 tests/corpus/check_labels.py --file tests/corpus/requests_b2.toml   # check a later batch
                                                                   # (also against all earlier batches)

The corpus is read from $CHIFFON_CORPUS (default /tmp/corpus), one folder per repository named
<owner>+<name>, extracted at the commit pinned in /work/shared/corpus/repos.json (or
$CHIFFON_CORPUS_MANIFEST). Hard errors: schema, ids, split rule, missing playbook/config/pin/switch
files. Warnings (printed, not fatal): pin/switch variables not found in their file, tags/hosts/units
not found in the repository text, why-references to lines past the end of a file.
"""

import collections
import json
import os
import re
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = HERE / "requests.toml"
CORPUS = Path(os.environ.get("CHIFFON_CORPUS", "/tmp/corpus"))
MANIFEST = Path(os.environ.get("CHIFFON_CORPUS_MANIFEST", "/work/shared/corpus/repos.json"))

VERBS = ["deploy", "remove", "upgrade", "configure", "restart", "stop", "start", "status", "logs"]
KINDS = ["name", "function", "typo", "nickname", "target", "absent", "unwired", "ambiguous"]
EXPECTS = ["entrypoint", "builtin", "none", "question"]
UNIT_KINDS = ["compose", "container", "systemd"]
REASONS = ["absent", "unwired", "unmanaged"]
COMMON = ["id", "repo", "split", "text", "verb", "kind", "service", "expect", "why"]
KNOWN = set(COMMON) | {
    "playbook", "alt_playbooks", "tags", "extra_vars", "limit", "pin", "config", "switch",
    "builtin", "unit", "hosts", "reason", "choices",
}
TEXT_EXT = {".yml", ".yaml", ".j2", ".ini", ".cfg", ".json", ".toml", ".conf", ".md", ".txt", ""}


def slug(repo):
    return repo.lower().replace("/", "-")


def repo_dir(repo):
    owner, name = repo.split("/")
    return CORPUS / f"{owner}+{name}"


_text_cache = {}


def repo_texts(repo):
    """(relative path, text) of the repository's small text files."""
    if repo not in _text_cache:
        root = repo_dir(repo)
        out = []
        for p in root.rglob("*"):
            if not p.is_file() or ".git" in p.parts:
                continue
            if p.suffix not in TEXT_EXT and p.name != "hosts":
                continue
            try:
                if p.stat().st_size > 2_000_000:
                    continue
                out.append((str(p.relative_to(root)), p.read_text(errors="replace")))
            except OSError:
                pass
        _text_cache[repo] = out
    return _text_cache[repo]


def word_in_repo(repo, word):
    pat = re.compile(r"(?<![\w.-])" + re.escape(word) + r"(?![\w-])")
    return any(pat.search(t) for _, t in repo_texts(repo))


def tag_in_repo(repo, tag):
    """The tag is declared somewhere: on a tags: line, or as a list item under tags:."""
    w = re.escape(tag)
    inline = re.compile(r"tags:.*(?<![\w-])" + w + r"(?![\w-])")
    item = re.compile(r"^\s*-\s*['\"]?" + w + r"['\"]?\s*$")
    for _, text in repo_texts(repo):
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if inline.search(line):
                return True
            if item.match(line) and any("tags:" in lines[j] for j in range(max(0, i - 4), i)):
                return True
    return False


def batch_number(path):
    """1 for requests.toml, N for requests_bN.toml, None for any other file name."""
    if path.name == LABELS.name:
        return 1
    m = re.fullmatch(r"requests_b(\d+)\.toml", path.name)
    return int(m.group(1)) if m else None


def earlier_batches(labels):
    """The batch files a later batch is compared against: every requests.toml /
    requests_bN.toml next to requests.toml with a smaller batch number (all of them when
    the checked file is not named like a batch)."""
    n = batch_number(labels)
    found = [LABELS] + sorted(HERE.glob("requests_b*.toml"), key=lambda p: batch_number(p) or 0)
    return [
        p for p in found
        if p.is_file() and batch_number(p) is not None and p.resolve() != labels
        and (n is None or batch_number(p) < n)
    ]


def main():
    want_table = "--table" in sys.argv
    labels, other_batch = LABELS, False
    if "--file" in sys.argv:
        i = sys.argv.index("--file")
        if i + 1 >= len(sys.argv):
            print("ERROR --file needs a path")
            return 1
        labels = Path(sys.argv[i + 1]).resolve()
        other_batch = labels != LABELS
    errors, warnings = [], []
    data = tomllib.loads(labels.read_text())
    reqs = data.get("request", [])
    manifest = json.loads(MANIFEST.read_text())["repos"] if MANIFEST.exists() else {}
    project_dirs = {k: v.get("project_dir", "") for k, v in manifest.items()}

    ids = collections.Counter(r.get("id") for r in reqs)
    for i, n in ids.items():
        if n > 1:
            errors.append(f"duplicate id {i}")
    if other_batch:
        # a later batch must not reuse ids or texts of any earlier batch
        for earlier in earlier_batches(labels):
            prev = tomllib.loads(earlier.read_text()).get("request", [])
            prev_ids = {r.get("id") for r in prev}
            prev_texts = {(r.get("repo"), r.get("text", "").strip().lower()) for r in prev}
            for r in reqs:
                if r.get("id") in prev_ids:
                    errors.append(f"{r.get('id')}: id already used in {earlier.name}")
                if (r.get("repo"), r.get("text", "").strip().lower()) in prev_texts:
                    errors.append(f"{r.get('id')}: same text as a request in {earlier.name}")

    for r in reqs:
        rid = r.get("id", "<no id>")

        def err(msg):
            errors.append(f"{rid}: {msg}")

        def warn(msg):
            warnings.append(f"{rid}: {msg}")

        for f in COMMON:
            if f not in r:
                err(f"missing field {f}")
        for f in r:
            if f not in KNOWN:
                err(f"unknown field {f}")
        repo = r.get("repo", "")
        if manifest and repo not in manifest:
            err(f"repo {repo} not in manifest")
        # two digits up to 99, then three (batch 12 passed 99)
        m = re.fullmatch(re.escape(slug(repo)) + r"-(\d{2,})", rid)
        if not m:
            err("id is not <repo slug>-NN")
        else:
            # the outside sets (repositories never tuned on, requests_outside*.toml) are all holdout
            all_holdout = re.fullmatch(r"requests_outside.*\.toml", labels.name) is not None
            want = "holdout" if all_holdout or int(m.group(1)) % 3 == 0 else "tune"
            if r.get("split") != want:
                err(f"split should be {want}")
        if r.get("verb") not in VERBS:
            err(f"bad verb {r.get('verb')}")
        if r.get("kind") not in KINDS:
            err(f"bad kind {r.get('kind')}")
        exp = r.get("expect")
        if exp not in EXPECTS:
            err(f"bad expect {exp}")
        if not isinstance(r.get("service", ""), str) or r.get("service", "") != r.get("service", "").lower():
            err("service must be a lowercase string")
        if not r.get("text") or not r.get("why"):
            err("empty text or why")

        root = repo_dir(repo)
        if not root.is_dir():
            err(f"corpus folder missing: {root}")
            continue

        def must_exist(path, what):
            if not isinstance(path, str) or not path:
                err(f"{what} must be a non-empty path")
            elif not (root / path).is_file():
                err(f"{what} not found in corpus: {path}")

        if exp == "entrypoint":
            must_exist(r.get("playbook"), "playbook")
            for p in r.get("alt_playbooks", []):
                must_exist(p, "alt_playbook")
            if not isinstance(r.get("tags"), list):
                err("entrypoint needs tags = [...]")
            else:
                for t in r["tags"]:
                    if not tag_in_repo(repo, t):
                        warn(f"tag {t!r} not declared anywhere in the repo")
            if not isinstance(r.get("extra_vars"), dict):
                err("entrypoint needs extra_vars = {...}")
            verb = r.get("verb")
            if verb == "upgrade":
                pin = r.get("pin")
                if pin == "latest":
                    pass
                elif isinstance(pin, dict) and set(pin) == {"file", "var"}:
                    must_exist(pin["file"], "pin.file")
                    if (root / pin["file"]).is_file():
                        var = pin["var"]
                        key = var.split(".")[1] if var.startswith("services.") else var.split(".")[0]
                        if key not in (root / pin["file"]).read_text(errors="replace"):
                            warn(f"pin var {var!r} ({key!r}) not found in {pin['file']}")
                else:
                    err("upgrade needs pin = {file, var} or \"latest\"")
            elif "pin" in r:
                err("pin only for upgrade")
            if verb == "configure":
                must_exist(r.get("config"), "config")
            elif "config" in r:
                err("config only for configure")
            if verb not in ("deploy", "remove", "upgrade", "configure"):
                err(f"entrypoint with verb {verb}")
        if "switch" in r:
            sw = r["switch"]
            if not (isinstance(sw, dict) and set(sw) == {"file", "var"}):
                err("switch must be {file, var}")
            else:
                must_exist(sw["file"], "switch.file")
                if (root / sw["file"]).is_file() and sw["var"] not in (root / sw["file"]).read_text(errors="replace"):
                    warn(f"switch var {sw['var']!r} not in {sw['file']}")
        if exp == "builtin":
            b = r.get("builtin")
            if b not in ("restart", "stop", "start", "status", "logs", "remove") or b != r.get("verb"):
                err(f"builtin {b!r} must equal the verb")
            u = r.get("unit")
            if not (isinstance(u, dict) and set(u) == {"kind", "name"} and u["kind"] in UNIT_KINDS and u["name"]):
                err("unit must be {kind = compose|container|systemd, name}")
            else:
                stem = u["name"].removesuffix(".service").split("@")[0]
                if not word_in_repo(repo, stem):
                    warn(f"unit name stem {stem!r} not found in repo text")
            hosts = r.get("hosts")
            if not (isinstance(hosts, list) and hosts):
                err("builtin needs hosts = [...]")
            else:
                for h in hosts:
                    if not word_in_repo(repo, h):
                        warn(f"host/group {h!r} not found in repo text")
            if "playbook" in r:
                must_exist(r["playbook"], "playbook")
        if "limit" in r and not word_in_repo(repo, r["limit"]):
            warn(f"limit {r['limit']!r} not found in repo text")
        if exp == "none" and r.get("reason") not in REASONS:
            err(f"expect none needs reason in {REASONS}")
        if exp == "question":
            ch = r.get("choices")
            if not (isinstance(ch, list) and len(ch) >= 2):
                err("question needs >= 2 choices")
        if exp != "question" and "choices" in r:
            err("choices only for question")

        # why references: path:line[-line][,line]
        pd = project_dirs.get(repo, "")
        for path, nums in re.findall(r"([\w./+-]+\.(?:ya?ml|j2|ini|json|cfg|conf|md)|hosts):(\d[\d,\-]*)", r.get("why", "")):
            cands = [root / path, root / pd / path] if pd else [root / path]
            found = next((c for c in cands if c.is_file()), None)
            if found is None:
                suffix = [p for p, _ in repo_texts(repo) if p == path or p.endswith("/" + path)]
                if len(suffix) == 1:
                    found = root / suffix[0]
            if found is None:
                continue  # abbreviated reference (e.g. 'tasks/main.yml' of a named role)
            n_lines = len(found.read_text(errors="replace").splitlines())
            top = max(int(x) for x in re.split(r"[,-]", nums) if x)
            if top > n_lines:
                warn(f"why cites {path}:{nums} but the file has {n_lines} lines")

    # summary
    by = {k: collections.Counter(r.get(k) for r in reqs) for k in ("repo", "verb", "kind", "split", "expect")}
    print(f"{len(reqs)} requests, {len(errors)} errors, {len(warnings)} warnings")
    for k in ("repo", "verb", "kind", "split", "expect"):
        print(f"  {k}: " + ", ".join(f"{a}={b}" for a, b in sorted(by[k].items())))
    for w in warnings:
        print("WARN ", w)
    for e in errors:
        print("ERROR", e)
    per_repo = collections.Counter(r.get("repo") for r in reqs)
    for repo in manifest:
        if other_batch:
            break  # a later batch is smaller; the minimum applies to the first batch
        if per_repo.get(repo, 0) < 10:
            print("ERROR", f"{repo} has {per_repo.get(repo, 0)} requests (< 10)")
            errors.append("few")

    if want_table:
        print()
        repos = list(manifest) or sorted(per_repo)
        print("| repo | " + " | ".join(VERBS) + " | total | tune | holdout |")
        print("|---|" + "---|" * (len(VERBS) + 3))
        for repo in repos:
            rs = [r for r in reqs if r["repo"] == repo]
            vc = collections.Counter(r["verb"] for r in rs)
            sc = collections.Counter(r["split"] for r in rs)
            print(f"| {repo} | " + " | ".join(str(vc.get(v, 0)) for v in VERBS)
                  + f" | {len(rs)} | {sc.get('tune', 0)} | {sc.get('holdout', 0)} |")
        vc = collections.Counter(r["verb"] for r in reqs)
        sc = collections.Counter(r["split"] for r in reqs)
        print("| **all** | " + " | ".join(str(vc.get(v, 0)) for v in VERBS)
              + f" | {len(reqs)} | {sc.get('tune', 0)} | {sc.get('holdout', 0)} |")
        print()
        print("| kind | " + " | ".join(EXPECTS) + " | total |")
        print("|---|" + "---|" * (len(EXPECTS) + 1))
        for k in KINDS:
            rs = [r for r in reqs if r["kind"] == k]
            ec = collections.Counter(r["expect"] for r in rs)
            print(f"| {k} | " + " | ".join(str(ec.get(e, 0)) for e in EXPECTS) + f" | {len(rs)} |")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
