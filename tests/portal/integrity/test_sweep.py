"""The broker never loses a similarity check: a submission with no print (its task never sent, or
lost with a worker) is sent again by the sweep, once it is RESEND_AFTER old, and compared."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.core.models import TaskAttempt
from portal.integrity.models import SubmissionPrint
from portal.integrity.services import MAX_ATTEMPTS, RESEND_AFTER, TASK_COMPARE, integrity_sweep
from portal.invites.models import Invite
from portal.invites.services import invite_submit
from tests.portal.integrity.samples import LEAKED
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite

pytestmark = pytest.mark.django_db


def _submitted(version, tmp_path, *, ago: timedelta) -> Invite:
    """A submitted invite whose check was never sent (submitted outside the broker's reach)."""
    invite = make_invite(version).invite
    candidate_commit(invite, tmp_path / invite.public_id, branch="issue-1", changes=LEAKED)
    invite_submit(invite=invite)  # no commit is captured: nothing reaches the broker
    Invite.objects.filter(pk=invite.pk).update(submitted_at=timezone.now() - ago)
    return invite


def test_a_submission_never_sent_is_sent_again_and_compared(assessment_version, broker, tmp_path):
    invite = _submitted(assessment_version, tmp_path, ago=RESEND_AFTER + timedelta(seconds=1))
    with broker.commit():
        assert integrity_sweep() == 1
    assert broker.run() == [TASK_COMPARE]
    assert SubmissionPrint.objects.filter(invite=invite).exists()
    # Compared now: the next sweep sends nothing.
    with broker.commit():
        assert integrity_sweep() == 0
    assert broker.run() == []


def test_a_recent_submission_is_left_to_its_own_task(assessment_version, broker, tmp_path):
    _submitted(assessment_version, tmp_path, ago=RESEND_AFTER - timedelta(seconds=30))
    assert integrity_sweep() == 0


def test_a_task_that_started_recently_or_stopped_its_worker_too_often_is_not_sent_again(
    assessment_version, broker, tmp_path
):
    running = _submitted(assessment_version, tmp_path / "a", ago=RESEND_AFTER * 2)
    given_up = _submitted(assessment_version, tmp_path / "b", ago=RESEND_AFTER * 2)
    TaskAttempt.objects.create(task=TASK_COMPARE, key=str(running.pk), attempts=1)
    attempt = TaskAttempt.objects.create(task=TASK_COMPARE, key=str(given_up.pk), attempts=MAX_ATTEMPTS)
    TaskAttempt.objects.filter(pk=attempt.pk).update(last_started_at=timezone.now() - RESEND_AFTER * 2)
    assert integrity_sweep() == 0
    # Once the running one's attempt is old (its worker was lost), it is sent again.
    TaskAttempt.objects.filter(key=str(running.pk)).update(last_started_at=timezone.now() - RESEND_AFTER * 2)
    with broker.commit():
        assert integrity_sweep() == 1
    assert broker.tasks[0] == (TASK_COMPARE, {"invite_id": running.pk})
