"""The whole Greenhouse flow against a live portal over real HTTP, as Greenhouse plays it: list the
tests, send one (the invitation reaches a real SMTP server), the candidate pushes a fix and submits,
the real sandbox scores it, test_status says complete with the score and the report link, and the
same news arrives by PATCH at Greenhouse's receiver."""

import base64

import pytest

from portal.ats.models import CompletionReport
from portal.ats.services import greenhouse_key_make
from portal.invites.models import Invite
from portal.invites.services import invite_submit
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_all
from tests.support.greenhouse import GreenhouseClient, receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600), pytest.mark.django_db(transaction=True)]


def _run(broker, *names: str) -> list[str]:
    broker.tasks[:] = [task for task in broker.tasks if task[0] in names]
    return broker.run()


def test_greenhouse_sends_a_test_and_hears_it_is_complete(
    live_server, assessment_version, smtp, broker, settings, tmp_path
):
    settings.PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK = True
    settings.PORTAL_GREENHOUSE_CALLBACK_KEY = "callback-key"
    slug = assessment_version.assessment.slug
    gh = GreenhouseClient(live_server.url + "/ats/greenhouse/", greenhouse_key_make()[1])
    with receiver() as greenhouse:
        tests = gh.play("list_tests")
        assert tests.status_code == 200
        assert {"partner_test_id": slug, "partner_test_name": assessment_version.assessment.title} in tests.json()

        sent = gh.play(
            "send_test",
            test_id=slug,
            first_name="Harry",
            last_name="Potter",
            email="harry@example.com",
            url=greenhouse.url,
        )
        assert sent.status_code == 200
        pid = sent.json()["partner_interview_id"]
        assert _run(broker, "invites.send_email") == ["invites.send_email"]
        [invitation] = smtp.messages
        assert (
            invitation["To"] == "harry@example.com"
            and "/i/" in invitation.get_payload(0).get_payload(decode=True).decode()
        )
        assert gh.play("test_status", partner_interview_id=pid).json()["partner_status"] == "not_started"

        invite = Invite.objects.get(greenhouse__partner_interview_id=pid)
        patch = ROOT / "assessment_app" / "reference" / "ticket-1.patch"
        candidate_commit(invite, tmp_path / "work", branch="issue-1", patch=patch, message="Fix: Resolve issue #1")
        invite_submit(invite=invite)
        assert gh.play("test_status", partner_interview_id=pid).json()["partner_status"] == "submitted"
        result = score_all(invite)
        assert result.total > 0

        status = gh.play("test_status", partner_interview_id=pid).json()
        percent = round(100 * result.total / result.possible)
        assert status["partner_status"] == "complete" and status["partner_score"] == percent
        assert status["partner_profile_url"] == f"{settings.PORTAL_BASE_URL}/recruiter/invites/{invite.public_id}/"
        assert status["metadata"]["Points"] == result.total and status["metadata"]["Tickets passed"].startswith("1 of")

        # The report was queued when the candidate submitted; it was due while scoring ran.
        report = CompletionReport.objects.get(test__partner_interview_id=pid)
        broker.tasks[:] = [("ats.report", {"report_id": report.pk})]
        broker.run()
        [patched] = greenhouse.requests
        assert patched.method == "PATCH"
        assert patched.headers["Authorization"] == "Basic " + base64.b64encode(b"callback-key:").decode()
        assert patched.json() == {"partner_interview_id": pid, **status}
        report.refresh_from_db()
        assert (report.status, report.response_status) == ("sent", 200)
