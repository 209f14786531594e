from unittest import mock

from django.db import OperationalError


def test_healthz_answers_ok_without_signing_in(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reports_503_when_the_database_is_unreachable(client, db):
    # The database outage is simulated at the driver edge: the cursor cannot execute.
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"database unavailable: OperationalError\n"


def test_healthz_refuses_other_methods(client, db):
    assert client.post("/healthz").status_code == 405
