"""Every page carries the Content-Security-Policy: the portal's own files only, no inline script
without the page's nonce, no inline style, no framing, forms posted only to the portal."""

import re

import pytest
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.urls import reverse

EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.mark.parametrize(
    ("path", "status"),
    [(reverse("login"), 200), (reverse("password_reset"), 200), ("/no-such-page/", 404), (reverse("home"), 302)],
)
def test_every_response_carries_the_policy(db, client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert _policy(response) == EXPECTED


def test_a_staff_page_carries_it_too(client, recruiter):
    client.force_login(recruiter)
    response = client.get(reverse("recruiter_dashboard"))
    assert response.status_code == 200
    assert _policy(response) == EXPECTED


def test_the_page_has_no_inline_script_or_style_and_turns_off_htmx_indicator_styles(db, client):
    html = client.get(reverse("login")).content.decode()
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert " style=" not in html


def test_a_page_that_asks_for_the_nonce_gets_it_in_the_policy(rf):
    """The way for a future inline script: nonce="{{ request.csp_nonce }}" matches the header."""

    def view(request):
        return HttpResponse(f'<script nonce="{request.csp_nonce}">1</script>')

    request = rf.get("/")
    response = CSPMiddleware(view)(request)
    nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _policy(response)["script-src"].split()
