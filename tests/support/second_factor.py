"""Staff users' second factor in tests: a real TOTP device and its current code (django-otp).

Tests about other things sign staff in with force_login or the browser's sign_in; these helpers
then pass the second factor the way the code page does (a confirmed device recorded in the
session), so that those tests are about their own pages. The second factor itself is tested in
tests/portal/accounts/test_second_factor.py and tests/e2e/test_second_factor.py.
"""

import re

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts.second_factor import second_factor_device, second_factor_required


def confirmed_device(user) -> TOTPDevice:
    """The user's authenticator app, set up (confirmed) now if they have none."""
    return second_factor_device(user=user) or TOTPDevice.objects.create(user=user, name="Test phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    """The code the authenticator app shows now, computed from the device's key as the app does."""
    device.refresh_from_db()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{code:0{device.digits}d}"


def fresh_code(device: TOTPDevice) -> str:
    """The current code, usable even if it was used already in this 30-second step (test setup only).

    django-otp refuses a code twice; a test that signs the same user in twice within one step would
    otherwise depend on the clock.
    """
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
    return current_code(device)


class SecondFactorClient(Client):
    """Django's test client; force_login() of a user who needs the second factor also passes it."""

    def force_login(self, user, backend=None, *, second_factor: bool = True):
        super().force_login(user, backend)
        if second_factor and second_factor_required(user):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = confirmed_device(user).persistent_id
            session.save()


def pass_second_factor(page, user) -> None:
    """In the browser, just after the password: type the code of the user's authenticator app (set up before)."""
    code = fresh_code(confirmed_device(user))
    page.wait_for_url(re.compile(r"/accounts/second-factor/"))
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/accounts/second-factor/" not in url)
