"""A scoring worker that does not share the portal's disk fetches the commit over HTTP."""

import pytest

from portal.scoring.export import commit_fetch, tree_export
from tests.support.candidates import push_reference_fix

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
