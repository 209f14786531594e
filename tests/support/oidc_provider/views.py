"""Control endpoints for the tests: set up a user with their claims, expire the codes handed out.

Guarded by the secret the fixture started the process with (a bearer token), on loopback only.
"""

import json
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import Grant

from tests.support.oidc_provider.validator import stored_claims


def _allowed(request) -> bool:
    return constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {settings.SECRET_KEY}")


@csrf_exempt
@require_POST
def user_put(request, username: str):
    """{"password": ..., "claims": {...}}: create or update the user; their claims replace the old ones."""
    if not _allowed(request):
        return HttpResponseForbidden()
    body = json.loads(request.body)
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(body["password"])
    user.save()
    claims = stored_claims()
    claims[username] = body.get("claims", {})
    path = settings.STATE / "claims.json"
    path.with_suffix(".tmp").write_text(json.dumps(claims))
    path.with_suffix(".tmp").replace(path)
    return JsonResponse({"sub": claims[username].get("sub", str(user.pk))})


@csrf_exempt
@require_POST
def codes_expire(request):
    """Every authorization code handed out so far expires now, as one left unused for too long does."""
    if not _allowed(request):
        return HttpResponseForbidden()
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    return HttpResponse(status=204)
