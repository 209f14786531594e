"""Git sign-in limits never refuse a right password because of someone else's failures.

Against the portal under gunicorn behind one trusted proxy (PORTAL_TRUSTED_PROXIES=1), so that each
request names its client in X-Forwarded-For as nginx would, and with the real git client. The server
keeps its default limits: 10 failures per (address, invite), 20 unknown ids per address.
"""

import base64
import http.client
from urllib.parse import urlsplit

import pytest
from django.db.models import Count

from portal.hosting.models import AuthFailure
from portal.hosting.services import FIRST_WAIT
from tests.support.factories import make_invite
from tests.support.git import GitClient, remote_url
from tests.support.server import running_portal
from tests.support.workers import database_url

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]

OFFICE = "198.51.100.7"
REFUSED = "Too many failed sign-ins"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    env = {"PORTAL_TRUSTED_PROXIES": "1"}
    with running_portal(db_url=url, log_dir=tmp_path_factory.mktemp("lockouts"), env=env) as portal:
        yield portal


@pytest.fixture
def git(tmp_path) -> GitClient:
    return GitClient(tmp_path / "home")


def _refs(server, public_id: str, password: str, client: str) -> tuple[int, dict[str, str], str]:
    """One advertisement request as git's first one, from ``client`` as the proxy reports it."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    credentials = base64.b64encode(f"{public_id}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "X-Forwarded-For": client}
    try:
        connection.request("GET", f"/git/{public_id}.git/info/refs?service=git-upload-pack", headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace")
    finally:
        connection.close()


def _unknown_id(n: int) -> str:
    """A well-formed public id that no invite has (ids are 16 random base32 letters)."""
    return f"aaaaaaaaaaaaaa{chr(97 + n // 26)}{chr(97 + n % 26)}"


def _clone(git: GitClient, server, created, dest, client: str, password: str | None = None, check=True):
    public_id = created.invite.public_id
    url = remote_url(server.url, public_id, public_id, password or created.git_token)
    return git.run("-c", f"http.extraHeader=X-Forwarded-For: {client}", "clone", "-q", url, str(dest), check=check)


def test_wrong_passwords_for_one_invite_lock_out_neither_a_neighbour_nor_the_right_password(
    server, assessment_version, git, tmp_path
):
    ann, bob = make_invite(assessment_version), make_invite(assessment_version, name="Bob Example")
    statuses = [_refs(server, ann.invite.public_id, f"guess-{n}", OFFICE)[0] for n in range(25)]
    assert statuses == [401] * 10 + [429] * 15
    _clone(git, server, bob, tmp_path / "bob", OFFICE)
    _clone(git, server, ann, tmp_path / "ann", OFFICE)
    assert (tmp_path / "bob" / ".git").is_dir() and (tmp_path / "ann" / ".git").is_dir()
    # Signing in cleared Ann's failures from the office: her next typo is a plain 401 again.
    assert _refs(server, ann.invite.public_id, "typo", OFFICE)[0] == 401


def test_failures_on_an_invite_from_three_addresses_do_not_block_its_right_password(server, created, git, tmp_path):
    public_id = created.invite.public_id
    # 60 wrong passwords in all: past the per-invite limit of 50 there used to be.
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        assert [_refs(server, public_id, "wrong", client)[0] for _ in range(20)][-1] == 429
    assert _refs(server, public_id, created.git_token, "203.0.113.1")[0] == 200
    _clone(git, server, created, tmp_path / "work", "192.0.2.50")
    assert (tmp_path / "work" / ".git").is_dir()


def test_a_failing_pair_gets_429_with_a_retry_after_that_grows(server, created, git, tmp_path):
    public_id = created.invite.public_id
    assert [_refs(server, public_id, "wrong", OFFICE)[0] for _ in range(10)] == [401] * 10
    answers = [_refs(server, public_id, "wrong", OFFICE) for _ in range(3)]
    assert [status for status, _, _ in answers] == [429] * 3
    assert [int(headers["Retry-After"]) for _, headers, _ in answers] == [FIRST_WAIT, 2 * FIRST_WAIT, 4 * FIRST_WAIT]
    assert answers[0][2] == f"{REFUSED}; try again in {FIRST_WAIT} seconds.\n"
    # git prints the sentence to the candidate who keeps using a wrong token.
    refused = _clone(git, server, created, tmp_path / "no", OFFICE, password="wrong", check=False)
    assert refused.returncode != 0
    assert f"remote: {REFUSED}; try again in {8 * FIRST_WAIT} seconds." in refused.stderr
    assert not (tmp_path / "no").exists()


def test_an_address_guessing_unknown_ids_is_refused_while_right_credentials_still_get_in(
    server, created, git, tmp_path
):
    guesses = [_refs(server, _unknown_id(n), "wrong", OFFICE) for n in range(21)]
    assert [status for status, _, _ in guesses] == [401] * 20 + [429]
    assert 0 < int(guesses[-1][1]["Retry-After"]) <= 600
    # A wrong password on an existing id gets the same answer, so it tells nothing about which exist.
    assert _refs(server, created.invite.public_id, "wrong", OFFICE)[0] == 429
    assert _refs(server, "cccccccccccccccc", "wrong", "192.0.2.50")[0] == 401
    _clone(git, server, created, tmp_path / "work", OFFICE)
    assert (tmp_path / "work" / ".git").is_dir()


def test_two_clients_behind_the_proxy_are_counted_apart(server, created):
    public_id = created.invite.public_id
    assert [_refs(server, public_id, "wrong", "192.0.2.10")[0] for _ in range(11)][-1] == 429
    assert _refs(server, public_id, "wrong", "192.0.2.11")[0] == 401
    counted = dict(AuthFailure.objects.values_list("address").annotate(n=Count("id")))
    assert counted == {"192.0.2.10": 11, "192.0.2.11": 1}
