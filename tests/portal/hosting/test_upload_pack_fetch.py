"""An upload-pack POST sent without the advertisement request (GET info/refs) that git clients send
first still starts a time-limited invite's clock and is recorded as a clone or fetch; a real
client's requests of one clone (the advertisement, then its POSTs) are recorded once."""

from datetime import timedelta

import pytest

from portal.hosting.models import Repository
from portal.invites.models import Event
from tests.support.factories import make_invite
from tests.support.git import GitClient, git_service_post, remote_url

# The portal runs in another process under gunicorn: the invites must be committed for it to see them.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]

FLUSH = b"0000"
DELIM = b"0001"


def _pkt(line: str) -> bytes:
    data = line.encode()
    return b"%04x" % (len(data) + 4) + data


def _v2_fetch(sha: str) -> tuple[bytes, dict[str, str]]:
    """A protocol v2 `command=fetch` asking for ``sha`` and done: what `git clone` sends last."""
    body = _pkt("command=fetch\n") + DELIM + _pkt(f"want {sha}\n") + _pkt("done\n") + FLUSH
    return body, {"Git-Protocol": "version=2"}


def _v0_fetch(sha: str) -> tuple[bytes, dict[str, str]]:
    """The original protocol's want, flush and done, without capabilities."""
    return _pkt(f"want {sha}\n") + FLUSH + _pkt("done\n"), {}


def _post_upload_pack(server, created, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    headers = {"Accept": "application/x-git-upload-pack-result", **headers}
    return git_service_post(
        server.url, created.invite.public_id, created.git_token, "git-upload-pack", body, headers, timeout=30
    )


def _kinds(invite) -> list[str]:
    return list(invite.events.values_list("kind", flat=True))


@pytest.mark.parametrize("request_for", [_v2_fetch, _v0_fetch], ids=["protocol v2", "protocol v0"])
def test_a_post_without_the_advertisement_starts_the_clock_and_records_a_clone(
    portal_server, assessment_version, request_for
):
    created = make_invite(assessment_version, time_limit=timedelta(hours=2))
    base = Repository.objects.get(invite=created.invite).base_commit
    status, data = _post_upload_pack(portal_server, created, *request_for(base))
    assert status == 200
    assert b"PACK" in data  # the code was sent
    created.invite.refresh_from_db()
    assert created.invite.started_at is not None
    assert created.invite.closes_at == created.invite.started_at + timedelta(hours=2)
    assert _kinds(created.invite) == [Event.Kind.INVITED, Event.Kind.CLONED]
    cloned = created.invite.events.get(kind=Event.Kind.CLONED)
    assert cloned.data == {"address": "127.0.0.1"}


def test_the_same_post_again_moments_later_is_part_of_the_same_fetch(portal_server, assessment_version):
    created = make_invite(assessment_version, time_limit=timedelta(hours=2))
    base = Repository.objects.get(invite=created.invite).base_commit
    for _ in range(3):
        status, _data = _post_upload_pack(portal_server, created, *_v2_fetch(base))
        assert status == 200
    assert _kinds(created.invite) == [Event.Kind.INVITED, Event.Kind.CLONED]


@pytest.mark.parametrize("version", ["2", "0"])
def test_a_git_clone_then_fetch_is_recorded_once_each(portal_server, assessment_version, tmp_path, version):
    created = make_invite(assessment_version)
    git = GitClient(tmp_path / "home")
    url = remote_url(portal_server.url, created.invite.public_id, created.invite.public_id, created.git_token)
    work = tmp_path / "work"
    trace = git.run("-c", f"protocol.version={version}", "clone", url, str(work), env={"GIT_TRACE_CURL": "1"})
    assert "POST /git/" in trace.stderr  # the clone's advertisement was followed by its POSTs
    git.run("-c", f"protocol.version={version}", "fetch", "origin", cwd=work)
    assert _kinds(created.invite) == [Event.Kind.INVITED, Event.Kind.CLONED, Event.Kind.FETCHED]
