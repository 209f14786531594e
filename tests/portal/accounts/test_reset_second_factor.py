"""`manage.py reset_second_factor <username>`: a lost authenticator app, replaced at the next sign-in."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.support.second_factor import confirmed_device

STATUS_PAGE = reverse("system_status")


def _reset(username: str) -> str:
    out = StringIO()
    call_command("reset_second_factor", username, stdout=out)
    return out.getvalue().strip()


def test_the_reset_removes_the_app_and_a_verified_session_must_verify_again(client, admin_user):
    client.force_login(admin_user)
    assert client.get(STATUS_PAGE).status_code == 200
    assert _reset("ada") == "Removed the authenticator app of ada: they set up a new one at their next sign-in."
    assert not TOTPDevice.objects.filter(user=admin_user).exists()
    assert client.get(STATUS_PAGE, follow=True).redirect_chain[-1][0].startswith(reverse("second_factor_enrol"))


def test_the_reset_also_removes_an_enrolment_never_confirmed(admin_user):
    confirmed_device(admin_user)
    TOTPDevice.objects.create(user=admin_user, name="Half set up", confirmed=False)
    assert _reset("ADA").startswith("Removed the 2 authenticator apps of ada:")
    assert not TOTPDevice.objects.exists()


def test_a_user_without_a_second_factor_is_told_so(recruiter):
    assert _reset("rita") == "rita has no second factor: nothing to remove."


def test_an_unknown_user_is_refused_clearly(db):
    with pytest.raises(CommandError, match=r"No user named 'nobody'\."):
        _reset("nobody")
