"""The portal's hooks into django-axes, which throttles staff sign-in (settings: AXES_*).

Axes counts failures per username and client address together; these tell it which sign-ins
to check, where the address is and what a locked-out client sees.
"""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.shortcuts import render


class SignInThrottleBackend(AxesStandaloneBackend):
    """Axes' check, first in AUTHENTICATION_BACKENDS: refuses a locked-out pair before the password is read.

    Only sign-ins over HTTP are throttled, by their client address. authenticate() without a
    request (a shell, Django's test client) has no address to count against, and axes would
    raise; here it goes straight on to the password check. Every web entry point passes the
    request: the login page and the admin's do.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_address(request) -> str | None:
    """REMOTE_ADDR, which ClientAddressMiddleware has already set to the client behind trusted proxies.

    Named explicitly so that axes never reads X-Forwarded-For itself: it would take the
    left-most entry, which the client writes, and a guesser could then pick a new address per try.
    """
    return request.META.get("REMOTE_ADDR")


def locked_out(request, original_response=None, credentials=None):
    """The lockout page, 429 with Retry-After; the same for the login page and the admin's.

    A try during the lockout starts the cool-off again (axes' default), so the wait is the whole
    cool-off from now. The page names no account state beyond what the visitor typed.
    """
    minutes = settings.PORTAL_LOGIN_COOLOFF_MINUTES
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
