import sys
from getpass import getpass
from typing import TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.management.commands.send_password_reset import delivered_to
from portal.accounts.roles import RECRUITER, REVIEWER, Role
from portal.accounts.services import password_link_lifetime, user_create

ROLES_BY_NAME = {"recruiter": RECRUITER, "reviewer": REVIEWER}
STAFF = "staff"  # not a role group: the is_staff flag, which opens the status page


def _roles(names: list[str]) -> tuple[list[Role], bool]:
    known = [*ROLES_BY_NAME, STAFF]
    for name in names:
        if name.lower() not in known:
            raise CommandError(f"Unknown role {name!r}; choose from {', '.join(known)}.")
    wanted = {name.lower() for name in names}
    return [role for key, role in ROLES_BY_NAME.items() if key in wanted], STAFF in wanted


def _read_password(stream: TextIO) -> str:
    if stream.isatty():
        password = getpass("Password: ")
        if getpass("Password (again): ") != password:
            raise CommandError("The two passwords differ; nothing was created.")
        return password
    password = stream.readline().rstrip("\r\n")
    if not password:
        raise CommandError("--password-stdin read no password from standard input.")
    return password


class Command(BaseCommand):
    help = (
        "Create a portal user. By default the user gets no password and is emailed a link to choose "
        "one; --password-stdin sets one instead."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            help="recruiter, reviewer or staff (administrators: the status page); repeat for several.",
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from standard input (checked by the password validators) and send no email.",
        )

    def handle(self, *args, username: str, email: str, role: list[str], password_stdin: bool, **options):
        roles, is_staff = _roles(role)
        password = _read_password(options.get("stdin") or sys.stdin) if password_stdin else None
        try:
            user = user_create(username=username, email=email, roles=roles, is_staff=is_staff, password=password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except OSError as exc:  # smtplib's errors are OSErrors too
            raise CommandError(
                f"Created user {username!r}, but the email to {email} could not be sent ({exc}); "
                f"once mail works, run: manage.py send_password_reset {username}"
            ) from exc
        access = ", ".join([role.group for role in roles] + (["staff"] if is_staff else []))
        done = f"Created user {user.username} <{user.email}> ({access})"
        if password is None:
            self.stdout.write(
                f"{done}; emailed a link to choose a password, valid once for {password_link_lifetime()}, "
                f"to {delivered_to(user.email)}."
            )
        else:
            self.stdout.write(f"{done}; password set from standard input.")
