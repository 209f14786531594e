from datetime import datetime

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from portal.assessments.models import AssessmentVersion


def versions_with_invites(*, slug: str | None = None, now: datetime | None = None) -> QuerySet[AssessmentVersion]:
    """Versions (of the assessment ``slug``, or all), by assessment then as loaded, each annotated with
    ``invites_total``, ``invites_open`` and ``latest_id`` (the id of its assessment's latest version).

    Open: active (neither submitted nor revoked) and not past its deadline or time limit, as
    ``Invite.is_expired`` says. Invites belong to a higher app: this reads them through the relation,
    their status by its stored value.
    """
    now = now or timezone.now()
    # started_at > now - time_limit  <=>  the time limit, counted from the first clone, has not run out.
    limit_start = ExpressionWrapper(Value(now) - F("invites__time_limit"), output_field=DateTimeField())
    open_invites = (
        Q(invites__status="active")
        & (Q(invites__deadline__isnull=True) | Q(invites__deadline__gt=now))
        & (
            Q(invites__time_limit__isnull=True)
            | Q(invites__started_at__isnull=True)
            | Q(invites__started_at__gt=limit_start)
        )
    )
    latest = AssessmentVersion.objects.filter(assessment=OuterRef("assessment")).order_by("-created_at", "-id")
    versions = AssessmentVersion.objects.select_related("assessment")
    if slug is not None:
        versions = versions.filter(assessment__slug=slug)
    return versions.annotate(
        invites_total=Count("invites"),
        invites_open=Count("invites", filter=open_invites),
        latest_id=Subquery(latest.values("id")[:1]),
    ).order_by("assessment__slug", "created_at", "id")
