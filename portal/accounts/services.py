from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from portal.accounts.models import User
from portal.accounts.roles import ROLES, Role


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
