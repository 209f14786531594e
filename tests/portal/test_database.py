"""Which database engine and broker this run of the suite uses, so a CI leg cannot silently
fall back to the embedded defaults."""

import os

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.engines


def test_the_suite_runs_on_the_database_the_environment_names(db):
    expected = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == expected


def test_the_suite_runs_on_the_broker_the_environment_names():
    assert os.environ["CELERY_BROKER_URL"] == settings.CELERY_BROKER_URL
    if not os.environ["CELERY_BROKER_URL"].startswith("redis"):
        assert settings.CELERY_BROKER_URL.startswith("sqla+sqlite:///")
