from celery import shared_task

from portal.integrity.services import (
    TASK_COMPARE,
    TASK_COMPARE_KNOWN,
    integrity_sweep,
    invite_compare,
    known_solution_compare,
)


# On the default queue (not "scoring.*"): it reads the repositories, beside the data.
@shared_task(name=TASK_COMPARE)
def compare_invite(*, invite_id: int) -> int:
    """Sent when an invite is submitted: fingerprint it, compare it with the others and the known
    solutions, store the matches (idempotent: a rerun replaces them)."""
    return invite_compare(invite_id=invite_id)


@shared_task(name=TASK_COMPARE_KNOWN)
def compare_known(*, known_solution_id: int) -> int:
    """Sent when a known solution is added: compare every submission of its assessment with it."""
    return known_solution_compare(known_solution_id=known_solution_id)


@shared_task(name="integrity.sweep")
def sweep() -> int:
    """Sent by beat every RESEND_AFTER: the checks of submissions the broker never took, or lost."""
    return integrity_sweep()
