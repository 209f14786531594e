"""Per-test outcomes from pytest's JUnit XML report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MESSAGE_LIMIT = 1000


@dataclass(frozen=True)
class TestOutcome:
    """The result of one test: passed, failed, error (broke outside its assertions) or skipped."""

    __test__ = False  # not a pytest test class

    test_id: str  # "test_ticket_3.py::test_name[param]"
    ticket: int | None
    outcome: str
    duration: float
    message: str = ""
    properties: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def guard(self) -> bool:
        """A regression guard (``@pytest.mark.guard``): must pass in every state, counts for no ticket's verdict."""
        return self.properties.get("guard") == "1"

    @property
    def points(self) -> int | None:
        """The test's share of its ticket (``ticket(2, points=3)``); None when its marker gives none."""
        value = self.properties.get("points", "")
        return int(value) if value.isdigit() and int(value) > 0 else None


def _test_id(case: ET.Element) -> str:
    name = case.get("name", "")
    classname = case.get("classname", "")
    path = case.get("file")
    if not path:
        # Without a file attribute (junit_family=xunit2), rebuild the path from the dotted module name.
        path = classname.replace(".", "/") + ".py" if classname else "<unknown>"
        return f"{path}::{name}"
    module = path.removesuffix(".py").replace("/", ".")
    if classname.startswith(module + "."):
        # A test method: keep its class in the id.
        return f"{path}::{classname[len(module) + 1 :].replace('.', '::')}::{name}"
    return f"{path}::{name}"


def _message(element: ET.Element) -> str:
    text = element.get("message") or (element.text or "").strip()
    return text[:MESSAGE_LIMIT]


def _outcome(case: ET.Element, test_id: str) -> TestOutcome:
    properties = {prop.get("name", ""): prop.get("value", "") for prop in case.iter("property")}
    failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
    if failure is not None:
        outcome, message = "failed", _message(failure)
    elif error is not None:
        outcome, message = "error", _message(error)
    elif skipped is not None:
        outcome, message = "skipped", _message(skipped)
    else:
        outcome, message = "passed", ""
    ticket = properties.get("ticket")
    return TestOutcome(
        test_id=test_id,
        ticket=int(ticket) if ticket and ticket.isdigit() else None,
        outcome=outcome,
        duration=float(case.get("time") or 0.0),
        message=message,
        properties=properties,
    )


def parse_junit(path: str | Path) -> list[TestOutcome]:
    """Every testcase of a JUnit XML report, in report order. Tickets come from a "ticket" property, if any."""
    # The report comes from the trusted pytest process, never from candidate code.
    root = ET.parse(path).getroot()  # noqa: S314
    return [_outcome(case, _test_id(case)) for case in root.iter("testcase")]


# node --test's JUnit reporter names no file (every testcase's classname is "test"); it nests each
# describe() (or test with subtests) as a <testsuite>. A test's id is the path of its suites and its
# own name: "notes > paging > the second page starts after the first".
NODE_SEPARATOR = " > "


def parse_node_junit(path: str | Path) -> list[TestOutcome]:
    """Every testcase of a ``node --test --test-reporter=junit`` report, in report order, each named by
    its suites and its name joined with " > " (a file that fails to load is a testcase named by its path)."""
    # Read like pytest's report: a regular file the sandbox's copy-back or the trusted grader wrote.
    root = ET.parse(path).getroot()  # noqa: S314
    outcomes: list[TestOutcome] = []

    def walk(element: ET.Element, suites: tuple[str, ...]) -> None:
        for child in element:
            if child.tag == "testsuite":
                walk(child, (*suites, child.get("name", "")))
            elif child.tag == "testcase":
                outcomes.append(_outcome(child, NODE_SEPARATOR.join((*suites, child.get("name", "")))))

    walk(root, ())
    return outcomes
