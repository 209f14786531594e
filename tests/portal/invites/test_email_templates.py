"""The emails' wording is in templates an operator can override from PORTAL_TEMPLATE_DIR."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.invites.emails import email_send, invitation_queue
from portal.invites.models import Email

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def overrides(settings, tmp_path):
    """A template folder searched first, as PORTAL_TEMPLATE_DIR makes it."""
    folder = tmp_path / "templates"
    (folder / "invites" / "email").mkdir(parents=True)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [folder, *settings.TEMPLATES[0]["DIRS"]]}]
    return folder / "invites" / "email"


def test_the_setting_puts_the_operators_folder_first(tmp_path):
    code = "from django.conf import settings; print(settings.TEMPLATES[0]['DIRS'][0])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_TEMPLATE_DIR": str(tmp_path)}
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == str(tmp_path)


def test_an_overridden_template_changes_the_email(overrides, created, mailoutbox):
    (overrides / "invitation_subject.txt").write_text("Welcome, {{ candidate_name }}\n")
    email_send(email_id=invitation_queue(invite=created.invite).pk)
    [message] = mailoutbox
    assert message.subject == "Welcome, Ann Example"
    assert "Hello Ann Example" in message.body


def test_a_broken_override_fails_the_email_with_the_reason_and_keeps_the_link(client, overrides, created):
    (overrides / "invitation.txt").write_text("Hello {% if %}\n")
    email = email_send(email_id=invitation_queue(invite=created.invite).pk)
    assert email.status == Email.Status.FAILED
    assert email.error.startswith("TemplateSyntaxError")
    assert client.get(f"/i/{created.link_token}/").status_code == 200
