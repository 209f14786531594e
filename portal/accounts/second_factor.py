"""The second factor: a code from an authenticator app (TOTP, django-otp) after the password.

Who needs one is PORTAL_2FA_FOR: "staff" (staff and superusers, the accounts that can change
anything, the default) or "everyone". Recruiters and reviewers who are not staff sign in with
their password alone by default: they see candidates' work but cannot change users, settings or
scoring, and asking every occasional reviewer for an authenticator app costs more than it protects.

One authenticator app per user. The first sign-in that needs it leads through enrolment (a QR
code and the secret as text, confirmed with a code); from then on each sign-in asks for a code.
Enrolment is open only while the user has no confirmed device: a session holding only the
password can never replace a device. An operator removes a lost one with
`manage.py reset_second_factor <username>` (second_factor_reset). Wrong codes are throttled by
django-otp per device: after n wrong codes in a row the next try waits 2^(n-1) seconds.
"""

import math
from base64 import b32encode

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts.models import User

DEVICE_NAME = "Authenticator app"
CODE_DIGITS = 6


def second_factor_required(user) -> bool:
    """Whether this signed-in user must pass the second factor (PORTAL_2FA_FOR)."""
    if not user.is_authenticated:
        return False
    return settings.PORTAL_2FA_FOR == "everyone" or user.is_staff or user.is_superuser


def second_factor_device(*, user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, or None before enrolment."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def enrolment_device(*, user: User) -> TOTPDevice:
    """The unconfirmed device enrolment shows, the same one on every visit until it is confirmed."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def enrolment_secret(device: TOTPDevice) -> str:
    """The device's secret as an authenticator app asks for it typed: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def enrolment_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// link as an inline SVG QR code, dark on white whatever the page's colour scheme."""
    code = segno.make(device.config_url, error="m")
    return code.svg_inline(scale=4, dark="#000", light="#fff", title="QR code for your authenticator app")


class CodeRefused(Exception):
    """A code that did not verify; the message says why, for the person typing it."""

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


def second_factor_check(*, device: TOTPDevice, code: str) -> None:
    """Verify a code against the device (locked for the check, so two tries cannot race), or raise CodeRefused.

    A used code is refused if typed again (django-otp remembers the last time step); while the
    throttle holds, even a right code is refused, and the message says how long to wait.
    """
    code = "".join(code.split())
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        raise CodeRefused(f"Enter the {CODE_DIGITS}-digit code your authenticator app shows now.")
    # The refusal is raised once the transaction has committed: raised inside, it would roll back
    # the failure django-otp counts, and the throttle would never hold.
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        allowed, info = device.verify_is_allowed()
        verified = allowed and device.verify_token(code)
        if verified and not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
    if not allowed:
        raise CodeRefused(_wait_message(info), throttled=True)
    if not verified:
        raise CodeRefused(
            "That code is not right. Check that the app shows the Assessment Portal entry for this "
            "account and that your phone's clock is right, then enter the code it shows now."
        )


def _wait_message(info: dict | None) -> str:
    locked_until = (info or {}).get("locked_until")
    seconds = math.ceil((locked_until - timezone.now()).total_seconds()) if locked_until else 1
    seconds = max(1, seconds)
    return f"Too many wrong codes in a row: wait {seconds} second{'s' if seconds != 1 else ''}, then try again."


@transaction.atomic
def second_factor_reset(*, user: User) -> int:
    """Remove every second-factor device of the user; how many. Their next sign-in enrols a new one.

    Sessions verified with a removed device are no longer verified (django-otp's middleware drops
    a device that is gone), so they are back at the code page at their next request.
    """
    removed = 0
    for device in devices_for_user(user, confirmed=None):
        device.delete()
        removed += 1
    return removed
