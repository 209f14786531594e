from django.contrib import admin

from portal.webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "active", "created_at"]
    list_filter = ["active"]
    # The secret is shown and rotated on the endpoint's own page (/webhooks/<id>/), never here.
    exclude = ["secret"]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["msg_id", "endpoint", "event_type", "status", "attempts", "response_code", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["msg_id"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
