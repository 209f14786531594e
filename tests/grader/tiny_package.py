"""A tiny assessment package, written by the tests that need one: fast to load, serve and grade.

Its app is the standard library's HTTP server on the package's unix socket (no dependency), with
one bug: GET /answer says 41 where its ticket #1 wants 42. One hidden test file, one visible test,
one reference fix. ``tiny_package`` writes it; its keyword arguments change one piece each.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

MANIFEST = """\
[assessment]
slug = "tiny"
title = "Tiny answer service"
version = "1.0.0"

[paths]
shipped = "project"
hidden_tests = "hidden_tests"
reference = "reference"
{paths}
[runtime]
python = "{python}"
requirements = "requirements.txt"

[app]
start = ["python", "-m", "app.server", "{{socket}}"]
ready_path = "/health"
startup_timeout_seconds = 10

[visible_tests]
command = {visible}
timeout_seconds = 60

[hidden_tests]
timeout_seconds = 30
request_timeout_seconds = 2
{hidden}
[[tickets]]
number = 1
title = "The answer is off by one"
points = 10
hidden_tests = ["test_ticket_1.py"]
visible_tests = ["tests/test_answer.py::test_the_answer_is_42"]
reference_patch = "ticket-1.patch"
"""

# pytest without the plugins installed beside it (the suite's interpreter has many): a second, not ten.
VISIBLE_COMMAND = [
    "python",
    "-c",
    "import os, sys; os.environ['PYTEST_DISABLE_PLUGIN_AUTOLOAD'] = '1'; import pytest; sys.exit(pytest.main())",
    *("-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit1", "--junitxml={junit}"),
]

SERVER = '''\
"""Serves GET /health and GET /answer on the unix socket named on the command line."""

import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

from app.logic import answer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"{}"
        elif self.path == "/answer":
            body = json.dumps({"value": answer()}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return "local"

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    Server(path, Handler).serve_forever()
'''

HIDDEN_TEST = """\
import pytest

pytestmark = pytest.mark.ticket(1)


def test_the_answer_is_42(client):
    assert client.get("/answer").json()["value"] == 42


def test_the_answer_is_even(client):
    assert client.get("/answer").json()["value"] % 2 == 0
"""

PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\njunit_family = xunit1\n"


def git_diff(project: Path, changes: dict[str, str]) -> str:
    """The patch, as `git diff` writes it, that gives each file of ``project`` named in changes its new text."""
    scratch = project.parent / "diff-scratch"
    subprocess.run(["cp", "-r", str(project), str(scratch)], check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=scratch, check=True)
    subprocess.run([*git, "add", "-A"], cwd=scratch, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=scratch, check=True)
    for name, text in changes.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_text(text)
    subprocess.run([*git, "add", "-A"], cwd=scratch, check=True)
    diff = subprocess.run([*git, "diff", "--cached"], cwd=scratch, check=True, capture_output=True, text=True)
    subprocess.run(["rm", "-rf", str(scratch)], check=True)
    return diff.stdout


def tiny_package(
    root: Path,
    *,
    python: str = "3.11",
    paths: str = "",
    hidden: str = "",
    hidden_test: str = HIDDEN_TEST,
    conftest: str | None = None,
    fix: dict[str, str] | None = None,
) -> Path:
    """Write the tiny package in root and return root.

    paths, hidden: more lines of [paths] and [hidden_tests]; hidden_test: the text of the hidden
    test file; conftest: a conftest.py for the hidden tests (none by default: the grader's plugin
    is all they need); fix: the files the reference fix writes (the right answer by default).
    """
    project = root / "project"
    files = {
        root / "assessment.toml": MANIFEST.format(
            python=python, paths=paths, hidden=hidden, visible=json.dumps(VISIBLE_COMMAND)
        ),
        project / "requirements.txt": "# nothing: the standard library serves it\n",
        project / "app" / "__init__.py": "",
        project / "app" / "logic.py": "def answer():\n    return 41\n",
        project / "app" / "server.py": SERVER,
        project / "tests" / "__init__.py": "",
        project / "tests" / "test_answer.py": textwrap.dedent("""\
            from app.logic import answer


            def test_the_answer_is_42():
                assert answer() == 42
            """),
        root / "hidden_tests" / "pytest.ini": PYTEST_INI,
        root / "hidden_tests" / "test_ticket_1.py": hidden_test,
    }
    if conftest is not None:
        files[root / "hidden_tests" / "conftest.py"] = conftest
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    patch = git_diff(project, fix if fix is not None else {"app/logic.py": "def answer():\n    return 42\n"})
    (root / "reference").mkdir()
    (root / "reference" / "ticket-1.patch").write_text(patch)
    return root
