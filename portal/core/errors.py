"""The portal's own error pages (404, 403, 500) in every mode, DEBUG on included.

With DEBUG off Django calls the handlers named in portal/urls.py. With DEBUG on it would show its
debug pages instead: the settings, the URL patterns, a traceback, to whoever opens a wrong address
on a developer's portal that someone else can reach. :class:`ErrorPagesMiddleware` answers with the
same pages then; the traceback of a 500 still goes to the log (the console under `make run`), where
the request id shown on the page finds it.

The 500 page is rendered without its request, so no context processor runs: it must render when
the error was the database itself (the session, the user and the navigation links all read it).
"""

import logging

from django.conf import settings
from django.core import signals
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponseForbidden, HttpResponseNotFound, HttpResponseServerError
from django.http.multipartparser import MultiPartParserError
from django.template import TemplateDoesNotExist, loader
from django.urls import Resolver404, resolve
from django.utils.log import log_response

from portal.core import logcontext

logger = logging.getLogger("django.request")

# What Django turns into a 400 (or 403) page itself, and logs as such: not a server error.
_CLIENT_ERRORS = (BadRequest, SuspiciousOperation, MultiPartParserError, PermissionDenied)


def page_not_found(request, exception=None):
    """handler404: the portal's page, with the navigation of whoever is signed in."""
    return HttpResponseNotFound(loader.render_to_string("404.html", request=request))


def permission_denied(request, exception=None):
    """handler403: the reason the view gave (written for the person, never a traceback), or a general one."""
    context = {"exception": str(exception) if exception is not None else ""}
    return HttpResponseForbidden(loader.render_to_string("403.html", context, request=request))


def server_error(request=None):
    """handler500: rendered without the request (no context processor, no database), with its id."""
    context = {"request_id": logcontext.current().get("request_id", "")}
    try:
        body = loader.render_to_string("500.html", context)
    except TemplateDoesNotExist:  # an operator's PORTAL_TEMPLATE_DIR cannot take the page away
        body = "<!doctype html><title>Server error</title><h1>Server error (500)</h1>"
    return HttpResponseServerError(body)


class ErrorPagesMiddleware:
    """With DEBUG on, answer an unknown address, a view's Http404 and a view's crash with the portal's
    pages rather than Django's debug pages. With DEBUG off it does nothing: the handlers do it.

    Last in MIDDLEWARE, so that the sessions, the user and the messages the 404 page shows are set,
    and every other middleware (APPEND_SLASH's redirect too) sees the response.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG:
            # Django resolves the URL outside any middleware's reach, and in DEBUG answers a miss with
            # its URL pattern listing: resolve it here first.
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as exc:
                response = page_not_found(request, exc)
                log_response("Not Found: %s", request.path, response=response, request=request)
                return response
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not settings.DEBUG or isinstance(exception, _CLIENT_ERRORS):
            return None
        if isinstance(exception, Http404):
            response = page_not_found(request, exception)
            log_response("Not Found: %s", request.path, response=response, request=request)
            return response
        # As Django does for an uncaught exception: error reporters hear of it, the log has the traceback.
        signals.got_request_exception.send(sender=None, request=request)
        response = server_error(request)
        log_response("Internal Server Error: %s", request.path, response=response, request=request, exception=exception)
        return response
