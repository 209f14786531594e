"""The internal endpoint scoring workers fetch assessment versions from (worker credential only)."""

import logging

from django.http import Http404, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET

from portal.assessments.models import AssessmentVersion
from portal.assessments.services import package_archive, version_snapshot
from portal.core.workers import basic_credentials, is_worker

logger = logging.getLogger(__name__)


@require_GET
def package_download(request, content_hash: str):
    """The version's package as a gzipped tar; the worker checks it against ``content_hash``."""
    credentials = basic_credentials(request)
    if credentials is None or not is_worker(*credentials):
        response = HttpResponse("The worker credential is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Basic realm="Assessment Portal workers"'
        return response
    version = AssessmentVersion.objects.filter(content_hash=content_hash).first()
    if version is None:
        raise Http404("No assessment version has this content hash.")
    snapshot = version_snapshot(version)
    if not snapshot.is_dir():
        logger.error("the snapshot of %s is missing from the data directory (%s)", version, snapshot)
        raise Http404("This version's snapshot is missing from the data directory.")
    response = HttpResponse(package_archive(snapshot), content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{content_hash}.tar.gz"'
    add_never_cache_headers(response)
    return response
