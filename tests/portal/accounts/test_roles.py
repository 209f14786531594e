from django.contrib.auth.models import Group

from portal.accounts.roles import RECRUITER, REVIEWER
from portal.accounts.services import roles_sync


def test_migrate_creates_each_role_group_with_exactly_its_permission(db):
    recruiter = Group.objects.get(name=RECRUITER.group)
    reviewer = Group.objects.get(name=REVIEWER.group)
    assert [f"{p.content_type.app_label}.{p.codename}" for p in recruiter.permissions.all()] == [RECRUITER.permission]
    assert [f"{p.content_type.app_label}.{p.codename}" for p in reviewer.permissions.all()] == [REVIEWER.permission]


def test_syncing_roles_twice_changes_nothing(db):
    before = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    roles_sync()
    roles_sync()
    after = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert after == before


def test_role_properties_follow_group_membership(recruiter, reviewer, recruiter_and_reviewer, admin_user):
    assert (recruiter.is_recruiter, recruiter.is_reviewer) == (True, False)
    assert (reviewer.is_recruiter, reviewer.is_reviewer) == (False, True)
    assert (recruiter_and_reviewer.is_recruiter, recruiter_and_reviewer.is_reviewer) == (True, True)
    assert (admin_user.is_recruiter, admin_user.is_reviewer) == (True, True)
