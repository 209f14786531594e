"""The portal's own 404, 403 and 500 pages, with DEBUG off and on: never Django's debug pages, no
settings or traceback, and a 500 page that renders with the database down; the favicon.

This module is also the URLconf of its tests (``pytest.mark.urls``): the portal's URLs and error
handlers, plus three views that fail on purpose.
"""

import pytest
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.http import Http404
from django.test import Client
from django.urls import get_resolver, path
from django.utils.functional import SimpleLazyObject

import portal.urls
from portal.core import errors
from portal.web.context_processors import navigation
from tests.conftest import PASSWORD

SECRET = "do-not-show-this-detail"


def crash(request):
    raise OperationalError(f"the database is down ({SECRET})")


def missing(request):
    raise Http404(f"No invite matches the query ({SECRET})")


def forbidden(request):
    raise PermissionDenied("Only recruiters may open this page.")


urlpatterns = [
    path("test-errors/crash/", crash),
    path("test-errors/missing/", missing),
    path("test-errors/forbidden/", forbidden),
    *portal.urls.urlpatterns,
]
handler403 = portal.urls.handler403
handler404 = portal.urls.handler404
handler500 = portal.urls.handler500

pytestmark = pytest.mark.urls(__name__)

# What Django's debug pages (and a leaked traceback) would show.
DEBUG_PAGE_MARKS = ("Traceback", "Using the URLconf", "urlpatterns", "SECRET_KEY", "DEBUG = True", SECRET)


def _assert_portal_page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert f"<h1>{heading}</h1>" in body
    assert "Assessment Portal" in body
    for mark in DEBUG_PAGE_MARKS:
        assert mark not in body, mark
    return body


def test_the_portal_names_its_own_error_handlers():
    resolver = get_resolver("portal.urls")
    assert resolver.resolve_error_handler(403) is errors.permission_denied
    assert resolver.resolve_error_handler(404) is errors.page_not_found
    assert resolver.resolve_error_handler(500) is errors.server_error


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_address_gets_the_portals_404_page(settings, client, db, debug):
    settings.DEBUG = debug
    response = client.get("/no-such-page/anywhere/")
    body = _assert_portal_page(response, 404, "Not found")
    assert "There is nothing at this address." in body
    assert 'href="/"' in body


@pytest.mark.parametrize("debug", [False, True])
def test_a_views_not_found_gets_the_same_page_without_its_detail(settings, client, db, debug):
    settings.DEBUG = debug
    _assert_portal_page(client.get("/test-errors/missing/"), 404, "Not found")


def test_the_404_page_keeps_the_navigation_of_whoever_is_signed_in(settings, client, recruiter):
    settings.DEBUG = True
    client.login(username="rita", password=PASSWORD)
    body = _assert_portal_page(client.get("/no-such-page/"), 404, "Not found")
    assert "Candidates" in body
    assert "Sign out" in body


def test_with_debug_on_a_missing_slash_is_still_added_by_a_redirect(settings, client, db):
    settings.DEBUG = True
    response = client.get("/accounts/login")
    assert response.status_code == 301
    assert response["Location"] == "/accounts/login/"


@pytest.mark.parametrize("debug", [False, True])
def test_a_refusal_gets_the_portals_403_page_with_the_reason(settings, client, db, debug):
    settings.DEBUG = debug
    body = _assert_portal_page(client.get("/test-errors/forbidden/"), 403, "Not allowed")
    assert "Only recruiters may open this page." in body


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_gets_the_500_page_with_no_database_and_no_traceback(settings, caplog, debug):
    # No `db` fixture: any query while the page is made would fail this test (pytest-django blocks it),
    # as a database that is down would fail the page.
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    response = client.get("/test-errors/crash/")
    body = _assert_portal_page(response, 500, "Something went wrong on our side")
    request_id = response["X-Request-ID"]
    assert f"Reference: <code>{request_id}</code>" in body
    assert "Sign out" not in body
    # The traceback is in the log, where the reference finds it, not on the page.
    [record] = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert record.getMessage() == "Internal Server Error: /test-errors/crash/"
    assert record.exc_info[0] is OperationalError


def test_the_500_handler_renders_without_a_request():
    response = errors.server_error()
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_navigation_is_empty_rather_than_an_error_when_the_database_is_down(rf):
    def user_from_a_database_that_is_down():
        raise OperationalError("the database is down")

    request = rf.get("/")
    request.user = SimpleLazyObject(user_from_a_database_that_is_down)
    assert navigation(request) == {"nav_links": []}


def test_favicon_ico_points_browsers_at_the_svg_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/portal/favicon.svg"
    icon = finders.find("portal/favicon.svg")
    assert icon is not None
    with open(icon) as svg:
        assert svg.read().startswith("<svg xmlns=")


def test_every_page_links_the_favicon(client, db):
    body = client.get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/portal/favicon.svg" type="image/svg+xml">' in body
