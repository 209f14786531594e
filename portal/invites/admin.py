"""Invites in the admin, for administrators: read and search; changes go through the recruiter's pages.

Edits here would skip the services (no timeline event, no email, no repository), so every field
is read-only and nothing can be added or deleted; the recruiter's page of an invite is linked.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from portal.invites.models import Candidate, Email, Event, Invite


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Candidate)
class CandidateAdmin(ReadOnlyAdmin):
    list_display = ("name", "email", "created_at")
    search_fields = ("name", "email")


class EventInline(admin.TabularInline):
    model = Event
    fields = ("at", "kind", "data")
    readonly_fields = fields
    extra = 0
    can_delete = False


class EmailInline(admin.TabularInline):
    model = Email
    fields = ("kind", "to", "status", "attempts", "error", "created_at", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Invite)
class InviteAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "candidate", "assessment_version", "status", "deadline", "created_at", "page")
    list_filter = ("status", "assessment_version__assessment")
    search_fields = ("public_id", "candidate__name", "candidate__email")
    exclude = ("link_token_hash", "git_token_hash")
    inlines = [EmailInline, EventInline]

    @admin.display(description="Recruiter's page")
    def page(self, invite: Invite) -> str:
        return format_html('<a href="{}">open</a>', reverse("recruiter_invite_detail", args=[invite.public_id]))
