from datetime import timedelta

import pytest
from django.utils import timezone

from portal.hosting.models import AuthFailure
from portal.hosting.services import (
    FIRST_WAIT,
    auth_failure_record,
    auth_failures_clear,
    auth_failures_prune,
    link_failure_record,
)

pytestmark = pytest.mark.engines

UNKNOWN = "aaaaaaaaaaaaaaaa"


def _fail(times: int, *, address: str, username: str, now=None) -> list[int | None]:
    return [auth_failure_record(address=address, username=username, now=now) for _ in range(times)]


def test_a_pair_waits_only_past_its_limit_and_the_wait_doubles_up_to_the_window(invite, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_PAIR = 3
    settings.PORTAL_GIT_AUTH_WINDOW = 600
    waits = _fail(10, address="10.0.0.1", username=invite.public_id)
    assert waits == [None] * 3 + [FIRST_WAIT * 2**n for n in range(5)] + [600, 600]
    assert AuthFailure.objects.filter(known=True).count() == 9  # nothing added once the wait is the window
    assert auth_failure_record(address="10.0.0.2", username=invite.public_id) is None


def test_failures_on_an_invite_from_many_addresses_never_add_up(invite, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_PAIR = 2
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        _fail(5, address=address, username=invite.public_id)
    assert auth_failure_record(address="10.0.0.4", username=invite.public_id) is None


def test_an_address_guessing_unknown_ids_waits_for_any_wrong_credential(invite, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS = 3
    settings.PORTAL_GIT_AUTH_MAX_PER_PAIR = 10
    settings.PORTAL_GIT_AUTH_WINDOW = 600
    assert [auth_failure_record(address="10.0.0.1", username=f"guess{n:011d}") for n in range(3)] == [None] * 3
    assert 590 <= auth_failure_record(address="10.0.0.1", username="guess99999999999") <= 600
    # An existing id answers the same, so the answer does not tell which ids exist.
    assert auth_failure_record(address="10.0.0.1", username=invite.public_id) is not None
    assert auth_failure_record(address="10.0.0.2", username=UNKNOWN) is None
    assert AuthFailure.objects.filter(address="10.0.0.1", known=False).count() == 3  # no growth while blocked


def test_wrong_passwords_on_an_existing_invite_do_not_count_as_guessing(invite, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS = 2
    settings.PORTAL_GIT_AUTH_MAX_PER_PAIR = 10
    _fail(5, address="10.0.0.1", username=invite.public_id)
    assert auth_failure_record(address="10.0.0.1", username=UNKNOWN) is None


def test_the_guessing_limit_lifts_when_the_failures_leave_the_window(db, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS = 2
    settings.PORTAL_GIT_AUTH_WINDOW = 600
    earlier = timezone.now() - timedelta(seconds=601)
    _fail(1, address="10.0.0.1", username="guess00000000001", now=earlier)
    _fail(1, address="10.0.0.1", username="guess00000000002", now=earlier)
    assert auth_failure_record(address="10.0.0.1", username="guess00000000003") is None


def test_signing_in_clears_only_that_pairs_failures(invite, settings):
    _fail(3, address="10.0.0.1", username=invite.public_id)
    _fail(2, address="10.0.0.2", username=invite.public_id)
    auth_failures_clear(address="10.0.0.1", username=invite.public_id)
    assert list(AuthFailure.objects.values_list("address", flat=True).distinct()) == ["10.0.0.2"]


def test_wrong_links_never_count_against_git_sign_ins(db, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS = 2
    settings.PORTAL_GIT_AUTH_MAX_PER_PAIR = 2
    for _ in range(5):
        link_failure_record(address="10.0.0.1")
    assert auth_failure_record(address="10.0.0.1", username=UNKNOWN) is None


def test_a_very_long_username_is_cut_to_the_column(db):
    assert auth_failure_record(address="10.0.0.1", username="x" * 500) is None
    assert len(AuthFailure.objects.get().username) == 64


def test_pruning_removes_only_failures_outside_the_window(db, settings):
    settings.PORTAL_GIT_AUTH_WINDOW = 600
    now = timezone.now()
    AuthFailure.objects.create(at=now - timedelta(seconds=700), address="10.0.0.1", username="a", known=True)
    AuthFailure.objects.create(at=now - timedelta(seconds=100), address="10.0.0.1", username="a")
    assert auth_failures_prune(now=now) == 1
    assert AuthFailure.objects.count() == 1
