from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from portal.accounts.roles import Role


def role_required(role: Role) -> Callable:
    """Anonymous users go to the login page; signed-in users without the role get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perm(role.permission):
                raise PermissionDenied(f"This page is for the {role.group} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_required(view: Callable) -> Callable:
    """Like role_required, for administrators (staff users)."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("This page is for administrators.")
        return view(request, *args, **kwargs)

    return wrapper
