"""Login, logout and password change through the real views."""

from django.urls import reverse

from tests.conftest import PASSWORD


def test_signing_in_lands_on_the_role_start_page(client, recruiter):
    response = client.post(reverse("login"), {"username": "rita", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("recruiter_dashboard")
    assert b"No candidates yet" in response.content


def test_a_wrong_password_is_refused_with_a_message_and_keeps_the_username(client, recruiter):
    response = client.post(reverse("login"), {"username": "rita", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b'value="rita"' in response.content
    assert "_auth_user_id" not in client.session


def test_login_honours_next_but_not_off_site(client, reviewer):
    ok = client.post(reverse("login") + "?next=/reviews/", {"username": "victor", "password": PASSWORD})
    assert ok.url == "/reviews/"
    client.logout()
    off_site = client.post(
        reverse("login"), {"username": "victor", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert off_site.url == reverse("home")


def test_logout_needs_a_post(client, recruiter):
    client.force_login(recruiter)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.url == reverse("login")
    assert "_auth_user_id" not in client.session


def test_changing_the_password_requires_the_old_one_and_a_strong_new_one(client, recruiter):
    client.force_login(recruiter)
    weak = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert weak.status_code == 200
    assert b"This password is too short" in weak.content
    wrong_old = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": "a much better one 42", "new_password2": "a much better one 42"},
    )
    assert b"Your old password was entered incorrectly" in wrong_old.content
    done = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a much better one 42", "new_password2": "a much better one 42"},
    )
    assert done.url == reverse("password_change_done")
    recruiter.refresh_from_db()
    assert recruiter.check_password("a much better one 42")
