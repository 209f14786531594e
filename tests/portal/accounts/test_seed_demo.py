import json
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from portal.accounts.models import User


def _seed(settings, tmp_path, debug: bool = True, **kwargs) -> str:
    # pytest-django runs tests with DEBUG off; a local run (where seeding belongs) has it on.
    settings.DEBUG = debug
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out, accounts_only=True, **kwargs)
    return out.getvalue()


def _printed_passwords(output: str) -> dict[str, str]:
    rows = [line.split() for line in output.splitlines() if line.startswith("  ")]
    return {row[0]: row[1] for row in rows}


def test_seed_demo_creates_three_accounts_whose_printed_passwords_work(client, db, settings, tmp_path):
    passwords = _printed_passwords(_seed(settings, tmp_path))
    assert set(passwords) == {"admin", "recruiter", "reviewer"}
    for username, page in [("recruiter", "recruiter_dashboard"), ("reviewer", "review_queue")]:
        client.logout()
        response = client.post(reverse("login"), {"username": username, "password": passwords[username]})
        assert response.status_code == 302, username
        assert client.get(reverse(page)).status_code == 200
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser


def test_seed_demo_is_idempotent_and_prints_the_same_passwords(db, settings, tmp_path):
    first = _printed_passwords(_seed(settings, tmp_path))
    second_output = _seed(settings, tmp_path)
    assert _printed_passwords(second_output) == first
    assert "[exists]" in second_output
    assert User.objects.count() == 3


def test_seed_demo_keeps_the_credentials_file_private(db, settings, tmp_path):
    _seed(settings, tmp_path)
    credentials = tmp_path / "demo-credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert set(json.loads(credentials.read_text())) == {"admin", "recruiter", "reviewer"}


def test_seed_demo_says_so_when_a_password_was_changed(db, settings, tmp_path):
    _seed(settings, tmp_path)
    user = User.objects.get(username="reviewer")
    user.set_password("changed by its owner 7")
    user.save()
    output = _seed(settings, tmp_path)
    assert "reviewer   (password changed since seeding" in output


def test_seed_demo_refuses_to_run_with_debug_off(db, settings, tmp_path):
    with pytest.raises(CommandError, match="Refusing to create demo accounts with DEBUG off"):
        _seed(settings, tmp_path, debug=False)
    assert User.objects.count() == 0
