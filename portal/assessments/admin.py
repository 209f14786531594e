from django.contrib import admin

from portal.assessments.models import Assessment, AssessmentVersion


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
