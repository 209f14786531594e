"""Who an API request acts as: ``Authorization: Bearer ap_…`` (portal.accounts.api_tokens).

A personal token acts as its user. An integration token acts as an ``IntegrationPrincipal``: a
stand-in user holding exactly the token's permissions, belonging to no person (services record
``by=None`` for its changes, and the event log names the token).
"""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.accounts.api_tokens import token_for_secret
from portal.accounts.models import ApiToken


@dataclass(eq=False)
class IntegrationPrincipal:
    """request.user for an integration token: its permissions and nothing more."""

    token: ApiToken

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    @property
    def username(self) -> str:
        return f"integration:{self.token.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj=None) -> bool:
        return perm in self.token.permissions

    def __str__(self) -> str:
        return self.username


class TokenAuthentication(authentication.BaseAuthentication):
    """Bearer tokens only; a request without an Authorization header is anonymous (then 401)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].decode(errors="replace").lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = token_for_secret(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, was revoked or has expired.")
        user = token.user if token.kind == ApiToken.Kind.PERSONAL else IntegrationPrincipal(token)
        return user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 to a request without a token.
        return f'{self.keyword} realm="api"'


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token (ap_…): see docs/api.md."}
