"""The recruiter's dashboard: every invite and where it stands in the pipeline.

Filters, search, sort and page come from GET parameters of a plain form. A value the page does
not know (a stage or sort that does not exist, a page past the end) is dropped or clamped rather
than refused, and the form shows what was applied, so an old bookmark still opens.

While an invite it lists may change by itself (it is open, being scored, or has an email waiting),
the stage counts, rows and pager poll this same address (htmx, which sends HX-Request) and are
replaced in place; the filter form is left alone, so what the recruiter typed stays.
"""

from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from portal.accounts.decorators import role_required
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.pipeline.selectors import (
    DEFAULT_SORT,
    SORTS,
    STAGES,
    pipeline_assessments,
    pipeline_page,
    pipeline_pending,
    pipeline_stage_counts,
)

SEARCH_MAX_LENGTH = 200
# Seconds between two looks at a page that keeps itself up to date.
LIVE_EVERY = 5


def live_fragment(request) -> bool:
    """The page's polling asks for its live part only (htmx marks its requests)."""
    return request.headers.get("HX-Request") == "true"


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
    page_query = urlencode({**applied, "page": page.number}) if page.number > 1 else urlencode(applied)
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
        "pending": pipeline_pending(assessment=assessment, stage=stage, search=search, now=now),
        "live_url": f"{request.path}?{page_query}" if page_query else request.path,
        "live_every": LIVE_EVERY,
    }
    template = "recruiter/_pipeline.html" if live_fragment(request) else "core/recruiter_dashboard.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
