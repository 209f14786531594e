import email

from django.core.mail import EmailMessage

from portal.core.mail import ConsoleOutboxBackend


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
