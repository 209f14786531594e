"""Behind PORTAL_TRUSTED_PROXIES proxies the client's address is the one the outermost trusted proxy
appended to X-Forwarded-For; whatever the client wrote there itself is never believed."""

import base64

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.test import RequestFactory

from portal.core.middleware import ClientAddressMiddleware
from portal.hosting.models import AuthFailure

PROXY = "10.0.0.2"  # the proxy's address: REMOTE_ADDR as gunicorn sees it


def _client_address(settings, proxies: int, forwarded_for: str | None) -> str:
    settings.PORTAL_TRUSTED_PROXIES = proxies
    seen = []
    middleware = ClientAddressMiddleware(lambda request: seen.append(request.META["REMOTE_ADDR"]))
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    middleware(RequestFactory().get("/", REMOTE_ADDR=PROXY, **headers))
    return seen[0]


def test_one_proxy_gives_the_address_it_appended(settings):
    assert _client_address(settings, 1, "198.51.100.7") == "198.51.100.7"


def test_an_address_the_client_wrote_on_the_left_is_never_chosen(settings):
    assert _client_address(settings, 1, "203.0.113.9, 198.51.100.7") == "198.51.100.7"
    assert _client_address(settings, 1, "not an address, 198.51.100.7") == "198.51.100.7"


def test_two_proxies_give_the_address_the_outer_one_saw(settings):
    # A load balancer saw the client and appended it; nginx then appended the load balancer.
    assert _client_address(settings, 2, "203.0.113.9, 198.51.100.7, 10.0.0.1") == "198.51.100.7"


def test_ipv6_addresses_are_read_too(settings):
    assert _client_address(settings, 1, "2001:db8::7") == "2001:db8::7"


@pytest.mark.parametrize(
    ("proxies", "forwarded_for"),
    [
        (1, None),  # a health check or a worker on the internal URL, not through the proxy
        (1, ""),
        (1, "unknown"),
        (1, "198.51.100.7:4711"),  # a port is not part of what nginx appends
        (1, "198.51.100.7, "),
        (2, "198.51.100.7"),  # fewer entries than proxies: the client reached the inner one directly
        (2, "198.51.100.7, proxy.internal"),
    ],
)
def test_a_missing_or_malformed_header_leaves_remote_addr_alone(settings, proxies, forwarded_for):
    assert _client_address(settings, proxies, forwarded_for) == PROXY


def test_without_trusted_proxies_the_middleware_is_not_loaded(settings):
    settings.PORTAL_TRUSTED_PROXIES = 0
    with pytest.raises(MiddlewareNotUsed):
        ClientAddressMiddleware(lambda request: None)


def test_a_failed_git_sign_in_is_counted_against_the_client_not_the_proxy(client, settings, db):
    settings.PORTAL_TRUSTED_PROXIES = 1
    credentials = base64.b64encode(b"aaaaaaaaaaaaaaaa:wrong").decode()
    response = client.get(
        "/git/aaaaaaaaaaaaaaaa.git/info/refs?service=git-upload-pack",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7",
        REMOTE_ADDR=PROXY,
    )
    assert response.status_code == 401
    assert AuthFailure.objects.get().address == "198.51.100.7"
