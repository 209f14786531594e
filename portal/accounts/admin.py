from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from portal.accounts.models import SsoIdentity, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "roles", "is_staff", "is_active")
    list_filter = ("groups", "is_staff", "is_superuser", "is_active")

    @admin.display(description="Roles")
    def roles(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all()) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")


class SsoIdentityInline(admin.TabularInline):
    """The user's accounts at the identity provider: deleting one unlinks it (the next sign-in there
    links again only by a verified email, or creates a new user)."""

    model = SsoIdentity
    extra = 0
    fields = ("issuer", "subject", "created_at", "last_sign_in_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


UserAdmin.inlines = (*UserAdmin.inlines, SsoIdentityInline)


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "issuer", "subject", "created_at", "last_sign_in_at")
    search_fields = ("user__username", "user__email", "subject")
    readonly_fields = ("user", "issuer", "subject", "created_at", "last_sign_in_at")

    def has_add_permission(self, request) -> bool:
        return False
