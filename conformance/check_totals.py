"""Compares one run of the MCP conformance suite with conformance/expected.txt.

    python3 check_totals.py EXPECTED RESULTS_DIR SUITE_OUTPUT [--write]

RESULTS_DIR is the suite's `--output-dir`: one `<scenario>-<time>/checks.json`
per scenario run. SUITE_OUTPUT is what the suite printed. Every check in those
files is counted by status. The suite's own summary (`Total: N passed, M
failed`) leaves WARNING checks out and its exit code ignores them, so the
counts come from checks.json, and the summary line is only cross-checked
against them. INFO checks are trace messages (requests sent, events received);
they are counted and shown, not compared.

Exits 1, printing every difference, when the scenarios run, a scenario's
passed count, or the total passed, failed or warning checks differ from
EXPECTED, or when a check has a status this script does not know. With
--write, (re)writes EXPECTED from this run instead.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

KNOWN = ("SUCCESS", "FAILURE", "WARNING", "INFO")
TOTALS = ("scenarios", "passed", "failed", "warnings")
HEADER = """\
# Expected result of `bash conformance/run.sh` (the official MCP conformance
# suite, `--suite all`, at the version pinned in package-lock.json, against the
# conformance-server fixture). run.sh fails on any difference: a scenario
# missing or added, a passed count that changed, any failed or warning check.
# After a deliberate change (a new suite version), regenerate with
#   CONFORMANCE_WRITE_EXPECTED=1 bash conformance/run.sh
# and review the diff.
"""


def scenario_name(directory: str) -> str:
    # `<prefix>-<scenario>-<ISO time with : and . replaced by ->`; the server
    # command's prefix is `server`.
    name = re.sub(r"-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$", "", directory)
    return name.removeprefix("server-")


def tally(results: Path) -> tuple[dict[str, Counter], list[str]]:
    per_scenario: dict[str, Counter] = {}
    problems = []
    for checks_file in sorted(results.rglob("checks.json")):
        # A scenario named `a/b` is saved under `server-a/b-<time>/`.
        name = scenario_name(checks_file.parent.relative_to(results).as_posix())
        if name in per_scenario:
            problems.append(f"scenario {name} was run twice")
        counts: Counter = Counter()
        for check in json.loads(checks_file.read_text()):
            status = check.get("status", "<none>")
            counts[status] += 1
            if status not in KNOWN:
                problems.append(
                    f"scenario {name}: check {check.get('name')} has unknown status {status}"
                )
            elif status in ("FAILURE", "WARNING"):
                problems.append(
                    f"scenario {name}: {status} {check.get('name')}: "
                    f"{check.get('errorMessage') or check.get('description')}"
                )
        per_scenario[name] = counts
    return per_scenario, problems


def read_expected(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    totals: dict[str, int] = {}
    scenarios: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        if line[0] == "scenario" and len(line) == 3:
            scenarios[line[1]] = int(line[2])
        elif line[0] in TOTALS and len(line) == 2:
            totals[line[0]] = int(line[1])
        else:
            raise SystemExit(f"{path}:{number}: cannot parse {' '.join(line)!r}")
    missing = [k for k in TOTALS if k not in totals]
    if missing:
        raise SystemExit(f"{path}: no line for {', '.join(missing)}")
    return totals, scenarios


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--write"]
    write = "--write" in sys.argv[1:]
    if len(args) != 3:
        raise SystemExit(__doc__)
    expected_path, results, output = Path(args[0]), Path(args[1]), Path(args[2])

    per_scenario, problems = tally(results)
    total: Counter = Counter()
    for counts in per_scenario.values():
        total.update(counts)
    actual = {
        "scenarios": len(per_scenario),
        "passed": total["SUCCESS"],
        "failed": total["FAILURE"],
        "warnings": total["WARNING"],
    }
    print(
        f"conformance totals (from checks.json): {actual['scenarios']} scenarios, "
        f"{actual['passed']} passed, {actual['failed']} failed, "
        f"{actual['warnings']} warnings ({total['INFO']} info messages, not compared)"
    )

    # The suite's own summary must agree with what its files say.
    text = output.read_text(errors="replace")
    summary = re.findall(r"^Total: (\d+) passed, (\d+) failed", text, re.M)
    announced = re.findall(r"^Running \w+ suite \((\d+) scenarios\)", text, re.M)
    if len(summary) != 1:
        problems.append(f"expected one 'Total: N passed, M failed' line in {output}, found {len(summary)}")
    elif (int(summary[0][0]), int(summary[0][1])) != (actual["passed"], actual["failed"]):
        problems.append(
            f"the suite's summary says {summary[0][0]} passed, {summary[0][1]} failed; "
            f"its checks.json files say {actual['passed']} passed, {actual['failed']} failed"
        )
    if len(announced) != 1:
        problems.append(f"expected one 'Running … suite (N scenarios)' line in {output}, found {len(announced)}")
    elif int(announced[0]) != actual["scenarios"]:
        problems.append(
            f"the suite announced {announced[0]} scenarios but wrote results for {actual['scenarios']}"
        )

    if write:
        lines = [HEADER]
        lines += [f"{k} {actual[k]}" for k in TOTALS]
        lines.append("")
        lines.append("# passed checks per scenario")
        lines += [f"scenario {name} {c['SUCCESS']}" for name, c in sorted(per_scenario.items())]
        expected_path.write_text("\n".join(lines) + "\n")
        print(f"wrote {expected_path}")
        for p in problems:
            print(f"  note: {p}")
        return 0

    expected_totals, expected_scenarios = read_expected(expected_path)
    for key in TOTALS:
        if actual[key] != expected_totals[key]:
            problems.append(f"{key}: expected {expected_totals[key]}, got {actual[key]}")
    for name in sorted(expected_scenarios.keys() - per_scenario.keys()):
        problems.append(f"scenario {name}: expected, not run")
    for name in sorted(per_scenario.keys() - expected_scenarios.keys()):
        problems.append(f"scenario {name}: run, not in {expected_path.name}")
    for name in sorted(expected_scenarios.keys() & per_scenario.keys()):
        got = per_scenario[name]["SUCCESS"]
        if got != expected_scenarios[name]:
            problems.append(f"scenario {name}: expected {expected_scenarios[name]} passed, got {got}")

    if problems:
        print(f"conformance run differs from {expected_path}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"conformance totals match {expected_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
