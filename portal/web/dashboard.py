"""The recruiter's dashboard: every invite and where it stands in the pipeline.

Filters, search, sort and page come from GET parameters of a plain form. A value the page does
not know (a stage or sort that does not exist, a page past the end) is dropped or clamped rather
than refused, and the form shows what was applied, so an old bookmark still opens.
"""

from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from portal.accounts.decorators import role_required
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.web.selectors import (
    DEFAULT_SORT,
    SORTS,
    STAGES,
    pipeline_assessments,
    pipeline_page,
    pipeline_stage_counts,
)

SEARCH_MAX_LENGTH = 200


@require_GET
@role_required(RECRUITER)
def recruiter_dashboard(request):
    now = timezone.now()
    assessments = pipeline_assessments()
    assessment = request.GET.get("assessment", "")
    if assessment not in {slug for slug, _ in assessments}:
        assessment = ""
    stage = request.GET.get("stage", "")
    if stage not in STAGES:
        stage = ""
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    sort = request.GET.get("sort", DEFAULT_SORT)
    if sort not in SORTS:
        sort = DEFAULT_SORT

    page = pipeline_page(
        assessment=assessment, stage=stage, search=search, sort=sort, page=request.GET.get("page", 1), now=now
    )
    applied = {k: v for k, v in {"assessment": assessment, "stage": stage, "q": search, "sort": sort}.items() if v}
    counts = pipeline_stage_counts(assessment=assessment, now=now)
    context = {
        "page": page,
        "counts": counts,
        "total": sum(counts.values()),
        "stages": STAGES,
        "sorts": [(name, label) for name, (label, _) in SORTS.items()],
        "assessments": assessments,
        "applied": {"assessment": assessment, "stage": stage, "q": search, "sort": sort},
        "query": urlencode(applied),
        "stage_query": urlencode({k: v for k, v in applied.items() if k != "stage"}),
        "can_review": request.user.has_perm(REVIEWER.permission),
        "now": now,
    }
    return render(request, "core/recruiter_dashboard.html", context)
