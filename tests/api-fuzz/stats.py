"""Summarises a schemathesis NDJSON report: per API operation, the generated cases, the
requests sent, the answers by status class, the slowest answer and the failed checks.
Prints Markdown (tests/api-fuzz/run.sh saves it as stats.md).

    python3 stats.py OPENAPI.json REPORT.ndjson ELAPSED_S MAX_EXAMPLES SEED

Requests with methods the description does not list for a path (schemathesis checks that they
are refused) are counted on one line per path.
"""

import collections
import json
import sys

spec_path, report, elapsed, max_examples, seed = sys.argv[1:6]
elapsed = int(elapsed)
with open(spec_path, encoding="utf-8") as spec_file:
    spec = json.load(spec_file)
documented = {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}

cases = collections.Counter()
requests = collections.Counter()
classes = collections.defaultdict(collections.Counter)
slowest = collections.defaultdict(float)
failures = collections.defaultdict(set)
errors = []
phases = collections.Counter()

with open(report, encoding="utf-8") as events:
    for line in events:
        event = json.loads(line)
        kind, body = next(iter(event.items()))
        if kind == "NonFatalError":
            errors.append(body.get("label") or body.get("info", {}).get("title") or str(body)[:200])
            continue
        if kind != "ScenarioFinished":
            continue
        recorder = body["recorder"]
        for case_id, case in recorder.get("cases", {}).items():
            value = case["value"]
            operation = f"{value['method']} {value['path']}"
            if operation not in documented:
                operation = f"other methods on {value['path']}"
            cases[operation] += 1
            phases[body.get("phase", "?")] += 1
            for check in recorder.get("checks", {}).get(case_id, []):
                if check["status"] == "failure":
                    failures[operation].add(check["name"])
            interaction = recorder.get("interactions", {}).get(case_id)
            if interaction and interaction.get("response"):
                response = interaction["response"]
                requests[operation] += 1
                classes[operation][f"{response['status_code'] // 100}xx"] += 1
                slowest[operation] = max(slowest[operation], response.get("elapsed", 0.0))

total_failures = sum(len(f) for f in failures.values())
tested = [o for o in cases if o in documented]
print(f"Schemathesis against `chiffon serve` (embedded): {len(tested)} of {len(documented)} "
      f"documented operations, "
      f"{sum(cases.values())} cases, {sum(requests.values())} answered, "
      f"{total_failures} failed checks, {len(errors)} errors; "
      f"max examples {max_examples}, seed {seed}, {elapsed} s.")
print()
print("| operation | cases | 2xx | 4xx | 5xx | slowest (s) | failed checks |")
print("|---|---:|---:|---:|---:|---:|---|")
for operation in sorted(cases, key=lambda o: (o.split()[-1], o.startswith("other"), o)):
    c = classes[operation]
    print(f"| `{operation}` | {cases[operation]} | {c['2xx']} | {c['4xx']} | {c['5xx']} | "
          f"{slowest[operation]:.2f} | {', '.join(sorted(failures[operation])) or '—'} |")
print()
print("Cases per phase: " + ", ".join(f"{p} {n}" for p, n in sorted(phases.items())) + ".")
for error in errors:
    print(f"- error: {error}")
sys.exit(1 if total_failures or errors or any(c["5xx"] for c in classes.values()) else 0)
