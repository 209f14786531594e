"""A scoring worker that does not share the portal's disk fetches the commit over HTTP."""

import pytest

from portal.scoring.export import commit_fetch, tree_export
from portal.scoring.models import Run
from tests.support.candidates import push_reference_fix
from tests.support.factories import score_all

# The portal runs in another process: the invite must be committed for it to see it.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pushed(portal_server, created, settings, tmp_path):
    settings.PORTAL_INTERNAL_URL = portal_server.url
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
    # This worker's disk has no repositories (another host); the portal still serves them.
    monkeypatch.setattr("portal.scoring.services.repository_path", lambda _invite: tmp_path / "absent.git")
    score_all(invite)  # the runs the push queued: the starting point and issue-6
    base = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
    assert base.status == Run.Status.FAILED and base.verdicts.filter(passed=True).count() == 0, base.reason
    run = Run.objects.get(invite=invite, commit=sha)
    assert run.ref == "refs/heads/issue-6"
    assert run.status == Run.Status.FAILED, run.reason
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {6}
