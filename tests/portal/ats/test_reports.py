"""The completion report: a PATCH to the url Greenhouse gave, once the submitted work's result is
stored, sent through an outbox row, retried, swept, and refused where the URL policy says so.

Results are stored without the sandbox (factories.store_verdicts); the HTTP receiver is real.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.ats.models import CompletionReport
from portal.ats.services import (
    SendRequest,
    callback_url_problem,
    greenhouse_test_send,
    report_deliver,
    report_queue,
    reports_due_send,
)
from portal.invites.services import invite_submit
from tests.support.factories import push_branches, store_verdicts
from tests.support.greenhouse import receiver


@pytest.fixture
def gh(settings):
    settings.PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK = True
    with receiver() as state:
        yield state


@pytest.fixture
def sent(gh, assessment_version, broker):
    """A test Greenhouse sent (its invitation email's task left aside), with something pushed."""
    request = SendRequest(assessment_version.assessment.slug, "Harry", "Potter", "harry@example.com", gh.url)
    test = greenhouse_test_send(request=request)
    push_branches(test.invite, 2)
    return test


def _run(broker, name: str = "ats.report") -> list[str]:
    """Run only the queued tasks called ``name`` (the others are not what these tests are about)."""
    broker.tasks[:] = [task for task in broker.tasks if task[0] == name]
    return broker.run()


def test_a_submitted_invite_is_reported_once_its_result_is_stored(sent, gh, broker):
    with broker.commit():
        invite_submit(invite=sent.invite)
    report = CompletionReport.objects.get(test=sent)
    assert _run(broker) == ["ats.report"]
    report.refresh_from_db()
    # Runs are still to finish: it waits, and Greenhouse hears nothing yet.
    assert (report.status, report.attempts, gh.requests) == ("pending", 0, [])
    assert report.next_attempt_at > timezone.now()

    store_verdicts(sent.invite, passing=frozenset({1, 2}))
    with broker.commit():
        assert reports_due_send(now=report.next_attempt_at) == 1
    assert _run(broker) == ["ats.report"]
    report.refresh_from_db()
    assert (report.status, report.attempts, report.response_status) == ("sent", 1, 200)
    [patch] = gh.requests
    assert patch.method == "PATCH" and patch.path == "/integrations/testing_partners/take_home_tests/12345"
    body = patch.json()
    assert body["partner_interview_id"] == sent.partner_interview_id
    assert (body["partner_status"], body["partner_score"]) == ("complete", 30)  # tickets 1 and 2: 30 of 100 points
    assert body["metadata"]["Points"] == 30 and body["metadata"]["Tickets passed"] == "2 of 6"
    assert report.payload == body


def test_the_receiver_answering_500_once_is_retried(sent, gh, broker):
    gh.statuses.append(500)
    store_verdicts(sent.invite)
    invite_submit(invite=sent.invite)
    report = CompletionReport.objects.get(test=sent)
    report = report_deliver(report_id=report.pk)
    assert (report.status, report.attempts, report.response_status) == ("pending", 1, 500)
    assert report.error == "Greenhouse answered 500."
    assert report.next_attempt_at - timezone.now() > timedelta(seconds=20)  # backing off, not at once
    with broker.commit():
        assert reports_due_send() == 0  # not due yet
        assert reports_due_send(now=report.next_attempt_at) == 1
    _run(broker)
    report.refresh_from_db()
    assert (report.status, report.attempts, report.response_status, report.error) == ("sent", 2, 200, "")
    assert [r.json() for r in gh.requests] == [report.payload, report.payload]


def test_a_report_is_given_up_after_its_last_attempt(sent, gh, settings):
    gh.statuses.extend([503] * 10)
    store_verdicts(sent.invite)
    invite_submit(invite=sent.invite)
    report = CompletionReport.objects.get(test=sent)
    for _ in range(6):
        report = report_deliver(report_id=report.pk)
    assert (report.status, report.attempts, len(gh.requests)) == ("failed", 6, 6)
    assert report_deliver(report_id=report.pk).attempts == 6  # a late task changes nothing


def test_the_sweep_sends_a_report_whose_task_the_broker_never_took(sent, broker):
    store_verdicts(sent.invite)
    invite_submit(invite=sent.invite)  # its on-commit send never happens here: as with the broker down
    report = CompletionReport.objects.get(test=sent)
    assert report.task_sent_at is None
    assert reports_due_send() == 0  # too early: the send on commit may still be on its way
    later = timezone.now() + timedelta(seconds=61)
    with broker.commit():
        assert reports_due_send(now=later) == 1
        assert reports_due_send(now=later) == 0  # taken by the first sweep
    assert broker.tasks == [("ats.report", {"report_id": report.pk})]
    report.refresh_from_db()
    assert report.task_sent_at is not None


def test_a_result_greenhouse_was_already_told_is_not_sent_again(sent, gh):
    store_verdicts(sent.invite)
    invite_submit(invite=sent.invite)
    report_deliver(report_id=CompletionReport.objects.get(test=sent).pk)
    again = report_deliver(report_id=report_queue(test=sent).pk)
    assert again.status == "unchanged"
    assert len(gh.requests) == 1


def test_only_a_submitted_greenhouse_invite_gets_a_report(sent, assessment_version):
    from tests.support.factories import make_invite

    store_verdicts(sent.invite)  # scored while the candidate is still working: nothing to tell yet
    assert not CompletionReport.objects.exists()
    other = make_invite(assessment_version).invite
    invite_submit(invite=other)
    assert not CompletionReport.objects.exists()
    invite_submit(invite=sent.invite)
    invite_submit(invite=sent.invite)
    assert CompletionReport.objects.filter(test=sent).count() == 1


def test_a_url_outside_the_policy_is_never_called(sent, gh, settings):
    settings.PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK = False
    store_verdicts(sent.invite)
    invite_submit(invite=sent.invite)
    report = report_deliver(report_id=CompletionReport.objects.get(test=sent).pk)
    assert report.status == "failed"
    assert report.error.startswith("Not sent: ") and "is not https" in report.error
    assert gh.requests == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://app.greenhouse.io/integrations/testing_partners/take_home_tests/1", True),
        ("https://greenhouse.io/x", True),
        ("http://app.greenhouse.io/x", False),
        ("https://app.greenhouse.io.example.com/x", False),
        ("https://example.com/x", False),
        ("https://127.0.0.1/x", False),
        ("javascript:alert(1)", False),
        ("https://app.greenhouse.io:notaport/x", False),
    ],
)
def test_the_callback_url_policy(url, allowed):
    assert (callback_url_problem(url) == "") is allowed
