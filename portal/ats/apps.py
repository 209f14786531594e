"""The applicant-tracking-system link: Greenhouse's Assessment Partner API, served over the pipeline's services."""

from django.apps import AppConfig


class AtsConfig(AppConfig):
    name = "portal.ats"
    label = "ats"
    verbose_name = "Applicant tracking"

    def ready(self) -> None:
        from portal.ats.services import greenhouse_event_recorded
        from portal.invites.hooks import event_recorded

        event_recorded.connect(greenhouse_event_recorded)
