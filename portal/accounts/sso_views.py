"""The pages of single sign-on (portal/accounts/sso.py): the login page with its provider button,
the start and the end of a sign-in at the provider, and sign-out.

Every way a sign-in through the provider can fail ends on one page that says why, in words for the
person (``registration/sso_refused.html``), never a 500: the provider's refusal (``?error=``), a
state this browser never started or already used, a code the provider no longer accepts, an ID
token that does not verify, and the portal's own rules (no role, a domain not admitted...).
"""

import logging

import requests
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal.accounts.sso import SSO_SESSION_KEY, SignInRefused, callback_url, sso_enabled

logger = logging.getLogger(__name__)

START_AGAIN = "Start again from the sign-in page."


class SignInView(auth_views.LoginView):
    """Django's login page, with "Sign in with <provider>" when single sign-on is on."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["password_sign_in"] = not sso_enabled() or settings.PORTAL_PASSWORD_SIGN_IN
        if sso_enabled():
            next_url = context.get("next")
            query = "?" + urlencode({"next": next_url}) if next_url else ""
            context["sso"] = {"name": settings.PORTAL_OIDC_PROVIDER_NAME, "url": reverse("sso_start") + query}
        return context


def _refused(request, message: str, status: int):
    context = {"message": message, "provider": settings.PORTAL_OIDC_PROVIDER_NAME, "nav_links": []}
    return render(request, "registration/sso_refused.html", context, status=status)


class SsoStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider with a new state, nonce and PKCE challenge kept in the session."""

    def get(self, request):
        if not sso_enabled():
            raise Http404
        return super().get(request)

    def get_extra_params(self, request):
        return {"redirect_uri": callback_url()}


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: the code is exchanged and the user signed in, or refused."""

    def get(self, request):
        if not sso_enabled():
            raise Http404
        state = request.GET.get("state")
        started = state is not None and state in request.session.get("oidc_states", {})
        if request.GET.get("error"):
            super().get(request)  # forgets the state and ends any session, as the library does
            error = request.GET["error"][:80]
            return _refused(request, f"The identity provider did not sign you in ({error}). {START_AGAIN}", 403)
        if not started:
            message = "This sign-in was not started in this browser, or was already used or has expired."
            return _refused(request, f"{message} {START_AGAIN}", 400)
        try:
            return super().get(request)
        except SignInRefused as refused:
            logger.info("Single sign-on refused: %s", refused)
            return _refused(request, str(refused), refused.status)
        except requests.HTTPError as error:
            logger.warning("Single sign-on: the provider refused the code: %s", error)
            message = "The identity provider did not accept this sign-in: it may have taken too long."
            return _refused(request, f"{message} {START_AGAIN}", 400)
        except requests.RequestException as error:
            logger.error("Single sign-on: the provider could not be reached: %s", error)
            return _refused(request, "The identity provider could not be reached. Try again in a moment.", 502)
        except SuspiciousOperation as error:
            logger.warning("Single sign-on: %s", error)
            return _refused(request, f"The identity provider's answer could not be verified. {START_AGAIN}", 400)

    def login_success(self):
        response = super().login_success()
        passed = bool(getattr(self.user, "sso_second_factor", False))
        self.request.session[SSO_SESSION_KEY] = {"second_factor": passed}
        return response

    def login_failure(self):
        return _refused(self.request, f"The sign-in did not complete. {START_AGAIN}", 400)


class SignOutView(auth_views.LogoutView):
    """Ends the portal's session; after a sign-in through the provider, offers to end the provider's too.

    A link rather than a redirect: the page's Content-Security-Policy lets a form lead only to the
    portal itself, and browsers apply that to the redirect after the form too.
    """

    def post(self, request, *args, **kwargs):
        id_token = request.session.get("oidc_id_token") if request.session.get(SSO_SESSION_KEY) else None
        response = super().post(request, *args, **kwargs)
        if not (id_token and settings.OIDC_OP_LOGOUT_ENDPOINT):
            return response
        query = {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": settings.PORTAL_BASE_URL + reverse("login"),
        }
        context = {
            "provider": settings.PORTAL_OIDC_PROVIDER_NAME,
            "provider_logout_url": settings.OIDC_OP_LOGOUT_ENDPOINT + "?" + urlencode(query),
            "nav_links": [],
        }
        return render(request, "registration/sso_signed_out.html", context)
