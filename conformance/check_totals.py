"""Compares one run of the MCP conformance suite with a committed expected file.

    python3 check_totals.py EXPECTED RESULTS_DIR SUITE_OUTPUT [--write]

RESULTS_DIR is the suite's `--output-dir`: one `<prefix>-<scenario>-<time>/checks.json`
per scenario run (prefix `server` or `authorization-server`). SUITE_OUTPUT is
what the suite printed. Every check in those files is counted by status. The
suite's own summary (`Total: N passed, M failed`) leaves WARNING checks out and
its exit code ignores them, so the counts come from checks.json, and the
summary line is only cross-checked against them. INFO checks are trace messages
(requests sent, events received); they are counted and shown, not compared.

Scored and not scored. A `--requirements <revision>` run also runs scenarios
that the revision does not score (extensions such as tasks, scenarios still
pending or added after the release); the suite lists them after its summary
under `Not scored for <revision>:`, and so does this script. Everything not in
that list is scored.

Exits 1, printing every difference, when
  - a scored scenario has a FAILURE check (whatever EXPECTED says), or a check
    has a status this script does not know;
  - the scored scenarios run, a scored scenario's passed or warning count, or
    the scored totals (scenarios, passed, failed, warnings, skipped) differ
    from EXPECTED. Warnings (the suite's SHOULD-level findings) do not fail by
    themselves: they are pinned, so one more, or one fewer, is a difference.
Differences in the not-scored scenarios (one added, removed, passing more or
less) are printed as notes and never fail the run: they are work in progress
upstream, recorded in EXPECTED so that a change shows in the log and in the
diff of the next regeneration.

With --write, (re)writes EXPECTED from this run instead and exits 0.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

KNOWN = ("SUCCESS", "FAILURE", "WARNING", "SKIPPED", "INFO")
TOTALS = ("scenarios", "passed", "failed", "warnings", "skipped")
HEADER = """\
# Expected result of one run of the official MCP conformance suite (version
# pinned in conformance/package-lock.json) made by conformance/run.sh:
#   {what}
# run.sh fails when a scored scenario has a failed check, and on any difference
# in the scored part below (a scenario missing or added, a passed or warning
# count that changed, a total). Warnings are SHOULD-level findings, pinned here
# so that a new one shows. `not-scored` lines are scenarios the suite runs but
# does not score for this requirement set (extensions, pending): a difference
# there is reported as a note and never fails the run.
# After a deliberate change (a new suite version, a new server feature),
# regenerate every expected file with
#   CONFORMANCE_WRITE_EXPECTED=1 bash conformance/run.sh
# and review the diff.
"""

# `<prefix>-<scenario>-<ISO time with : and . replaced by ->`.
TIME_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
PREFIXES = ("authorization-server-", "server-")
# `  ✗ tasks-lifecycle (extension)` under `Not scored for 2026-07-28: …`.
NOT_SCORED_LINE = re.compile(r"^\s+[✓✗]\s+(\S+)\s+\((.*)\)\s*$")


def scenario_name(directory: str) -> str:
    name = TIME_SUFFIX.sub("", directory)
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def tally(results: Path) -> tuple[dict[str, Counter], dict[str, list[str]], list[str]]:
    """Counts per scenario, the messages of its failed/warning/skipped checks, and problems."""
    per_scenario: dict[str, Counter] = {}
    findings: dict[str, list[str]] = {}
    problems = []
    for checks_file in sorted(results.rglob("checks.json")):
        # A scenario named `a/b` is saved under `server-a/b-<time>/`.
        name = scenario_name(checks_file.parent.relative_to(results).as_posix())
        if name in per_scenario:
            problems.append(f"scenario {name} was run twice")
        counts: Counter = Counter()
        notes = []
        for check in json.loads(checks_file.read_text()):
            status = check.get("status", "<none>")
            counts[status] += 1
            if status not in KNOWN:
                problems.append(f"scenario {name}: check {check.get('name')} has unknown status {status}")
            elif status in ("FAILURE", "WARNING", "SKIPPED"):
                message = " ".join(str(check.get("errorMessage") or check.get("description")).split())
                notes.append(f"{status} {check.get('name')}: {message[:300]}")
        per_scenario[name] = counts
        findings[name] = notes
    return per_scenario, findings, problems


def not_scored(text: str) -> dict[str, str]:
    """Scenario → reason, from the suite's `Not scored for …` section (empty if none)."""
    found: dict[str, str] = {}
    section = False
    for line in text.splitlines():
        if re.match(r"^Not scored for \S+:", line):
            section = True
            continue
        if section:
            m = NOT_SCORED_LINE.match(line)
            if not m:
                break
            found[m.group(1)] = m.group(2)
    return found


def read_expected(path: Path):
    totals: dict[str, int] = {}
    scored: dict[str, tuple[int, int]] = {}
    unscored: dict[str, tuple[int, int]] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        try:
            if line[0] == "scenario" and len(line) in (3, 5) and (len(line) == 3 or line[3] == "warnings"):
                scored[line[1]] = (int(line[2]), int(line[4]) if len(line) == 5 else 0)
            elif line[0] == "not-scored" and len(line) == 4:
                unscored[line[1]] = (int(line[2]), int(line[3]))
            elif line[0] in TOTALS and len(line) == 2:
                totals[line[0]] = int(line[1])
            else:
                raise ValueError
        except ValueError:
            raise SystemExit(f"{path}:{number}: cannot parse {raw.strip()!r}") from None
    missing = [k for k in TOTALS if k not in totals]
    if missing:
        raise SystemExit(f"{path}: no line for {', '.join(missing)}")
    return totals, scored, unscored


def render(
    what: str, actual: dict[str, int], per_scenario, findings, reasons: dict[str, str]
) -> str:
    lines = [HEADER.format(what=what)]
    lines += [f"{k} {actual[k]}" for k in TOTALS]
    lines += ["", "# scored: passed checks per scenario (and warnings, when there are any)"]
    for name, c in sorted(per_scenario.items()):
        if name in reasons:
            continue
        warn = f" warnings {c['WARNING']}" if c["WARNING"] else ""
        lines.append(f"scenario {name} {c['SUCCESS']}{warn}")
        for note in findings[name]:
            lines.append(f"#   {note}")
    if reasons:
        lines += ["", "# not scored: passed and failed checks per scenario (reason)"]
        for name, c in sorted(per_scenario.items()):
            if name in reasons:
                lines.append(f"not-scored {name} {c['SUCCESS']} {c['FAILURE']}  # {reasons[name]}")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--write"]
    write = "--write" in sys.argv[1:]
    if len(args) != 3:
        raise SystemExit(__doc__)
    expected_path, results, output = Path(args[0]), Path(args[1]), Path(args[2])

    per_scenario, findings, problems = tally(results)
    text = output.read_text(errors="replace")
    reasons = not_scored(text)
    for name in sorted(reasons.keys() - per_scenario.keys()):
        problems.append(f"the suite lists {name} as not scored, but wrote no results for it")

    everything: Counter = Counter()
    scored_total: Counter = Counter()
    for name, counts in per_scenario.items():
        everything.update(counts)
        if name not in reasons:
            scored_total.update(counts)
    actual = {
        "scenarios": sum(1 for name in per_scenario if name not in reasons),
        "passed": scored_total["SUCCESS"],
        "failed": scored_total["FAILURE"],
        "warnings": scored_total["WARNING"],
        "skipped": scored_total["SKIPPED"],
    }
    print(
        f"scored (from checks.json): {actual['scenarios']} scenarios, {actual['passed']} passed, "
        f"{actual['failed']} failed, {actual['warnings']} warnings, {actual['skipped']} skipped; "
        f"not scored: {len(reasons)} scenarios, "
        f"{everything['SUCCESS'] - actual['passed']} passed, {everything['FAILURE'] - actual['failed']} failed "
        f"({everything['INFO']} info messages, not compared)"
    )

    # The suite's own summary must agree with what its files say.
    summary = re.findall(r"^Total: (\d+) passed, (\d+) failed", text, re.M)
    announced = re.findall(r"^Running .*\((\d+) scenarios\)", text, re.M)
    if len(summary) != 1:
        problems.append(f"expected one 'Total: N passed, M failed' line in {output}, found {len(summary)}")
    elif (int(summary[0][0]), int(summary[0][1])) != (everything["SUCCESS"], everything["FAILURE"]):
        problems.append(
            f"the suite's summary says {summary[0][0]} passed, {summary[0][1]} failed; "
            f"its checks.json files say {everything['SUCCESS']} passed, {everything['FAILURE']} failed"
        )
    if len(announced) != 1:
        problems.append(f"expected one 'Running … (N scenarios)' line in {output}, found {len(announced)}")
    elif int(announced[0]) != len(per_scenario):
        problems.append(f"the suite announced {announced[0]} scenarios but wrote results for {len(per_scenario)}")

    for name, counts in sorted(per_scenario.items()):
        if name not in reasons and counts["FAILURE"]:
            problems.append(f"scored scenario {name} failed:")
            problems += [f"    {note}" for note in findings[name] if note.startswith("FAILURE")]

    if write:
        what = re.search(r"^Running (.*) against (\S+)", text, re.M)
        # `## ` lines are hand-written notes; a regeneration keeps them at
        # the top.
        kept = []
        if expected_path.exists():
            kept = [line for line in expected_path.read_text().splitlines() if line.startswith("## ")]
        body = render(what.group(1) if what else "?", actual, per_scenario, findings, reasons)
        expected_path.write_text("".join(f"{line}\n" for line in kept) + body)
        print(f"wrote {expected_path}")
        for p in problems:
            print(f"  note: {p}")
        return 0

    expected_totals, expected_scored, expected_unscored = read_expected(expected_path)
    for key in TOTALS:
        if actual[key] != expected_totals[key]:
            problems.append(f"{key}: expected {expected_totals[key]}, got {actual[key]}")
    scored = {name: c for name, c in per_scenario.items() if name not in reasons}
    for name in sorted(expected_scored.keys() - scored.keys()):
        problems.append(f"scored scenario {name}: expected, not run (or no longer scored)")
    for name in sorted(scored.keys() - expected_scored.keys()):
        problems.append(f"scored scenario {name}: run, not in {expected_path.name}")
    for name in sorted(expected_scored.keys() & scored.keys()):
        got = (scored[name]["SUCCESS"], scored[name]["WARNING"])
        if got != expected_scored[name]:
            problems.append(
                f"scenario {name}: expected {expected_scored[name][0]} passed and "
                f"{expected_scored[name][1]} warnings, got {got[0]} and {got[1]}"
            )
            problems += [f"    {note}" for note in findings[name]]

    notes = []
    unscored = {name: per_scenario[name] for name in reasons if name in per_scenario}
    for name in sorted(expected_unscored.keys() - unscored.keys()):
        notes.append(f"not-scored scenario {name}: expected, not run (or now scored)")
    for name in sorted(unscored.keys() - expected_unscored.keys()):
        notes.append(f"not-scored scenario {name} ({reasons[name]}): run, not in {expected_path.name}")
    for name in sorted(expected_unscored.keys() & unscored.keys()):
        got = (unscored[name]["SUCCESS"], unscored[name]["FAILURE"])
        if got != expected_unscored[name]:
            notes.append(
                f"not-scored scenario {name} ({reasons[name]}): expected {expected_unscored[name][0]} passed, "
                f"{expected_unscored[name][1]} failed; got {got[0]} and {got[1]}"
            )
    if notes:
        print(f"not-scored scenarios differ from {expected_path.name} (reported, not a failure):")
        for n in notes:
            print(f"  - {n}")

    if problems:
        print(f"conformance run differs from {expected_path}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"conformance results match {expected_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
