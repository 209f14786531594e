"""A package whose app runs on Node.js: its runtime is node with its lockfile's dependencies (npm ci,
once per lockfile and node), found by the app in the sandbox. Validating and scoring the example
package: test_example_packages.py.
"""

import shutil
from pathlib import Path

import pytest

from sandbox import Limits, MiB, run
from sandbox.runtime import node_runtime_build
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
]
# Debian's node and npm are test packages (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.

EXAMPLE = ROOT / "examples" / "node-notes"


def test_the_sandboxed_app_finds_the_modules_of_its_runtime(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE / "project", project)
    runtime = node_runtime_build(project=project, root=tmp_path / "runtimes")
    assert (runtime.kind, runtime.interpreter) == ("node", "/usr/bin/node")
    # What npm ci would have installed from a lockfile that named it.
    module = Path(runtime.path, "node_modules", "greeting")
    module.mkdir()
    (module / "index.js").write_text("module.exports = 'hello from /runtime';\n")
    module.chmod(0o755)
    (module / "index.js").chmod(0o644)
    result = run(
        argv=[runtime.interpreter, "-e", "console.log(require('greeting'))"],
        workdir=project,
        runtime=runtime,
        env=runtime.env,
        limits=Limits(wall_time=60, cpu_time=10, memory=256 * MiB),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().strip() == "hello from /runtime"


def test_a_runtime_is_built_once_per_lockfile(tmp_path):
    project = shutil.copytree(EXAMPLE / "project", tmp_path / "project")
    first = node_runtime_build(project=project, root=tmp_path / "runtimes")
    assert node_runtime_build(project=project, root=tmp_path / "runtimes").path == first.path
    package = project / "package.json"
    package.write_text(package.read_text().replace('"version": "1.0.0"', '"version": "1.0.1"'))
    lock = project / "package-lock.json"
    lock.write_text(lock.read_text().replace('"version": "1.0.0"', '"version": "1.0.1"'))
    assert node_runtime_build(project=project, root=tmp_path / "runtimes").path != first.path
