"""The admin's Greenhouse pages: keys are listed (never shown) and revoked; tests and reports are read,
and a failed report is sent again."""

import pytest
from django.urls import reverse

from portal.ats.models import CompletionReport, GreenhouseKey
from portal.ats.services import SendRequest, greenhouse_test_send


@pytest.fixture
def report(assessment_version, broker):
    url = "https://app.greenhouse.io/integrations/testing_partners/take_home_tests/7"
    test = greenhouse_test_send(
        request=SendRequest(assessment_version.assessment.slug, "Ann", "Lee", "ann@example.com", url)
    )
    return CompletionReport.objects.create(
        test=test, status=CompletionReport.Status.FAILED, attempts=6, next_attempt_at=test.created_at, error="x"
    )


def test_every_greenhouse_admin_page_opens_for_an_administrator(client, admin_user, greenhouse_key, report):
    client.force_login(admin_user)
    for model, obj in (
        (GreenhouseKey, GreenhouseKey.objects.get()),
        (CompletionReport, report),
        (type(report.test), report.test),
    ):
        name = f"admin:ats_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200
        page = client.get(reverse(f"{name}_change", args=[obj.pk]))
        assert page.status_code == 200
        assert greenhouse_key not in page.content.decode()


def test_a_failed_report_is_sent_again_from_the_admin(client, admin_user, report, broker):
    client.force_login(admin_user)
    url = reverse("admin:ats_completionreport_changelist")
    with broker.commit():
        client.post(url, {"action": "send_again", "_selected_action": [report.pk]})
    report.refresh_from_db()
    assert (report.status, report.attempts, report.error) == ("pending", 0, "")
    assert broker.tasks == [("ats.report", {"report_id": report.pk})]


def test_revoking_from_the_admin_ends_every_key(client, admin_user, greenhouse_key):
    client.force_login(admin_user)
    key = GreenhouseKey.objects.get()
    client.post(reverse("admin:ats_greenhousekey_changelist"), {"action": "revoke_all", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None
