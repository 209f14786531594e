"""The API token pages: each recruiter, reviewer or administrator's own tokens, and the integration
tokens administrators make for other systems.

Tokens are made, listed and revoked through portal.accounts.api_tokens, as by the API and the
``api_token`` command. A new token's secret is rendered in the response that made it and nowhere
else (the portal keeps only its hash), so that response is never cached and there is no page to
come back to for it. Revoking asks for a confirmation first, like the invite's actions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.api_tokens import (
    MAX_EXPIRY_DAYS,
    TokenMade,
    TokenRefused,
    integration_token_create,
    integration_tokens,
    personal_token_create,
    personal_tokens,
    personal_tokens_live,
    token_expiry,
    token_holder,
    token_revoke,
)
from portal.accounts.decorators import staff_required
from portal.accounts.models import ApiToken
from portal.accounts.roles import ROLES


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What will use it, so you can tell it from your others: “Weekly export”."
    )
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect,
        help_text="Read only reads; read and write can also invite, revoke and change.",
    )
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        label="Expires after (days)",
        help_text="Leave empty for a token that works until it is revoked.",
    )


class IntegrationForm(TokenForm):
    roles = forms.MultipleChoiceField(
        choices=[(role.permission, role.group) for role in ROLES],
        widget=forms.CheckboxSelectMultiple,
        help_text="What the other system may do: the Recruiter role invites and follows candidates, "
        "the Reviewer role reads results and reviews.",
        error_messages={"required": "Give the integration at least one role."},
    )


def token_holder_required(view: Callable) -> Callable:
    """Signed in, and a recruiter, reviewer or administrator; others get 403."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not token_holder(request.user):
            raise PermissionDenied("API tokens are for recruiters, reviewers and administrators.")
        return view(request, *args, **kwargs)

    return wrapper


def _made_page(request, template: str, context: dict, made: TokenMade | None, status: int = 200):
    response = render(request, template, {**context, "made": made}, status=status)
    if made is not None:
        # The secret is in this response only: no cache on the way may keep it.
        add_never_cache_headers(response)
    return response


def _create(form: forms.Form, make: Callable[..., TokenMade]) -> TokenMade | None:
    """The form's token made by ``make``, or None with the refusal added to the form."""
    if not form.is_valid():
        return None
    try:
        return make(
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=token_expiry(form.cleaned_data["expires_in_days"]),
        )
    except TokenRefused as exc:
        form.add_error(None, str(exc))
        return None


@require_http_methods(["GET", "POST"])
@token_holder_required
def tokens(request):
    form = TokenForm(request.POST if request.method == "POST" else None)
    made = None
    if request.method == "POST":
        made = _create(form, lambda **fields: personal_token_create(user=request.user, **fields))
        if made is not None:
            form = TokenForm()
    context = {"form": form, "tokens": personal_tokens(user=request.user), "now": timezone.now()}
    status = 400 if request.method == "POST" and made is None else 200
    return _made_page(request, "accounts/tokens.html", context, made, status=status)


def _confirm(request, token: ApiToken, *, action: str, back: str):
    """The confirm step: the same POST again with confirm=yes, once the warning was read."""
    context = {"token": token, "action": reverse(action, args=[token.pk]), "back": reverse(back)}
    return render(request, "accounts/tokens_revoke.html", context)


@require_POST
@token_holder_required
def token_revoke_view(request, pk: int):
    token = get_object_or_404(personal_tokens(user=request.user), pk=pk)
    if request.POST.get("confirm") != "yes":
        return _confirm(request, token, action="api_token_revoke", back="api_tokens")
    token_revoke(token=token)
    messages.success(request, f"The token “{token.name}” is revoked: requests with it are refused from now on.")
    return redirect("api_tokens")


@require_http_methods(["GET", "POST"])
@staff_required
def integrations(request):
    form = IntegrationForm(request.POST if request.method == "POST" else None)
    made = None
    if request.method == "POST":
        roles = form.cleaned_data["roles"] if form.is_valid() else []
        made = _create(
            form,
            lambda **fields: integration_token_create(permissions=roles, by=request.user, **fields),
        )
        if made is not None:
            form = IntegrationForm()
    role_names = {role.permission: role.group for role in ROLES}
    tokens = list(integration_tokens())
    for token in tokens:
        token.role_names = [role_names.get(p, p) for p in token.permissions]
    context = {"form": form, "tokens": tokens, "personal": personal_tokens_live(), "now": timezone.now()}
    status = 400 if request.method == "POST" and made is None else 200
    return _made_page(request, "accounts/tokens_integrations.html", context, made, status=status)


@require_POST
@staff_required
def integration_revoke(request, pk: int):
    """Administrators revoke any token: an integration's, or a person's (one that leaked)."""
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    if request.POST.get("confirm") != "yes":
        return _confirm(request, token, action="api_integration_revoke", back="api_integrations")
    token_revoke(token=token)
    messages.success(request, f"The token “{token.name}” is revoked: requests with it are refused from now on.")
    return redirect("api_integrations")
