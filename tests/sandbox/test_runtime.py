"""Runtimes: built once per requirements hash outside the sandbox, mounted read-only inside."""

from __future__ import annotations

import resource
import threading
from pathlib import Path

import pytest

from sandbox import Runtime, RuntimeBuildError, runtime_build, runtime_key
from sandbox.runtime import interpreter_identity

from .conftest import Host, Sandboxed

pytestmark = pytest.mark.timeout(300)


def test_the_runtime_is_the_interpreter_of_the_sandbox(sandboxed: Sandboxed, host: Host, runtime: Runtime) -> None:
    script = "import sys, pytest; print(sys.prefix, sys.executable, pytest.__version__, sys.flags.dont_write_bytecode)"

    result = sandboxed(["python", "-c", script], runtime=runtime)

    assert result.stdout.split() == [b"/runtime", b"/runtime/bin/python", b"9.2.0", b"1"]
    assert runtime.python == "/runtime/bin/python"
    host.assert_unaffected(result)


def test_pytest_runs_a_suite_inside_the_sandbox(sandboxed: Sandboxed, workdir: Path, runtime: Runtime) -> None:
    (workdir / "test_sample.py").write_text(
        "def test_ok():\n    assert 1 + 1 == 2\n\n\ndef test_no():\n    assert False\n"
    )

    result = sandboxed(["pytest", "-q", "-p", "no:cacheprovider", "--junitxml=report.xml"], runtime=runtime)

    assert result.exit_code == 1  # one test failed, as written
    assert b"1 failed, 1 passed" in result.stdout
    assert b'failures="1"' in (workdir / "report.xml").read_bytes()


def test_the_runtimes_scripts_and_bytecode_point_at_runtime(runtime: Runtime) -> None:
    assert (runtime.path / "bin" / "pytest").read_text().startswith("#!/runtime/bin/python")
    pycs = list((runtime.path / "lib").rglob("pytest/__pycache__/*.pyc"))
    assert pycs and all(b"/runtime/lib/" in p.read_bytes() for p in pycs[:3])
    # No build folder of this runtime left behind (other processes of the run may be building theirs here).
    assert not list(runtime.path.parent.glob(f".build-{runtime.key[:16]}-*"))


def test_two_concurrent_builds_of_one_runtime_do_not_collide(tmp_path: Path) -> None:
    built: list[Runtime] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            built.append(runtime_build(requirements=[], root=tmp_path))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({r.path for r in built}) == 1 and len(built) == 3
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [built[0].key]


def test_an_interpreter_outside_usr_is_refused(tmp_path: Path) -> None:
    import sys

    with pytest.raises(RuntimeBuildError, match=r"/usr/bin/python3\.11"):
        runtime_build(requirements=[], root=tmp_path, python=sys.executable)
    assert list(tmp_path.iterdir()) == []


def test_requirement_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeBuildError, match="options are not allowed"):
        runtime_build(requirements=["--index-url https://example.invalid/simple", "pytest"], root=tmp_path)


def test_the_runtime_key_ignores_order_comments_and_blank_lines(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned\nrequests==2.32.3\n\npytest==9.2.0  # tests\n")

    key = runtime_key(requirements=requirements)

    assert key == runtime_key(requirements=["pytest==9.2.0", "requests==2.32.3"])
    assert key != runtime_key(requirements=["pytest==9.2.0"])
    assert len(key) == 64


def test_an_interpreter_is_asked_who_it_is_once_per_process_not_once_per_run() -> None:
    first = interpreter_identity("/usr/bin/python3")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)

    again = [interpreter_identity("/usr/bin/python3") for _ in range(5)]

    # No interpreter was started (and reaped) for the five lookups: their CPU would show here.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (after.ru_utime, after.ru_stime) == (children.ru_utime, children.ru_stime)
    assert again == [first] * 5 and first["python"].startswith("/usr/")
    again[0]["version"] = "changed by a caller"  # each caller gets its own copy
    assert interpreter_identity("/usr/bin/python3") == first
