"""Single sign-on with OpenID Connect: recruiters, reviewers and staff sign in at the company's
identity provider (mozilla-django-oidc does the protocol; this module decides who gets in as whom).

The flow is the authorization code flow with PKCE; state and nonce are checked by the library, the
ID token's RS256 signature against the provider's JWKS, and here its issuer, audience and expiry
too (the library checks neither). Claims are the ID token's, completed by userinfo when an
endpoint is configured (its ``sub`` must be the same). The provider's published keys are kept by
each process for JWKS_MAX_AGE and read again at once for a key id they do not have (a rotation),
at most every JWKS_REFRESH_AFTER (``signing_key``): a sign-in does not wait for the provider's JWKS.

Who the person is (``sso_user_resolve``):
1. the provider's ``sub`` for this issuer, once linked (``SsoIdentity``): an address can change
   hands, the subject does not;
2. at the first sign-in, the one portal user with the same email address, if the provider says
   it verified it (``email_verified``, or PORTAL_OIDC_EMAILS_VERIFIED for providers that omit it);
   superusers are never linked: they keep their password and the portal's own second factor;
3. else a new user, if PORTAL_OIDC_CREATE_USERS.

Roles: with PORTAL_OIDC_ROLES_CLAIM set, the claim decides Recruiter, Reviewer and staff at every
sign-in (a value taken away at the provider is taken away here at the next sign-in); without it, a
user created at the first sign-in gets PORTAL_OIDC_DEFAULT_ROLES and roles are then managed in the
portal. A sign-in is refused, with a page saying why (``SignInRefused``), for a user left with no
role, an address outside PORTAL_OIDC_ALLOWED_DOMAINS, an inactive user, or no account to use.

The second factor: a staff session from the provider counts as having passed it when the
provider enforces multi-factor sign-in (PORTAL_OIDC_TRUST_MFA) or the ID token's ``amr`` claim
(RFC 8176) names a second factor; otherwise the portal's code page follows, as after a password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from portal.accounts.models import SsoIdentity, User
from portal.accounts.roles import RECRUITER, REVIEWER, ROLES
from portal.accounts.services import roles_sync

logger = logging.getLogger(__name__)

# The session of a sign-in through the provider: {"second_factor": bool}.
SSO_SESSION_KEY = "portal_sso"
# RFC 8176 authentication methods that are a factor besides a password.
SECOND_FACTOR_AMR = frozenset({"mfa", "otp", "hwk", "swk", "sc", "sms", "tel"})
ROLE_OF_NAME = {"recruiter": RECRUITER, "reviewer": REVIEWER}


class SignInRefused(Exception):
    """A sign-in through the provider that the portal refuses; the message is for the person."""

    def __init__(self, message: str, *, status: int = 403):
        super().__init__(message)
        self.status = status


# Seconds the provider's published signing keys are used before they are read again: a key it
# withdraws stops being trusted here within this time.
JWKS_MAX_AGE = 600
# A token signed with a key id the kept keys lack has the keys read again, but not more often than
# this (seconds): a provider that has just rotated its key is asked at once, never at every sign-in.
JWKS_REFRESH_AFTER = 30
# A JWKS document is a few kilobytes; what is past this is not a key set the portal reads.
JWKS_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class _KeySet:
    keys: tuple[dict, ...]
    read_at: float  # time.monotonic()


# This process's copy of each JWKS endpoint's keys.
_KEY_SETS: dict[str, _KeySet] = {}
_KEY_SETS_LOCK = threading.Lock()


def signing_key(token: str, *, url: str, timeout: float | None, verify: bool = True) -> jwt.PyJWK:
    """The key of the provider's JWKS at ``url`` that signed ``token`` (its header's ``kid`` and ``alg``).

    SuspiciousOperation if the token's header cannot be read, the provider publishes no such key, or
    its JWKS is not one; requests.RequestException if the JWKS cannot be read.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise SuspiciousOperation(f"The ID token's header cannot be read: {error}.") from None
    kid, alg = header.get("kid"), header.get("alg")
    with _KEY_SETS_LOCK:
        kept = _KEY_SETS.get(url)
    if kept is None or time.monotonic() - kept.read_at > JWKS_MAX_AGE:
        kept = _key_set_read(url, timeout=timeout, verify=verify)
    key = _matching_key(kept.keys, kid=kid, alg=alg)
    if key is None and time.monotonic() - kept.read_at >= JWKS_REFRESH_AFTER:
        kept = _key_set_read(url, timeout=timeout, verify=verify)
        key = _matching_key(kept.keys, kid=kid, alg=alg)
    if key is None:
        raise SuspiciousOperation(f"The provider publishes no {alg} key with the ID token's key id {kid!r}.")
    try:
        return jwt.PyJWK(key)
    except jwt.PyJWTError as error:
        raise SuspiciousOperation(f"The provider's key {kid!r} cannot be used: {error}.") from None


def signing_keys_forget() -> None:
    """Drop this process's kept keys: the next sign-in reads each provider's JWKS again."""
    with _KEY_SETS_LOCK:
        _KEY_SETS.clear()


def _key_set_read(url: str, *, timeout: float | None, verify: bool) -> _KeySet:
    response = requests.get(url, timeout=timeout, verify=verify, stream=True)
    with response:
        if response.status_code != 200:
            raise requests.RequestException(f"the provider's JWKS endpoint answered {response.status_code}")
        body = response.raw.read(JWKS_MAX_BYTES + 1, decode_content=True)
    if len(body) > JWKS_MAX_BYTES:
        raise SuspiciousOperation(f"The provider's JWKS is larger than {JWKS_MAX_BYTES} bytes.")
    try:
        keys = json.loads(body)["keys"]
    except (ValueError, TypeError, KeyError):
        keys = None
    if not isinstance(keys, list):
        raise SuspiciousOperation("The provider's JWKS endpoint did not answer a JSON key set.")
    kept = _KeySet(keys=tuple(key for key in keys if isinstance(key, dict)), read_at=time.monotonic())
    with _KEY_SETS_LOCK:
        _KEY_SETS[url] = kept
    return kept


def _matching_key(keys: tuple[dict, ...], *, kid: object, alg: object) -> dict | None:
    """The one signing key with this key id (any, if the token names none) and algorithm, or None."""
    found = [
        key
        for key in keys
        if (kid is None or key.get("kid") == kid) and key.get("alg", alg) == alg and key.get("use", "sig") == "sig"
    ]
    return found[0] if len(found) == 1 else None


def sso_enabled() -> bool:
    return settings.PORTAL_SSO


def callback_url() -> str:
    """The redirect URI registered at the provider: on PORTAL_BASE_URL, never the request's Host."""
    return settings.PORTAL_BASE_URL + reverse("sso_callback")


def sso_second_factor_passed(request) -> bool:
    """Whether this session came from the provider with a second factor the portal trusts."""
    return bool((request.session.get(SSO_SESSION_KEY) or {}).get("second_factor"))


def second_factor_in(claims: dict) -> bool:
    if settings.PORTAL_OIDC_TRUST_MFA:
        return True
    amr = claims.get("amr") or []
    return isinstance(amr, list) and bool(SECOND_FACTOR_AMR & {str(method) for method in amr})


def roles_from_claim(claims: dict) -> set[str] | None:
    """The roles ("recruiter", "reviewer", "staff") the roles claim grants; None when none is configured.

    The claim may be a list or a space- or comma-separated string; a missing claim grants nothing.
    """
    name = settings.PORTAL_OIDC_ROLES_CLAIM
    if not name:
        return None
    raw = claims.get(name) or []
    values = raw.replace(",", " ").split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
    roles: set[str] = set()
    for value in values:
        roles |= settings.PORTAL_OIDC_ROLES_MAP.get(str(value), set())
    return roles


def verified_email(claims: dict) -> str | None:
    """The claims' email address if the provider verified it, else None."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    verified = claims.get("email_verified") is True or settings.PORTAL_OIDC_EMAILS_VERIFIED
    return User.objects.normalize_email(email.strip()) if verified else None


def _domain_check(claims: dict, email: str | None) -> None:
    allowed = settings.PORTAL_OIDC_ALLOWED_DOMAINS
    if not allowed:
        return
    if email is None:
        raise SignInRefused(
            "The identity provider did not send a verified email address, and this portal admits "
            "only addresses at " + ", ".join(allowed) + "."
        )
    if email.rsplit("@", 1)[1].lower() not in allowed:
        raise SignInRefused(f"{email} is not an address this portal admits (only {', '.join(allowed)}).")


def _new_username(claims: dict, email: str | None) -> str:
    """A free username: the preferred_username, else the address's local part, else one made from sub."""
    candidates = [claims.get("preferred_username"), email.split("@", 1)[0] if email else None]
    base = next((c for c in candidates if isinstance(c, str) and _valid_username(c)), None)
    base = base or "sso-" + hashlib.sha256(str(claims["sub"]).encode()).hexdigest()[:10]
    base = base[:140]
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        if not User.objects.filter(username__iexact=base + suffix).exists():
            return base + suffix
    return "sso-" + hashlib.sha256(str(claims["sub"]).encode()).hexdigest()[:20]


def _valid_username(value: str) -> bool:
    try:
        User.username_validator(value)
    except ValidationError:
        return False
    return 0 < len(value) <= 140


def _roles_set(user: User, roles: Collection[str], *, exactly: bool) -> None:
    """Give the user these roles; with ``exactly``, take away the others (and staff) too."""
    roles_sync()
    for role in ROLES:
        name = next(key for key, value in ROLE_OF_NAME.items() if value == role)
        group = Group.objects.get(name=role.group)
        if name in roles:
            user.groups.add(group)
        elif exactly:
            user.groups.remove(group)
    if exactly and user.is_staff != ("staff" in roles):
        user.is_staff = "staff" in roles
        user.save(update_fields=["is_staff"])


def _has_a_role(user: User) -> bool:
    names = {role.group for role in ROLES}
    return user.is_staff or user.is_superuser or user.groups.filter(name__in=names).exists()


def _linked_user(email: str | None) -> User | None:
    """The one user with this verified address, for a first sign-in; refuses when it is ambiguous."""
    if email is None:
        return None
    users = list(User.objects.filter(email__iexact=email)[:2])
    if len(users) > 1:
        raise SignInRefused(f"More than one portal account uses {email}. Ask an administrator to sort it out.")
    if users and users[0].is_superuser:
        raise SignInRefused(
            "This address belongs to an administrator account, which signs in with its password and "
            "the portal's own second factor, not through the identity provider."
        )
    return users[0] if users else None


def sso_user_resolve(*, issuer: str, claims: dict) -> User:
    """The portal user for these verified claims, linked, created and given roles as the module says.

    Changes to roles are kept even when the sign-in is then refused (a role taken away at the
    provider is gone here too); a refused first sign-in creates nothing. Raises SignInRefused.
    """
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SignInRefused("The identity provider sent no subject (sub) for this account.", status=400)
    email = verified_email(claims)
    _domain_check(claims, email)
    roles = roles_from_claim(claims)
    with transaction.atomic():
        identity = SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is None:
            identity = _identity_link(issuer=issuer, subject=subject, claims=claims, email=email, roles=roles)
        user = identity.user
        if user.is_active and roles is not None:
            _roles_set(user, roles, exactly=True)
        identity.last_sign_in_at = timezone.now()
        identity.save(update_fields=["last_sign_in_at"])
    if not user.is_active:
        raise SignInRefused("This portal account is deactivated. Ask an administrator if you need it again.")
    if not _has_a_role(user):
        raise SignInRefused(
            "Your account has no role in this portal (recruiter, reviewer or staff). "
            "Ask an administrator to give you one at the identity provider."
        )
    return user


def _identity_link(*, issuer: str, subject: str, claims: dict, email: str | None, roles: set[str] | None):
    """A first sign-in: link the user with the verified address, or create one; refuse if neither may be."""
    user = _linked_user(email)
    if user is None:
        if not settings.PORTAL_OIDC_CREATE_USERS:
            who = email or "this account"
            raise SignInRefused(f"No portal account uses {who}. Ask an administrator to add you first.")
        granted = roles if roles is not None else set(settings.PORTAL_OIDC_DEFAULT_ROLES)
        if not granted:
            raise SignInRefused(
                "Your account has no role in this portal (recruiter, reviewer or staff). "
                "Ask an administrator to give you one at the identity provider."
            )
        user = User(username=_new_username(claims, email), email=email or "")
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.set_unusable_password()
        user.save()
        if roles is None:
            _roles_set(user, granted, exactly=False)
        logger.info("Single sign-on created user %s for %s at %s", user.pk, subject, issuer)
    else:
        logger.info("Single sign-on linked user %s to %s at %s by verified email", user.pk, subject, issuer)
    return SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)


class SsoBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the checks it leaves out and the portal's user rules."""

    def authenticate(self, request, **kwargs):
        # Only the callback's call (it passes the nonce): never a password form that has ?code= in its URL.
        if "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def retrieve_matching_jwk(self, token):
        # The library reads the JWKS at every sign-in; the portal keeps it (signing_key).
        return signing_key(
            token,
            url=self.OIDC_OP_JWKS_ENDPOINT,
            timeout=self.get_settings("OIDC_TIMEOUT", None),
            verify=self.get_settings("OIDC_VERIFY_SSL", True),
        )

    def _verify_jws(self, payload, key):
        alg = jwt.get_unverified_header(payload).get("alg")
        if alg != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"The ID token is signed with {alg!r}, not {self.OIDC_RP_SIGN_ALGO}.")
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[alg],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=60,
            )
        except jwt.PyJWTError as error:
            raise SuspiciousOperation(f"The ID token was refused: {error}.") from None

    def get_token(self, payload):
        # The redirect URI the sign-in started with (SsoStartView), not one built from the Host header.
        payload["redirect_uri"] = callback_url()
        return super().get_token(payload)

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, with userinfo's added when the provider has the endpoint."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            info = super().get_userinfo(access_token, id_token, payload)
            if str(info.get("sub")) != str(payload.get("sub")):
                raise SignInRefused("The identity provider answered for another account.", status=400)
            protected = {"iss", "aud", "sub", "amr", "nonce", "exp", "iat", "auth_time"}
            claims.update({key: value for key, value in info.items() if key not in protected})
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        user = sso_user_resolve(issuer=settings.OIDC_OP_ISSUER, claims=claims)
        # Read by SsoCallbackView once the session is the signed-in one.
        user.sso_second_factor = second_factor_in(claims)
        return user


class SuperuserPasswordBackend(ModelBackend):
    """Passwords for superusers only (PORTAL_PASSWORD_SIGN_IN=false): everyone else uses the provider."""

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and user.is_superuser


class DiscoveryFailed(Exception):
    """The issuer's discovery document could not be read or does not fit the portal; the message says why."""


def provider_discover(issuer: str) -> dict[str, str]:
    """The PORTAL_OIDC_* settings for ``issuer``, read from its /.well-known/openid-configuration.

    Run once by an operator (`manage.py sso_discover`), never at start-up: the portal keeps the
    endpoints in its settings, so it starts and serves passwords while the provider is away.
    """
    issuer = issuer.rstrip("/")
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise DiscoveryFailed(f"Could not read {url}: {error}") from None
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise DiscoveryFailed(f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}.")
    if "RS256" not in document.get("id_token_signing_alg_values_supported", ["RS256"]):
        raise DiscoveryFailed("The provider does not sign ID tokens with RS256, which the portal requires.")
    if "S256" not in document.get("code_challenge_methods_supported", ["S256"]):
        raise DiscoveryFailed("The provider does not support PKCE with S256, which the portal requires.")
    found = {
        "PORTAL_OIDC_ISSUER": document["issuer"],
        "PORTAL_OIDC_AUTHORIZATION_ENDPOINT": document.get("authorization_endpoint"),
        "PORTAL_OIDC_TOKEN_ENDPOINT": document.get("token_endpoint"),
        "PORTAL_OIDC_JWKS_ENDPOINT": document.get("jwks_uri"),
        "PORTAL_OIDC_USERINFO_ENDPOINT": document.get("userinfo_endpoint"),
        "PORTAL_OIDC_END_SESSION_ENDPOINT": document.get("end_session_endpoint"),
    }
    missing = [name for name in list(found)[:4] if not found[name]]
    if missing:
        raise DiscoveryFailed(f"{url} gives no value for {', '.join(missing)}.")
    return {name: value for name, value in found.items() if value}
