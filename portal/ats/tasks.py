from celery import shared_task

from portal.ats.services import report_deliver, reports_due_send


@shared_task(name="ats.report")
def report(report_id: int) -> str:
    """Send one completion report to Greenhouse if its result is complete (idempotent)."""
    delivered = report_deliver(report_id=report_id)
    return delivered.status if delivered else "missing"


@shared_task(name="ats.sweep")
def sweep() -> int:
    """Beat sends this every 30 s: the reports that are due and not with the broker."""
    return reports_due_send()
