"""Packages in Go: the manifest's [runtime] kind = "go" and its build step, go test -json's report read
as the visible tests' outcomes (hostile output included), and the build in the real sandbox: the
example package, examples/go-counter, compiled with the host's go (/usr/bin/go, Debian's golang-go).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.gotest import MAX_TESTS, MESSAGE_LIMIT, go_module_path, parse_go_test_json
from grader.local import BuildError, LocalRunner
from grader.manifest import ManifestError, host_go, load_manifest
from grader.run import run_hidden_tests
from portal.assessments.runner import SandboxRunner
from sandbox.runtime import go_env, go_runtime_build
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "go-counter"
GO = "/usr/bin/go"

# Debian's golang-go is a test package (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.


def _example_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the example whose assessment.toml has ``new`` in place of ``old``."""
    package = shutil.copytree(EXAMPLE, tmp_path / "go-counter")
    manifest = package / "assessment.toml"
    assert old in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(old, new))
    return package


@pytest.fixture(scope="module")
def go_runtime(tmp_path_factory):
    return go_runtime_build(root=tmp_path_factory.mktemp("runtimes"))


def _module(path: Path, files: dict[str, str]) -> Path:
    """A Go module at ``path`` (module example.com/m) with these files."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "go.mod").write_text("module example.com/m\n\ngo 1.19\n")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _go_test_json(module: Path) -> bytes:
    """What `go test -json ./...` writes on its standard output in ``module``, run as the runners run it."""
    env = {**go_env(str(module)), "PATH": "/usr/bin:/bin", "HOME": str(module)}
    out = subprocess.run([GO, "test", "-json", "./..."], cwd=module, env=env, capture_output=True, timeout=300)
    return out.stdout


def test_the_example_builds_its_app_with_the_hosts_go():
    manifest = load_manifest(EXAMPLE)
    assert (manifest.runtime_kind, manifest.go, manifest.requirements) == ("go", "1.19", "go.mod")
    assert manifest.interpreter == GO
    assert manifest.build_argv(GO) == [GO, "build", "-o", ".portal/app", "."]
    assert manifest.build_timeout == 60
    assert manifest.app.command(GO, socket="/s", workdir="/w") == ["./.portal/app", "/s"]
    assert manifest.visible_test_command(GO, junit="/j") == [GO, "test", "-json", "./..."]


def test_a_go_package_without_a_build_command_is_refused(tmp_path):
    package = _example_with(tmp_path, 'build = ["go", "build", "-o", ".portal/app", "."]\n', "")
    with pytest.raises(ManifestError, match=r"\[runtime\] build: a package in Go needs the command that compiles"):
        load_manifest(package)


def test_a_go_version_the_host_lacks_is_refused_naming_the_one_it_has(tmp_path):
    package = _example_with(tmp_path, 'go = "1.19"', 'go = "1.22"')
    has = ".".join(host_go().split(".")[:2])
    with pytest.raises(
        ManifestError, match=rf"""go = "1.22": this host's go is {re.escape(host_go())} .*go = "{has}\""""
    ):
        load_manifest(package)


def test_a_go_version_is_major_and_minor(tmp_path):
    with pytest.raises(ManifestError, match=r"""'go' should be a version such as "1.19", not 'go1.19'"""):
        load_manifest(_example_with(tmp_path, 'go = "1.19"', 'go = "go1.19"'))


def test_a_python_key_in_a_go_runtime_is_refused(tmp_path):
    package = _example_with(tmp_path, 'go = "1.19"', 'go = "1.19"\nrequirements = "requirements.txt"')
    with pytest.raises(ManifestError, match=r"\[runtime\] requirements: not a key of a go runtime"):
        load_manifest(package)


def test_a_go_package_is_a_module(tmp_path):
    package = _example_with(tmp_path, 'go = "1.19"', 'go = "1.19"')
    (package / "project" / "go.mod").unlink()
    with pytest.raises(ManifestError, match=r"go.mod not found in .*: a package in Go is a module"):
        load_manifest(package)


def test_go_tests_outcomes_are_read_from_a_real_report(tmp_path):
    module = _module(
        tmp_path / "m",
        {
            "m_test.go": (
                'package m\nimport "testing"\n'
                "func TestPasses(t *testing.T) {}\n"
                'func TestFails(t *testing.T) { t.Errorf("got %d, want %d", 1, 2) }\n'
                'func TestSkips(t *testing.T) { t.Skip("not here") }\n'
                "func TestCases(t *testing.T) {\n"
                '\tt.Run("empty", func(t *testing.T) {})\n'
                '\tt.Run("one item", func(t *testing.T) { t.Fatal("boom") })\n'
                "}\n"
            ),
            "store/store_test.go": 'package store\nimport "testing"\nfunc TestStore(t *testing.T) {}\n',
            "broken/broken_test.go": 'package broken\nimport "testing"\nfunc TestX(t *testing.T) { undefined() }\n',
        },
    )
    outcomes = {
        o.test_id: o for o in parse_go_test_json(_go_test_json(module), module=go_module_path(module / "go.mod"))
    }
    assert {test_id: o.outcome for test_id, o in outcomes.items()} == {
        "TestPasses": "passed",
        "TestFails": "failed",
        "TestSkips": "skipped",
        "TestCases": "failed",
        "TestCases/empty": "passed",
        "TestCases/one_item": "failed",
        "store/TestStore": "passed",
        "broken": "error",
    }
    assert outcomes["TestFails"].message == "m_test.go:4: got 1, want 2"
    assert outcomes["TestCases/one_item"].message == "m_test.go:8: boom"
    assert "[build failed]" in outcomes["broken"].message


def _event(**fields) -> bytes:
    return json.dumps({"Package": "example.com/m", **fields}).encode() + b"\n"


def test_garbage_in_a_report_is_ignored_and_never_raises():
    report = b"".join(
        [
            b"not json at all\n",
            b"{broken json\n",
            b"[1, 2, 3]\n",
            b"{" * 100_000 + b"\n",  # nested past any parser's depth, and longer than an event
            b"[" * 5_000 + b"]" * 5_000 + b"\n",
            json.dumps({"Action": "pass", "Package": 3, "Test": ["x"]}).encode() + b"\n",
            _event(Action="run", Test={"a": 1}),
            _event(Action="pass", Test="TestOdd", Elapsed="soon"),
            b'{"Action": "pass", "Package": "example.com/m", "Test": "TestNaN", "Elapsed": NaN}\n',
            _event(Action="output", Test="TestOdd", Output=["not", "text"]),
            b"\xff\xfe\x00binary\n",
        ]
    )
    outcomes = parse_go_test_json(report, module="example.com/m")
    assert [(o.test_id, o.outcome, o.duration) for o in outcomes] == [
        ("TestOdd", "passed", 0.0),
        ("TestNaN", "passed", 0.0),
    ]


def test_a_report_naming_endless_tests_keeps_a_bounded_number():
    report = b"".join(_event(Action="pass", Test=f"Test{n}") for n in range(MAX_TESTS + 5_000))
    outcomes = parse_go_test_json(report, module="example.com/m")
    assert len(outcomes) == MAX_TESTS


def test_a_tests_huge_output_and_name_are_cut():
    name = "Test" + "x" * 5_000
    chunk = "y" * 50_000
    report = b"".join([_event(Action="run", Test=name)] + [_event(Action="output", Test=name, Output=chunk)] * 200)
    report += _event(Action="fail", Test=name)
    [outcome] = parse_go_test_json(report, module="example.com/m")
    assert outcome.outcome == "failed"
    assert len(outcome.test_id) <= 500
    assert len(outcome.message) <= MESSAGE_LIMIT


def test_a_test_that_started_and_never_ended_failed():
    report = _event(Action="run", Test="TestHangs") + _event(Action="output", Test="TestHangs", Output="panic: oh\n")
    [outcome] = parse_go_test_json(report, module="example.com/m")
    assert (outcome.test_id, outcome.outcome, outcome.message) == ("TestHangs", "failed", "panic: oh")


def test_a_module_that_imports_what_it_does_not_vendor_does_not_build_and_downloads_nothing(tmp_path):
    package = _example_with(tmp_path, 'go = "1.19"', 'go = "1.19"')
    tree = package / "project"
    main = tree / "main.go"
    main.write_text(main.read_text().replace('"strings"\n', '"strings"\n\n\t"github.com/gorilla/mux"\n'))
    (tree / "extra.go").write_text("package main\n\nvar _ = mux.NewRouter\n")
    runner = LocalRunner(manifest=load_manifest(package))  # on the host, where the network is not cut
    with pytest.raises(
        BuildError, match=r"github.com/gorilla/mux: not in the standard library nor in the module's vendor folder"
    ):
        runner.build(tree)
    assert not (tree / ".cache" / "go" / "pkg" / "mod").exists()  # nothing was downloaded into the module cache
    assert not (tree / ".portal" / "app").exists()


def test_the_sandbox_builds_the_app_that_it_then_serves_and_tests(go_runtime, tmp_path):
    manifest = load_manifest(EXAMPLE)
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    runner = SandboxRunner(manifest=manifest, runtime=go_runtime)
    runner.build(tree)
    assert os.access(tree / ".portal" / "app", os.X_OK)
    assert (tree / ".cache" / "go-build").is_dir()  # the cache the visible tests' go test reuses
    visible = runner.run_visible_tests(tree)
    assert visible.returncode != 0
    failed = {o.test_id: o.ticket for o in visible.outcomes if not o.passed}
    assert failed == {"counters/TestIncrementRefusesAmountsBelowOne": 1, "counters/TestNamesIgnoreCase": 2}
    with runner.start_app(tree) as socket:
        hidden = run_hidden_tests(socket, manifest=manifest)
    assert {o.ticket for o in hidden.outcomes if not o.passed} == {1, 2}
    assert all(o.passed for o in hidden.outcomes if o.guard)


def test_a_build_that_does_not_compile_says_why(go_runtime, tmp_path):
    manifest = load_manifest(EXAMPLE)
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    (tree / "broken.go").write_text('package main\n\nvar broken int = "text"\n')
    with pytest.raises(BuildError, match=r"the build exited with code 2:\n(.|\n)*broken.go:3:18: cannot use \"text\""):
        SandboxRunner(manifest=manifest, runtime=go_runtime).build(tree)


def test_a_build_that_loops_forever_is_stopped_at_its_cpu_limit(go_runtime, tmp_path):
    package = _example_with(
        tmp_path,
        'build = ["go", "build", "-o", ".portal/app", "."]\nbuild_timeout_seconds = 60',
        'build = ["go", "generate", "."]\nbuild_timeout_seconds = 2',
    )
    # A code generator of the candidate's that never ends, which the build runs.
    (package / "project" / "gen.go").write_text('package main\n\n//go:generate sh -c "while :; do :; done"\n')
    manifest = load_manifest(package)
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    runner = SandboxRunner(manifest=manifest, runtime=go_runtime)
    for _ in range(5):  # a build the busy host starved (the wall clock's net, not its CPU) is tried again
        with pytest.raises(BuildError) as failed:
            runner.build(tree)
        if not failed.value.starved:
            break
    assert str(failed.value).startswith("the build was stopped at its CPU limit of 2 s"), str(failed.value)
    assert failed.value.usage.cpu >= 1.5  # its own CPU, not the wall clock, ended it


def test_python_and_node_packages_have_no_build_step(tmp_path):
    for package in (ROOT / "examples" / "node-notes", ROOT / "assessment_app"):
        manifest = load_manifest(package)
        assert manifest.build_command == ()
        tree = tmp_path / manifest.slug
        tree.mkdir()
        LocalRunner(manifest=manifest).build(tree)
        assert list(tree.iterdir()) == []


def test_a_go_runtime_is_built_once_per_go(go_runtime, tmp_path):
    assert go_runtime.kind == "go"
    assert go_runtime.interpreter == os.path.realpath(GO)
    assert go_runtime_build(root=go_runtime.path.parent).path == go_runtime.path
