"""The API token pages: a person's own tokens, and administrators' integration tokens."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from portal.accounts.api_tokens import integration_token_create, personal_token_create
from portal.accounts.models import ApiToken
from portal.accounts.roles import RECRUITER, REVIEWER

TOKENS = reverse("api_tokens")
INTEGRATIONS = reverse("api_integrations")


def _secret(page: str) -> str:
    """The new token, from the copy field that shows it."""
    return re.search(r'value="(ap_[A-Za-z0-9_-]+)" id="token-secret"', page).group(1)


def _me(secret: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.get(reverse("api:me"))
    assert response.status_code == 200
    return response.json()


def test_a_token_made_on_the_page_is_shown_once_and_works(client, recruiter):
    client.force_login(recruiter)
    response = client.post(TOKENS, {"name": "Weekly export", "scope": "write", "expires_in_days": "30"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Copy it now: it is shown only this once." in page
    assert "no-store" in response["Cache-Control"]
    secret = _secret(page)
    token = ApiToken.objects.get(user=recruiter)
    assert (token.name, token.scope, token.prefix) == ("Weekly export", "write", secret[:11])
    assert token.expires_at is not None
    assert _me(secret)["roles"] == ["Recruiter"]
    again = client.get(TOKENS).content.decode()
    assert "Weekly export" in again and token.prefix in again
    assert secret not in again


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({}, "This field is required."),
        ({"name": "  ", "scope": "read"}, "This field is required."),
        ({"name": "Script", "scope": "admin"}, "Select a valid choice."),
        ({"name": "Script", "scope": "read", "expires_in_days": "0"}, "greater than or equal to 1"),
        ({"name": "Script", "scope": "read", "expires_in_days": "soon"}, "Enter a whole number."),
    ],
)
def test_a_wrong_token_form_is_refused_and_makes_nothing(client, reviewer, post, message):
    client.force_login(reviewer)
    response = client.post(TOKENS, post)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_user_without_a_role_has_no_token_page(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(TOKENS).status_code == 403
    assert client.post(TOKENS, {"name": "Script", "scope": "read"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_navigation_links_the_token_page_for_roles_only(client, reviewer, no_role_user):
    client.force_login(reviewer)
    assert f'href="{TOKENS}"' in client.get(reverse("review_queue")).content.decode()
    client.force_login(no_role_user)
    assert f'href="{TOKENS}"' not in client.get(reverse("home")).content.decode()


def test_revoking_asks_first_then_the_token_is_refused(client, recruiter):
    made = personal_token_create(user=recruiter, name="Script")
    client.force_login(recruiter)
    url = reverse("api_token_revoke", args=[made.token.pk])
    asked = client.post(url)
    assert asked.status_code == 200
    assert "Revoke “Script”?" in asked.content.decode()
    made.token.refresh_from_db()
    assert made.token.revoked_at is None
    done = client.post(url, {"confirm": "yes"})
    assert done.status_code == 302 and done.url == TOKENS
    made.token.refresh_from_db()
    assert made.token.revoked_at is not None
    gone = APIClient()
    gone.credentials(HTTP_AUTHORIZATION=f"Bearer {made.secret}")
    assert gone.get(reverse("api:me")).status_code == 401


def test_someone_elses_token_cannot_be_revoked_from_the_own_page(client, recruiter, reviewer):
    theirs = personal_token_create(user=reviewer, name="Theirs").token
    client.force_login(recruiter)
    assert client.post(reverse("api_token_revoke", args=[theirs.pk]), {"confirm": "yes"}).status_code == 404
    assert client.post(reverse("api_token_revoke", args=[999]), {"confirm": "yes"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert client.get(reverse("api_token_revoke", args=[theirs.pk])).status_code == 405


def test_an_administrator_makes_an_integration_token_with_roles(client, admin_user):
    client.force_login(admin_user)
    response = client.post(INTEGRATIONS, {"name": "ATS", "scope": "write", "roles": [RECRUITER.permission]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(kind=ApiToken.Kind.INTEGRATION)
    assert (token.permissions, token.created_by, token.user) == ([RECRUITER.permission], admin_user, None)
    me = _me(_secret(response.content.decode()))
    assert (me["kind"], me["user"], me["roles"]) == ("integration", None, ["Recruiter"])
    assert "Recruiter" in client.get(INTEGRATIONS).content.decode()


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"name": "ATS", "scope": "write"}, "Give the integration at least one role."),
        ({"name": "ATS", "scope": "write", "roles": ["accounts.delete_everything"]}, "Select a valid choice."),
        ({"name": "", "scope": "write", "roles": [REVIEWER.permission]}, "This field is required."),
        ({"name": "ATS", "scope": "", "roles": [REVIEWER.permission]}, "This field is required."),
    ],
)
def test_a_wrong_integration_form_is_refused_and_makes_nothing(client, admin_user, post, message):
    client.force_login(admin_user)
    response = client.post(INTEGRATIONS, post)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_only_administrators_see_integrations(client, recruiter):
    client.force_login(recruiter)
    assert client.get(INTEGRATIONS).status_code == 403
    made = integration_token_create(name="ATS", permissions=[RECRUITER.permission])
    assert client.post(reverse("api_integration_revoke", args=[made.token.pk]), {"confirm": "yes"}).status_code == 403
    made.token.refresh_from_db()
    assert made.token.revoked_at is None


def test_an_administrator_revokes_any_token(client, admin_user, recruiter):
    integration = integration_token_create(name="ATS", permissions=[RECRUITER.permission]).token
    personal = personal_token_create(user=recruiter, name="Leaked").token
    client.force_login(admin_user)
    assert "Leaked" in client.get(INTEGRATIONS).content.decode()
    for token in (integration, personal):
        url = reverse("api_integration_revoke", args=[token.pk])
        assert client.post(url).status_code == 200  # the confirmation first
        assert client.post(url, {"confirm": "yes"}).url == INTEGRATIONS
        token.refresh_from_db()
        assert token.revoked_at is not None
    assert client.post(reverse("api_integration_revoke", args=[999]), {"confirm": "yes"}).status_code == 404
