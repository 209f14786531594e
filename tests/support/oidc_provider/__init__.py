"""A real OpenID Connect provider for the single sign-on tests: django-oauth-toolkit in a process
of its own on a free loopback port, with one confidential client (the portal) and users whose
claims (email, email_verified, roles, amr, sub...) each test sets through a control endpoint.

It signs ID tokens with an RS256 key made at start and publishes it at its JWKS endpoint; codes
need PKCE. Its sign-in form is a plain page ("Provider username", "Provider password", "Continue").
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop_group
from tests.support.server import answers
from tests.support.workers import ROOT, free_port, wait_for

CLIENT_ID = "assessment-portal"
PASSWORD = "provider password 1"


@dataclass
class Provider:
    url: str
    client_id: str
    client_secret: str
    control_secret: str
    process: subprocess.Popen
    log_path: Path

    @property
    def endpoints(self) -> dict[str, str]:
        """The portal's settings for this provider, as `manage.py sso_discover` prints them."""
        return {
            "OIDC_OP_ISSUER": self.url,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/authorize/",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/token/",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo/",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/.well-known/jwks.json",
            "OIDC_OP_LOGOUT_ENDPOINT": f"{self.url}/logout/",
        }

    def configure(self, settings, **overrides) -> None:
        """Point the portal's settings (pytest-django's ``settings``) at this provider, SSO on."""
        from django.conf import settings as current

        from portal.accounts.sso import signing_keys_forget

        signing_keys_forget()  # another provider may have had this address, with another key

        backends = [b for b in current.AUTHENTICATION_BACKENDS if b != "portal.accounts.sso.SsoBackend"]
        values = {
            "PORTAL_SSO": True,
            "PORTAL_OIDC_PROVIDER_NAME": "Test IdP",
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            **self.endpoints,
            "AUTHENTICATION_BACKENDS": [backends[0], "portal.accounts.sso.SsoBackend", *backends[1:]],
            "PORTAL_OIDC_ROLES_CLAIM": "groups",
            "PORTAL_OIDC_ROLES_MAP": {"hiring": {"recruiter"}, "interviewers": {"reviewer"}, "it": {"staff"}},
            **overrides,
        }
        for name, value in values.items():
            setattr(settings, name, value)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _control(self, path: str, body: dict | None = None) -> bytes:
        request = urllib.request.Request(
            f"{self.url}/control/{path}",
            data=json.dumps(body or {}).encode(),
            headers={"Authorization": f"Bearer {self.control_secret}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def user(self, username: str, **claims) -> str:
        """Create or update a provider user (password PASSWORD) with these claims; their ``sub``."""
        answer = self._control(f"users/{username}", {"password": PASSWORD, "claims": claims})
        return json.loads(answer)["sub"]

    def expire_codes(self) -> None:
        self._control("expire-codes")


def _discovery_answers(url: str) -> bool:
    return answers(f"{url}/.well-known/openid-configuration")


@contextmanager
def running_provider(*, folder: Path, portal_url: str) -> Iterator[Provider]:
    """The provider on a free loopback port, its state in ``folder``, with the portal at ``portal_url``
    as its client (the portal's callback and login page registered); stopped (its group) at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secret, control = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    env = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
        "PROVIDER_DIR": str(folder),
        "PROVIDER_URL": url,
        "PROVIDER_CONTROL_SECRET": control,
        "PROVIDER_CLIENT_ID": CLIENT_ID,
        "PROVIDER_CLIENT_SECRET": secret,
        "PROVIDER_REDIRECT_URIS": f"{portal_url}/accounts/sso/callback/",
        "PROVIDER_POST_LOGOUT_URIS": f"{portal_url}/accounts/login/",
    }
    log_path = folder / "provider.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.oidc_provider", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    provider = Provider(url, CLIENT_ID, secret, control, process, log_path)
    try:
        wait_for(lambda: process.poll() is not None or _discovery_answers(url), timeout=60, what="the provider")
        if process.poll() is not None:
            raise RuntimeError(f"the OpenID provider exited with {process.returncode}:\n{provider.log()}")
        yield provider
    finally:
        stop_group(process)
