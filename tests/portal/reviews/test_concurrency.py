"""Two reviewers submitting at the same moment: both reviews are kept, one REVIEWED event is recorded."""

import threading

import pytest
from django.db import connection

from portal.invites.models import Event
from portal.reviews.models import Review
from portal.reviews.services import review_save

from .conftest import full_review

pytestmark = pytest.mark.engines


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_submitting_at_once_are_both_recorded(submitted, reviewer, second_reviewer):
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def submit(user):
        try:
            start.wait()
            review_save(invite=submitted, reviewer=user, **full_review())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection; the test database is dropped later

    threads = [threading.Thread(target=submit, args=(user,)) for user in (reviewer, second_reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Review.objects.filter(invite=submitted, status=Review.Status.SUBMITTED).count() == 2
    assert Event.objects.filter(invite=submitted, kind=Event.Kind.REVIEWED).count() == 1
