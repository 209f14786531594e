"""/api/v1/webhooks…: administrators' tokens only; endpoints made (the secret shown once in the answer and
on request), changed and deleted; refused URLs and event types are 400 with the field's sentence; the
delivery log and redeliver."""

import pytest
from rest_framework.test import APIClient

from portal.accounts.api_tokens import personal_token_create
from portal.accounts.models import ApiToken
from portal.webhooks.models import WebhookDelivery, WebhookEndpoint
from portal.webhooks.services import endpoint_test_send

pytestmark = pytest.mark.engines


def _client(user=None, scope=ApiToken.Scope.WRITE) -> APIClient:
    client = APIClient()
    if user is not None:
        made = personal_token_create(user=user, name="Script", scope=scope)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.secret}")
    return client


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    return _client(admin_user)


def test_a_recruiters_token_is_refused(recruiter, endpoint):
    client = _client(recruiter)
    for response in (
        client.get("/api/v1/webhooks"),
        client.post("/api/v1/webhooks", {"url": "https://hooks.example.com/"}, format="json"),
        client.get(f"/api/v1/webhooks/{endpoint.pk}/secret"),
    ):
        assert response.status_code == 403 and response.json()["detail"] == "This is for administrators."
    assert _client().get("/api/v1/webhooks").status_code == 401


def test_an_administrator_adds_an_endpoint_and_gets_its_secret_once(admin_api, allow_private, receiver):
    response = admin_api.post(
        "/api/v1/webhooks", {"url": receiver.url, "event_types": ["invite.opened"], "description": "ATS"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["event_types"] == ["invite.opened"] and body["active"]
    listed = admin_api.get("/api/v1/webhooks").json()
    assert listed["count"] == 1 and "secret" not in listed["results"][0]
    assert "secret" not in admin_api.get(f"/api/v1/webhooks/{endpoint.pk}").json()
    assert admin_api.get(f"/api/v1/webhooks/{endpoint.pk}/secret").json() == {"secret": endpoint.secret}


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "http://10.0.0.5/hook"}, "url", "10.0.0.5 is a private address"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "link-local"),
        ({"url": "http://[::1]/hook"}, "url", "loopback"),
        ({"url": "http://localhost:8080/hook"}, "url", "localhost resolves to"),
        ({"url": "ftp://example.com/"}, "url", "Only http:// and https://"),
        ({"url": "https://user:pw@example.com/"}, "url", "user name or password"),
        ({"url": "https://portal.test/hook"}, "url", "portal's own host"),
        ({"url": "http://93.184.215.14/", "event_types": ["nope"]}, "event_types", "not a valid choice"),
        ({"url": "http://93.184.215.14/", "event_types": "invite.opened"}, "event_types", "list"),
        ({}, "url", "required"),
    ],
)
def test_bad_input_is_400_with_the_fields_sentence(admin_api, settings, body, field, says):
    settings.PORTAL_BASE_URL = "https://portal.test"
    response = admin_api.post("/api/v1/webhooks", body, format="json")
    assert response.status_code == 400, response.json()
    assert says in " ".join(response.json()["fields"][field])
    assert not WebhookEndpoint.objects.exists()


def test_patch_changes_only_what_it_names_and_delete_removes(admin_api, endpoint):
    url = f"/api/v1/webhooks/{endpoint.pk}"
    response = admin_api.patch(url, {"active": False}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    endpoint.refresh_from_db()
    assert endpoint.description == "Test receiver" and len(endpoint.event_types) == 7 and endpoint.disabled_reason
    assert admin_api.patch(url, {"url": "http://10.0.0.1/"}, format="json").status_code == 200  # allowed here
    assert admin_api.delete(url).status_code == 204 and admin_api.get(url).status_code == 404


def test_rotating_through_the_api_returns_the_new_secret(admin_api, endpoint):
    response = admin_api.post(f"/api/v1/webhooks/{endpoint.pk}/secret")
    assert response.status_code == 200 and response.json()["secret"] == WebhookEndpoint.objects.get().secret
    assert response.json()["secret"] != endpoint.secret


def test_the_delivery_log_and_redeliver(admin_api, endpoint, receiver, broker):
    with broker.commit():
        delivery = endpoint_test_send(endpoint=endpoint)
    broker.run()
    log = admin_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").json()
    assert log["count"] == 1
    row = log["results"][0]
    assert (row["msg_id"], row["status"], row["attempts"], row["response_code"]) == (
        delivery.msg_id, "delivered", 1, 200
    )  # fmt: skip
    with broker.commit():
        response = admin_api.post(f"/api/v1/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    broker.run()
    assert WebhookDelivery.objects.get().attempts == 2 and len(receiver.received) == 2


def test_redeliver_while_an_attempt_is_under_way_is_409(admin_api, endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = endpoint_test_send(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.DELIVERING)
    response = admin_api.post(f"/api/v1/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 409 and "being sent right now" in response.json()["detail"]
    assert admin_api.post(f"/api/v1/webhooks/{endpoint.pk}/deliveries/99999/redeliver").status_code == 404


def test_a_read_only_administrator_token_cannot_change(admin_user, endpoint):
    client = _client(admin_user, scope=ApiToken.Scope.READ)
    assert client.get("/api/v1/webhooks").status_code == 200
    assert client.delete(f"/api/v1/webhooks/{endpoint.pk}").status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
