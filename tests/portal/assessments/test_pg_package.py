"""A package that declares [services] postgresql goes the portal's way: validation serves each state
with a fresh PostgreSQL beside the app and beside the visible tests, a pushed fix is scored the same
way, and once the runs are over nothing of them is left: no process of their slot uids, no file of
the server. Without services a runner is as before (tests/portal/scoring/test_second_built_in.py).
"""

import os
import tempfile
import time
from pathlib import Path

import pytest

from grader.manifest import load_manifest
from portal.assessments.runner import SandboxRunner, manifest_services
from portal.assessments.services import assessment_validate, assessment_version_install
from portal.scoring.models import Run
from sandbox import PostgreSQL, Runtime
from sandbox.slots import processes_of_uid
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
# PostgreSQL 15's server is a test package (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.

EXAMPLE = ROOT / "examples" / "loans-pg"
# Slot uids of this module's own (per pytest-xdist worker), so that what is left after its runs is
# never another test's run: the default range is 64000-64031, tests/sandbox's from 64500.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
VISIBLE = {
    1: "tests/test_loans.py::test_two_loans_of_the_last_unit_at_the_same_moment_cannot_both_succeed",
    2: "tests/test_tools.py::test_a_returned_unit_is_available_again",
}
UID_BASE, SLOTS = 64200 + 8 * _WORKER, 8


@pytest.fixture
def own_slots(monkeypatch, tmp_path):
    """Every sandbox of the test runs as one of this module's slot uids; afterwards none is left running,
    and no file of a PostgreSQL server is left in the temporary folder the runs worked in."""
    monkeypatch.setenv("PORTAL_SANDBOX_UID_BASE", str(UID_BASE))
    monkeypatch.setenv("PORTAL_SANDBOX_SLOTS", str(SLOTS))
    monkeypatch.setenv("PORTAL_SANDBOX_STATE_DIR", f"/run/portal-sandbox-pg-tests-{_WORKER}")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the runners' scratch folders go here
    yield scratch
    uids = range(UID_BASE, UID_BASE + SLOTS)
    deadline = time.monotonic() + 20  # a bound, not a measurement: teardown kills them at once
    while any(processes_of_uid(uid) for uid in uids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {uid: processes_of_uid(uid) for uid in uids if processes_of_uid(uid)} == {}
    assert _server_files(scratch) == []


def _server_files(folder: Path) -> list[str]:
    """What a PostgreSQL server of a run could leave: its folder in /work, its socket, its cluster."""
    found = []
    for path in folder.rglob("*"):
        if path.name in (".services", ".s.PGSQL.5432", "PG_VERSION", "postmaster.pid"):
            found.append(str(path.relative_to(folder)))
    return found


def test_the_manifest_declares_postgresql():
    assert load_manifest(EXAMPLE).services == ("postgresql",)


def test_a_runner_for_a_package_with_services_needs_them():
    manifest = load_manifest(EXAMPLE)
    runtime = Runtime(path=Path("/nonexistent"), key="x" * 64, python_version="3.11.2", requirements=())
    with pytest.raises(ValueError, match=r"declares \[services\] postgresql: give the runner services="):
        SandboxRunner(manifest=manifest, runtime=runtime)


def test_a_package_without_services_gets_none(tmp_path):
    assert manifest_services(load_manifest(ROOT / "assessment_app"), services_dir=tmp_path) == ()
    assert list(tmp_path.iterdir()) == []  # no template built for it


def test_the_example_validates_in_the_sandbox(db, own_slots):
    report = assessment_validate(package_dir=EXAMPLE, flake_runs=3)
    assert report.ok, report.table(verbose=True)
    names = [check.name for check in report.checks]
    assert "concurrency test fails in all 5 runs as shipped" in names
    assert "concurrency test passes in all 5 runs with fix #1 alone" in names


@pytest.mark.parametrize("number", [1, 2])
def test_a_pushed_reference_fix_earns_exactly_its_ticket(db, tmp_path, own_slots, number):
    invite = make_invite(assessment_version_install(package_dir=EXAMPLE)).invite
    patch = EXAMPLE / "reference" / f"ticket-{number}.patch"
    sha = candidate_commit(invite, tmp_path / "work", branch=f"issue-{number}", patch=patch)
    scored = score_commit(invite, sha)
    assert scored.status == Run.Status.FAILED, scored.reason  # the other ticket still fails
    assert {verdict.ticket for verdict in scored.verdicts.filter(passed=True)} == {number}
    assert scored.verdicts.count() == 2
    # The candidate's own tests ran against a database of their own too: only the other ticket's fails.
    other = VISIBLE[3 - number]
    assert (scored.visible["total"], scored.visible["failed"]) == (6, [other]), scored.visible.get("output")


def test_the_service_template_is_built_once_and_kept(settings):
    templates = list((Path(settings.PORTAL_CACHE_DIR) / "services").glob("postgresql-*"))
    assert len(templates) == 1 and (templates[0] / "data" / "PG_VERSION").is_file()
    assert PostgreSQL(template=templates[0]).env()["DATABASE_URL"] == "postgresql://app@/app?host=/work/.services/pg"
