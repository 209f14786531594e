from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_otp import login as otp_login

from portal.accounts.second_factor import (
    CODE_DIGITS,
    CodeRefused,
    enrolment_device,
    enrolment_qr_svg,
    enrolment_secret,
    second_factor_check,
    second_factor_device,
    second_factor_required,
)
from portal.accounts.services import password_reset_admit, password_reset_queue


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, but the email is sent by a task, with the service the operators' command uses.

    The request only queues the address (portal.accounts.tasks.password_reset, sent on commit): it
    never looks the address up, so it answers the same way in the same time whether or not an
    account uses it. The task uses PORTAL_BASE_URL, never the Host header, and includes users who
    have no usable password yet, unlike Django's own form. Past PORTAL_PASSWORD_RESET_MAX_PER_HOUR
    requests from one client address, nothing is queued but the page is the same, so a flood
    neither fills inboxes nor learns anything.
    """

    def form_valid(self, form):
        if password_reset_admit(address=self.request.META.get("REMOTE_ADDR")):
            password_reset_queue(email=form.cleaned_data["email"])
        return redirect(self.get_success_url())


def _next_url(request) -> str:
    """Where to go once the second factor is passed: the page asked for, if it is one of ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return wanted
    return reverse(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return reverse(name) + "?" + urlencode({"next": next_url})


def _passed(request, device) -> None:
    # A new session key once the account is fully signed in, as Django's login() does after the password.
    request.session.cycle_key()
    otp_login(request, device)


def _page(request, template: str, context: dict, status: int = 200):
    # No navigation links: until the code is passed every one of them leads back here.
    return render(request, template, {"nav_links": [], "code_digits": CODE_DIGITS, **context}, status=status)


def _code_posted(request, device) -> tuple[bool, str | None, int]:
    """Check the posted code against ``device``: (passed, the error to show, the status to answer).
    A passed code verifies the session (``_passed``)."""
    try:
        second_factor_check(device=device, code=request.POST.get("code", ""))
    except CodeRefused as refused:
        return False, str(refused), 429 if refused.throttled else 400
    _passed(request, device)
    return True, None, 200


@login_required
def second_factor(request):
    """Ask for the code of the user's authenticator app; before enrolment, go to enrolment."""
    next_url = _next_url(request)
    if not second_factor_required(request.user) or request.user.is_verified():
        return redirect(next_url)
    device = second_factor_device(user=request.user)
    if device is None:
        return redirect(_with_next("second_factor_enrol", next_url))
    if request.method == "POST":
        passed, error, status = _code_posted(request, device)
        if passed:
            return redirect(next_url)
    else:
        error, status = None, 200
    return _page(request, "accounts/second_factor.html", {"error": error, "next": next_url}, status)


@login_required
def second_factor_enrol(request):
    """Set up the authenticator app: a QR code and the secret as text, confirmed with a first code.

    Only while the user has no confirmed device: otherwise the password alone would be enough to
    replace it.
    """
    next_url = _next_url(request)
    if not second_factor_required(request.user):
        return redirect(next_url)
    if second_factor_device(user=request.user) is not None:
        return redirect(_with_next("second_factor", next_url))
    device = enrolment_device(user=request.user)
    if request.method == "POST":
        passed, error, status = _code_posted(request, device)
        if passed:
            return redirect(next_url)
    else:
        error, status = None, 200
    context = {
        "error": error,
        "next": next_url,
        "qr_svg": enrolment_qr_svg(device),
        "secret": enrolment_secret(device),
    }
    return _page(request, "accounts/second_factor_enrol.html", context, status)
