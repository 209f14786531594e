"""The candidate's page and bundle, reached through the secret link only."""

import subprocess

import pytest
from django.urls import reverse

from portal.invites.models import Event
from portal.invites.services import invite_revoke, invite_submit
from portal.scoring.models import Run
from tests.support.candidates import candidate_commit
from tests.support.git import GitClient, remote_url


def test_the_page_shows_the_clone_url_and_credentials_and_records_the_first_opening(client, created, settings):
    page = client.get(reverse("invite_page", args=[created.link_token]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{settings.PORTAL_BASE_URL}/git/{created.invite.public_id}.git" in html
    assert created.git_token in html
    client.get(reverse("invite_page", args=[created.link_token]))
    assert created.invite.events.filter(kind=Event.Kind.OPENED).count() == 1
    assert "no-store" in page["Cache-Control"]


@pytest.mark.parametrize("token", ["not-a-token", "x" * 43])
def test_a_wrong_link_is_404(client, created, token):
    assert client.get(reverse("invite_page", args=[token])).status_code == 404
    assert client.get(reverse("invite_bundle", args=[token])).status_code == 404


def test_a_revoked_invites_link_stops_working(client, created):
    invite_revoke(invite=created.invite)
    assert client.get(reverse("invite_page", args=[created.link_token])).status_code == 404
    assert client.get(reverse("invite_bundle", args=[created.link_token])).status_code == 404


def test_the_tokens_are_stored_only_as_hashes(created):
    invite = created.invite
    stored = [invite.link_token_hash, invite.git_token_hash]
    assert created.link_token not in stored and created.git_token not in stored
    assert all(len(value) == 64 for value in stored)


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_bundle_clones_and_its_clone_pushes_back_to_the_portal(
    client, transactional_db, created, portal_server, tmp_path
):
    response = client.get(reverse("invite_bundle", args=[created.link_token]))
    assert response["Content-Disposition"] == 'attachment; filename="library-lending-api.bundle"'
    bundle = tmp_path / "library-lending-api.bundle"
    bundle.write_bytes(b"".join(response.streaming_content))
    git = GitClient(tmp_path / "home")
    work = tmp_path / "work"
    git.run("clone", "-q", str(bundle), str(work))
    assert git.run("log", "--format=%s", cwd=work).stdout.strip() == "Library lending API: starting point"
    assert git.run("bundle", "verify", str(bundle), cwd=work).returncode == 0
    portal = remote_url(portal_server.url, created.invite.public_id, created.invite.public_id, created.git_token)
    git.run("remote", "set-url", "origin", portal, cwd=work)
    git.run("checkout", "-q", "-b", "issue-4", cwd=work)
    git.commit_file(work, "fix.txt", "fix\n", "Fix: Resolve issue #4 - from the bundle")
    result = git.run("push", "origin", "issue-4", cwd=work)
    assert "remote: received issue-4" in result.stderr
    main_here = git.run("rev-parse", "origin/main", cwd=work, check=False).stdout.strip()
    main_there = subprocess.run(
        ["git", "ls-remote", portal, "refs/heads/main"], capture_output=True, text=True, env=git.env
    ).stdout.split()[0]
    assert main_here == main_there


def test_the_runs_fragment_lists_pushes_and_polls_while_the_invite_is_open_or_a_run_is_pending(
    client, created, tmp_path
):
    fragment = client.get(reverse("invite_runs", args=[created.link_token])).content.decode()
    assert "Nothing pushed yet" in fragment and 'hx-trigger="every 5s"' in fragment  # a push may come
    candidate_commit(created.invite, tmp_path / "work", branch="issue-1")
    fragment = client.get(reverse("invite_runs", args=[created.link_token])).content.decode()
    assert "issue-1" in fragment and "queued" in fragment and 'hx-trigger="every 5s"' in fragment
    Run.objects.filter(invite=created.invite).update(status=Run.Status.FAILED)
    fragment = client.get(reverse("invite_runs", args=[created.link_token])).content.decode()
    assert "scored" in fragment and "failed" not in fragment
    assert 'hx-trigger="every 5s"' in fragment  # still open: the next push may come
    invite_submit(invite=created.invite)
    fragment = client.get(reverse("invite_runs", args=[created.link_token])).content.decode()
    assert "scored" in fragment and "hx-trigger" not in fragment  # closed and nothing pending
