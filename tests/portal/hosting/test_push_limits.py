"""How many refs one push may update (PORTAL_GIT_MAX_REFS_PER_PUSH): every branch head is a run and
every ref update is recorded, so a push of hundreds of branches is refused whole, with a sentence
the git client prints, before anything moves."""

import base64

import pytest

from portal.hosting.models import Push
from portal.hosting.receive import pkt
from portal.hosting.refpolicy import push_problems
from portal.scoring.models import Run
from tests.portal.hosting.conftest import repository_refs

ZERO = "0" * 40
SHA = "1" * 40
LIMIT = 20  # the default


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_push_of_more_refs_than_the_limit_is_refused_whole_with_a_sentence(work, created):
    git, dest = work
    before = repository_refs(created.invite)

    specs = [f"HEAD:refs/heads/topic-{n:03d}" for n in range(LIMIT + 1)]
    result = git.run("push", "origin", *specs, cwd=dest, check=False)

    assert result.returncode != 0
    assert (
        f"remote: refused: this push updates {LIMIT + 1} refs; at most {LIMIT} can be pushed at once. "
        "Push fewer branches at a time, for example: git push origin issue-1 issue-2"
    ) in result.stderr
    assert repository_refs(created.invite) == before
    assert not Push.objects.filter(invite=created.invite).exists()
    assert not Run.objects.filter(invite=created.invite).exists()


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_push_of_exactly_the_limit_is_accepted_and_scored_as_one_commit(work, created):
    git, dest = work

    specs = [f"HEAD:refs/heads/topic-{n:03d}" for n in range(LIMIT)]
    git.run("push", "-q", "origin", *specs, cwd=dest)

    [push] = Push.objects.filter(invite=created.invite)
    assert push.ref_updates.count() == LIMIT
    # Twenty names for one commit: the commit is scored once (with the starting point).
    assert Run.objects.filter(invite=created.invite).count() == 2


def test_the_limit_counts_tags_and_deletions_too():
    updates = [
        (ZERO, SHA, "refs/heads/a"),
        (ZERO, SHA, "refs/tags/v1"),
        (SHA, ZERO, "refs/heads/b"),
        (ZERO, SHA, "refs/tags/v2"),
    ]
    assert push_problems(updates, max_refs=3) == [
        "this push updates 4 refs; at most 3 can be pushed at once. "
        "Push fewer branches at a time, for example: git push origin issue-1 issue-2"
    ]


@pytest.mark.django_db
def test_the_limit_is_read_from_the_portals_setting_for_every_push(client, created, settings):
    """The git view reads the setting at each push, so a change applies to existing repositories."""
    settings.PORTAL_GIT_MAX_REFS_PER_PUSH = 7
    commands = [f"{ZERO} {SHA} refs/heads/topic-{n}".encode() for n in range(8)]
    commands[0] += b"\0report-status side-band-64k"
    credentials = base64.b64encode(f"{created.invite.public_id}:{created.git_token}".encode()).decode()
    response = client.post(
        f"/git/{created.invite.public_id}.git/git-receive-pack",
        data=b"".join(pkt(command + b"\n") for command in commands) + b"0000",
        content_type="application/x-git-receive-pack-request",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-git-receive-pack-result"
    assert b"refused: this push updates 8 refs; at most 7 can be pushed at once." in response.content
    assert b"ng refs/heads/topic-7 pre-receive hook declined" in response.content
    assert not Push.objects.filter(invite=created.invite).exists()
