from celery import shared_task

from portal.hosting.services import auth_failures_prune


@shared_task(name="hosting.prune_auth_failures")
def prune_auth_failures() -> int:
    """Beat sends this hourly; failures older than the rate-limit window count for nothing."""
    return auth_failures_prune()
