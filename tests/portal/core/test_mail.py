import email
import subprocess
import sys
from pathlib import Path

from django.core.mail import EmailMessage

from portal.core.mail import ConsoleOutboxBackend

ROOT = Path(__file__).resolve().parents[3]


def test_the_local_mail_backend_prints_and_keeps_an_eml_copy(tmp_path, capsys):
    backend = ConsoleOutboxBackend(outbox_dir=tmp_path / "outbox")
    message = EmailMessage("Your assessment", "Open https://portal/i/abc", "portal@localhost", ["ann@example.com"])
    assert backend.send_messages([message]) == 1
    assert "Subject: Your assessment" in capsys.readouterr().out
    [saved] = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(saved.read_bytes())
    assert parsed["To"] == "ann@example.com"
    assert "https://portal/i/abc" in parsed.get_payload()


def test_sending_nothing_creates_no_outbox(tmp_path):
    backend = ConsoleOutboxBackend(outbox_dir=tmp_path / "outbox")
    assert backend.send_messages([]) == 0
    assert not (tmp_path / "outbox").exists()


def _sendtestemail(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """`manage.py sendtestemail` in a process configured only by the given mail settings."""
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "ops@example.com"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_email_host_sends_through_a_real_smtp_server(smtp_inbox, tmp_path):
    result = _sendtestemail(
        tmp_path,
        EMAIL_HOST=smtp_inbox.host,
        EMAIL_PORT=str(smtp_inbox.port),
        DEFAULT_FROM_EMAIL="Hiring <hiring@example.com>",
    )
    assert result.returncode == 0, result.stderr
    [message] = smtp_inbox.messages
    assert message["To"] == "ops@example.com"
    assert smtp_inbox.envelopes == [("hiring@example.com", ["ops@example.com"])]
    assert not (tmp_path / "outbox").exists()


def test_an_unreachable_smtp_server_fails_the_send(tmp_path):
    result = _sendtestemail(tmp_path, EMAIL_HOST="127.0.0.1", EMAIL_PORT="1", EMAIL_TIMEOUT="5")
    assert result.returncode != 0
    assert "ConnectionRefusedError" in result.stderr
