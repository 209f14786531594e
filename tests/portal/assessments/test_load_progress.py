"""Loading a package says what it does while it does it: the runtime's build, each state of the
validation as it is played, then the summary, each line as it comes, also through a pipe.

The package is the built-in one with nothing in its requirements and no decoys: its runtime builds
in seconds and every state fails at once (no uvicorn), so the whole load takes seconds, not minutes.
"""

import io
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from grader.manifest import load_manifest
from portal.assessments.services import assessment_runtime
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def quick_package(tmp_path_factory) -> Path:
    package = tmp_path_factory.mktemp("quick") / "pkg"
    shutil.copytree(ROOT / "assessment_app", package, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    (package / "project" / "requirements.txt").write_text("")
    shutil.rmtree(package / "decoys")
    manifest = package / "assessment.toml"
    manifest.write_text(manifest.read_text().replace('decoys = "decoys"\n', ""))
    return package


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory) -> Path:
    """A cache with no runtime in it yet (the module's tests share it)."""
    return tmp_path_factory.mktemp("cache")


class Chunks(io.RawIOBase):
    """What reaches the other end of a pipe: one entry per write the buffer above lets through."""

    def __init__(self):
        self.chunks: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data).decode())
        return len(data)


def _piped() -> tuple[io.TextIOWrapper, Chunks]:
    """A text stream buffered like stdout on a pipe: nothing leaves it before a flush or 64 KiB."""
    chunks = Chunks()
    return io.TextIOWrapper(io.BufferedWriter(chunks, buffer_size=64 * 1024)), chunks


def test_loading_prints_the_runtime_build_then_each_state_then_the_summary_as_each_happens(
    db, settings, tmp_path, quick_package, fresh_cache
):
    settings.PORTAL_CACHE_DIR = fresh_cache
    settings.PORTAL_DATA_DIR = tmp_path / "data"
    stdout, pipe = _piped()
    with pytest.raises(CommandError, match="Refused: "):
        call_command("load_assessment", str(quick_package), stdout=stdout)
    stdout.flush()
    lines = "".join(pipe.chunks).splitlines()

    assert lines[0].startswith("Building the sandbox runtime (pip installs the package's requirements.txt")
    assert lines[1].startswith("Sandbox runtime built in ")
    [runtime] = (fresh_cache / "runtimes").glob("[!.]*")
    assert lines[1].endswith(f" s: {runtime}")
    assert lines[2].startswith("Validating: ")
    tickets = [ticket.number for ticket in load_manifest(quick_package).tickets]
    states = {"shipped", *(f"fix-{number}" for number in tickets), "all-fixes"}
    played = lines[3 : 3 + len(states)]
    assert {line.partition(":")[0] for line in played} == states
    assert all(" s" in line for line in played), played
    summary = lines[3 + len(states)]
    assert summary.startswith("Validated in ")
    assert summary.endswith(" checks passed.")
    assert any("FAILED" in line for line in lines[4 + len(states) :])  # then the table of checks
    # Each line left when it was printed, not with the rest at the end.
    assert lines[0] + "\n" in pipe.chunks
    with_shipped = next(chunk for chunk in pipe.chunks if "\nshipped: " in f"\n{chunk}")
    assert "Validated in" not in with_shipped


def test_a_runtime_built_already_is_said_to_be_found(quick_package, fresh_cache, settings):
    settings.PORTAL_CACHE_DIR = fresh_cache
    manifest = load_manifest(quick_package)
    assessment_runtime(manifest=manifest, progress=lambda _line: None)  # built here if the test above did not run
    said: list[str] = []
    runtime = assessment_runtime(manifest=manifest, progress=said.append)
    assert said == [f"Sandbox runtime found: {runtime.path}"]
