from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "portal.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from portal.invites.hooks import event_recorded
        from portal.webhooks.services import event_deliveries_create

        event_recorded.connect(event_deliveries_create)
