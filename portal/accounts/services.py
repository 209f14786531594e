import logging
import unicodedata
from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.timesince import timeuntil

from portal.accounts.models import PasswordResetRequest, User
from portal.accounts.roles import ROLES, Role
from portal.core.dispatch import send_on_commit

logger = logging.getLogger(__name__)

# Operators may edit these to change the wording of the email.
RESET_EMAIL_SUBJECT = "registration/password_reset_subject.txt"
RESET_EMAIL_TEXT = "registration/password_reset_email.txt"
RESET_EMAIL_HTML = "registration/password_reset_email.html"


@transaction.atomic
def roles_sync() -> list[Group]:
    """Create each role's group and give it exactly its permission. Idempotent."""
    content_type = ContentType.objects.get_for_model(User)
    names = dict(User._meta.permissions)
    groups = []
    for role in ROLES:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type,
            codename=role.codename,
            defaults={"name": names[role.codename]},
        )
        group, _ = Group.objects.get_or_create(name=role.group)
        group.permissions.add(permission)
        groups.append(group)
    return groups


@transaction.atomic
def user_grant_role(*, user: User, role: Role) -> None:
    roles_sync()
    user.groups.add(Group.objects.get(name=role.group))


def user_create(
    *,
    username: str,
    email: str,
    roles: Collection[Role] = (),
    is_staff: bool = False,
    password: str | None = None,
) -> User:
    """Create a portal user with their roles, and either a password or an email to set one.

    Without a password the account gets an unusable one and the user is emailed a link to
    choose their own (password_reset_send), once the row is saved so the link works when it
    arrives. Bad input raises ValidationError and creates nothing: an invalid or taken
    username or email (compared case-insensitively, as people type them), no role and no
    staff access, or a password the validators refuse. A mail failure raises after the user
    exists; password_reset_send can then be run again.
    """
    user = _user_insert(username=username, email=email, roles=roles, is_staff=is_staff, password=password)
    if password is None:
        password_reset_send(user=user, new_account=True)
    return user


@transaction.atomic
def _user_insert(*, username: str, email: str, roles: Collection[Role], is_staff: bool, password: str | None) -> User:
    username = User.normalize_username(username.strip())
    email = User.objects.normalize_email(email.strip())
    if not username:
        raise ValidationError("The username must not be empty.")
    try:
        User.username_validator(username)
    except ValidationError:
        raise ValidationError(
            f"{username!r} is not a valid username: use letters, digits and @ . + - _ only."
        ) from None
    if len(username) > User._meta.get_field("username").max_length:
        raise ValidationError(f"{username!r} is too long for a username.")
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(f"{email!r} is not an email address.") from None
    if not roles and not is_staff:
        names = ", ".join(role.group for role in ROLES)
        raise ValidationError(f"Give the user a role ({names}) or staff access; with none they can use nothing.")
    taken = User.objects.filter(username__iexact=username).first()
    if taken:
        raise ValidationError(f"A user named {taken.username!r} already exists.")
    taken = User.objects.filter(email__iexact=email).first()
    if taken:
        raise ValidationError(f"User {taken.username!r} already has the email address {taken.email}.")

    user = User(username=username, email=email, is_staff=is_staff)
    if password is None:
        user.set_unusable_password()
    else:
        validate_password(password, user=user)
        user.set_password(password)
    user.save()
    for role in roles:
        user_grant_role(user=user, role=role)
    return user


def password_reset_link(*, user: User) -> str:
    """A one-use link to set the user's password, on PORTAL_BASE_URL.

    Never built from a request's Host header, which a client chooses: a forged Host
    would otherwise send a victim a link to the attacker's site carrying a valid token.
    The link stops working once the password changes, the user signs in, or
    PASSWORD_RESET_TIMEOUT passes.
    """
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.PORTAL_BASE_URL + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def password_link_lifetime() -> str:
    """How long a password link works, in words ("3 days"): PASSWORD_RESET_TIMEOUT."""
    now = timezone.now()
    lifetime = timeuntil(now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT), now)
    # timesince puts no-break spaces between numbers and units; plain text mail reads better without.
    return lifetime.replace("\xa0", " ")


def password_reset_send(*, user: User, new_account: bool = False) -> None:
    """Email the user a link to set their password: a welcome for a new account, else a reset.

    Plain text with an HTML alternative, both from templates under registration/. Raises
    whatever the mail backend raises.
    """
    context = {
        "user": user,
        "link": password_reset_link(user=user),
        "new_account": new_account,
        "portal_url": settings.PORTAL_BASE_URL,
        "expires_in": password_link_lifetime(),
    }
    subject = " ".join(render_to_string(RESET_EMAIL_SUBJECT, context).split())
    message = EmailMultiAlternatives(subject, render_to_string(RESET_EMAIL_TEXT, context), to=[user.email])
    message.attach_alternative(render_to_string(RESET_EMAIL_HTML, context), "text/html")
    message.send()


def password_reset_queue(*, email: str) -> None:
    """Have a worker send the reset email for this address (password_reset_request), once the request commits.

    The public form calls this and nothing else: looking the address up and sending the mail in
    the request would make it slower for known addresses than for unknown ones.
    """
    send_on_commit("accounts.password_reset", email=email)


def password_reset_request(*, email: str) -> None:
    """Email a reset link to each active user with this address; for the public form.

    The form must not tell whether an address is known, so nothing is returned and a mail
    failure is logged, not raised. Unlike Django's form, users without a usable password are
    included: here that means an account whose welcome link expired before it was used.
    The link goes to the stored address, never the typed one, which may only match it
    case-insensitively in the database (see Django's CVE-2019-19844).
    """
    wanted = _folded(email)
    for user in User.objects.filter(email__iexact=email, is_active=True):
        if _folded(user.email) != wanted:
            continue
        try:
            password_reset_send(user=user, new_account=not user.has_usable_password())
        except Exception:
            logger.exception("Could not send a password reset email to user %s", user.pk)


@transaction.atomic
def password_reset_admit(*, address: str | None, now: datetime | None = None) -> bool:
    """Whether the reset form may send email for a request from this address, recording it if so.

    At most PORTAL_PASSWORD_RESET_MAX_PER_HOUR requests per address in the last hour send
    anything; refused ones are not recorded, so asking on and on never holds an address off
    longer than an hour. Requests older than the hour are deleted on the way. Requests without
    an address share one count.
    """
    now = now or timezone.now()
    since = now - timedelta(hours=1)
    PasswordResetRequest.objects.filter(at__lt=since).delete()
    recent = PasswordResetRequest.objects.filter(address=address, at__gte=since).count()
    if recent >= settings.PORTAL_PASSWORD_RESET_MAX_PER_HOUR:
        logger.warning("Password reset refused: %d requests from %s in the last hour", recent, address)
        return False
    PasswordResetRequest.objects.create(at=now, address=address)
    return True


def _folded(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()
