from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.accounts.decorators import role_required, staff_required
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.core.selectors import worker_status_list


@login_required
def home(request):
    """Send each user to the page of their first role."""
    if request.user.has_perm(RECRUITER.permission):
        return redirect("recruiter_dashboard")
    if request.user.has_perm(REVIEWER.permission):
        return redirect("review_queue")
    return render(request, "core/no_role.html")


@role_required(RECRUITER)
def recruiter_dashboard(request):
    return render(request, "core/recruiter_dashboard.html")


@role_required(REVIEWER)
def review_queue(request):
    from portal.invites.models import Invite

    submitted = (
        Invite.objects.filter(status=Invite.Status.SUBMITTED)
        .select_related("candidate", "assessment_version__assessment")
        .order_by("submitted_at")
    )
    return render(request, "core/review_queue.html", {"submitted": submitted})


@staff_required
def system_status(request):
    return render(request, "core/system_status.html", {"workers": worker_status_list()})


@never_cache
@require_GET
def healthz(request):
    """Liveness for load balancers and compose: the process answers and the database does."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure makes the instance unhealthy
        return HttpResponse(f"database unavailable: {exc.__class__.__name__}\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
