"""LOG_FORMAT=json: one JSON object per record, with the request, invite, run and task it was written for.

Most tests read what the console handler would write: the formatter LOGGING names for json and
the redaction filter, on a handler of their own on the root logger. The start-up tests run the
portal's real settings in a new interpreter. Nothing here depends on the database engine or the
broker (tasks run eagerly, through Celery's own signals), so no test is marked ``engines``.
"""

import base64
import io
import json
import logging
import os
import subprocess
import sys

import pytest
from celery import shared_task
from django.conf import settings
from django.utils.module_loading import import_string

from portal.core.logcontext import REQUEST_ID, bound, current
from portal.core.redact import RedactFilter
from portal.hosting.slots import GIT_SLOTS
from tests.conftest import ROOT

TOKEN = "Sx9-secret_link_token_Qw3rTy"


@shared_task(name="tests.log_context")
def log_context(**_kwargs) -> None:
    logging.getLogger("tests.task").warning("working")


@pytest.fixture
def json_lines():
    """The lines the json console handler writes from now on; each call returns them parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(import_string(settings.LOGGING["formatters"]["json"]["()"])())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def _by_message(lines: list[dict], text: str) -> dict:
    [line] = [line for line in lines if text in line["message"]]
    return line


def test_a_request_s_records_carry_its_id_and_the_response_returns_it(client, json_lines, db):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert REQUEST_ID.fullmatch(request_id)
    # Django writes this line after every middleware has returned: the id is bound until the response is closed.
    assert _by_message(json_lines(), "Not Found: /no-such-page")["request_id"] == request_id
    assert current() == {}


def test_a_plain_incoming_request_id_is_kept(client, json_lines, db):
    response = client.get("/no-such-page", HTTP_X_REQUEST_ID="lb-7f3a.42_x")
    assert response["X-Request-ID"] == "lb-7f3a.42_x"
    assert _by_message(json_lines(), "Not Found")["request_id"] == "lb-7f3a.42_x"


@pytest.mark.parametrize("incoming", ["two words", "a" * 65, 'x"}, "level": "DEBUG', "", "id\u00e9"])
def test_an_incoming_request_id_that_is_not_plain_is_replaced(client, json_lines, db, incoming):
    response = client.get("/no-such-page", HTTP_X_REQUEST_ID=incoming)
    request_id = response["X-Request-ID"]
    assert request_id != incoming
    assert REQUEST_ID.fullmatch(request_id)
    assert _by_message(json_lines(), "Not Found")["request_id"] == request_id


def test_fields_bound_for_a_block_are_on_its_records_only(json_lines):
    logger = logging.getLogger("tests.bound")
    with bound(run=5, invite="abc"):
        logger.warning("inside")
    logger.warning("after")
    inside, after = _by_message(json_lines(), "inside"), _by_message(json_lines(), "after")
    assert (inside["run"], inside["invite"]) == (5, "abc")
    assert "run" not in after
    assert "invite" not in after


def test_a_record_has_time_level_logger_and_message(json_lines):
    logging.getLogger("tests.shape").error("disk %s is full", "/srv")
    line = _by_message(json_lines(), "disk")
    assert line["message"] == "disk /srv is full"
    assert (line["level"], line["logger"]) == ("ERROR", "tests.shape")
    assert line["time"].endswith("+00:00")  # ISO 8601 in UTC, whatever TIME_ZONE says


def test_an_exception_is_one_line_of_json_with_its_redacted_traceback_in_a_field(json_lines):
    try:
        raise ValueError(f"bad link /i/{TOKEN}/")
    except ValueError:
        logging.getLogger("tests.failure").exception("scoring failed")
    [line] = json_lines()
    assert line["message"] == "scoring failed"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad link /i/[token]/" in line["exception"]
    assert TOKEN not in json.dumps(line)


def test_a_celery_task_s_records_carry_its_name_id_and_run(json_lines):
    result = log_context.apply(kwargs={"run_id": 7})
    log_context.apply(kwargs={"invite_id": 3})
    logging.getLogger("tests.task").warning("between tasks")
    first, second = [line for line in json_lines() if line["message"] == "working"]
    assert (first["task"], first["task_id"], first["run"]) == ("tests.log_context", result.id, 7)
    assert "invite" not in first
    assert (second["invite"], "run" in second) == (3, False)
    assert "task" not in _by_message(json_lines(), "between tasks")


def test_a_task_run_inside_a_request_gives_the_request_its_fields_back(json_lines):
    logger = logging.getLogger("tests.nested")
    with bound(request_id="outer"):
        log_context.apply(kwargs={"run_id": 1})
        logger.warning("back in the request")
    line = _by_message(json_lines(), "back in the request")
    assert line["request_id"] == "outer"
    assert "task" not in line


def test_the_git_endpoint_binds_the_invite_once_the_credentials_are_checked(client, json_lines, created, settings):
    settings.PORTAL_GIT_MAX_REQUESTS_PER_INVITE = 1
    invite = created.invite
    held = GIT_SLOTS.take(invite.public_id, total=settings.PORTAL_GIT_MAX_REQUESTS, per_key=1)
    credentials = base64.b64encode(f"{invite.public_id}:{created.git_token}".encode()).decode()
    try:
        response = client.get(
            f"/git/{invite.public_id}.git/info/refs",
            {"service": "git-upload-pack"},
            HTTP_AUTHORIZATION=f"Basic {credentials}",
        )
    finally:
        held.release()
    assert response.status_code >= 400  # turned away: the invite's one request is taken
    line = _by_message(json_lines(), "too many at once")
    assert (line["invite"], line["request_id"]) == (invite.pk, response["X-Request-ID"])


def _start_portal(code: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter on the portal's own settings, with ``env`` set."""
    environ = os.environ | {"DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_log_format_json_writes_every_record_as_json_and_redacted(tmp_path):
    code = (
        "import logging, django; django.setup(); "
        f"logging.getLogger('portal.web').warning('GET /i/{TOKEN}/ took %s s', 2)"
    )
    started = _start_portal(code, tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO")
    assert started.returncode == 0, started.stderr
    [line] = [json.loads(text) for text in started.stderr.splitlines()]
    assert line["message"] == "GET /i/[token]/ took 2 s"
    assert line["logger"] == "portal.web"
    assert TOKEN not in started.stderr


def test_a_log_format_that_is_not_a_choice_stops_start_up_naming_the_variable(tmp_path):
    started = _start_portal("import django; django.setup()", tmp_path, LOG_FORMAT="xml")
    assert started.returncode != 0
    assert "LOG_FORMAT='xml' is not one of: plain, json." in started.stderr
