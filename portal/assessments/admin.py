from django.contrib import admin

from portal.assessments.models import Assessment, AssessmentVersion
from portal.assessments.selectors import versions_with_invites


class AssessmentVersionInline(admin.TabularInline):
    model = AssessmentVersion
    fields = ("label", "content_hash", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "candidate_results", "blind_review", "created_at")
    fields = ("title", "slug", "candidate_results", "blind_review")
    readonly_fields = ("slug",)
    inlines = [AssessmentVersionInline]


@admin.register(AssessmentVersion)
class AssessmentVersionAdmin(admin.ModelAdmin):
    """Versions are immutable snapshots (manage.py load_assessment adds them): listed and read, never edited."""

    list_display = ("assessment", "label", "hash", "loaded_at", "invites", "latest")
    list_filter = ("assessment",)
    search_fields = ("label", "content_hash", "assessment__slug")
    fields = ("assessment", "label", "content_hash", "package_dir", "shipped_subdir", "validated_at", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return versions_with_invites()

    @admin.display(description="content hash")
    def hash(self, version: AssessmentVersion) -> str:
        return version.short_hash

    @admin.display(description="loaded at", ordering="created_at")
    def loaded_at(self, version: AssessmentVersion):
        return version.created_at

    @admin.display(description="invites (open / total)")
    def invites(self, version: AssessmentVersion) -> str:
        return f"{version.invites_open} / {version.invites_total}"

    @admin.display(description="latest", boolean=True)
    def latest(self, version: AssessmentVersion) -> bool:
        return version.pk == version.latest_id

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Viewing stays allowed (the view permission); every field is read-only anyway.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
