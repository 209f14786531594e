from celery import shared_task

from portal.scoring.analysis import analysis_update
from portal.scoring.services import (
    TASK_ANALYSE,
    TASK_RUN,
    TASK_SWEEP,
    TASK_VISIBLE,
    run_execute,
    runs_sweep,
    visible_execute,
)


# Named "scoring.*" so that it is routed to the scoring queue (settings.CELERY_TASK_ROUTES).
@shared_task(name=TASK_RUN, bind=True)
def score_run(self, *, run_id: int, attempt: int | None = None) -> None:
    # The node name (worker@host) is recorded on the run: which worker scored it, and whose
    # heartbeat says whether it still does.
    run_execute(run_id=run_id, attempt=attempt, worker=self.request.hostname or "")


# Only the visible tests of a finished run whose worker died after its verdict (sent by the sweep).
@shared_task(name=TASK_VISIBLE, bind=True)
def score_visible(self, *, run_id: int, attempt: int) -> None:
    visible_execute(run_id=run_id, attempt=attempt, worker=self.request.hostname or "")


@shared_task(name=TASK_SWEEP)
def sweep_runs() -> str:
    return str(runs_sweep())


# The name beat used before the sweep replaced the reaper: a message already queued under it still works.
@shared_task(name="scoring.reap_stuck")
def reap_stuck_runs() -> str:
    return str(runs_sweep())


# Not "scoring.*": it reads the repositories, so it runs on the default queue, beside the data.
@shared_task(name=TASK_ANALYSE)
def analyse_invite(*, invite_id: int) -> None:
    """Recompute the invite's stored analysis if it was asked for since the last one (idempotent)."""
    analysis_update(invite_id=invite_id)
