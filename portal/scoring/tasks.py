from celery import shared_task

from portal.invites.models import Invite
from portal.scoring.services import integration_queue, run_execute, runs_reap


# Named "scoring.*" so that it is routed to the scoring queue (settings.CELERY_TASK_ROUTES).
@shared_task(name="scoring.run")
def score_run(*, run_id: int) -> None:
    run_execute(run_id=run_id)


@shared_task(name="scoring.reap_stuck")
def reap_stuck_runs() -> int:
    return runs_reap()


@shared_task(name="scoring.integrate")
def integrate_invite(*, invite_id: int) -> None:
    """Merge the invite's ticket branches and queue the run of the result (idempotent)."""
    invite = Invite.objects.filter(pk=invite_id).select_related("assessment_version").first()
    if invite is not None:
        integration_queue(invite=invite)
