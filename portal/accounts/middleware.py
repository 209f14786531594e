"""Staff sessions: the second factor before anything else, and an end after a while without use.

Both come after django-otp's OTPMiddleware (request.user.is_verified()) and Django's messages in
settings.MIDDLEWARE. The checks are here rather than on each view so that no page, the Django
admin included, can forget them.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from portal.accounts.second_factor import second_factor_required
from portal.accounts.sso import sso_second_factor_passed

# Epoch seconds of the staff session's last request.
LAST_SEEN_KEY = "portal_last_seen"
# What an unverified session may open: the code and enrolment pages, and sign-out.
OPEN_BEFORE_SECOND_FACTOR = frozenset({"second_factor", "second_factor_enrol", "logout", "admin:logout"})


def _is_staff(user) -> bool:
    return user.is_authenticated and (user.is_staff or user.is_superuser)


def _redirect(request, url: str) -> HttpResponse:
    """A redirect; for htmx, which would follow it and swap the page into a fragment, HX-Redirect instead."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _with_next(request, name: str) -> str:
    """The URL of page ``name``, coming back here after it when this was a page to read (GET)."""
    url = reverse(name)
    if request.method == "GET" and not request.headers.get("HX-Request"):
        url += "?" + urlencode({"next": request.get_full_path()})
    return url


class StaffIdleTimeoutMiddleware:
    """Signs a staff session out after PORTAL_STAFF_IDLE_MINUTES without a request.

    Every request of a staff session records its time in the session and sets the session to
    expire that long after it (so the cookie and the stored session end too); a request that comes
    later than that finds the session ended and is sent to sign in again, with a message saying why.
    Other users keep the ordinary session length (SESSION_COOKIE_AGE).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_staff(request.user):
            limit = settings.PORTAL_STAFF_IDLE_MINUTES * 60
            now = time.time()
            last_seen = request.session.get(LAST_SEEN_KEY)
            if isinstance(last_seen, int | float) and now - last_seen > limit:
                logout(request)
                minutes = settings.PORTAL_STAFF_IDLE_MINUTES
                messages.info(request, f"You were signed out after {minutes} minutes without activity. Sign in again.")
                return _redirect(request, _with_next(request, "login"))
            request.session[LAST_SEEN_KEY] = now
            request.session.set_expiry(limit)
        return self.get_response(request)


class SecondFactorMiddleware:
    """Until a session that needs the second factor has passed it, every page but a few leads to the code page.

    The code page leads on to enrolment when the user has no authenticator app yet.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not second_factor_required(user) or user.is_verified():
            return None
        # A sign-in through the identity provider with its own second factor (portal/accounts/sso.py).
        if sso_second_factor_passed(request):
            return None
        if request.resolver_match.view_name in OPEN_BEFORE_SECOND_FACTOR:
            return None
        return _redirect(request, _with_next(request, "second_factor"))
