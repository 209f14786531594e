"""The event feed: every event on every invite's timeline, once each, for a system that polls."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from portal.invites.models import Event
from portal.invites.services import event_record
from tests.support.factories import make_invite

URL = "/api/v1/events"


@pytest.fixture
def client(api_client, recruiter_token):
    return api_client(recruiter_token[1])


def test_paging_returns_every_event_exactly_once_while_new_ones_are_written(invite, client):
    for n in range(7):
        event_record(invite=invite, kind=Event.Kind.FETCHED, data={"n": n})
    seen: list[int] = []
    url, written = f"{URL}?page_size=3", 0
    for _ in range(20):  # bounded: 7 events, then 4 more, three at a time
        page = client.get(url).json()
        seen += [event["id"] for event in page["results"]]
        if written < 4:  # between pages, the candidate goes on working
            event_record(invite=invite, kind=Event.Kind.PUSHED, data={"n": written})
            written += 1
        elif not page["results"]:
            break
        url = page["next"]
    assert sorted(seen) == seen
    assert seen == list(Event.objects.order_by("id").values_list("id", flat=True))
    assert len(seen) == len(set(seen))


def test_the_last_page_holds_a_cursor_that_later_returns_only_newer_events(invite, client):
    before = Event.objects.count()
    last = client.get(URL).json()
    assert len(last["results"]) == before and last["next"]
    assert client.get(last["next"]).json()["results"] == []  # nothing new: the same cursor again
    assert client.get(last["next"]).json()["next"] == last["next"]
    event = event_record(invite=invite, kind=Event.Kind.SUBMITTED, data={"automatic": False})
    later = client.get(last["next"]).json()
    assert [e["id"] for e in later["results"]] == [event.pk]


def test_an_event_says_what_it_is_about_and_never_a_token(invite, client):
    event = event_record(
        invite=invite, kind=Event.Kind.LINK_RENEWED, data={"by": "rita", "link_token": "secret", "emailed": True}
    )
    body = next(e for e in client.get(URL).json()["results"] if e["id"] == event.pk)
    assert body["kind"] == "link_renewed" and body["invite"] == invite.public_id
    assert body["candidate"] == {"name": "Ann Example", "email": invite.candidate.email}
    assert body["assessment"] == invite.assessment_version.assessment.title
    assert body["data"] == {"by": "rita", "emailed": True}


def test_filters_by_time_kind_and_invite(invite, assessment_version, client):
    now = timezone.now()
    old = event_record(invite=invite, kind=Event.Kind.OPENED, at=now - timedelta(days=3))
    pushed = event_record(invite=invite, kind=Event.Kind.PUSHED, at=now - timedelta(days=1))
    scored = event_record(invite=invite, kind=Event.Kind.SCORED, at=now - timedelta(hours=1))
    other = make_invite(assessment_version, name="Bo").invite
    elsewhere = event_record(invite=other, kind=Event.Kind.PUSHED, at=now - timedelta(hours=2))

    def ids(query: str) -> set[int]:
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return {e["id"] for e in response.json()["results"]}

    since = quote((now - timedelta(days=2)).isoformat())
    until = quote((now - timedelta(minutes=90)).isoformat())
    assert ids(f"since={since}&until={until}") == {pushed.pk, elsewhere.pk}
    assert ids("kind=pushed&kind=scored") == ids("kind=pushed,scored") == {pushed.pk, scored.pk, elsewhere.pk}
    assert ids(f"invite={invite.public_id}&kind=opened,pushed") == {old.pk, pushed.pk}
    assert ids("invite=nosuchinvite") == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-45T00:00:00", "until"),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("kind=pushed,<script>", "kind"),
        ("kind=", None),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
def test_bad_filters_are_400_naming_the_field(db, client, query, field):
    response = client.get(f"{URL}?{query}")
    if field is None:  # an empty kind asks for no filter
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_a_huge_page_size_is_capped(invite, client):
    Event.objects.bulk_create(
        Event(invite=invite, kind=Event.Kind.FETCHED, at=timezone.now(), data={}) for _ in range(510)
    )
    page = client.get(f"{URL}?page_size=999999999").json()
    assert len(page["results"]) == 500 and page["next"]
