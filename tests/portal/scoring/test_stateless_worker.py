"""A scoring worker with no data directory: it fetches the assessment by content hash and the
commit by id from the web server, with the worker credential, and keeps both in its cache."""

import subprocess
import sys
import urllib.error
import urllib.request
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.assessments.services import PackageFetchError, version_package, version_snapshot
from portal.core.workers import worker_authorization, worker_token
from portal.scoring.models import Run
from portal.scoring.services import run_execute
from tests.support.candidates import push_reference_fix
from tests.support.workers import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def remote_host(portal_server, created, settings, tmp_path):
    """This process plays a worker of another host: no data directory, a cache of its own, and the
    web server's worker token given explicitly (docs/operations.md).

    The invite (``created``) and its version are made first, by the portal's side."""
    data = settings.PORTAL_DATA_DIR
    settings.PORTAL_WORKER_GIT_TOKEN = worker_token()
    settings.PORTAL_INTERNAL_URL = portal_server.url
    settings.PORTAL_DATA_DIR = None
    settings.PORTAL_CACHE_DIR = tmp_path / "cache"
    return data


def _get(url: str, authorization: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_package_is_fetched_by_hash_verified_and_cached(remote_host, assessment_version, settings):
    package = version_package(assessment_version)
    assert package == settings.PORTAL_CACHE_DIR / "assessments" / assessment_version.content_hash
    assert (package / "assessment.toml").is_file()
    assert (package / "hidden_tests").is_dir()  # the whole package: the worker runs the hidden tests
    assert version_package(assessment_version) == package  # cached: no second download


def test_the_package_endpoint_wants_the_worker_credential(portal_server, assessment_version):
    url = f"{portal_server.url}/internal/assessments/{assessment_version.content_hash}.tar.gz"
    assert _get(url) == 401
    assert _get(url, "Basic d29ya2VyOndyb25n") == 401  # worker:wrong
    assert _get(url, worker_authorization()) == 200
    assert _get(url.replace(assessment_version.content_hash, "0" * 64), worker_authorization()) == 404
    assert _get(f"{portal_server.url}/internal/assessments/..%2f..%2fsecret.tar.gz", worker_authorization()) == 404


def test_a_package_that_does_not_match_its_hash_is_refused(remote_host, assessment_version, settings):
    settings.PORTAL_DATA_DIR = remote_host
    tickets = version_snapshot(assessment_version) / assessment_version.shipped_subdir / "tickets.md"
    original = tickets.read_text()
    tickets.write_text(original + "\nEdited on the server after it was loaded.\n")
    settings.PORTAL_DATA_DIR = None
    try:
        with pytest.raises(PackageFetchError, match=r"has content hash \w+; refused"):
            version_package(assessment_version)
    finally:
        tickets.write_text(original)
    assert not (settings.PORTAL_CACHE_DIR / "assessments" / assessment_version.content_hash).exists()


def test_an_unreachable_portal_is_a_clear_error(created, assessment_version, settings, tmp_path):
    settings.PORTAL_WORKER_GIT_TOKEN = worker_token()
    settings.PORTAL_DATA_DIR = None
    settings.PORTAL_CACHE_DIR = tmp_path / "cache"
    settings.PORTAL_INTERNAL_URL = "http://127.0.0.1:9"  # discard: nothing listens
    with pytest.raises(PackageFetchError, match="could not be reached"):
        version_package(assessment_version)


def test_runs_are_scored_from_fetched_objects(remote_host, created, settings, tmp_path, portal_server):
    sha = push_reference_fix(portal_server.url, created, 6, tmp_path / "work")
    invite = created.invite
    for run_id in Run.objects.filter(invite=invite, status=Run.Status.QUEUED).values_list("pk", flat=True):
        run_execute(run_id=run_id)
    run = Run.objects.get(invite=invite, commit=sha)
    assert run.status == Run.Status.FAILED, run.reason  # scored: ticket 6 passes, the others do not
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {6}
    assert (settings.PORTAL_CACHE_DIR / "repos" / f"{invite.public_id}.git").is_dir()
    assert (settings.PORTAL_CACHE_DIR / "runtimes").is_dir()  # built on first use


def test_a_worker_without_data_refuses_the_default_queue_at_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PORTAL_DATA_DIR": "", "PORTAL_VAR_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--queues", "default,scoring"]
    started = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "this worker has no data directory (PORTAL_DATA_DIR is empty), so it can only score" in started.stderr


@pytest.mark.parametrize(
    "command", [["load_assessment", str(ROOT / "assessment_app")], ["rescore", "--assessment", "library-lending-api"]]
)
def test_commands_that_need_the_data_say_so_on_a_host_without_it(command, created, settings):
    settings.PORTAL_DATA_DIR = None
    with pytest.raises(CommandError, match=r"This host has no data directory \(PORTAL_DATA_DIR is empty\)"):
        call_command(*command, stdout=StringIO())
