"""Integrity across candidates: similar submissions and known leaked solutions, shown as evidence."""

from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    name = "portal.integrity"
    label = "integrity"
    verbose_name = "Integrity"

    def ready(self) -> None:
        from portal.integrity.services import invite_event_recorded
        from portal.invites.hooks import event_recorded

        event_recorded.connect(invite_event_recorded)
