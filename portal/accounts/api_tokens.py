"""API tokens (``ApiToken``): made, checked and revoked here, by the token pages, the API and the
``api_token`` command alike.

A token reads ``ap_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored; a request's token is hashed and looked up by that hash. Its first 11 characters are kept
in clear as a prefix so people can tell their tokens apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from portal.accounts.models import ApiToken, User
from portal.accounts.roles import ROLES

TOKEN_PREFIX = "ap_"  # noqa: S105 (the fixed start of every token, not a secret)
SHOWN_PREFIX_LENGTH = 11
# last_used_at is written at most this often per token: a busy script must not write on every call.
LAST_USED_EVERY = timedelta(minutes=1)
ROLE_PERMISSIONS = {role.permission for role in ROLES}
MAX_EXPIRY_DAYS = 3650


class TokenRefused(ValueError):
    """A token cannot be made as asked; the message says why, in words for the person asking."""


@dataclass(frozen=True)
class TokenMade:
    """The new token and its secret, which exists in clear only here."""

    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _checked_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TokenRefused("Give the token a name, so you can tell it from your others.")
    if len(name) > 100:
        raise TokenRefused("A token's name is at most 100 characters.")
    return name


def _checked_scope(scope: str) -> str:
    if scope not in ApiToken.Scope.values:
        raise TokenRefused(f"The scope is one of {', '.join(ApiToken.Scope.values)}.")
    return scope


def _made(**fields) -> TokenMade:
    secret = _new_secret()
    token = ApiToken.objects.create(prefix=secret[:SHOWN_PREFIX_LENGTH], key_hash=_hash(secret), **fields)
    return TokenMade(token=token, secret=secret)


def token_holder(user) -> bool:
    """Whether ``user`` may have personal tokens: an active recruiter, reviewer or administrator."""
    return bool(
        user.is_authenticated and user.is_active and (user.is_staff or any(user.has_perm(p) for p in ROLE_PERMISSIONS))
    )


def token_expiry(days: int | None, *, now: datetime | None = None) -> datetime | None:
    """When a token made now for ``days`` days expires (None: never), for the pages and the command."""
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise TokenRefused(f"A token expires after 1 to {MAX_EXPIRY_DAYS} days, or never.")
    return (now or timezone.now()) + timedelta(days=days)


def personal_tokens(*, user: User):
    """The user's own tokens, newest first, revoked ones included."""
    return ApiToken.objects.filter(kind=ApiToken.Kind.PERSONAL, user=user)


def integration_tokens():
    """Every integration token, newest first, revoked ones included."""
    return ApiToken.objects.filter(kind=ApiToken.Kind.INTEGRATION).select_related("created_by")


def personal_tokens_live():
    """Everyone's personal tokens not yet revoked, for administrators."""
    return ApiToken.objects.filter(kind=ApiToken.Kind.PERSONAL, revoked_at__isnull=True).select_related("user")


def personal_token_create(
    *, user: User, name: str, scope: str = ApiToken.Scope.READ, expires_at: datetime | None = None
) -> TokenMade:
    """A token that acts as ``user``, with the roles the user holds when it is used."""
    if not token_holder(user):
        raise TokenRefused("Only recruiters, reviewers and administrators can have API tokens.")
    return _made(
        name=_checked_name(name),
        kind=ApiToken.Kind.PERSONAL,
        scope=_checked_scope(scope),
        user=user,
        created_by=user,
        expires_at=expires_at,
    )


def integration_token_create(
    *,
    name: str,
    permissions: list[str],
    scope: str = ApiToken.Scope.READ,
    by: User | None = None,
    expires_at: datetime | None = None,
) -> TokenMade:
    """A token for another system, acting with ``permissions`` (some of the roles' permissions)."""
    wanted = sorted(set(permissions))
    if not wanted:
        raise TokenRefused("Give the integration at least one role.")
    unknown = [p for p in wanted if p not in ROLE_PERMISSIONS]
    if unknown:
        raise TokenRefused(f"Unknown role permission: {', '.join(unknown)}.")
    return _made(
        name=_checked_name(name),
        kind=ApiToken.Kind.INTEGRATION,
        scope=_checked_scope(scope),
        permissions=wanted,
        created_by=by,
        expires_at=expires_at,
    )


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_for_secret(secret: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token whose secret this is (not revoked, not expired, its user active), else None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    now = now or timezone.now()
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(secret), revoked_at__isnull=True).first()
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.user is not None and not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        with transaction.atomic():
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
