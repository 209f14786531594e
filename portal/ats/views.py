"""Greenhouse's Assessment Partner API, as the portal serves it at /ats/greenhouse/ (docs/api.md).

Greenhouse calls with HTTP Basic: the key as the user name, a blank password. Every answer is
JSON; an error is ``{"errors": ["..."]}``, the shape Greenhouse itself reports errors in. Plain
Django views: the REST API's token authentication, throttling and error shape are not this contract's.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gitplumbing import GitError
from portal.ats.selectors import greenhouse_test_get, greenhouse_test_status, greenhouse_tests
from portal.ats.services import SendRefused, SendRequest, greenhouse_key_check, greenhouse_test_send
from portal.core.datadir import NoDataDirectory

REALM = 'Basic realm="Assessment Portal (Greenhouse)", charset="UTF-8"'
BODY_MAX_BYTES = 64 * 1024  # a send_test body is a few hundred bytes
TEXT_MAX = 2000  # characters of any one field


def _errors(status: int, *errors: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"errors": list(errors)}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _over_https(request: HttpRequest) -> bool:
    """https, or DEBUG, or straight from loopback (a request a proxy forwarded is never "from loopback",
    whatever its peer: the proxy's own address would otherwise let plain http in)."""
    if request.is_secure() or settings.DEBUG:
        return True
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_X_FORWARDED_PROTO" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _basic_user(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, _password = decoded.partition(":")  # the password is blank by the contract; not read
    return user or None


def greenhouse_endpoint(method: str) -> Callable:
    """https, the method, and the key, checked in that order, before the view runs."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest) -> JsonResponse:
            if not _over_https(request):
                return _errors(403, "Call this endpoint over https.")
            if request.method != method:
                return _errors(405, f"Use {method}.", Allow=method)
            key = _basic_user(request)
            if key is None or greenhouse_key_check(key) is None:
                message = "Send the API key as the Basic user name." if key is None else "The API key is not valid."
                return _errors(401, message, WWW_Authenticate=REALM)
            return view(request)

        return wrapped

    return decorate


@greenhouse_endpoint("GET")
def list_tests(request: HttpRequest) -> JsonResponse:
    return JsonResponse(greenhouse_tests(), safe=False)


def _text(data: dict, name: str, where: str, errors: list[str], *, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors.append(f"{where}{name}: this field is required.")
        return ""
    if not isinstance(value, str):
        errors.append(f"{where}{name}: must be a string.")
        return ""
    if len(value) > TEXT_MAX:
        errors.append(f"{where}{name}: at most {TEXT_MAX} characters.")
        return ""
    return value.strip()


def _send_request(body: bytes) -> tuple[SendRequest | None, list[str]]:
    """send_test's body read by the contract: partner_test_id, candidate{first_name, last_name, email,
    greenhouse_profile_url}, url (also read from candidate.url, where older versions put it)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, ["The body is not JSON."]
    if not isinstance(data, dict):
        return None, ["The body must be a JSON object."]
    errors: list[str] = []
    candidate = data.get("candidate")
    if not isinstance(candidate, dict):
        errors.append("candidate: must be an object.")
        candidate = {}
    test_id = data.get("partner_test_id")
    if isinstance(test_id, int) and not isinstance(test_id, bool):
        test_id = str(test_id)  # Greenhouse's examples send it as a string; a number means the same
    request = SendRequest(
        partner_test_id=_text({"partner_test_id": test_id}, "partner_test_id", "", errors),
        first_name=_text(candidate, "first_name", "candidate.", errors, required=False),
        last_name=_text(candidate, "last_name", "candidate.", errors, required=False),
        email=_text(candidate, "email", "candidate.", errors),
        greenhouse_profile_url=_text(candidate, "greenhouse_profile_url", "candidate.", errors, required=False),
        callback_url=_text(data, "url", "", errors, required=False)
        or _text(candidate, "url", "candidate.", errors, required=False),
    )
    for name, url in (
        ("url", request.callback_url),
        ("candidate.greenhouse_profile_url", request.greenhouse_profile_url),
    ):
        if url and not url.startswith(("https://", "http://")):
            errors.append(f"{name}: must be an http or https URL.")
    return (None, errors) if errors else (request, [])


@greenhouse_endpoint("POST")
def send_test(request: HttpRequest) -> JsonResponse:
    if int(request.META.get("CONTENT_LENGTH") or 0) > BODY_MAX_BYTES:
        return _errors(413, f"The body is larger than {BODY_MAX_BYTES // 1024} KB.")
    parsed, errors = _send_request(request.body)
    if parsed is None:
        return _errors(400, *errors)
    try:
        test = greenhouse_test_send(request=parsed)
    except SendRefused as exc:
        return _errors(exc.status, *exc.errors)
    except (GitError, NoDataDirectory, OSError, DatabaseError):
        # Nothing was kept (one transaction); Greenhouse may send it again.
        return _errors(503, "The test could not be sent just now; try again in a few minutes.")
    return JsonResponse({"partner_interview_id": test.partner_interview_id})


@greenhouse_endpoint("GET")
def test_status(request: HttpRequest) -> JsonResponse:
    partner_interview_id = request.GET.get("partner_interview_id", "").strip()
    if not partner_interview_id:
        return _errors(400, "partner_interview_id: this parameter is required.")
    test = greenhouse_test_get(partner_interview_id=partner_interview_id[:100])
    if test is None:
        return _errors(404, f"No test was sent with partner_interview_id “{partner_interview_id[:100]}”.")
    return JsonResponse(greenhouse_test_status(test=test))
