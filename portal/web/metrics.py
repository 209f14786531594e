"""``/metrics``: the portal's state in Prometheus' exposition format, read from the database at
scrape time (docs/observability.md lists every metric).

Nothing is counted in the process: gunicorn runs several, and each would report its own share,
lost at every restart. A collector reads the tables instead, in three aggregate queries whatever
the number of runs, invites or workers: runs (statuses, the queue, durations), invites, workers.

Who may read it: a request with ``Authorization: Bearer <PORTAL_METRICS_TOKEN>``, or one from
inside, judged as for the scoring workers' plain-http paths (``portal.core.middleware.is_internal``:
a loopback name or the host of PORTAL_INTERNAL_URL), that did not come through the reverse proxy
and whose peer is no Internet address (loopback, a private network, a container's). Anyone else
gets the 404 of a page that does not exist.
"""

import hmac
import ipaddress
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.lookups import LessThanOrEqual
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder

from portal.core.middleware import is_internal
from portal.core.selectors import RUNNING, STOPPED, queues_without_worker, worker_status_list
from portal.invites.models import Invite
from portal.scoring.models import Run

# Histograms rather than a bare sum and count: what an operator asks is how long most candidates
# wait for a score, and the slowest of them (quantiles), which a mean hides. Fixed buckets cost one
# conditional count each inside the same aggregate query, so they add no query. A run is bounded
# by PORTAL_RUN_BUDGET_SECONDS (240 s) and the task's soft limit (300 s); push to score adds the
# wait behind the invite's runs in flight and the queue.
RUN_BUCKETS = (10, 30, 60, 120, 180, 240, 300, 600)
PUSH_TO_SCORE_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


def _elapsed(start: str, end: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def run_figures(*, now: datetime) -> dict:
    """Runs by status, the queue and the durations of finished runs, in one query."""
    finished = Q(status__in=Run.FINISHED, finished_at__isnull=False)
    ran = finished & Q(started_at__isnull=False)
    queued = Q(status=Run.Status.QUEUED)
    run_time, push_to_score = _elapsed("started_at", "finished_at"), _elapsed("queued_at", "finished_at")
    figures = {f"status_{status}": Count("pk", filter=Q(status=status)) for status in Run.Status.values}
    figures |= {
        "waiting": Count("pk", filter=queued & Q(dispatched_at__isnull=True)),
        "dispatched": Count("pk", filter=queued & Q(dispatched_at__isnull=False)),
        "oldest_queued_at": Min("queued_at", filter=queued),
        "run_count": Count("pk", filter=ran),
        "run_sum": Sum(run_time, filter=ran),
        "score_count": Count("pk", filter=finished),
        "score_sum": Sum(push_to_score, filter=finished),
    }
    figures |= {
        f"run_le_{le}": Count("pk", filter=Q(ran, LessThanOrEqual(run_time, timedelta(seconds=le))))
        for le in RUN_BUCKETS
    }
    figures |= {
        f"score_le_{le}": Count("pk", filter=Q(finished, LessThanOrEqual(push_to_score, timedelta(seconds=le))))
        for le in PUSH_TO_SCORE_BUCKETS
    }
    values = Run.objects.aggregate(**figures)
    oldest = values.pop("oldest_queued_at")
    values["oldest_waiting_age"] = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return values


def _histogram(name: str, documentation: str, values: dict, prefix: str, buckets: tuple[int, ...]):
    total = values[f"{prefix}_sum"] or timedelta(0)
    counts = [(str(float(le)), values[f"{prefix}_le_{le}"]) for le in buckets]
    counts.append(("+Inf", values[f"{prefix}_count"]))
    return HistogramMetricFamily(name, documentation, buckets=counts, sum_value=total.total_seconds())


class PortalCollector:
    """Reads the figures afresh at every scrape (prometheus_client's custom collector protocol)."""

    def collect(self):
        now = timezone.now()
        runs = run_figures(now=now)
        family = GaugeMetricFamily("portal_runs", "Scoring runs by status.", labels=["status"])
        for status in Run.Status.values:
            family.add_metric([status], runs[f"status_{status}"])
        yield family
        family = GaugeMetricFamily(
            "portal_runs_waiting",
            "Queued runs: waiting for the invite's runs in flight, or dispatched to the workers and not started.",
            labels=["state"],
        )
        family.add_metric(["waiting"], runs["waiting"])
        family.add_metric(["dispatched"], runs["dispatched"])
        yield family
        yield GaugeMetricFamily(
            "portal_oldest_waiting_run_age_seconds",
            "Seconds since the oldest queued run was pushed (0: none is queued).",
            value=runs["oldest_waiting_age"],
        )
        yield _histogram(
            "portal_run_duration_seconds",
            "Finished runs: seconds from a worker's start to the result.",
            runs,
            "run",
            RUN_BUCKETS,
        )
        yield _histogram(
            "portal_push_to_score_seconds",
            "Finished runs: seconds from the push to the result.",
            runs,
            "score",
            PUSH_TO_SCORE_BUCKETS,
        )

        invites = Invite.objects.aggregate(
            **{status: Count("pk", filter=Q(status=status)) for status in Invite.Status.values}
        )
        family = GaugeMetricFamily("portal_invites", "Invites by status.", labels=["status"])
        for status in Invite.Status.values:
            family.add_metric([status], invites[status])
        yield family

        yield from _worker_families(now=now)


def _worker_families(*, now: datetime):
    # The status page's workers and rule (PORTAL_WORKER_STALE_AFTER): running or silent ones;
    # one stopped on purpose (a warm shutdown) is no outage and is left out.
    workers = [worker for worker in worker_status_list(now=now) if worker.state != STOPPED]
    seen = GaugeMetricFamily(
        "portal_worker_last_heartbeat_timestamp_seconds",
        "When each running or silent worker last recorded its heartbeat (Unix time).",
        labels=["worker", "queues"],
    )
    up = GaugeMetricFamily(
        "portal_worker_up",
        "1 while a worker records its heartbeat, 0 once it is silent for PORTAL_WORKER_STALE_AFTER seconds.",
        labels=["worker"],
    )
    for worker in workers:
        seen.add_metric([worker.name, ",".join(sorted(worker.queues))], worker.seen_at.timestamp())
        up.add_metric([worker.name], int(worker.state == RUNNING))
    yield seen
    yield up
    consumers = GaugeMetricFamily(
        "portal_queue_workers", "Running workers that consume each of the portal's queues.", labels=["queue"]
    )
    # Given no workers, the selector names every queue the portal sends tasks to.
    for queue in queues_without_worker(workers=[]):
        consumers.add_metric([queue], sum(worker.state == RUNNING and queue in worker.queues for worker in workers))
    yield consumers


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(PortalCollector())


def _may_scrape(request) -> bool:
    token = settings.PORTAL_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    # The proxy passes the client's Host on, so "Host: localhost" sent to the public address would
    # look internal: a request that came through a proxy (X-Forwarded-For) never is, nor one from a
    # public address (gunicorn reachable without a proxy).
    if "HTTP_X_FORWARDED_FOR" in request.META or not is_internal(request):
        return False
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return not peer.is_global


@never_cache
@require_GET
def metrics(request):
    if not _may_scrape(request):
        raise Http404("No such page.")
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(REGISTRY), content_type=content_type)
