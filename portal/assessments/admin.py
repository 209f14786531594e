from django import forms
from django.contrib import admin

from portal.assessments.models import Assessment, AssessmentVersion
from portal.assessments.selectors import versions_with_invites


class AssessmentVersionInline(admin.TabularInline):
    model = AssessmentVersion
    fields = ("label", "content_hash", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


# No "%" in it: Django formats the message with the limit's value.
SIMILARITY_FLAG_RANGE = (
    "Give a share between 0 and 1, for example 0.6 to flag a submission whose closest match scores 0.6 or more."
)


class AssessmentForm(forms.ModelForm):
    # The model's validators hold too; this says what the number means when it is out of range.
    similarity_flag = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        label="Similarity flag",
        help_text=Assessment._meta.get_field("similarity_flag").help_text,
        error_messages={"min_value": SIMILARITY_FLAG_RANGE, "max_value": SIMILARITY_FLAG_RANGE},
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )

    class Meta:
        model = Assessment
        fields = ("title", "candidate_results", "blind_review", "similarity_flag")


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    form = AssessmentForm
    list_display = ("title", "slug", "candidate_results", "blind_review", "similarity_flag", "created_at")
    fields = ("title", "slug", "candidate_results", "blind_review", "similarity_flag")
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
