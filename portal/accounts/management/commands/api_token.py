"""API tokens from the shell, for installs without the pages (or for scripting an install).

    manage.py api_token make --user rita --name "Weekly export" [--scope write] [--expires-days 90]
    manage.py api_token make --integration --name ATS --role recruiter [--role reviewer] [--scope write]
    manage.py api_token list [--user rita]
    manage.py api_token revoke <id>

``make`` prints the token alone on standard output (``TOKEN=$(manage.py api_token make ...)``)
and what it made on standard error: it is the only time the token is shown.
"""

from django.core.management.base import BaseCommand, CommandError

from portal.accounts.api_tokens import (
    MAX_EXPIRY_DAYS,
    TokenRefused,
    integration_token_create,
    personal_token_create,
    token_expiry,
    token_revoke,
)
from portal.accounts.models import ApiToken, User
from portal.accounts.roles import RECRUITER, REVIEWER

ROLES_BY_NAME = {"recruiter": RECRUITER, "reviewer": REVIEWER}


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


class Command(BaseCommand):
    help = "Make, list and revoke API tokens (personal or integration). A new token is printed once."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="{make,list,revoke}")
        make = commands.add_parser("make", help="Make a token and print it (only this once).")
        owner = make.add_mutually_exclusive_group(required=True)
        owner.add_argument("--user", help="A personal token acting as this user (a recruiter, reviewer or admin).")
        owner.add_argument("--integration", action="store_true", help="A token for another system, with --role.")
        make.add_argument("--name", required=True, help="What will use it.")
        make.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        make.add_argument(
            "--role", action="append", default=[], choices=sorted(ROLES_BY_NAME), help="An integration's role; repeat."
        )
        make.add_argument("--expires-days", type=int, help=f"1 to {MAX_EXPIRY_DAYS}; none: until revoked.")
        listing = commands.add_parser("list", help="List tokens (never their secrets).")
        listing.add_argument("--user", help="Only this user's tokens.")
        revoke = commands.add_parser("revoke", help="Revoke a token by its id (see list).")
        revoke.add_argument("id", type=int)

    def handle(self, *args, action: str, **options):
        return getattr(self, f"_{action}")(**options)

    def _make(self, *, user, integration, name, scope, role, expires_days, **options):
        try:
            expires_at = token_expiry(expires_days)
            if integration:
                permissions = [ROLES_BY_NAME[r].permission for r in role]
                made = integration_token_create(name=name, permissions=permissions, scope=scope, expires_at=expires_at)
            else:
                if role:
                    raise CommandError("--role is for integration tokens: a personal token has its user's roles.")
                made = personal_token_create(user=self._user(user), name=name, scope=scope, expires_at=expires_at)
        except TokenRefused as exc:
            raise CommandError(str(exc)) from None
        token = made.token
        who = f"for {token.user.get_username()}" if token.user else f"for an integration ({', '.join(role)})"
        self.stderr.write(
            f"Made token {token.pk} “{token.name}” {who}, scope {token.scope}, expires {_when(token.expires_at)}. "
            "It is printed below, only this once: the portal keeps only its hash."
        )
        self.stdout.write(made.secret)

    def _list(self, *, user, **options):
        tokens = ApiToken.objects.select_related("user")
        if user:
            tokens = tokens.filter(user=self._user(user))
        for token in tokens:
            state = "revoked" if token.revoked_at else "active"
            owner = token.user.get_username() if token.user else "integration: " + ", ".join(token.permissions)
            self.stdout.write(
                f"{token.pk}\t{token.prefix}…\t{token.name}\t{owner}\t{token.scope}\t{state}\t"
                f"made {_when(token.created_at)}\tlast used {_when(token.last_used_at)}\t"
                f"expires {_when(token.expires_at)}"
            )

    def _revoke(self, *, id, **options):
        token = ApiToken.objects.filter(pk=id).first()
        if token is None:
            raise CommandError(f"There is no token {id}; `manage.py api_token list` shows them.")
        token_revoke(token=token)
        self.stdout.write(f"Revoked token {token.pk} “{token.name}”: requests with it are refused from now on.")

    @staticmethod
    def _user(username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user {username!r}.")
        return user
