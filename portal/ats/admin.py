from django.contrib import admin, messages

from portal.ats.models import CompletionReport, GreenhouseKey, GreenhouseTest
from portal.ats.services import greenhouse_keys_revoke, report_retry


@admin.register(GreenhouseKey)
class GreenhouseKeyAdmin(admin.ModelAdmin):
    """Keys are made with `manage.py greenhouse_key` (shown once); here they are seen and revoked."""

    list_display = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "created_by", "last_used_at", "revoked_at")
    actions = ["revoke_all"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke every key")
    def revoke_all(self, request, queryset):
        count = greenhouse_keys_revoke()
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


class CompletionReportInline(admin.TabularInline):
    model = CompletionReport
    extra = 0
    can_delete = False
    fields = ("status", "attempts", "next_attempt_at", "sent_at", "response_status", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GreenhouseTest)
class GreenhouseTestAdmin(admin.ModelAdmin):
    list_display = ("partner_interview_id", "partner_test_id", "invite", "created_at")
    list_select_related = ("invite__candidate",)
    search_fields = ("partner_interview_id", "invite__public_id", "invite__candidate__email")
    readonly_fields = (
        "invite",
        "partner_interview_id",
        "partner_test_id",
        "request_key",
        "callback_url",
        "greenhouse_profile_url",
        "created_at",
    )
    inlines = [CompletionReportInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CompletionReport)
class CompletionReportAdmin(admin.ModelAdmin):
    list_display = ("test", "status", "attempts", "next_attempt_at", "sent_at", "response_status")
    list_filter = ("status",)
    list_select_related = ("test",)
    readonly_fields = [f.name for f in CompletionReport._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Send the selected failed reports again")
    def send_again(self, request, queryset):
        for report in queryset.filter(status=CompletionReport.Status.FAILED):
            report_retry(report=report)
        self.message_user(request, "Failed reports are queued again.", messages.SUCCESS)
