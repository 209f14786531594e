"""A scoring worker that does not share the portal's disk fetches the commit over HTTP."""

import pytest

from portal.invites.services import candidate_get_or_create, invite_create
from portal.scoring.models import Run
from portal.scoring.services import commit_fetch, run_execute, run_queue, tree_export
from tests.support.candidates import push_reference_fix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def pushed(transactional_db, assessment_version, portal_server, settings, tmp_path):
    settings.PORTAL_INTERNAL_URL = portal_server.url
    candidate = candidate_get_or_create(name="Ann Example", email="ann@example.com")
    created = invite_create(candidate=candidate, assessment_version=assessment_version)
    return created.invite, push_reference_fix(portal_server.url, created, 6, tmp_path / "work")


def test_the_worker_credential_fetches_exactly_the_commit(pushed, tmp_path):
    invite, sha = pushed
    fetched = commit_fetch(invite=invite, commit=sha, destination=tmp_path / "fetched.git")
    tree = tmp_path / "tree"
    tree.mkdir()
    tree_export(repo=fetched, commit=sha, destination=tree)
    assert (tree / "app" / "api" / "routes" / "loans.py").read_text() != ""
    assert not (tree / ".git").exists()


def test_a_run_on_a_host_without_the_repository_scores_the_fetched_commit(pushed, monkeypatch, tmp_path):
    invite, sha = pushed
    run, _ = run_queue(invite=invite, commit=sha, ref="refs/heads/issue-6")
    # This worker's disk has no repositories (another host); the portal still serves them.
    monkeypatch.setattr("portal.scoring.services.repository_path", lambda _invite: tmp_path / "absent.git")
    run = run_execute(run_id=run.pk)
    assert run.status == Run.Status.FAILED, run.reason
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {6}
