"""The dashboard and the invite page keep themselves up to date: while something may change by
itself (an invite is open, a run or analysis is pending, an email waits) their live part polls the
page's own address (htmx sends HX-Request) and gets only that part back; once nothing is pending,
the part comes back without polling and the page stops asking."""

import pytest
from django.urls import reverse

from portal.invites.models import Email
from portal.invites.services import invite_revoke, invite_submit
from tests.portal.web.test_dashboard import _invite, _pushed, _scored
from tests.support.factories import store_verdicts

pytestmark = pytest.mark.engines

DASHBOARD = reverse("recruiter_dashboard")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _detail_url(invite) -> str:
    return reverse("recruiter_invite_detail", args=[invite.public_id])


def test_the_dashboard_polls_its_rows_and_counts_while_an_invite_is_open(signed_in, assessment_version):
    _invite(assessment_version)
    page = signed_in.get(DASHBOARD, {"q": "ann", "sort": "name"}).content.decode()
    assert 'id="pipeline-live"' in page
    assert 'hx-get="/recruiter/?q=ann&amp;sort=name" hx-trigger="every 5s" hx-swap="outerHTML"' in page
    # The filter form is outside the part that is replaced, so what is typed in it stays.
    assert page.index('role="search"') < page.index('id="pipeline-live"')


def test_the_polled_part_is_the_rows_and_counts_only_and_keeps_the_filters(signed_in, assessment_version):
    _invite(assessment_version, name="Ann Example")
    _invite(assessment_version, name="Bo Example")
    response = signed_in.get(DASHBOARD, {"q": "ann", "stage": "invited"}, **HTMX)
    text = response.content.decode()
    assert "<html" not in text
    assert 'id="pipeline-live"' in text
    assert "Ann Example" in text and "Bo Example" not in text
    assert 'data-stage="invited"' in text
    assert "HX-Request" in response["Vary"]


def test_the_dashboard_stops_polling_when_nothing_can_change_by_itself(signed_in, assessment_version):
    _scored(_invite(assessment_version, name="Ann Scored"))
    invite_revoke(invite=_invite(assessment_version, name="Bo Revoked"))
    for response in (signed_in.get(DASHBOARD), signed_in.get(DASHBOARD, **HTMX)):
        text = response.content.decode()
        assert 'data-pending="false"' in text
        assert "hx-trigger" not in text


def test_the_dashboard_polls_while_a_run_is_pending_or_an_email_waits(signed_in, assessment_version):
    invite = invite_submit(invite=_pushed(_invite(assessment_version)))  # its runs are queued
    assert 'data-pending="true"' in signed_in.get(DASHBOARD, **HTMX).content.decode()
    store_verdicts(invite)
    assert 'data-pending="false"' in signed_in.get(DASHBOARD, **HTMX).content.decode()
    Email.objects.create(invite=invite, kind=Email.Kind.SUBMITTED_NOTICE, to="rita@example.com")
    text = signed_in.get(DASHBOARD, **HTMX).content.decode()
    assert 'data-pending="true"' in text
    assert "email waiting" in text


def test_the_invite_page_polls_its_status_and_brings_its_history_out_of_band(signed_in, assessment_version):
    invite = invite_submit(invite=_pushed(_invite(assessment_version)))
    page = signed_in.get(_detail_url(invite)).content.decode()
    assert f'hx-get="{_detail_url(invite)}" hx-trigger="every 5s" hx-swap="outerHTML"' in page
    assert "hx-swap-oob" not in page
    live = signed_in.get(_detail_url(invite), **HTMX)
    text = live.content.decode()
    assert "<html" not in text
    assert 'id="invite-status"' in text
    assert '<div id="invite-history" hx-swap-oob="true">' in text
    assert "Not scored yet: scoring is in progress." in text
    assert "HX-Request" in live["Vary"]


def test_the_invite_page_stops_polling_once_scored(signed_in, assessment_version):
    invite = _scored(_invite(assessment_version))
    text = signed_in.get(_detail_url(invite), **HTMX).content.decode()
    assert 'data-stage="scored"' in text
    assert 'data-pending="false"' in text
    assert "hx-trigger" not in text
