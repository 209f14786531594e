"""Per-test outcomes from ``go test -json``'s report (test2json's events, one JSON object a line).

The report is the visible test command's standard output: go test writes it there, so the runners
take that stream (capped by whoever captured it) and need no file in the candidate's tree. The
candidate's code runs in the same process tree and can print anything there, so everything is
read defensively: lines that are not an event are ignored, sizes and counts are capped, and nothing
raises but on a report too large to be one (MAX_REPORT_BYTES, cut first).

A test's id is its name (subtests joined by "/", as go names them: "TestCount/empty"), after its
package's path inside the module ("store/TestCount/empty"); a test of the module's root package is
its name alone. A package that failed without running a test (it did not build, or it crashed
before its first test) is an "error" outcome named by its path ("store", "." for the root).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .junit import MESSAGE_LIMIT, TestOutcome

MAX_REPORT_BYTES = 8 * 1024 * 1024  # read of a report at most; the rest is dropped
MAX_LINE_BYTES = 64 * 1024  # an event longer than this is no event of go's
MAX_TESTS = 10_000  # tests kept; the rest of a report naming more is ignored
MAX_NAME = 500  # characters of a package or test name
OUTPUT_KEPT = 4 * MESSAGE_LIMIT  # characters of output kept per test, for its failure's message
_MODULE_LINE = re.compile(r"^\s*module\s+\"?([^\s\"]+)\"?\s*(?://.*)?$", re.MULTILINE)
# Lines go test prints around a test's own output: what a failure message is without them.
_FRAME = re.compile(r"^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP)):? ")
# go test's own line for a package it could not test (not an event in go 1.19's -json output).
_BROKEN = re.compile(r"^FAIL\t(\S+) \[(?:build|setup) failed\]$")
_OUTCOMES = {"pass": "passed", "fail": "failed", "skip": "skipped"}


def go_module_path(go_mod: str | Path) -> str:
    """The module path a go.mod declares ("example.com/counter"), "" if it declares none."""
    try:
        text = Path(go_mod).read_text(encoding="utf-8", errors="replace")[:MAX_LINE_BYTES]
    except OSError:
        return ""
    match = _MODULE_LINE.search(text)
    return match.group(1) if match else ""


@dataclass
class _Test:
    package: str
    name: str  # "" for the package itself
    outcome: str = ""  # "" until an event ends it
    elapsed: float = 0.0
    output: list[str] = field(default_factory=list)
    kept: int = 0

    def add_output(self, text: str) -> None:
        if self.kept < OUTPUT_KEPT:
            self.output.append(text[: OUTPUT_KEPT - self.kept])
            self.kept += len(self.output[-1])


def _events(report: bytes):
    """The JSON objects of ``report``'s lines, skipping anything else; a package that did not build
    (go 1.19 says so in a plain line) as the event of its failure."""
    for line in report[:MAX_REPORT_BYTES].splitlines():
        if len(line) > MAX_LINE_BYTES:
            continue
        if broken := _BROKEN.match(line.decode(errors="replace")):
            yield {"Action": "output", "Package": broken[1], "Output": broken[0]}
            yield {"Action": "fail", "Package": broken[1]}
            continue
        if not line.startswith(b"{"):
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            continue
        if isinstance(event, dict):
            yield event


def _text(event: dict, key: str) -> str:
    value = event.get(key, "")
    return value[:MAX_NAME] if isinstance(value, str) else ""


def _seconds(event: dict) -> float:
    value = event.get("Elapsed")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return 0.0


def _package_path(package: str, module: str) -> str:
    if module and package == module:
        return "."
    if module and package.startswith(module + "/"):
        return package[len(module) + 1 :]
    return package


def _message(test: _Test) -> str:
    lines = "".join(test.output).splitlines()
    kept = [line for line in lines if not _FRAME.match(line)] or lines
    return "\n".join(kept).strip()[:MESSAGE_LIMIT]


def parse_go_test_json(report: bytes | str, *, module: str = "") -> list[TestOutcome]:
    """Every test of a ``go test -json`` report, in the order they started, named by their package's
    path inside ``module`` and their name. A test that started and never ended (its package crashed
    or was killed) failed; a failed package with no test is an error named by its path."""
    data = report.encode(errors="replace") if isinstance(report, str) else bytes(report)
    tests: dict[tuple[str, str], _Test] = {}
    packages: dict[str, _Test] = {}
    for event in _events(data):
        action, package, name = _text(event, "Action"), _text(event, "Package"), _text(event, "Test")
        if not package:
            continue
        if not name:
            entry = packages.setdefault(package, _Test(package, ""))
        elif (package, name) in tests or len(tests) < MAX_TESTS:
            entry = tests.setdefault((package, name), _Test(package, name))
        else:
            continue
        if action == "output":
            output = event.get("Output")
            if isinstance(output, str):
                entry.add_output(output)
        elif action in _OUTCOMES and not entry.outcome:
            entry.outcome, entry.elapsed = _OUTCOMES[action], _seconds(event)
    outcomes = [
        TestOutcome(
            test_id=f"{path}/{test.name}" if (path := _package_path(test.package, module)) != "." else test.name,
            ticket=None,
            outcome=test.outcome or "failed",
            duration=test.elapsed,
            message=_message(test) if test.outcome != "passed" else "",
        )
        for test in tests.values()
    ]
    tested = {test.package for test in tests.values()}
    for package in packages.values():
        if package.outcome == "failed" and package.package not in tested:
            outcomes.append(
                TestOutcome(
                    test_id=_package_path(package.package, module),
                    ticket=None,
                    outcome="error",
                    duration=package.elapsed,
                    message=_message(package),
                )
            )
    return outcomes


def go_test_text(report: bytes | str, *, limit: int = MAX_REPORT_BYTES) -> str:
    """What ``go test`` would have printed without -json: each event's output and every other line,
    at most ``limit`` characters from the end (for a person reading why the visible tests failed)."""
    data = report.encode(errors="replace") if isinstance(report, str) else bytes(report)
    parts: list[str] = []
    for line in data[-MAX_REPORT_BYTES:].splitlines(keepends=True):
        event = None
        if line.startswith(b"{") and len(line) <= MAX_LINE_BYTES:
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                event = None
        if isinstance(event, dict):
            output = event.get("Output")
            parts.append(output if isinstance(output, str) else "")
        else:
            parts.append(line.decode(errors="replace"))
    return "".join(parts)[-limit:]
