"""Administrators see what similarity checking stored. Known solutions are added with
``manage.py known_solution add`` (which fingerprints them): here only their name and link change."""

from django.contrib import admin

from portal.integrity.models import KnownSolution, SimilarityMatch, SubmissionPrint


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed by a worker: shown, never edited by hand (a rerun would overwrite it anyway)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(KnownSolution)
class KnownSolutionAdmin(admin.ModelAdmin):
    list_display = ("name", "assessment_version", "source_url", "added_by", "created_at")
    list_filter = ("assessment_version__assessment",)
    search_fields = ("name", "source_url")
    readonly_fields = ("assessment_version", "files", "fingerprints", "added_by", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SubmissionPrint)
class SubmissionPrintAdmin(ReadOnlyAdmin):
    list_display = ("invite", "ref", "assessment", "commit", "computed_at")
    list_filter = ("assessment",)
    search_fields = ("invite__public_id", "commit")


@admin.register(SimilarityMatch)
class SimilarityMatchAdmin(ReadOnlyAdmin):
    list_display = ("invite", "other_invite", "known_solution", "ref", "score", "shared", "computed_at")
    search_fields = ("invite__public_id", "other_invite__public_id", "known_solution__name")
    ordering = ("-score",)
