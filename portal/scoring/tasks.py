from celery import shared_task

from portal.scoring.analysis import analysis_update
from portal.scoring.services import TASK_ANALYSE, TASK_RUN, run_execute, runs_reap


# Named "scoring.*" so that it is routed to the scoring queue (settings.CELERY_TASK_ROUTES).
@shared_task(name=TASK_RUN)
def score_run(*, run_id: int) -> None:
    run_execute(run_id=run_id)


@shared_task(name="scoring.reap_stuck")
def reap_stuck_runs() -> int:
    return runs_reap()


# Not "scoring.*": it reads the repositories, so it runs on the default queue, beside the data.
@shared_task(name=TASK_ANALYSE)
def analyse_invite(*, invite_id: int) -> None:
    """Recompute the invite's stored analysis if it was asked for since the last one (idempotent)."""
    analysis_update(invite_id=invite_id)
