"""Who may open which page: anonymous users sign in first; each role sees only its pages."""

import pytest
from django.urls import reverse

RECRUITER_PAGE = reverse("recruiter_dashboard")
REVIEWER_PAGE = reverse("review_queue")
STATUS_PAGE = reverse("system_status")


@pytest.mark.parametrize("url", [reverse("home"), RECRUITER_PAGE, REVIEWER_PAGE, STATUS_PAGE])
def test_anonymous_users_are_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


def test_a_recruiter_sees_the_dashboard_and_not_the_review_queue(client, recruiter):
    client.force_login(recruiter)
    assert client.get(RECRUITER_PAGE).status_code == 200
    refused = client.get(REVIEWER_PAGE)
    assert refused.status_code == 403
    assert b"This page is for the Reviewer role." in refused.content


def test_a_reviewer_sees_the_review_queue_and_not_the_dashboard(client, reviewer):
    client.force_login(reviewer)
    assert client.get(REVIEWER_PAGE).status_code == 200
    refused = client.get(RECRUITER_PAGE)
    assert refused.status_code == 403
    assert b"This page is for the Recruiter role." in refused.content


def test_one_user_may_hold_both_roles(client, recruiter_and_reviewer):
    client.force_login(recruiter_and_reviewer)
    assert client.get(RECRUITER_PAGE).status_code == 200
    assert client.get(REVIEWER_PAGE).status_code == 200


def test_a_user_without_a_role_is_refused_both_and_told_why(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(RECRUITER_PAGE).status_code == 403
    assert client.get(REVIEWER_PAGE).status_code == 403
    assert b"Your account has no role yet" in client.get(reverse("home")).content


def test_only_staff_see_the_status_page(client, recruiter, admin_user):
    client.force_login(recruiter)
    assert client.get(STATUS_PAGE).status_code == 403
    client.force_login(admin_user)
    assert client.get(STATUS_PAGE).status_code == 200


def test_home_sends_each_role_to_its_start_page(client, recruiter, reviewer):
    client.force_login(recruiter)
    assert client.get(reverse("home")).url == RECRUITER_PAGE
    client.force_login(reviewer)
    assert client.get(reverse("home")).url == REVIEWER_PAGE


def test_navigation_shows_only_the_links_a_role_may_follow(client, reviewer, admin_user):
    client.force_login(reviewer)
    page = client.get(REVIEWER_PAGE).content.decode()
    assert f'href="{REVIEWER_PAGE}"' in page
    assert f'href="{RECRUITER_PAGE}"' not in page
    assert f'href="{STATUS_PAGE}"' not in page
    client.force_login(admin_user)
    page = client.get(RECRUITER_PAGE).content.decode()
    assert f'href="{STATUS_PAGE}"' in page
    assert 'href="/admin/"' in page


def test_the_admin_site_refuses_non_staff(client, recruiter):
    client.force_login(recruiter)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")
