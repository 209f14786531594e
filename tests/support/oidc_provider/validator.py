"""The claims of each user: whatever the test set for them through the control endpoint (claims.json)."""

import json

from django.conf import settings
from oauth2_provider.oauth2_validators import OAuth2Validator


def stored_claims() -> dict[str, dict]:
    path = settings.STATE / "claims.json"
    return json.loads(path.read_text()) if path.exists() else {}


class ClaimsValidator(OAuth2Validator):
    # Every claim goes into the ID token and userinfo whatever the scopes, as providers do for
    # custom claims (roles, amr) their administrators configured.
    oidc_claim_scope = None

    def get_additional_claims(self, request):
        claims = dict(stored_claims().get(request.user.username, {}))
        # "sub" is the provider's own stable id: the tests choose it, as a real directory's would be.
        return claims
