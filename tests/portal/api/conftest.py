"""Fixtures for API tests: tokens of each kind, made through portal.accounts.api_tokens, and a client
that sends one.

Each token fixture returns ``(ApiToken, secret)``. ``api_client(secret)`` is a DRF APIClient with
``Authorization: Bearer <secret>``; ``api_client()`` sends no token.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal.accounts.api_tokens import integration_token_create, personal_token_create
from portal.accounts.models import ApiToken
from portal.accounts.roles import RECRUITER, REVIEWER


@pytest.fixture
def api_client():
    def make(secret: str | None = None) -> APIClient:
        client = APIClient()
        if secret is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def recruiter_token(recruiter) -> tuple[ApiToken, str]:
    """The recruiter's personal token with the write scope."""
    made = personal_token_create(user=recruiter, name="Recruiter script", scope=ApiToken.Scope.WRITE)
    return made.token, made.secret


@pytest.fixture
def reviewer_token(reviewer) -> tuple[ApiToken, str]:
    """The reviewer's personal token with the write scope."""
    made = personal_token_create(user=reviewer, name="Reviewer script", scope=ApiToken.Scope.WRITE)
    return made.token, made.secret


@pytest.fixture
def read_token(recruiter) -> tuple[ApiToken, str]:
    """The recruiter's personal token with the read scope only."""
    made = personal_token_create(user=recruiter, name="Recruiter reports", scope=ApiToken.Scope.READ)
    return made.token, made.secret


@pytest.fixture
def integration_token(admin_user) -> tuple[ApiToken, str]:
    """An integration token with the Recruiter role and the write scope, made by an administrator."""
    made = integration_token_create(
        name="ATS", permissions=[RECRUITER.permission], scope=ApiToken.Scope.WRITE, by=admin_user
    )
    return made.token, made.secret


@pytest.fixture
def reviewing_integration_token(admin_user) -> tuple[ApiToken, str]:
    """An integration token with the Reviewer role only, write scope."""
    made = integration_token_create(
        name="Review tool", permissions=[REVIEWER.permission], scope=ApiToken.Scope.WRITE, by=admin_user
    )
    return made.token, made.secret
