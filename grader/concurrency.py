"""Tests whose verdict depends on requests served at the same time: a pytest plugin.

A hidden test marked ``@pytest.mark.concurrency`` can pass or fail by how requests happen to
interleave, so validation runs each one several times in every state where it is judged, and
requires the same verdict every time. run_hidden_tests loads this plugin with
``-p grader.concurrency`` on every run:

- each marked test carries ``concurrency`` in its JUnit properties, so the grader knows which
  outcomes are concurrency-sensitive (the conftest's ``ticket`` property works the same way);
- with ``GRADER_REPEAT_CONCURRENCY=N`` (and ``-m concurrency`` to leave the others out), each
  marked test runs N times, as N parametrised items ``[repeat-1-of-N]``... whose own ids seed
  their own data; ``repeated_test_id`` gives back the test's id without that part;
- with ``GRADER_REPEAT_OTHERS=N`` (and ``-m "not concurrency"``), every other test runs N times
  the same way: validation's search for flaky tests (grader.validate).
"""

from __future__ import annotations

import os
import re

import pytest

MARKER = "concurrency"
REPEAT_ENV = "GRADER_REPEAT_CONCURRENCY"
REPEAT_OTHERS_ENV = "GRADER_REPEAT_OTHERS"
PROPERTY = "concurrency"
_REPEAT_ID = re.compile(r"repeat-\d+-of-\d+")


def repeated_test_id(test_id: str) -> str:
    """The id of a test without the repeat this plugin gave it: "f.py::t[repeat-2-of-5]" -> "f.py::t"."""
    stripped = _REPEAT_ID.sub("", test_id).replace("[-", "[").replace("-]", "]").replace("--", "-")
    return stripped.removesuffix("[]")


def _repeats(name: str) -> int:
    try:
        return max(int(os.environ.get(name) or 0), 0)
    except ValueError:
        raise pytest.UsageError(f"{name} should be a whole number") from None


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: its verdict depends on requests served at the same time")


def pytest_generate_tests(metafunc) -> None:
    marked = metafunc.definition.get_closest_marker(MARKER) is not None
    count = _repeats(REPEAT_ENV if marked else REPEAT_OTHERS_ENV)
    if count:
        metafunc.fixturenames.append("_grader_repeat")
        metafunc.parametrize(
            "_grader_repeat", range(1, count + 1), ids=[f"repeat-{n}-of-{count}" for n in range(1, count + 1)]
        )


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            item.user_properties.append((PROPERTY, "1"))
