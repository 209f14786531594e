from datetime import timedelta

from django.utils import timezone

from portal.hosting.models import AuthFailure
from portal.hosting.services import auth_blocked, auth_failure_record, auth_failures_prune


def test_failures_block_an_address_only_within_the_window(db, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS = 3
    settings.PORTAL_GIT_AUTH_WINDOW = 600
    for _ in range(3):
        auth_failure_record(address="10.0.0.1", username=f"user{_}")
    assert auth_blocked(address="10.0.0.1", username="someone")
    assert not auth_blocked(address="10.0.0.2", username="someone")
    assert not auth_blocked(address="10.0.0.1", username="someone", now=timezone.now() + timedelta(seconds=601))


def test_failures_block_an_invite_from_any_address(db, settings):
    settings.PORTAL_GIT_AUTH_MAX_PER_INVITE = 2
    auth_failure_record(address="10.0.0.1", username="invite-a")
    auth_failure_record(address="10.0.0.2", username="invite-a")
    assert auth_blocked(address="10.0.0.3", username="invite-a")
    assert not auth_blocked(address="10.0.0.3", username="invite-b")


def test_pruning_removes_only_failures_outside_the_window(db, settings):
    settings.PORTAL_GIT_AUTH_WINDOW = 600
    now = timezone.now()
    AuthFailure.objects.create(at=now - timedelta(seconds=700), address="10.0.0.1", username="a")
    AuthFailure.objects.create(at=now - timedelta(seconds=100), address="10.0.0.1", username="a")
    assert auth_failures_prune(now=now) == 1
    assert AuthFailure.objects.count() == 1
