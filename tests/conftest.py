"""Fixtures shared by the whole suite: personas and helpers to run real processes."""

from pathlib import Path

import pytest

from portal.accounts.models import User
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.accounts.services import user_grant_role

PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering, which it keeps within each file
def pytest_collection_modifyitems(config, items):
    """Files allowed the longest time first (their ``timeout`` mark), then those marked ``integration``
    (real processes, the sandbox), the others in their order.

    A parallel run hands whole files to its processes in this order: started first, the few files
    that take minutes (validations, scoring in the sandbox) end while the many short ones fill the
    gaps, instead of one of them running alone at the end while the other processes sit idle.
    """
    default = config.getini("timeout")
    default = float(default) if default else 0.0

    def weight(item) -> tuple[float, bool]:
        marker = item.get_closest_marker("timeout")
        limit = float(marker.args[0]) if marker and marker.args else default
        return limit, item.get_closest_marker("integration") is not None

    longest: dict = {}
    first: dict = {}
    for index, item in enumerate(items):
        longest[item.path] = max(longest.get(item.path, (0.0, False)), weight(item))
        first.setdefault(item.path, index)
    # Stable: within a file, tests keep the order pytest-django gave them.
    items.sort(key=lambda item: (-longest[item.path][0], not longest[item.path][1], first[item.path]))


def _user(username: str, *roles, **fields) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com", **fields)
    for role in roles:
        user_grant_role(user=user, role=role)
    return user


@pytest.fixture
def client():
    """Django's test client, whose force_login() of a staff user also passes the second factor.

    Tests of the second factor itself sign in through the login page, or pass second_factor=False.
    """
    from tests.support.second_factor import SecondFactorClient

    return SecondFactorClient()


@pytest.fixture(scope="session", autouse=True)
def _celery_tasks_imported():
    """Import the task modules once, before any test, as the first task sent would: Celery's Django
    fix-up then sets Django up again, which applies LOGGING anew and drops the handlers pytest puts
    on the root logger. Done inside a test, that test's ``caplog`` would see nothing."""
    from portal.core.dispatch import tasks_import

    tasks_import()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty default cache (the API's rate buckets, keyed by token id): ids
    repeat between tests, so a bucket another test filled would refuse this one's first request."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def recruiter(db) -> User:
    return _user("rita", RECRUITER)


@pytest.fixture
def reviewer(db) -> User:
    return _user("victor", REVIEWER)


@pytest.fixture
def recruiter_and_reviewer(db) -> User:
    return _user("bea", RECRUITER, REVIEWER)


@pytest.fixture
def no_role_user(db) -> User:
    return _user("nora")


@pytest.fixture
def admin_user(db) -> User:
    return _user("ada", is_staff=True, is_superuser=True)


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery worker` process on the test broker and the test database.

    Module-scoped because a worker takes a few seconds to start; tests using it
    need ``transactional_db`` so that the worker sees committed rows.
    """
    from django.db import connection

    from tests.support.workers import database_url, running_worker

    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with running_worker(
        db_url=url, log_dir=tmp_path_factory.mktemp("worker"), include="tests.support.celery_tasks"
    ) as worker:
        yield worker
    # It wrote heartbeats between the tests of its module, which no test's flush removed;
    # later tests in this process count the workers they record themselves.
    from portal.core.models import WorkerHeartbeat

    with django_db_blocker.unblock():
        WorkerHeartbeat.objects.filter(name__startswith=worker.node_prefix).delete()


@pytest.fixture
def smtp_inbox():
    """A real SMTP server on 127.0.0.1 collecting messages."""
    from tests.support.smtp import smtp_server

    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def smtp(settings, smtp_inbox):
    """Mail goes to a real SMTP server on loopback (tests/support/smtp.py)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_inbox.host
    settings.EMAIL_PORT = smtp_inbox.port
    settings.EMAIL_TIMEOUT = 5
    return smtp_inbox


@pytest.fixture
def broker(monkeypatch, django_capture_on_commit_callbacks):
    """The broker's edge: tasks sent on commit are kept, and ``run()`` does a worker's job in this process."""
    from celery import Celery, current_app

    sent: list[tuple[str, dict]] = []

    def send_task(app, name, args=None, kwargs=None, **options):
        sent.append((name, kwargs or {}))

    monkeypatch.setattr(Celery, "send_task", send_task)

    class Broker:
        tasks = sent

        @staticmethod
        def commit():
            """A block whose on-commit callbacks run when it ends, as at the end of a request."""
            return django_capture_on_commit_callbacks(execute=True)

        @staticmethod
        def run() -> list[str]:
            names = []
            while sent:
                name, kwargs = sent.pop(0)
                with django_capture_on_commit_callbacks(execute=True):
                    current_app.tasks[name](**kwargs)
                names.append(name)
            return names

    return Broker()


@pytest.fixture(scope="module")
def portal_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The portal under gunicorn on a free loopback port, on the test database.

    Tests using it need ``transactional_db`` so that the server sees their rows.
    """
    from django.db import connection

    from tests.support.server import running_portal
    from tests.support.workers import database_url

    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with running_portal(db_url=url, log_dir=tmp_path_factory.mktemp("server")) as server:
        yield server


@pytest.fixture
def built_in_validated_once(monkeypatch, tmp_path_factory):
    """Validating a built-in package gives the session's one real validation of its content.

    For tests about that report or about loading the packages (see tests/support/validation.py);
    any other package, or a validation asked with its own number of flaky-test runs, is still
    validated for real.
    """
    from portal.assessments import services
    from portal.assessments.management.commands import validate_assessment
    from portal.assessments.packages import package_hash
    from tests.support.validation import session_folder, validated_once

    real = services.assessment_validate
    built_ins = {package_hash(package) for package in services.BUILT_IN_PACKAGES}
    folder = session_folder(tmp_path_factory.getbasetemp())

    def validate(*, package_dir, progress=None, flake_runs=None):
        if flake_runs is not None or package_hash(package_dir) not in built_ins:
            return real(package_dir=package_dir, progress=progress, flake_runs=flake_runs)
        return validated_once(package_dir, folder=folder, validate=real, progress=progress)

    monkeypatch.setattr(services, "assessment_validate", validate)
    monkeypatch.setattr(validate_assessment, "assessment_validate", validate)


@pytest.fixture
def assessment_version(db, settings):
    """The built-in assessment installed as a version (its snapshot is reused across tests)."""
    from portal.assessments.services import assessment_version_install

    return assessment_version_install(package_dir=ROOT / "assessment_app")


@pytest.fixture
def created(assessment_version):
    """A new invite of Ann Example with its repository, and its secrets in clear (an InviteCreated).

    For the link token and git credentials; tests that need only the row take ``invite``. Made
    with tests.support.factories.make_invite, like every invite of the suite. Tests against
    ``portal_server`` mark themselves ``django_db(transaction=True)`` so the server sees it.
    """
    from tests.support.factories import make_invite

    return make_invite(assessment_version)


@pytest.fixture
def invite(created):
    """The Invite row of ``created``: nothing pushed, nothing scored yet."""
    return created.invite
