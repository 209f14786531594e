"""Invites in the admin: administrators can find and read them, never change them around the services."""

from django.urls import reverse

from portal.invites.models import Invite


def test_an_administrator_finds_an_invite_and_reads_its_timeline_without_its_secrets(client, admin_user, created):
    client.force_login(admin_user)
    listing = client.get(reverse("admin:invites_invite_changelist"), {"q": "Ann"})
    assert listing.status_code == 200
    assert created.invite.public_id in listing.content.decode()
    assert reverse("recruiter_invite_detail", args=[created.invite.public_id]) in listing.content.decode()
    page = client.get(reverse("admin:invites_invite_change", args=[created.invite.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Invited" in html  # the timeline inline
    assert created.invite.link_token_hash not in html and created.invite.git_token_hash not in html


def test_the_admin_cannot_add_change_or_delete_invites(client, admin_user, created):
    client.force_login(admin_user)
    assert client.get(reverse("admin:invites_invite_add")).status_code == 403
    assert client.get(reverse("admin:invites_invite_delete", args=[created.invite.pk])).status_code == 403
    response = client.post(reverse("admin:invites_invite_change", args=[created.invite.pk]), {"status": "revoked"})
    assert response.status_code == 403
    assert Invite.objects.get(pk=created.invite.pk).status == Invite.Status.ACTIVE
