"""Endpoint URLs that would reach the portal's own network are refused with a sentence, when saved and
again at delivery time; an operator may allow private receivers."""

import ipaddress

import pytest

from portal.webhooks.models import WebhookDelivery
from portal.webhooks.services import EndpointInvalid, delivery_attempt, endpoint_create, endpoint_test_send
from portal.webhooks.urlpolicy import UrlRefused, url_check

PUBLIC = ipaddress.ip_address("93.184.215.14")
REFUSED = [
    ("http://127.0.0.1:9000/hook", "127.0.0.1 is a loopback address"),
    ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://[::ffff:192.168.0.1]/hook", "is a private address"),
    ("http://0.0.0.0/hook", "is an unspecified address"),
    ("http://224.0.0.1/hook", "is a multicast address"),
    ("http://localhost:9000/hook", "localhost resolves to"),
]


@pytest.fixture(autouse=True)
def _portal_elsewhere(settings):
    """The portal at a name of its own, so that loopback is refused as loopback, not as the portal's host."""
    settings.PORTAL_BASE_URL = "https://portal.test"
    settings.PORTAL_INTERNAL_URL = ""


@pytest.mark.parametrize(("url", "says"), REFUSED)
def test_a_url_reaching_the_local_network_is_refused(settings, url, says):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(UrlRefused, match=says) as refused:
        url_check(url)
    assert "PORTAL_WEBHOOKS_ALLOW_PRIVATE" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://files.example.com/hook", "Only http:// and https://"),
        ("http://user:pw@hooks.example.com/hook", "cannot carry a user name or password"),
        ("https://", "no host name"),
        ("https://hooks.example.com:99999/", "port"),
        ("http://no-such-host.invalid/hook", "could not be found"),
        ("", "Give the URL"),
    ],
)
def test_a_malformed_url_is_refused_whatever_the_setting(settings, url, says):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    with pytest.raises(UrlRefused, match=says):
        url_check(url)


def test_the_portals_own_host_is_refused(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(UrlRefused, match=r"portal\.test is the portal's own host"):
        url_check("https://PORTAL.test/api/v1/invites")


@pytest.mark.parametrize("url", ["https://[::ffff:93.184.215.14]/hook", f"http://{int(PUBLIC)}/hook"])
def test_another_spelling_of_the_portals_own_address_is_refused(settings, url):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    settings.PORTAL_BASE_URL = f"https://{PUBLIC}"
    with pytest.raises(UrlRefused, match="is the portal's own address"):
        url_check(url)


def test_private_receivers_are_allowed_when_the_operator_says_so(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    settings.PORTAL_BASE_URL = "http://localhost:8000"
    for url, _ in REFUSED:
        assert url_check(url).addresses
    assert url_check("http://localhost:8000/hook").addresses


def test_hosts_may_be_allowed_one_by_one(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    settings.PORTAL_WEBHOOKS_ALLOWED_HOSTS = ["localhost"]
    target = url_check("http://localhost:9000/hook?x=1")
    assert target.port == 9000 and target.path == "/hook?x=1" and target.host == "localhost"
    with pytest.raises(UrlRefused):
        url_check("http://127.0.0.1:9000/hook")


def test_saving_an_endpoint_refuses_with_the_fields_sentence(db, settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(EndpointInvalid, match="loopback") as refused:
        endpoint_create(url="http://127.0.0.1/hook", event_types=["invite.opened"])
    assert refused.value.field == "url"
    with pytest.raises(EndpointInvalid, match=r"Unknown event type: invite\.deleted") as refused:
        endpoint_create(url="http://93.184.215.14/hook", event_types=["invite.deleted"])
    assert refused.value.field == "event_types"


def test_the_url_is_checked_again_at_delivery_time(endpoint, receiver, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = endpoint_test_send(endpoint=endpoint)
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False  # as if the name now resolved to a private address
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.error.startswith(
        "Not sent: 127.0.0.1 is a loopback"
    )
    assert receiver.received == []
