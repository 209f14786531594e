from pathlib import Path

from django.conf import settings
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.utils import timezone
from django.utils.crypto import get_random_string


class ConsoleOutboxBackend(ConsoleBackend):
    """Local default: print each message and keep a copy as an .eml file in var/outbox/.

    The copy lets someone running the portal without a mail server open an invite
    link that was "sent", and lets tests read what would have gone out.
    """

    def __init__(self, *args, outbox_dir: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.outbox_dir = Path(outbox_dir or settings.EMAIL_OUTBOX_DIR)

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        sent = super().send_messages(email_messages)
        if sent:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            for message in email_messages:
                stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
                path = self.outbox_dir / f"{stamp}-{get_random_string(6)}.eml"
                path.write_bytes(message.message().as_bytes())
        return sent
