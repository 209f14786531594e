"""429 for a token that asks too often (PORTAL_API_RATE requests a minute), with Retry-After."""

from rest_framework.throttling import SimpleRateThrottle

from portal.accounts.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": f"token-{token.pk}"}
        # Requests without a valid token are refused before they cost anything; count them by address.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
