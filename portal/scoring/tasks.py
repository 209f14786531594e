from celery import shared_task

from portal.scoring.services import run_execute, runs_reap


# Named "scoring.*" so that it is routed to the scoring queue (settings.CELERY_TASK_ROUTES).
@shared_task(name="scoring.run")
def score_run(*, run_id: int) -> None:
    run_execute(run_id=run_id)


@shared_task(name="scoring.reap_stuck")
def reap_stuck_runs() -> int:
    return runs_reap()
