"""The first push starts the clock, like a first clone, bundle download or the Start button.

A candidate who got the code another way (a copy of someone's clone) and only ever pushes must not
work without a time limit.
"""

from datetime import timedelta

import pytest

from portal.hosting.services import fetch_record, invite_start, repository_path
from portal.invites.models import Event
from tests.support.factories import make_invite, push_branches, record_push
from tests.support.git import GitClient, remote_url

ZERO = "0" * 40


def _kinds(invite) -> list[str]:
    return list(invite.events.order_by("at", "id").values_list("kind", flat=True))


def test_a_first_push_without_any_fetch_starts_a_time_limited_invites_clock(assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=4)).invite
    assert invite.started_at is None

    push_branches(invite, 1)

    invite.refresh_from_db()
    assert invite.started_at is not None
    assert invite.closes_at == invite.started_at + timedelta(hours=4)
    assert _kinds(invite) == [Event.Kind.INVITED, Event.Kind.STARTED, Event.Kind.PUSHED]
    assert invite.events.get(kind=Event.Kind.STARTED).data == {"via": "push", "address": "127.0.0.1"}


def test_later_pushes_neither_move_the_clock_nor_record_it_again(assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=4)).invite
    heads = push_branches(invite, 1)
    invite.refresh_from_db()
    started = invite.started_at

    record_push(invite, [(heads["issue-1"], ZERO, "refs/heads/issue-1")])

    invite.refresh_from_db()
    assert invite.started_at == started
    assert invite.events.filter(kind=Event.Kind.STARTED).count() == 1
    assert invite.events.filter(kind=Event.Kind.PUSHED).count() == 2


def test_a_push_after_a_clone_keeps_the_clone_as_the_start(assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=4)).invite
    fetch_record(invite=invite, address="127.0.0.1")
    invite.refresh_from_db()
    cloned = invite.started_at

    push_branches(invite, 1)

    invite.refresh_from_db()
    assert invite.started_at == cloned
    assert _kinds(invite) == [Event.Kind.INVITED, Event.Kind.CLONED, Event.Kind.PUSHED]


def test_the_start_button_after_a_push_changes_nothing(assessment_version):
    invite = make_invite(assessment_version).invite
    push_branches(invite, 1)
    invite.refresh_from_db()
    pushed = invite.started_at

    invite_start(invite=invite, via="button")

    invite.refresh_from_db()
    assert invite.started_at == pushed
    assert invite.events.filter(kind=Event.Kind.STARTED).count() == 1


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_push_from_a_copy_made_without_the_portal_starts_the_clock(portal_server, assessment_version, tmp_path):
    created = make_invite(assessment_version, time_limit=timedelta(hours=2))
    git = GitClient(tmp_path / "home")
    work = tmp_path / "work"
    # The code reached the candidate another way: a copy of the repository, never fetched from the portal.
    git.run("clone", "-q", str(repository_path(created.invite)), str(work))
    git.run("checkout", "-q", "-b", "issue-1", cwd=work)
    git.commit_file(work, "NOTES.md", "notes\n", "Fix: Resolve issue #1 - notes")
    url = remote_url(portal_server.url, created.invite.public_id, created.invite.public_id, created.git_token)

    git.run("push", url, "issue-1", cwd=work)

    created.invite.refresh_from_db()
    assert created.invite.started_at is not None
    assert created.invite.closes_at == created.invite.started_at + timedelta(hours=2)
    assert _kinds(created.invite) == [Event.Kind.INVITED, Event.Kind.STARTED, Event.Kind.PUSHED]
