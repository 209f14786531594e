"""What an authenticated API request may do: the token's scope, then the role a view asks for.

Every view has ``TokenScope`` (settings: DEFAULT_PERMISSION_CLASSES) and one role class. A read
token may only read (GET, HEAD, OPTIONS); a write token may also change. Roles are the portal's
permissions (portal.accounts.roles): a personal token has its user's, checked on every request.
"""

from rest_framework import permissions

from portal.accounts.models import ApiToken
from portal.accounts.roles import RECRUITER, REVIEWER


class TokenScope(permissions.BasePermission):
    message = "This token is read-only: make a token with the write scope to change things."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        return request.method in permissions.SAFE_METHODS or token.scope == ApiToken.Scope.WRITE


class _Role(permissions.BasePermission):
    perms: tuple[str, ...] = ()
    message = ""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and any(user.has_perm(p) for p in self.perms)


class IsRecruiter(_Role):
    perms = (RECRUITER.permission,)
    message = "This needs the Recruiter role."


class IsReviewer(_Role):
    perms = (REVIEWER.permission,)
    message = "This needs the Reviewer role."


class IsRecruiterOrReviewer(_Role):
    perms = (RECRUITER.permission, REVIEWER.permission)
    message = "This needs the Recruiter or the Reviewer role."


class IsPerson(permissions.BasePermission):
    """A personal token: for what only a person may do (submit a review)."""

    message = "Only a personal token can do this: an integration token acts for no person."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken) and request.auth.kind == ApiToken.Kind.PERSONAL


class IsAdministrator(permissions.BasePermission):
    message = "This is for administrators."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_staff", False))
