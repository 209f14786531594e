"""API tokens: made, used and revoked through portal.accounts.api_tokens, from the shell too."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from portal.accounts.api_tokens import (
    MAX_EXPIRY_DAYS,
    TokenRefused,
    personal_token_create,
    token_expiry,
    token_holder,
)
from portal.accounts.models import ApiToken

ME = reverse("api:me")


def _command(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_only_the_hash_and_a_prefix_are_kept(recruiter):
    made = personal_token_create(user=recruiter, name="Script")
    token = ApiToken.objects.get(pk=made.token.pk)
    assert made.secret.startswith("ap_") and len(made.secret) == 46
    assert token.key_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert token.prefix == made.secret[:11]
    assert made.secret not in {token.name, token.prefix, token.key_hash}


def test_a_token_records_when_it_was_last_used(api_client, recruiter_token):
    token, secret = recruiter_token
    assert token.last_used_at is None
    assert api_client(secret).get(ME).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_who_may_hold_tokens(recruiter, reviewer, admin_user, no_role_user):
    assert all(token_holder(u) for u in (recruiter, reviewer, admin_user))
    assert not token_holder(no_role_user)
    with pytest.raises(TokenRefused, match="Only recruiters, reviewers and administrators"):
        personal_token_create(user=no_role_user, name="Script")


def test_expiry_is_counted_in_days_within_bounds(db):
    now = timezone.now()
    assert token_expiry(None) is None
    assert token_expiry(30, now=now) == now + timedelta(days=30)
    for days in (0, -1, MAX_EXPIRY_DAYS + 1):
        with pytest.raises(TokenRefused):
            token_expiry(days)


def test_the_command_makes_a_personal_token_and_prints_it_alone(api_client, recruiter):
    out, err = _command("make", "--user", recruiter.username, "--name", "Nightly", "--scope", "write")
    secret = out.strip()
    assert "only this once" in err and secret not in err
    token = ApiToken.objects.get(user=recruiter)
    assert (token.name, token.scope, token.expires_at) == ("Nightly", "write", None)
    assert api_client(secret).get(ME).json()["user"] == recruiter.username


def test_the_command_makes_an_integration_token_with_roles(api_client, db):
    out, _ = _command("make", "--integration", "--name", "ATS", "--role", "recruiter", "--expires-days", "7")
    token = ApiToken.objects.get(kind=ApiToken.Kind.INTEGRATION)
    assert token.permissions == ["accounts.recruit"] and token.expires_at is not None
    assert api_client(out.strip()).get(ME).json()["roles"] == ["Recruiter"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--name", "X"], "There is no user 'nobody'."),
        (["--user", "nora", "--name", "X"], "Only recruiters, reviewers and administrators"),
        (["--user", "rita", "--name", "X", "--role", "reviewer"], "--role is for integration tokens"),
        (["--integration", "--name", "X"], "Give the integration at least one role."),
        (["--user", "rita", "--name", " "], "Give the token a name"),
        (["--user", "rita", "--name", "X", "--expires-days", "0"], "expires after 1 to"),
    ],
)
def test_the_command_refuses_what_it_cannot_make(recruiter, no_role_user, args, message):
    with pytest.raises(CommandError, match=message):
        _command("make", *args)
    assert not ApiToken.objects.exists()


def test_the_command_lists_and_revokes(api_client, recruiter, reviewer):
    mine = personal_token_create(user=recruiter, name="Mine")
    personal_token_create(user=reviewer, name="Theirs")
    listed, _ = _command("list", "--user", recruiter.username)
    assert "Mine" in listed and "Theirs" not in listed and mine.secret not in listed
    out, _ = _command("revoke", str(mine.token.pk))
    assert "Revoked token" in out
    assert api_client(mine.secret).get(ME).status_code == 401
    assert "revoked" in _command("list")[0]
    with pytest.raises(CommandError, match="There is no token 999"):
        _command("revoke", "999")
