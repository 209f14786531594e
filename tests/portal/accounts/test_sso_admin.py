"""Single sign-on identities in the admin: an administrator sees and unlinks them."""

from portal.accounts.models import SsoIdentity


def test_an_administrator_unlinks_a_persons_provider_account_in_the_admin(client, admin_user, django_user_model):
    person = django_user_model.objects.create_user("linked", email="linked@example.com")
    identity = SsoIdentity.objects.create(user=person, issuer="https://id.example.com", subject="abc-123")
    client.force_login(admin_user)
    change = client.get(f"/admin/accounts/user/{person.pk}/change/")
    assert change.status_code == 200 and b"abc-123" in change.content
    assert client.get("/admin/accounts/ssoidentity/").status_code == 200
    deleted = client.post(f"/admin/accounts/ssoidentity/{identity.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not SsoIdentity.objects.filter(pk=identity.pk).exists()
