"""manage.py greenhouse_key: the key is shown once, kept only as a hash, and rotated."""

import pytest
from django.core.management import call_command

from portal.ats.models import GreenhouseKey
from portal.ats.services import greenhouse_key_check


def _make(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("greenhouse_key", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.mark.django_db
def test_the_key_printed_is_valid_and_stored_only_as_a_hash():
    secret = _make()
    assert secret.startswith("gh_") and len(secret) < 171  # Greenhouse's limit
    assert greenhouse_key_check(secret) is not None
    key = GreenhouseKey.objects.get()
    assert secret not in (key.key_hash, key.prefix) and key.prefix == secret[:10]


@pytest.mark.django_db
def test_a_new_key_revokes_the_old_one_unless_kept():
    first = _make()
    second = _make()
    assert greenhouse_key_check(first) is None and greenhouse_key_check(second) is not None
    third = _make("--keep")
    assert greenhouse_key_check(second) is not None and greenhouse_key_check(third) is not None
    assert "Revoked 2 key(s)" in _make("--revoke")
    assert greenhouse_key_check(third) is None and greenhouse_key_check("") is None
