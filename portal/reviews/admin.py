import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Max

from portal.assessments.admin import AssessmentAdmin
from portal.assessments.models import Assessment
from portal.reviews.models import AssessmentReviewer, Assignment, Review, Rubric


class CriteriaField(forms.JSONField):
    """The criteria as indented JSON, so a rubric can be read and edited in the textarea."""

    def prepare_value(self, value):
        if isinstance(value, str):  # what the user typed, shown back as it was when it did not parse
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class RubricForm(forms.ModelForm):
    criteria = CriteriaField(widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "style": "font-family: monospace"}))

    class Meta:
        model = Rubric
        fields = ["assessment", "criteria"]


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    """A rubric that reviews were scored against is never edited in place: a change becomes the next version."""

    form = RubricForm
    list_display = ["assessment", "version", "created_at"]
    list_filter = ["assessment"]

    def get_readonly_fields(self, request, obj=None):
        return ["assessment", "version"] if obj is not None else ["version"]

    def save_model(self, request, obj, form, change):
        if change and "criteria" in form.changed_data and Review.objects.filter(rubric_id=obj.pk).exists():
            obj.pk = obj.id = None
            obj._state.adding = True
        if obj.pk is None:
            latest = Rubric.objects.filter(assessment=obj.assessment).aggregate(v=Max("version"))["v"] or 0
            obj.version = latest + 1
            if change:
                messages.info(
                    request,
                    f"Reviews were scored against the earlier version, so this was saved as version {obj.version}.",
                )
        super().save_model(request, obj, form, change)


@admin.register(AssessmentReviewer)
class AssessmentReviewerAdmin(admin.ModelAdmin):
    list_display = ["assessment", "user"]
    list_filter = ["assessment"]
    autocomplete_fields = ["user"]


class AssessmentReviewerInline(admin.TabularInline):
    """For the assessment's page: only these reviewers see its invites (none listed: every reviewer)."""

    model = AssessmentReviewer
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["invite", "reviewer", "assigned_by", "assigned_at"]
    list_select_related = ["invite", "reviewer", "assigned_by"]
    raw_id_fields = ["invite"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["invite", "reviewer", "status", "recommendation", "submitted_at"]
    list_filter = ["status", "recommendation"]
    list_select_related = ["invite", "reviewer"]
    readonly_fields = ["invite", "reviewer", "rubric", "scores", "comments", "recommendation", "summary"]
    readonly_fields += ["status", "created_at", "updated_at", "submitted_at"]


# The assessment's admin page with who may review it: the reviews app sits above assessments, so
# it is the one that adds the inline, to the assessment admin it replaces with a subclass.
admin.site.unregister(Assessment)


@admin.register(Assessment)
class AssessmentWithReviewersAdmin(AssessmentAdmin):
    inlines = [*AssessmentAdmin.inlines, AssessmentReviewerInline]
