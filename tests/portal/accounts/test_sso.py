"""Single sign-on against a real OpenID Connect provider (django-oauth-toolkit) running on loopback.

The portal side is Django's test client; the browser side at the provider is an HTTP session that
signs in on the provider's form, as a person would, and carries the code back to the portal.
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from portal.accounts.middleware import LAST_SEEN_KEY
from portal.accounts.models import SsoIdentity, User
from portal.accounts.roles import RECRUITER, REVIEWER
from tests.conftest import PASSWORD as PORTAL_PASSWORD
from tests.support.oidc_provider import PASSWORD, running_provider

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PORTAL_URL = "http://testserver"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    with running_provider(folder=tmp_path_factory.mktemp("oidc-provider"), portal_url=PORTAL_URL) as provider:
        yield provider


@pytest.fixture
def sso(settings, provider, db):
    settings.PORTAL_BASE_URL = PORTAL_URL
    provider.configure(settings)
    return provider


class AtProvider:
    """A person's browser at the provider: follows the authorize URL, signs in on its form."""

    def __init__(self, provider):
        self.provider = provider
        self.http = requests.Session()

    def _get(self, url: str) -> requests.Response:
        return self.http.get(urljoin(self.provider.url, url), allow_redirects=False, timeout=10)

    def sign_in(self, authorize_url: str, username: str) -> requests.Response:
        """Sign in at the provider; its answer redirects to the portal's callback (or asks to consent)."""
        login = self._get(self._get(authorize_url).headers["Location"])
        assert login.status_code == 200, login.text
        form = {
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": self.http.cookies["provider_csrftoken"],
            "next": parse_qs(urlsplit(login.url).query)["next"][0],
        }
        signed_in = self.http.post(login.url, data=form, allow_redirects=False, timeout=10)
        assert signed_in.status_code == 302, signed_in.text
        return self._get(signed_in.headers["Location"])


def _start(client) -> str:
    response = client.get("/accounts/sso/start/")
    assert response.status_code == 302
    return response["Location"]


def _callback_path(answer: requests.Response) -> str:
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == PORTAL_URL
    return f"{location.path}?{location.query}"


def sso_sign_in(client, provider, username: str):
    """The whole sign-in; the portal's answer to the callback."""
    return client.get(_callback_path(AtProvider(provider).sign_in(_start(client), username)))


def _signed_in_as(client) -> str | None:
    response = client.get("/accounts/password/")
    return response.context["user"].username if response.status_code == 200 else None


def _roles(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_with_sso_off_the_login_page_has_no_provider_button_and_the_routes_are_gone(client, db):
    page = client.get("/accounts/login/")
    assert b"Sign in with" not in page.content
    assert b'name="password"' in page.content
    assert client.get("/accounts/sso/start/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404


def test_with_sso_on_the_login_page_shows_the_provider_button_and_the_password_form(client, sso):
    page = client.get("/accounts/login/?next=/reviews/")
    assert b"Sign in with Test IdP" in page.content
    assert b'href="/accounts/sso/start/?next=%2Freviews%2F"' in page.content
    assert b'name="password"' in page.content


def test_the_sign_in_asks_for_a_code_with_pkce_a_state_and_a_nonce(client, sso):
    query = parse_qs(urlsplit(_start(client)).query)
    assert query["redirect_uri"] == [f"{PORTAL_URL}/accounts/sso/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_type"] == ["code"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32


def test_a_first_sign_in_creates_the_user_with_roles_from_the_claim(client, sso):
    sub = sso.user("carol", sub="idp-carol", email="carol@corp.example", email_verified=True, groups=["hiring"])
    response = sso_sign_in(client, sso, "carol")
    assert response.status_code == 302 and response["Location"] == "/"
    user = SsoIdentity.objects.get(subject=sub).user
    assert (user.username, user.email, user.has_usable_password()) == ("carol", "carol@corp.example", False)
    assert _roles(user) == {RECRUITER.group} and not user.is_staff
    assert _signed_in_as(client) == "carol"


def test_a_second_sign_in_updates_the_roles_when_the_claim_changed(client, sso):
    sso.user("dan", sub="idp-dan", email="dan@corp.example", email_verified=True, groups=["hiring"])
    sso_sign_in(client, sso, "dan")
    client.logout()
    sso.user("dan", sub="idp-dan", email="dan@corp.example", email_verified=True, groups=["interviewers", "other"])
    response = sso_sign_in(client, sso, "dan")
    assert response.status_code == 302
    user = User.objects.get(username="dan")
    assert _roles(user) == {REVIEWER.group}
    assert SsoIdentity.objects.filter(user=user).count() == 1


def test_without_a_roles_claim_a_new_user_gets_the_default_roles_once(client, settings, sso):
    settings.PORTAL_OIDC_ROLES_CLAIM = ""
    settings.PORTAL_OIDC_DEFAULT_ROLES = ["reviewer"]
    sso.user("erin", sub="idp-erin", email="erin@corp.example", email_verified=True, groups=["hiring"])
    assert sso_sign_in(client, sso, "erin").status_code == 302
    user = User.objects.get(username="erin")
    assert _roles(user) == {REVIEWER.group}
    # Roles are the portal's to manage from then on: a change made here stays at the next sign-in.
    user.groups.set([Group.objects.get(name=RECRUITER.group)])
    client.logout()
    assert sso_sign_in(client, sso, "erin").status_code == 302
    assert _roles(user) == {RECRUITER.group}


def test_a_sign_in_with_no_role_is_refused_with_a_page_and_creates_nothing(client, sso):
    sso.user("fay", sub="idp-fay", email="fay@corp.example", email_verified=True, groups=["finance"])
    response = sso_sign_in(client, sso, "fay")
    assert response.status_code == 403
    assert b"no role in this portal" in response.content
    assert not User.objects.filter(username="fay").exists()
    assert _signed_in_as(client) is None


def test_a_role_taken_away_at_the_provider_is_taken_away_here_and_the_sign_in_refused(client, sso):
    sso.user("gil", sub="idp-gil", email="gil@corp.example", email_verified=True, groups=["hiring", "it"])
    sso_sign_in(client, sso, "gil")
    assert User.objects.get(username="gil").is_staff
    client.logout()
    sso.user("gil", sub="idp-gil", email="gil@corp.example", email_verified=True, groups=[])
    response = sso_sign_in(client, sso, "gil")
    assert response.status_code == 403
    user = User.objects.get(username="gil")
    assert _roles(user) == set() and not user.is_staff
    assert _signed_in_as(client) is None


def test_an_address_outside_the_allowed_domains_is_refused(client, settings, sso):
    settings.PORTAL_OIDC_ALLOWED_DOMAINS = ["corp.example"]
    sso.user("hal", sub="idp-hal", email="hal@elsewhere.example", email_verified=True, groups=["hiring"])
    response = sso_sign_in(client, sso, "hal")
    assert response.status_code == 403
    assert b"hal@elsewhere.example is not an address this portal admits" in response.content
    assert not User.objects.filter(username="hal").exists()


def test_an_unverified_address_in_an_allowed_domain_is_refused(client, settings, sso):
    settings.PORTAL_OIDC_ALLOWED_DOMAINS = ["corp.example"]
    sso.user("ian", sub="idp-ian", email="ian@corp.example", email_verified=False, groups=["hiring"])
    response = sso_sign_in(client, sso, "ian")
    assert response.status_code == 403
    assert b"did not send a verified email address" in response.content


def test_an_inactive_user_is_refused(client, sso):
    sso.user("jo", sub="idp-jo", email="jo@corp.example", email_verified=True, groups=["hiring"])
    sso_sign_in(client, sso, "jo")
    client.logout()
    User.objects.filter(username="jo").update(is_active=False)
    response = sso_sign_in(client, sso, "jo")
    assert response.status_code == 403
    assert b"deactivated" in response.content
    assert _signed_in_as(client) is None


def test_the_providers_refusal_is_shown_on_a_page(client, sso):
    sso.user("kim", sub="idp-kim", email="kim@corp.example", email_verified=True, groups=["hiring"])
    at_provider = AtProvider(sso)
    authorize_url = _start(client)
    at_provider.sign_in(authorize_url, "kim")
    # The provider's consent form, answered "no": it sends the browser back with error=access_denied.
    query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    form = {**query, "csrfmiddlewaretoken": at_provider.http.cookies["provider_csrftoken"]}
    denied = at_provider.http.post(authorize_url.split("?")[0], data=form, allow_redirects=False, timeout=10)
    path = _callback_path(denied)
    assert "error=access_denied" in path
    response = client.get(path)
    assert response.status_code == 403
    assert b"The identity provider did not sign you in (access_denied)" in response.content
    assert _signed_in_as(client) is None


def test_a_tampered_state_is_refused(client, sso):
    sso.user("lee", sub="idp-lee", email="lee@corp.example", email_verified=True, groups=["hiring"])
    path = _callback_path(AtProvider(sso).sign_in(_start(client), "lee"))
    tampered = path.replace("state=", "state=x")
    response = client.get(tampered)
    assert response.status_code == 400
    assert b"was not started in this browser" in response.content
    assert _signed_in_as(client) is None


def test_a_callback_used_twice_is_refused_the_second_time(client, sso):
    sso.user("max", sub="idp-max", email="max@corp.example", email_verified=True, groups=["hiring"])
    path = _callback_path(AtProvider(sso).sign_in(_start(client), "max"))
    assert client.get(path).status_code == 302
    other = Client()
    assert other.get(path).status_code == 400


def test_an_expired_code_is_refused(client, sso):
    sso.user("ned", sub="idp-ned", email="ned@corp.example", email_verified=True, groups=["hiring"])
    path = _callback_path(AtProvider(sso).sign_in(_start(client), "ned"))
    sso.expire_codes()
    response = client.get(path)
    assert response.status_code == 400
    assert b"did not accept this sign-in" in response.content
    assert _signed_in_as(client) is None


def test_a_provider_that_cannot_be_reached_gives_a_page_not_an_error(client, settings, sso):
    sso.user("una", sub="idp-una", email="una@corp.example", email_verified=True, groups=["hiring"])
    path = _callback_path(AtProvider(sso).sign_in(_start(client), "una"))
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token/"  # nothing listens on the discard port
    response = client.get(path)
    assert response.status_code == 502
    assert b"could not be reached" in response.content


@pytest.fixture
def forged_jwks(sso):
    """A JWKS server on loopback publishing another RSA key under the provider's key id."""
    keys = requests.get(sso.endpoints["OIDC_OP_JWKS_ENDPOINT"], timeout=10).json()["keys"]
    other = jwt.algorithms.RSAAlgorithm.to_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), as_dict=True
    )
    body = json.dumps({"keys": [{**other, "kid": keys[0]["kid"], "alg": "RS256", "use": "sig"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()
    server.server_close()


def test_an_id_token_whose_signature_does_not_match_the_published_key_is_refused(
    client, settings, sso, forged_jwks, caplog
):
    settings.OIDC_OP_JWKS_ENDPOINT = forged_jwks
    sso.user("vic", sub="idp-vic", email="vic@corp.example", email_verified=True, groups=["hiring"])
    response = sso_sign_in(client, sso, "vic")
    assert response.status_code == 400
    assert b"could not be verified" in response.content
    assert not User.objects.filter(username="vic").exists()
    assert "Signature verification failed" in caplog.text


class Jwks:
    """A JWKS endpoint on loopback in front of the provider's: what it publishes (the provider's own
    keys unless ``body`` is set), and how many times it was read."""

    def __init__(self, provider):
        self.provider_url = provider.endpoints["OIDC_OP_JWKS_ENDPOINT"]
        self.body: bytes | None = None
        self.reads = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                jwks.reads += 1
                body = jwks.body if jwks.body is not None else requests.get(jwks.provider_url, timeout=10).content
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def publish_another_key(self, kid: str) -> None:
        other = jwt.algorithms.RSAAlgorithm.to_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), as_dict=True
        )
        self.body = json.dumps({"keys": [{**other, "kid": kid, "alg": "RS256", "use": "sig"}]}).encode()


@pytest.fixture
def jwks(settings, sso):
    served = Jwks(sso)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    settings.OIDC_OP_JWKS_ENDPOINT = served.url
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_the_providers_keys_are_read_once_for_many_sign_ins(sso, jwks):
    sso.user("rua", sub="idp-rua", email="rua@corp.example", email_verified=True, groups=["hiring"])
    for _ in range(3):
        client = Client()
        assert sso_sign_in(client, sso, "rua").status_code == 302
        assert _signed_in_as(client) == "rua"
    assert jwks.reads == 1


def test_keys_past_their_age_are_read_again(sso, jwks, monkeypatch):
    monkeypatch.setattr("portal.accounts.sso.JWKS_MAX_AGE", 0)
    sso.user("ros", sub="idp-ros", email="ros@corp.example", email_verified=True, groups=["hiring"])
    for _ in range(2):
        assert sso_sign_in(Client(), sso, "ros").status_code == 302
    assert jwks.reads == 2


def test_a_rotated_key_is_read_at_once_but_an_unknown_one_not_at_every_sign_in(sso, jwks, monkeypatch):
    sso.user("ria", sub="idp-ria", email="ria@corp.example", email_verified=True, groups=["hiring"])
    # The kept keys lack the token's key id, and were just read: not read again, the sign-in refused.
    jwks.publish_another_key("retired-key")
    response = sso_sign_in(Client(), sso, "ria")
    assert response.status_code == 400
    assert b"could not be verified" in response.content
    assert jwks.reads == 1
    # The provider now publishes the key it signs with: once the kept keys are old enough to be
    # read again for an unknown key id (JWKS_REFRESH_AFTER), the next sign-in reads them and passes.
    jwks.body = None
    monkeypatch.setattr("portal.accounts.sso.JWKS_REFRESH_AFTER", 0)
    assert sso_sign_in(Client(), sso, "ria").status_code == 302
    assert jwks.reads == 2
    assert sso_sign_in(Client(), sso, "ria").status_code == 302
    assert jwks.reads == 2
    assert User.objects.filter(username="ria").exists()


@pytest.mark.parametrize(
    "body",
    [b"<html>maintenance</html>", b'{"keys": "none"}', b"[1, 2]", b'{"keys": [' + b'{"kid": "x"},' * 30000 + b"{}]}"],
    ids=["html", "keys-not-a-list", "not-an-object", "too-large"],
)
def test_a_jwks_that_is_not_a_key_set_refuses_the_sign_in_with_a_page(client, sso, jwks, body, caplog):
    sso.user("rex", sub="idp-rex", email="rex@corp.example", email_verified=True, groups=["hiring"])
    jwks.body = body
    response = sso_sign_in(client, sso, "rex")
    assert response.status_code == 400
    assert b"could not be verified" in response.content
    assert "JWKS" in caplog.text
    assert not User.objects.filter(username="rex").exists()


def test_an_id_token_from_another_issuer_is_refused(client, settings, sso):
    settings.OIDC_OP_ISSUER = "https://idp.other.example"
    sso.user("oli", sub="idp-oli", email="oli@corp.example", email_verified=True, groups=["hiring"])
    response = sso_sign_in(client, sso, "oli")
    assert response.status_code == 400
    assert b"could not be verified" in response.content
    assert not User.objects.filter(username="oli").exists()


def test_an_existing_password_user_is_linked_by_verified_email(client, sso, recruiter):
    sso.user("rita-idp", sub="idp-rita", email="RITA@example.com", email_verified=True, groups=["hiring"])
    assert sso_sign_in(client, sso, "rita-idp").status_code == 302
    assert SsoIdentity.objects.get(subject="idp-rita").user == recruiter
    assert _signed_in_as(client) == "rita"
    # The password still works: SSO adds a way in, it takes none away.
    assert Client().login(username="rita", password=PORTAL_PASSWORD)


def test_an_unverified_email_does_not_link_an_existing_user(client, settings, sso, recruiter):
    settings.PORTAL_OIDC_CREATE_USERS = False
    sso.user("rita-fake", sub="idp-fake", email="rita@example.com", email_verified=False, groups=["hiring"])
    response = sso_sign_in(client, sso, "rita-fake")
    assert response.status_code == 403
    assert b"No portal account uses this account" in response.content
    assert not SsoIdentity.objects.filter(user=recruiter).exists()


def test_a_superuser_is_never_linked_by_email(client, sso, admin_user):
    sso.user("ada-idp", sub="idp-ada", email="ada@example.com", email_verified=True, groups=["it"])
    response = sso_sign_in(client, sso, "ada-idp")
    assert response.status_code == 403
    assert not SsoIdentity.objects.exists()


def test_staff_without_a_second_factor_at_the_provider_get_the_portals_code_page(client, sso):
    sso.user("pat", sub="idp-pat", email="pat@corp.example", email_verified=True, groups=["it"], amr=["pwd"])
    sso_sign_in(client, sso, "pat")
    response = client.get("/status/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/second-factor/")


def test_staff_whose_provider_sign_in_had_a_second_factor_skip_the_portals_code(client, sso):
    sso.user("quin", sub="idp-quin", email="quin@corp.example", email_verified=True, groups=["it"], amr=["pwd", "otp"])
    sso_sign_in(client, sso, "quin")
    assert client.get("/status/").status_code == 200


def test_an_operator_may_trust_the_providers_second_factor_for_everyone(client, settings, sso):
    settings.PORTAL_OIDC_TRUST_MFA = True
    sso.user("ray", sub="idp-ray", email="ray@corp.example", email_verified=True, groups=["it"])
    sso_sign_in(client, sso, "ray")
    assert client.get("/status/").status_code == 200


def test_a_staff_session_from_the_provider_ends_after_the_idle_time_as_after_a_password(client, settings, sso):
    settings.PORTAL_STAFF_IDLE_MINUTES = 30
    sso.user("tia", sub="idp-tia", email="tia@corp.example", email_verified=True, groups=["it"], amr=["mfa"])
    sso_sign_in(client, sso, "tia")
    assert client.get("/status/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] -= 31 * 60
    session.save()
    assert client.get("/status/")["Location"].startswith("/accounts/login/")
    assert _signed_in_as(client) is None


def test_signing_out_ends_the_portal_session_and_offers_the_providers_sign_out(client, sso):
    sso.user("sam", sub="idp-sam", email="sam@corp.example", email_verified=True, groups=["hiring"])
    sso_sign_in(client, sso, "sam")
    page = client.post("/accounts/logout/")
    assert page.status_code == 200
    link = next(a for a in page.content.decode().split('"') if a.startswith(sso.url + "/logout/"))
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query["post_logout_redirect_uri"] == [f"{PORTAL_URL}/accounts/login/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert _signed_in_as(client) is None
    # The provider accepts the hint and sends the browser back to the portal's login page.
    answer = requests.get(link.replace("&amp;", "&"), allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] == f"{PORTAL_URL}/accounts/login/"


def test_with_passwords_off_only_superusers_sign_in_with_a_password(client, settings, sso, recruiter, admin_user):
    settings.AUTHENTICATION_BACKENDS = [
        "portal.accounts.throttle.SignInThrottleBackend",
        "portal.accounts.sso.SsoBackend",
        "portal.accounts.sso.SuperuserPasswordBackend",
    ]
    settings.PORTAL_PASSWORD_SIGN_IN = False
    page = client.get("/accounts/login/")
    assert b"Administrators: sign in with a password" in page.content
    refused = client.post("/accounts/login/", {"username": "rita", "password": PORTAL_PASSWORD})
    assert refused.status_code == 200 and _signed_in_as(client) is None
    admitted = client.post("/accounts/login/", {"username": "ada", "password": PORTAL_PASSWORD})
    assert admitted.status_code == 302


def test_sso_discover_prints_the_settings_of_a_provider(sso, capsys):
    call_command("sso_discover", sso.url + "/")
    printed = capsys.readouterr().out
    assert f"PORTAL_OIDC_ISSUER={sso.url}\n" in printed
    assert f"PORTAL_OIDC_TOKEN_ENDPOINT={sso.url}/token/\n" in printed
    assert f"PORTAL_OIDC_JWKS_ENDPOINT={sso.url}/.well-known/jwks.json\n" in printed
    assert f"{PORTAL_URL}/accounts/sso/callback/" in printed


def test_sso_discover_names_what_is_wrong_with_a_url_that_is_no_provider(sso):
    with pytest.raises(
        CommandError, match=re.escape("Could not read http://127.0.0.1:9/.well-known/openid-configuration")
    ):
        call_command("sso_discover", "http://127.0.0.1:9")
