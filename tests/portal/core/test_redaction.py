"""Link tokens and password reset tokens never reach a log line or an error report."""

import base64
import logging
import sys

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import RequestFactory
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.debug import get_exception_reporter_class, get_exception_reporter_filter

from portal.core.redact import RedactFilter, redact
from tests.support.workers import wait_for

TOKEN = "Sx9-secret_link_token_Qw3rTy"
AUTHORIZATION = "Basic " + base64.b64encode(b"abcdefgh:the-git-password-42").decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /i/{TOKEN}/ HTTP/1.1", "GET /i/[token]/ HTTP/1.1"),
        (f"/i/{TOKEN}/pulls/3/edit", "/i/[token]/pulls/3/edit"),
        (f"https://assess.example.com/i/{TOKEN}?x=1", "https://assess.example.com/i/[token]?x=1"),
        (f"/accounts/login/?next=%2Fi%2F{TOKEN}%2Fbundle", "/accounts/login/?next=%2Fi%2F[token]%2Fbundle"),
        (f"/i/%41{TOKEN}/", "/i/[token]/"),  # percent-encoded token characters are the token too
        ("/accounts/password/reset/MQ/cx8y2k-5f1e0a9b3c/", "/accounts/password/reset/MQ/[token]/"),
        # What carries no secret stays readable.
        ("/accounts/password/reset/MQ/set-password/", "/accounts/password/reset/MQ/set-password/"),
        ("/accounts/password/reset/done/", "/accounts/password/reset/done/"),
        ("/git/abcdefghijklmnop.git/info/refs?service=git-upload-pack", None),
        ("/reviews/invites/abcdefghijklmnop/", None),
    ],
)
def test_redact_replaces_tokens_and_keeps_the_rest(text, expected):
    assert redact(text) == (expected or text)


@pytest.mark.django_db(transaction=True)
def test_the_access_log_writes_token_placeholders_not_tokens(portal_server, created, recruiter):
    import urllib.error
    import urllib.request

    uid = urlsafe_base64_encode(force_bytes(recruiter.pk))
    reset_token = default_token_generator.make_token(recruiter)
    link = f"{portal_server.url}/i/{created.link_token}/"
    for url, headers in [
        (link, {"Referer": f"{portal_server.url}/i/{created.link_token}/pulls/"}),
        (f"{portal_server.url}/accounts/password/reset/{uid}/{reset_token}/", {"Referer": link}),
        (f"{portal_server.url}/accounts/login/?next=/i/{created.link_token}/bundle", {"Authorization": AUTHORIZATION}),
    ]:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the status does not matter: every request is logged
    wait_for(lambda: "next=/i/[token]/bundle" in portal_server.log(), timeout=10, what="the last request's line")
    log = portal_server.log()
    assert created.link_token not in log
    assert reset_token not in log
    assert f"/accounts/password/reset/{uid}/[token]/" in log
    assert '"GET /i/[token]/ HTTP/1.1" 200' in log
    assert f'"{portal_server.url}/i/[token]/pulls/"' in log  # the Referer


def test_django_request_records_are_redacted_before_any_handler(client, caplog, db):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(f"/i/{TOKEN}/no-such-page")
    assert response.status_code == 404
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Not Found: /i/[token]/no-such-page"
    assert TOKEN not in caplog.text


def test_the_filter_redacts_a_record_built_like_django_request_s_and_its_traceback():
    request = RequestFactory().get(f"/i/{TOKEN}/")
    try:
        raise ValueError(f"could not render /i/{TOKEN}/")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.getLogger("django.request").makeRecord(
        "django.request",
        logging.ERROR,
        __file__,
        1,
        "Internal Server Error: %s",
        (request.path,),
        exc_info,
        extra={"status_code": 500, "request": request},
    )
    assert RedactFilter().filter(record) is True
    formatted = logging.Formatter().format(record)
    assert "Internal Server Error: /i/[token]/" in formatted
    assert "ValueError: could not render /i/[token]/" in formatted
    assert TOKEN not in formatted


def _failing_view(request, token):
    raise RuntimeError("the page broke")


def _report_request():
    return RequestFactory().get(
        f"/i/{TOKEN}/",
        {"next": f"/i/{TOKEN}/bundle"},
        HTTP_REFERER=f"https://assess.example.com/i/{TOKEN}/pulls/",
        HTTP_AUTHORIZATION=AUTHORIZATION,
        HTTP_COOKIE="sessionid=staff-session-abc123",
    )


def test_an_error_report_holds_no_token_authorization_or_session(settings):
    settings.DEBUG = False
    request = _report_request()
    try:
        _failing_view(request, TOKEN)
    except RuntimeError:
        reporter = get_exception_reporter_class(request)(request, *sys.exc_info(), is_email=True)
    text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
    for report in (text, html):
        assert TOKEN not in report
        assert "the-git-password-42" not in report
        assert base64.b64encode(b"abcdefgh:the-git-password-42").decode() not in report
        assert "staff-session-abc123" not in report
    assert "Request URL: http://testserver/i/[token]/?next=%2Fi%2F[token]%2Fbundle" in text
    assert "RuntimeError at /i/[token]/\nthe page broke" in text  # the report is still useful
    assert "in _failing_view" in text


def test_the_reporter_filter_cleanses_meta_on_its_own():
    request = _report_request()
    meta = get_exception_reporter_filter(request).get_safe_request_meta(request)
    assert meta["PATH_INFO"] == "/i/[token]/"
    assert meta["HTTP_REFERER"] == "https://assess.example.com/i/[token]/pulls/"
    assert meta["QUERY_STRING"] == "next=%2Fi%2F[token]%2Fbundle"
    assert AUTHORIZATION not in meta["HTTP_AUTHORIZATION"]
    assert request.META["PATH_INFO"] == f"/i/{TOKEN}/"  # the request itself is untouched


def test_the_mail_to_admins_about_a_crash_holds_no_token(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    request = _report_request()
    try:
        _failing_view(request, TOKEN)
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: %s",
            request.path,
            exc_info=sys.exc_info(),
            extra={"status_code": 500, "request": request},
        )
    [message] = mail.outbox
    assert "Internal Server Error: /i/[token]/" in message.subject
    assert TOKEN not in message.subject + message.body
    assert "the-git-password-42" not in message.body
    assert "RuntimeError" in message.body


def test_gunicorn_s_error_log_redacts_the_request_it_failed_on(tmp_path):
    from gunicorn.config import Config

    from portal.logging_redact import GunicornLogger

    config = Config()
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = GunicornLogger(config)
    try:
        raise OSError("connection reset")
    except OSError:
        logger.exception("Error handling request %s", f"/i/{TOKEN}/bundle")
    for handler in logger.error_log.handlers:
        handler.flush()
    written = (tmp_path / "error.log").read_text()
    assert "Error handling request /i/[token]/bundle" in written
    assert "OSError: connection reset" in written
    assert TOKEN not in written
