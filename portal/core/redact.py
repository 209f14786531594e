"""Secrets that travel in URLs never reach a log line or an error report.

A candidate's link token is their only credential (``/i/<token>/``; the page shows their git
password), and a password reset link (``/accounts/password/reset/<uidb64>/<token>/``) resets a
staff account. Both arrive in the request line, the path, the query string (``?next=``) and the
Referer of the next request. :func:`redact` replaces them with ``[token]``, and every place that
writes requests down goes through it:

* gunicorn's access and error log: ``portal.logging_redact.GunicornLogger`` (``logger_class``
  in gunicorn.conf.py);
* Django's ``django.request`` and ``django.server`` records and the console handler: :class:`RedactFilter`;
* error reports (the mail to ADMINS, the debug page): :class:`RedactingReporter` and
  :class:`RedactingReporterFilter`, which also hide the Authorization header (git's Basic
  credentials) and frame variables named like a credential.

Importable before Django is set up: gunicorn's master process uses :func:`redact` too.
"""

from __future__ import annotations

import copy
import logging
import re

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

REDACTED = "[token]"
HIDDEN = "********************"

# A slash, raw or percent-encoded (a path inside ?next=...).
_SLASH = r"(?:/|%2[fF])"
# A path segment: up to the next slash, query, fragment or quote, raw or percent-encoded.
_SEGMENT = r"(?:%(?!2[fF]|3[fF]|23)[0-9A-Fa-f]{2}|[^/\s?#&;\"'%<>\\])+"
_PATTERNS = (
    # The candidate's link: /i/<token>/...
    re.compile(rf"({_SLASH}i{_SLASH}){_SEGMENT}"),
    # A password reset link: .../password/reset/<uidb64>/<token>/; Django then redirects to
    # .../<uidb64>/set-password/, which carries no secret.
    re.compile(rf"({_SLASH}password{_SLASH}reset{_SLASH}{_SEGMENT}{_SLASH})(?!set-password(?:/|%2[fF]|$)){_SEGMENT}"),
)
# Request headers and WSGI variables that hold credentials outright.
_CREDENTIAL_KEYS = re.compile(r"authorization|cookie", re.IGNORECASE)
# Frame variables whose value is a credential (the token argument of a candidate's page, a password).
_CREDENTIAL_NAMES = re.compile(r"token|secret|passw|authorization|credential|cookie", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every link token and password reset token replaced by ``[token]``."""
    if not isinstance(text, str):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


def redacts_key(key: str) -> bool:
    """Whether a header or WSGI variable named ``key`` holds a credential outright (hidden whole)."""
    return bool(_CREDENTIAL_KEYS.search(key))


def redact_meta(meta: dict) -> dict:
    """A copy of a WSGI environ or request.META with the credentials hidden and every string redacted."""
    cleaned = {}
    for key, value in meta.items():
        if redacts_key(key):
            cleaned[key] = HIDDEN
        elif isinstance(value, str):
            cleaned[key] = redact(value)
        else:
            cleaned[key] = value
    return cleaned


class RedactFilter(logging.Filter):
    """Redact a record's message and traceback in place, so that every handler writes the clean text.

    The message is formatted once here (``args`` dropped), as Django's handlers would format it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's to report, unchanged
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RedactingReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus: the Authorization header and cookies hidden, the URLs in META
    redacted, and frame variables named like a credential hidden (the view's ``token`` argument).

    Applied whatever DEBUG says: the debug page is a report too, and may be pasted anywhere.
    """

    def get_safe_request_meta(self, request) -> dict:
        return redact_meta(super().get_safe_request_meta(request))

    def get_safe_cookies(self, request) -> dict:
        # The session cookie is a staff member's login; Django hides only names that look secret.
        return {name: HIDDEN for name in super().get_safe_cookies(request)}

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, HIDDEN if _CREDENTIAL_NAMES.search(name) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class RedactingReporter(ExceptionReporter):
    """Django's exception reporter on a redacted copy of the request (the report's title, its
    "Request URL" and its META come from the request itself, not through the filter), with the
    rendered frame variables and the exception's text redacted too."""

    def __init__(self, request, exc_type, exc_value, tb, is_email=False):
        super().__init__(redacted_request(request), exc_type, exc_value, tb, is_email)

    def get_traceback_data(self) -> dict:
        data = super().get_traceback_data()
        for frame in data.get("frames", []):
            if "vars" in frame:
                frame["vars"] = [(name, redact(value)) for name, value in frame["vars"]]
        for key in ("exception_value", "request_insecure_uri"):
            if key in data:
                data[key] = redact(data[key])
        # ?next=/i/<token>/ and the like: the query was parsed before the request was copied.
        for key in ("request_GET_items", "filtered_POST_items"):
            if key in data:
                data[key] = [(name, redact(value)) for name, value in data[key]]
        return data


def redacted_request(request):
    """A shallow copy of ``request`` whose path and META carry no token (None stays None)."""
    if request is None:
        return None
    clean = copy.copy(request)
    for attribute in ("path", "path_info"):
        if isinstance(getattr(request, attribute, None), str):
            setattr(clean, attribute, redact(getattr(request, attribute)))
    if isinstance(getattr(request, "META", None), dict):
        clean.META = redact_meta(request.META)
    return clean
