"""One shape for every API error, and domain refusals answered as 409.

Body: ``{"detail": "<sentence>", "code": "<code>"}``, plus ``"fields": {"<field>": ["<sentence>"]}``
for a 400 about the request's fields. Services refuse with their own exceptions (``ValueError``
subclasses such as ReviewRefused, EmailRefused, TokenRefused): ``Conflict`` carries such a
refusal out of a view as 409, so the client reads the service's own sentence.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {str(k): _fields_list(v) for k, v in detail.items()}
    return {"non_field_errors": _fields_list(detail)}


def _fields_list(value) -> list:
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_fields_list(item) if isinstance(item, list | dict) else [str(item)])
        return out
    if isinstance(value, dict):
        return [f"{k}: {', '.join(_fields_list(v))}" for k, v in value.items()]
    return [str(value)]


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"detail": "Some fields are not valid.", "code": "invalid", "fields": _fields(exc.detail)}
    elif isinstance(exc, exceptions.ParseError):
        # A body that is not JSON: every 400 names what is at fault, here the body itself.
        body = {"detail": str(exc.detail), "code": "parse_error", "fields": {"body": [str(exc.detail)]}}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = {"detail": str(detail), "code": str(code)}
    return Response(body, status=response.status_code, headers=dict(response.items()))


# --- The shape in the schema -------------------------------------------------------------


@extend_schema_serializer(component_name="RequestError")
class ErrorOutput(serializers.Serializer):
    """Every error's shape."""

    detail = serializers.CharField()
    code = serializers.CharField()


@extend_schema_serializer(component_name="InvalidRequest")
class ValidationErrorOutput(ErrorOutput):
    """A 400: the error's shape with the fields at fault."""

    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per field (`invites[2].email` for a row of a batch), what is wrong with it.",
    )


ERROR_WORDS = {
    400: "The request's fields are not valid (see fields).",
    401: "No token, or one that is not valid, was revoked or has expired.",
    403: "The token's scope or roles do not allow this.",
    404: "No such object.",
    409: "The object's state refuses this; detail says why.",
    429: "Too many requests; Retry-After says when to try again.",
}


def error_responses(*codes: int, **words: str) -> dict[int, OpenApiResponse]:
    """The error responses an operation documents: 401, 403 and 429 always, then ``codes``.

    ``words`` overrides a description: ``error_responses(404, e404="No such page.")``.
    """
    return {
        code: OpenApiResponse(
            ValidationErrorOutput if code == 400 else ErrorOutput,
            description=words.get(f"e{code}", ERROR_WORDS.get(code, "")),
        )
        for code in (401, 403, 429, *codes)
    }
