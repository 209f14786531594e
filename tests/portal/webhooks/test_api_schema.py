"""The webhook operations of the API's schema, fuzzed with schemathesis under an administrator's token
(the suite's schema test uses recruiters' and reviewers' tokens, which these operations refuse): no
500, and every answer is one the schema documents. Half the examples name a real endpoint and delivery.

Names in generated URLs are not looked up (DNS is the process's edge): only address literals resolve,
so nothing leaves the machine; deliveries are written in the test's transaction and never sent.
"""

import socket
from datetime import timedelta
from itertools import count

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from portal.accounts.api_tokens import personal_token_create
from portal.accounts.models import ApiToken
from portal.webhooks import urlpolicy
from portal.webhooks.models import EVENT_TYPE_NAMES
from portal.webhooks.services import endpoint_create, endpoint_test_send
from tests.support.api_schema import CHECKS, portal_wsgi_app, served_schema

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def portal_app(db, monkeypatch, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    real = socket.getaddrinfo

    def literals_only(host, *args, **kwargs):
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, str(host))
        except (OSError, TypeError):
            raise socket.gaierror(socket.EAI_NONAME, "not looked up in this test") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(urlpolicy.socket, "getaddrinfo", literals_only)
    with portal_wsgi_app() as app:
        yield app


@pytest.fixture
def api_schema(portal_app, request):
    return served_schema(portal_app, request)


@pytest.fixture
def world(admin_user) -> dict:
    endpoint = endpoint_create(url="https://93.184.215.14/hooks", event_types=EVENT_TYPE_NAMES, by=admin_user)
    delivery = endpoint_test_send(endpoint=endpoint)
    token = personal_token_create(user=admin_user, name="Fuzz", scope=ApiToken.Scope.WRITE)
    return {"endpoint_id": endpoint.pk, "delivery_id": delivery.pk, "token": token.secret, "turn": count()}


schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex="^/api/v1/webhooks")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=timedelta(seconds=10),
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_webhook_operation_answers_as_documented_and_never_500(case, world):
    if next(world["turn"]) % 2 == 0:
        for name in ("endpoint_id", "delivery_id"):
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = world[name]
    case.call_and_validate(headers={"Authorization": f"Bearer {world['token']}"}, checks=CHECKS)
